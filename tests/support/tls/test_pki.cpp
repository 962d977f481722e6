#include "support/tls/test_pki.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <unistd.h>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace chorus::test {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Free>;
using Cert = std::unique_ptr<X509, Free>;
using Bio = std::unique_ptr<BIO, Free>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test PKI: ") + what + " failed");
}

Key make_key() {
  Key key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EVP_EC_gen");
  return key;
}

std::string pem_of(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string pem_of(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

Cert make_cert(EVP_PKEY* key, const std::string& common_name, X509* issuer, EVP_PKEY* issuer_key,
               bool ca, const std::vector<std::string>& names) {
  static std::atomic<long> serial{1};
  Cert cert(X509_new());
  check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++ + ::getpid() * 1000L);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509* parent = issuer ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(parent));
  if (ca) {
    add_ext(cert.get(), parent, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert.get(), parent, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(cert.get(), parent, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert.get(), parent, NID_ext_key_usage, "serverAuth");
  }
  add_ext(cert.get(), parent, NID_subject_key_identifier, "hash");
  if (issuer) add_ext(cert.get(), parent, NID_authority_key_identifier, "keyid:always");
  if (!names.empty()) {
    std::string san;
    for (const auto& n : names) {
      if (!san.empty()) san += ",";
      bool ip = n.find_first_not_of("0123456789.:abcdefABCDEF") == std::string::npos &&
                (n.find('.') != std::string::npos || n.find(':') != std::string::npos);
      san += (ip ? "IP:" : "DNS:") + n;
    }
    add_ext(cert.get(), parent, NID_subject_alt_name, san);
  }
  check(X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

}  // namespace

TestPki::TestPki() {
  Key key = make_key();
  Cert cert = make_cert(key.get(), "Chorus Test CA", nullptr, nullptr, true, {});
  ca_ = {pem_of(cert.get()), pem_of(key.get())};
}

std::string TestPki::write_ca_file() const {
  static std::atomic<int> counter{0};
  auto path =
      std::filesystem::temp_directory_path() /
      ("chorus-test-ca-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".pem");
  std::ofstream(path) << ca_.cert_pem;
  return path.string();
}

TestCertificate TestPki::issue(const std::vector<std::string>& names) const {
  Bio cert_bio(BIO_new_mem_buf(ca_.cert_pem.data(), static_cast<int>(ca_.cert_pem.size())));
  Cert ca_cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  Bio key_bio(BIO_new_mem_buf(ca_.key_pem.data(), static_cast<int>(ca_.key_pem.size())));
  Key ca_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  check(ca_cert && ca_key, "reading the CA back");
  Key key = make_key();
  Cert cert = make_cert(key.get(), names.empty() ? "server" : names.front(), ca_cert.get(),
                        ca_key.get(), false, names);
  return {pem_of(cert.get()), pem_of(key.get())};
}

TestCertificate TestPki::self_signed(const std::vector<std::string>& names) {
  Key key = make_key();
  Cert cert = make_cert(key.get(), names.empty() ? "server" : names.front(), nullptr, nullptr,
                        false, names);
  return {pem_of(cert.get()), pem_of(key.get())};
}

}  // namespace chorus::test
