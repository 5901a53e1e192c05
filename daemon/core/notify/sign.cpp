#include "notify/sign.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace qoewatch::notify {

std::string signature(std::string_view key, std::string_view id, std::int64_t timestamp,
                      std::string_view body) {
  std::string content;
  content.reserve(id.size() + body.size() + 24);
  content.append(id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac, &len);
  return "v1," + text::base64_encode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

}  // namespace qoewatch::notify
