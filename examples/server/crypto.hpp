// Cryptography of the server, all from OpenSSL 3 and libargon2: random tokens, SHA-256,
// constant-time comparison, AES-256-GCM for provider keys at rest, argon2id for passwords.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace chorus::server {

/// `n` bytes from the OS CSPRNG (RAND_bytes); throws std::runtime_error if it fails.
std::string random_bytes(std::size_t n);
/// A random id: 16 random bytes as 32 lower-case hex digits.
std::string random_id();
/// A random 256-bit token, base64url without padding (43 characters).
std::string random_token();

std::string to_hex(std::string_view bytes);
std::optional<std::string> from_hex(std::string_view hex);
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

/// SHA-256 of `data`, as lower-case hex.
std::string sha256_hex(std::string_view data);
/// Compares in time independent of where the inputs differ (lengths may leak).
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

/// The argon2id parameters (see docs/decisions/server-security.md).
struct Argon2Params {
  std::uint32_t time_cost = 2;           ///< Passes.
  std::uint32_t memory_kib = 19 * 1024;  ///< 19 MiB (OWASP's argon2id minimum).
  std::uint32_t parallelism = 1;
};
/// The PHC string "$argon2id$v=19$m=...,t=...,p=...$salt$hash" of `password`.
std::string hash_password(std::string_view password, const Argon2Params& params = {});
/// Checks a password against a PHC string; false on mismatch or malformed hash.
bool verify_password(std::string_view password, const std::string& phc);

/// The master keys that encrypt provider keys: the current one encrypts, any known one decrypts.
class KeyRing {
 public:
  /// Adds a 32-byte key; its id is the first 16 hex digits of SHA-256(key).
  std::string add(std::string key_bytes, bool make_current);
  const std::string& current_id() const noexcept { return current_; }

  struct Sealed {
    std::string ciphertext;  ///< base64 (ciphertext || 16-byte tag).
    std::string nonce;       ///< base64, 12 random bytes, fresh per record.
    std::string key_id;
  };
  /// AES-256-GCM with a fresh nonce; `aad` binds the record to its owner and provider.
  Sealed seal(std::string_view plaintext, std::string_view aad) const;
  /// nullopt when the key id is unknown or the tag does not verify.
  std::optional<std::string> open(const Sealed& s, std::string_view aad) const;

 private:
  std::map<std::string, std::string> keys_;
  std::string current_;
};

/// Parses a master key given as 64 hex digits or base64 of 32 bytes.
std::optional<std::string> parse_master_key(std::string_view text);

}  // namespace chorus::server
