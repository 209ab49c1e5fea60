// TLS server context: TLS 1.2 (forward-secret AEAD suites) and later, buffers released while a
// connection is idle.
#include "edge/tls_context.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <ctime>

#include "absl/strings/str_cat.h"

namespace herald {

namespace ssl = boost::asio::ssl;

namespace {

// Mozilla's "intermediate" TLS 1.2 list without finite-field DHE.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

}  // namespace

absl::StatusOr<std::unique_ptr<TlsContext>> TlsContext::Load(std::string cert_file,
                                                             std::string key_file) {
  std::unique_ptr<TlsContext> tls(new TlsContext(std::move(cert_file), std::move(key_file)));
  absl::StatusOr<std::shared_ptr<ssl::context>> context = tls->Build();
  if (!context.ok()) return context.status();
  tls->current_ = *std::move(context);
  return tls;
}

absl::StatusOr<std::shared_ptr<ssl::context>> TlsContext::Build() const {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code error;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                       error);
  if (!error) context->use_certificate_chain_file(cert_file_, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS certificate ", cert_file_, ": ", error.message()));
  }
  context->use_private_key_file(key_file_, ssl::context::pem, error);
  if (error) {
    return absl::InvalidArgumentError(absl::StrCat("TLS key ", key_file_, ": ", error.message()));
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS key ", key_file_, " does not match ", cert_file_));
  }
  // TLS 1.2 suites: forward secret (ECDHE) and AEAD only. TLS 1.3's are all of that kind.
  if (SSL_CTX_set_cipher_list(context->native_handle(), kTls12Ciphers) != 1) {
    return absl::InternalError("the TLS 1.2 cipher list was refused");
  }
  // An idle connection (most of them) then holds no TLS record buffers.
  SSL_CTX_set_mode(context->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  return context;
}

absl::Status TlsContext::Reload() {
  absl::StatusOr<std::shared_ptr<ssl::context>> context = Build();
  if (!context.ok()) return context.status();
  absl::MutexLock lock(&mutex_);
  current_ = *std::move(context);
  return absl::OkStatus();
}

std::shared_ptr<ssl::context> TlsContext::Current() const {
  absl::MutexLock lock(&mutex_);
  return current_;
}

int64_t TlsContext::CertificateExpiry() const {
  std::shared_ptr<ssl::context> context = Current();
  X509* certificate = SSL_CTX_get0_certificate(context->native_handle());
  if (certificate == nullptr) return 0;
  tm expiry{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(certificate), &expiry) != 1) return 0;
  return static_cast<int64_t>(timegm(&expiry));
}

}  // namespace herald
