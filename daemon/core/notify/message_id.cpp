#include "notify/message_id.hpp"

#include <openssl/evp.h>

#include <array>
#include <memory>
#include <stdexcept>

namespace qoewatch::notify {

namespace {

// SHA-256 over length-prefixed fields: no field's text can pass for another's.
class digest {
 public:
  digest() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("message_id: SHA-256 is unavailable");
  }
  void field(std::string_view text) {
    number(text.size());
    EVP_DigestUpdate(ctx_.get(), text.data(), text.size());
  }
  void number(std::uint64_t n) {
    std::array<unsigned char, 8> bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i)
      bytes[i] = static_cast<unsigned char>(n >> (8 * i));
    EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size());
  }
  std::array<unsigned char, 32> finish() {
    std::array<unsigned char, 32> out{};
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_.get(), out.data(), &size);
    return out;
  }

 private:
  struct free_ctx {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, free_ctx> ctx_;
};

}  // namespace

std::string message_id(const message_key& k) {
  digest d;
  d.field("qoewatch-msg/1");
  d.field(k.rule);
  d.field(k.sink);
  d.field(k.kind);
  d.field(k.incident);
  d.number(static_cast<std::uint64_t>(k.slot));
  d.number(k.part);
  d.number(k.sessions.size());
  for (const fetch::session_row* s : k.sessions) d.field(s->sessionid);
  const std::array<unsigned char, 32> sum = d.finish();
  static constexpr char hex[] = "0123456789abcdef";
  std::string id = "msg_";
  id.reserve(4 + 32);
  for (std::size_t i = 0; i < 16; ++i) {
    id += hex[sum[i] >> 4];
    id += hex[sum[i] & 0xf];
  }
  return id;
}

}  // namespace qoewatch::notify
