#include "crypto.hpp"

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <memory>
#include <stdexcept>

namespace chorus::server {

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return out;
}

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = val(hex[i]), lo = val(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::string random_id() {
  return to_hex(random_bytes(16));
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4) return std::nullopt;
  std::string out(text.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t len = static_cast<std::size_t>(n);
  if (!text.empty() && text.back() == '=') --len;
  if (text.size() > 1 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

std::string random_token() {
  std::string b = base64_encode(random_bytes(32));
  std::string out;
  for (char c : b) {
    if (c == '=') break;
    out.push_back(c == '+' ? '-' : c == '/' ? '_' : c);
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return to_hex(std::string_view(reinterpret_cast<const char*>(md), sizeof md));
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string hash_password(std::string_view password, const Argon2Params& p) {
  const std::string salt = random_bytes(16);
  constexpr std::size_t hash_len = 32;
  std::size_t enc_len =
      argon2_encodedlen(p.time_cost, p.memory_kib, p.parallelism,
                        static_cast<std::uint32_t>(salt.size()), hash_len, Argon2_id);
  std::string encoded(enc_len, '\0');
  int rc = argon2id_hash_encoded(p.time_cost, p.memory_kib, p.parallelism, password.data(),
                                 password.size(), salt.data(), salt.size(), hash_len,
                                 encoded.data(), encoded.size());
  if (rc != ARGON2_OK)
    throw std::runtime_error(std::string("argon2id: ") + argon2_error_message(rc));
  encoded.resize(std::char_traits<char>::length(encoded.c_str()));
  return encoded;
}

bool verify_password(std::string_view password, const std::string& phc) {
  if (!phc.starts_with("$argon2id$")) return false;
  return argon2id_verify(phc.c_str(), password.data(), password.size()) == ARGON2_OK;
}

std::string KeyRing::add(std::string key_bytes, bool make_current) {
  if (key_bytes.size() != 32) throw std::invalid_argument("master key must be 32 bytes");
  std::string id = sha256_hex(key_bytes).substr(0, 16);
  keys_[id] = std::move(key_bytes);
  if (make_current || current_.empty()) current_ = id;
  return id;
}

namespace {
struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;
const unsigned char* u8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
}  // namespace

KeyRing::Sealed KeyRing::seal(std::string_view plaintext, std::string_view aad) const {
  const std::string& key = keys_.at(current_);
  std::string nonce = random_bytes(12);
  Ctx ctx(EVP_CIPHER_CTX_new());
  std::string out(plaintext.size() + 16, '\0');
  int len = 0, total = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, u8(key), u8(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, u8(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), o, &len, u8(plaintext), static_cast<int>(plaintext.size())) != 1)
    throw std::runtime_error("AES-256-GCM encryption failed");
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), o + total, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, o + total + len) != 1)
    throw std::runtime_error("AES-256-GCM encryption failed");
  total += len;
  out.resize(static_cast<std::size_t>(total) + 16);
  return {base64_encode(out), base64_encode(nonce), current_};
}

std::optional<std::string> KeyRing::open(const Sealed& s, std::string_view aad) const {
  auto it = keys_.find(s.key_id);
  if (it == keys_.end()) return std::nullopt;
  auto data = base64_decode(s.ciphertext);
  auto nonce = base64_decode(s.nonce);
  if (!data || !nonce || nonce->size() != 12 || data->size() < 16) return std::nullopt;
  std::string_view body(data->data(), data->size() - 16);
  std::string tag = data->substr(data->size() - 16);
  Ctx ctx(EVP_CIPHER_CTX_new());
  std::string out(body.size() + 16, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int len = 0, total = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, u8(it->second), u8(*nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, u8(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), o, &len, u8(body), static_cast<int>(body.size())) != 1)
    return std::nullopt;
  total = len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), o + total, &len) != 1)
    return std::nullopt;
  total += len;
  out.resize(static_cast<std::size_t>(total));
  return out;
}

std::optional<std::string> parse_master_key(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  if (text.size() == 64)
    if (auto h = from_hex(text)) return h;
  if (auto b = base64_decode(text); b && b->size() == 32) return b;
  return std::nullopt;
}

}  // namespace chorus::server
