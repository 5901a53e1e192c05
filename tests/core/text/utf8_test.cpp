#include "text/utf8.hpp"

#include <gtest/gtest.h>

namespace qoewatch::text {
namespace {

TEST(Utf8, WellFormedIsRfc3629) {
  EXPECT_TRUE(is_utf8(""));
  EXPECT_TRUE(is_utf8("edgeB"));
  EXPECT_TRUE(is_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xac"));
  EXPECT_TRUE(is_utf8(std::string_view("a\0b", 3)));  // NUL is a character
  for (std::string_view bad : {"\xc3", "\xff", "\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
                               "\xf4\x90\x80\x80", "\xf5\x80\x80\x80"})
    EXPECT_FALSE(is_utf8(bad)) << testing::PrintToString(std::string(bad));
  EXPECT_EQ(utf8_char_length("\xe2\x82\xac", 0), 3u);
  EXPECT_EQ(utf8_char_length("\xe2\x82", 0), 0u);
}

TEST(Utf8, EachBadByteBecomesOneReplacementCharacter) {
  EXPECT_EQ(valid_utf8("a\xff"
                       "b\xc3"),
            "a\xef\xbf\xbd"
            "b\xef\xbf\xbd");
  EXPECT_EQ(valid_utf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(valid_utf8(std::string_view("a\0b", 3)), std::string("a\0b", 3));
  EXPECT_EQ(valid_utf8(std::string_view("a\0b", 3), true),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(valid_utf8("caf\xc3\xa9"), "caf\xc3\xa9");
}

}  // namespace
}  // namespace qoewatch::text
