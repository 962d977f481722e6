// A throw-away certificate authority and server certificates made with OpenSSL at test time, so
// TLS tests verify certificates for real (and fail verification for real).
#pragma once

#include <string>
#include <vector>

namespace chorus::test {

struct TestCertificate {
  std::string cert_pem;  ///< The certificate (leaf, or the CA's own for a self-signed one).
  std::string key_pem;   ///< Its private key, PKCS#8 PEM.
};

class TestPki {
 public:
  /// A fresh CA (P-256, valid one day). Throws std::runtime_error when OpenSSL fails.
  TestPki();

  /// The CA certificate, PEM: what a client trusts.
  const std::string& ca_pem() const { return ca_.cert_pem; }

  /// Writes ca_pem() to a fresh file under the temp directory and returns its path.
  std::string write_ca_file() const;

  /// A server certificate signed by this CA with subject alternative names `names`: each is an
  /// IP literal (IP:...) or a DNS name (DNS:...), e.g. {"127.0.0.1", "localhost"}.
  TestCertificate issue(const std::vector<std::string>& names) const;

  /// A self-signed certificate for `names`, trusted by nobody.
  static TestCertificate self_signed(const std::vector<std::string>& names);

 private:
  TestCertificate ca_;
};

}  // namespace chorus::test
