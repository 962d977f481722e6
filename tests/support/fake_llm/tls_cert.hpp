// A throw-away certificate authority and a server certificate for 127.0.0.1 / localhost / ::1,
// made with OpenSSL when the fake server starts, so HTTPS tests verify certificates for real.
#pragma once

#include <string>

namespace chorus::test {

struct TlsMaterial {
  std::string ca_pem;           ///< The CA certificate clients trust.
  std::string server_cert_pem;  ///< Leaf certificate signed by the CA.
  std::string server_key_pem;   ///< Its private key (PKCS#8 PEM).
};

/// Makes a fresh CA (P-256, valid 2 days) and a server certificate signed by it with subject
/// alternative names DNS:localhost, IP:127.0.0.1 and IP:::1. Throws std::runtime_error.
TlsMaterial make_tls_material();

}  // namespace chorus::test
