// Summary templates as an operator writes them: placeholders with or without spaces, text
// around them kept as written, and the error texts the config loader shows for bad ones.
#include "text/template.hpp"

#include <gtest/gtest.h>

using namespace qoewatch;

TEST(Template, SpacesInsideBracesAndLiteralTextKept) {
  std::map<std::string, std::string> vars = {{"rule", "r1"}, {"count", "3"}};
  EXPECT_EQ(text::fill_template("{{ rule }} had {{count}} } {x} }} {", vars),
            "r1 had 3 } {x} }} {");
  EXPECT_EQ(text::fill_template("{{\trule  }}{{rule}}", vars), "r1r1");
  EXPECT_EQ(text::fill_template("", vars), "");
  EXPECT_EQ(text::check_template("{{ rule }}: {{ count }} over {{metric}}"), "");
  EXPECT_EQ(text::check_template("plain text, no placeholders"), "");
}

TEST(Template, UnknownAndUnterminatedPlaceholdersAreErrors) {
  EXPECT_EQ(text::check_template("x {{ rules }}"),
            "unknown placeholder {{rules}} (known: rule, description, severity, status, "
            "count, offending, metric, condition, incident, window_start, window_end, "
            "customer_id, receiver)");
  EXPECT_EQ(text::check_template("{{rule}} {{count"),
            "unterminated placeholder {{ at column 10 (close it with }})");
  EXPECT_NE(text::check_template("{{}}"), "");

  std::map<std::string, std::string> vars = {{"rule", "r1"}};
  std::string error = "stale";
  EXPECT_EQ(text::fill_template("{{rule}}", vars, &error), "r1");
  EXPECT_EQ(error, "");
  text::fill_template("{{nope}}", vars, &error);
  EXPECT_EQ(error, "unknown placeholder {{nope}} (known: rule)");
  text::fill_template("{{rule", vars, &error);
  EXPECT_EQ(error, "unterminated placeholder {{ at column 1 (close it with }})");
  // Without a place for the error the placeholder stays as written.
  EXPECT_EQ(text::fill_template("{{nope}} {{rule}} {{rule", vars), "{{nope}} r1 {{rule");
}

TEST(Template, EveryListedVariableIsAccepted) {
  for (const std::string& n : text::template_variables())
    EXPECT_EQ(text::check_template("{{" + n + "}}"), "") << n;
}
