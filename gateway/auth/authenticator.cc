// Key loading and credential checks.
#include "auth/authenticator.h"

#include <fstream>
#include <tuple>
#include <sstream>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "auth/topic_pattern.h"

namespace herald {
namespace {

// RFC 7518: an HS256 key at least as long as the hash; shorter secrets are guessable offline
// from any token.
constexpr size_t kMinHs256SecretBytes = 32;
constexpr absl::string_view kShortSecret =
    "an HS256 secret must be at least 32 bytes (openssl rand -hex 32)";

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

absl::Status FileError(const std::string& path, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", status.message()));
}

}  // namespace

absl::string_view BearerToken(absl::string_view authorization) {
  constexpr absl::string_view kBearer = "bearer ";
  if (authorization.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(authorization.substr(0, kBearer.size()), kBearer)) {
    return {};
  }
  return absl::StripAsciiWhitespace(authorization.substr(kBearer.size()));
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(AuthConfig config) {
  if (config.required && !config.HasKeys()) {
    return absl::InvalidArgumentError(
        "--auth=required needs keys: --jwt_hs256_secret(_file), --jwt_public_key_file or "
        "--publisher_keys_file");
  }
  std::unique_ptr<Authenticator> authenticator(new Authenticator(std::move(config)));
  authenticator->open_ = !authenticator->config_.HasKeys();
  absl::StatusOr<std::shared_ptr<const Keys>> keys = authenticator->LoadKeys();
  if (!keys.ok()) return keys.status();
  authenticator->keys_ = *std::move(keys);
  return authenticator;
}

absl::StatusOr<std::shared_ptr<const Authenticator::Keys>> Authenticator::LoadKeys() const {
  auto keys = std::make_shared<Keys>();
  if (!config_.jwt_hs256_secret.empty()) {
    if (config_.jwt_hs256_secret.size() < kMinHs256SecretBytes) {
      return absl::InvalidArgumentError(kShortSecret);
    }
    if (absl::Status status = keys->jwt.AddHs256Secret(config_.jwt_hs256_secret); !status.ok()) {
      return status;
    }
  }
  if (!config_.jwt_hs256_secret_file.empty()) {
    absl::StatusOr<std::string> secret = ReadFile(config_.jwt_hs256_secret_file);
    if (!secret.ok()) return secret.status();
    // Editors end files with a newline; it is not part of the secret.
    while (!secret->empty() && (secret->back() == '\n' || secret->back() == '\r')) {
      secret->pop_back();
    }
    if (secret->size() < kMinHs256SecretBytes) {
      return FileError(config_.jwt_hs256_secret_file, absl::InvalidArgumentError(kShortSecret));
    }
    if (absl::Status status = keys->jwt.AddHs256Secret(*std::move(secret)); !status.ok()) {
      return FileError(config_.jwt_hs256_secret_file, status);
    }
  }
  if (!config_.jwt_public_key_file.empty()) {
    absl::StatusOr<std::string> text = ReadFile(config_.jwt_public_key_file);
    if (!text.ok()) return text.status();
    absl::string_view content = absl::StripLeadingAsciiWhitespace(*text);
    absl::Status status = absl::StartsWith(content, "{") ? keys->jwt.AddJwks(content)
                                                         : keys->jwt.AddPublicKeysPem(content);
    if (!status.ok()) return FileError(config_.jwt_public_key_file, status);
  }
  for (auto [path, loaded, kind] :
       {std::tuple{&config_.publisher_keys_file, &keys->publisher, PublisherKeys::KeyFile::kPublisher},
        {&config_.admin_keys_file, &keys->admin, PublisherKeys::KeyFile::kAdmin}}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> text = ReadFile(*path);
    if (!text.ok()) return text.status();
    absl::StatusOr<PublisherKeys> parsed = PublisherKeys::Parse(*text, kind);
    if (!parsed.ok()) return FileError(*path, parsed.status());
    *loaded = *std::move(parsed);
  }
  return keys;
}

absl::Status Authenticator::Reload() {
  absl::StatusOr<std::shared_ptr<const Keys>> keys = LoadKeys();
  if (!keys.ok()) return keys.status();
  absl::MutexLock lock(&mutex_);
  keys_ = *std::move(keys);
  return absl::OkStatus();
}

std::shared_ptr<const Authenticator::Keys> Authenticator::keys() const {
  absl::MutexLock lock(&mutex_);
  return keys_;
}

absl::StatusOr<Grant> Authenticator::Authenticate(absl::string_view credential,
                                                  absl::Time now) const {
  if (open_) return Grant::Open();
  if (credential.empty()) return absl::UnauthenticatedError("a token is required");
  std::shared_ptr<const Keys> keys = this->keys();
  if (std::optional<Grant> grant = keys->publisher.Find(credential)) {
    if (grant->Expired(now)) return absl::UnauthenticatedError("this publisher key expired");
    return *std::move(grant);
  }
  // A credential without a JWT's two dots is a publisher key the file does not hold: say so,
  // rather than describe it as a malformed token.
  if (keys->jwt.empty() || absl::c_count(credential, '.') != 2) {
    return absl::UnauthenticatedError("unknown key");
  }
  JwtVerifyOptions options;
  options.now = now;
  options.audience = config_.jwt_audience;
  options.issuer = config_.jwt_issuer;
  options.leeway = config_.jwt_leeway;
  options.require_exp = config_.jwt_require_exp;
  options.max_lifetime = config_.jwt_max_lifetime;
  absl::StatusOr<JwtClaims> claims = keys->jwt.Verify(credential, options);
  if (!claims.ok()) return claims.status();
  Grant grant;
  grant.subject = std::move(claims->subject);
  // Valid as long as the check above would pass.
  grant.expires = claims->expires == absl::InfiniteFuture() ? claims->expires
                                                            : claims->expires + config_.jwt_leeway;
  grant.subscribe = std::move(claims->subscribe);
  grant.publish = std::move(claims->publish);
  return grant;
}

absl::StatusOr<AdminGrant> Authenticator::AuthenticateAdmin(absl::string_view credential,
                                                            absl::Time now) const {
  if (!admin_enabled()) {
    return absl::FailedPreconditionError("the Admin API is off: start with --admin_keys_file");
  }
  if (credential.empty()) return absl::UnauthenticatedError("an admin key is required");
  std::optional<Grant> key = keys()->admin.Find(credential);
  if (!key) return absl::UnauthenticatedError("unknown admin key");
  if (key->Expired(now)) return absl::UnauthenticatedError("this admin key expired");
  AdminGrant grant;
  grant.topics = std::move(key->publish);
  grant.topics.insert(grant.topics.end(), key->subscribe.begin(), key->subscribe.end());
  return grant;
}

bool AdminGrant::Covers(absl::string_view topic) const {
  return all() || std::any_of(topics.begin(), topics.end(), [topic](const std::string& pattern) {
           return TopicPatternMatches(pattern, topic);
         });
}

bool Authenticator::Revoked(const Grant& grant) const {
  return grant.publisher_key && !keys()->publisher.Holds(grant.key_id, absl::Now());
}

bool Authenticator::KeyExpiredBetween(absl::Time after, absl::Time until) const {
  return keys()->publisher.ExpiresBetween(after, until);
}

std::string Authenticator::Describe() const {
  std::shared_ptr<const Keys> keys = this->keys();
  std::string admin =
      config_.admin_keys_file.empty() ? "" : absl::StrCat(" admin_keys=", keys->admin.size());
  if (open_) return absl::StrCat("auth=open (no keys)", admin);
  return absl::StrCat("auth=on jwt_keys=", keys->jwt.size(),
                      " publisher_keys=", keys->publisher.size(), admin,
                      config_.jwt_audience.empty() ? "" : " audience=", config_.jwt_audience);
}

}  // namespace herald
