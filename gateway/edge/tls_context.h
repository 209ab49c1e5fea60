// The HTTP port's TLS context, replaced as a whole when SIGHUP reloads the certificate files.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace herald {

class TlsContext {
 public:
  // Loads the PEM certificate chain and private key; an unreadable or mismatched pair is an
  // error.
  static absl::StatusOr<std::unique_ptr<TlsContext>> Load(std::string cert_file,
                                                          std::string key_file);

  // Re-reads the files for new connections; live connections keep the context they started
  // with. On an error the current context stays.
  absl::Status Reload();

  // Any thread: the context new connections use.
  std::shared_ptr<boost::asio::ssl::context> Current() const;
  // Any thread: when the certificate new connections get expires (its notAfter), as Unix
  // seconds; 0 when it cannot be read.
  int64_t CertificateExpiry() const;

 private:
  TlsContext(std::string cert_file, std::string key_file)
      : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}
  absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> Build() const;

  const std::string cert_file_;
  const std::string key_file_;
  mutable absl::Mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> current_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace herald
