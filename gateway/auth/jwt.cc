// JSON Web Tokens with OpenSSL 3 (HMAC, RSA PKCS#1 v1.5, ECDSA P-256) and Boost.JSON.
#include "auth/jwt.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <boost/json.hpp>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace herald {
namespace {

// Frees each OpenSSL type the module owns; see OpenSslPtr.
struct OpenSslFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(char* p) const { OPENSSL_free(p); }
  void operator()(unsigned char* p) const { OPENSSL_free(p); }
};

template <typename T>
using OpenSslPtr = std::unique_ptr<T, OpenSslFree>;

enum class Alg { kHs256, kRs256, kEs256 };

// Which keys verify an algorithm: each algorithm has its own kind, so a key never verifies
// tokens of another algorithm.
enum class KeyKind { kHmacSecret, kRsaPublic, kEcP256Public };

constexpr size_t kEs256HalfBytes = 32;  // r and s of a P-256 signature, each big-endian.
constexpr int kMinRsaBits = 2048;       // RFC 7518 section 3.3.
constexpr size_t kMaxRsaModulusBytes = 2048;

std::optional<Alg> ParseAlg(absl::string_view name) {
  if (name == "HS256") return Alg::kHs256;
  if (name == "RS256") return Alg::kRs256;
  if (name == "ES256") return Alg::kEs256;
  return std::nullopt;
}

KeyKind KindFor(Alg alg) {
  switch (alg) {
    case Alg::kHs256:
      return KeyKind::kHmacSecret;
    case Alg::kRs256:
      return KeyKind::kRsaPublic;
    case Alg::kEs256:
      return KeyKind::kEcP256Public;
  }
  return KeyKind::kHmacSecret;
}

absl::string_view AlgName(Alg alg) {
  switch (alg) {
    case Alg::kHs256:
      return "HS256";
    case Alg::kRs256:
      return "RS256";
    case Alg::kEs256:
      return "ES256";
  }
  return "";
}

// Empties this thread's OpenSSL error queue, so a failure leaves nothing for the next caller.
absl::Status Unauthenticated(absl::string_view reason) {
  ERR_clear_error();
  return absl::UnauthenticatedError(reason);
}

absl::Status InvalidArgument(absl::string_view reason) {
  ERR_clear_error();
  return absl::InvalidArgumentError(reason);
}

int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Strict unpadded base64url: only A-Z a-z 0-9 - _, no '=', no impossible length, and the unused
// low bits of the last character must be zero (one encoding per byte string).
std::optional<std::string> Base64UrlDecode(absl::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string bytes;
  bytes.reserve(text.size() / 4 * 3 + 2);
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int value = Base64UrlValue(c);
    if (value < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  if ((buffer & ((uint32_t{1} << bits) - 1)) != 0) return std::nullopt;
  return bytes;
}

std::string Base64UrlEncode(absl::string_view bytes) { return absl::WebSafeBase64Escape(bytes); }

// The object `text` holds; nullopt when it is not exactly one JSON object. Never throws on input.
std::optional<boost::json::object> ParseJsonObject(absl::string_view text) {
  boost::system::error_code error;
  boost::json::value value =
      boost::json::parse(boost::json::string_view(text.data(), text.size()), error);
  if (error) return std::nullopt;
  boost::json::object* object = value.if_object();
  if (object == nullptr) return std::nullopt;
  return std::move(*object);
}

const boost::json::value* Find(const boost::json::object& object, absl::string_view key) {
  auto it = object.find(boost::json::string_view(key.data(), key.size()));
  return it == object.end() ? nullptr : &it->value();
}

std::string ToString(const boost::json::string& text) {
  return std::string(text.data(), text.size());
}

// A JWT NumericDate (seconds since the epoch, integer or not); nullopt for anything else.
std::optional<absl::Time> NumericDate(const boost::json::value& value) {
  if (const int64_t* seconds = value.if_int64()) return absl::FromUnixSeconds(*seconds);
  if (const uint64_t* seconds = value.if_uint64()) {
    if (*seconds > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InfiniteFuture();
    }
    return absl::FromUnixSeconds(static_cast<int64_t>(*seconds));
  }
  if (const double* seconds = value.if_double()) {
    if (!std::isfinite(*seconds)) return std::nullopt;
    return absl::UnixEpoch() + absl::Seconds(*seconds);
  }
  return std::nullopt;
}

// Reads an optional array-of-strings claim into `out`; false when present with another type.
bool ReadStringArray(const boost::json::object& claims, absl::string_view name,
                     std::vector<std::string>& out) {
  const boost::json::value* value = Find(claims, name);
  if (value == nullptr) return true;
  const boost::json::array* array = value->if_array();
  if (array == nullptr) return false;
  out.reserve(array->size());
  for (const boost::json::value& item : *array) {
    const boost::json::string* text = item.if_string();
    if (text == nullptr) return false;
    out.push_back(ToString(*text));
  }
  return true;
}

// The kind of a public (or private, for signing) key, when Herald accepts it: RSA of at least
// 2048 bits, or EC on P-256 with a valid public point.
absl::StatusOr<KeyKind> CheckKey(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(key) < kMinRsaBits) {
        return InvalidArgument(absl::StrCat("RSA key shorter than ", kMinRsaBits, " bits"));
      }
      return KeyKind::kRsaPublic;
    case EVP_PKEY_EC: {
      char group[80] = {};
      size_t group_length = 0;
      if (EVP_PKEY_get_group_name(key, group, sizeof(group), &group_length) != 1 ||
          OBJ_txt2nid(group) != NID_X9_62_prime256v1) {
        return InvalidArgument("EC key is not on curve P-256");
      }
      OpenSslPtr<EVP_PKEY_CTX> context(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
      if (context == nullptr || EVP_PKEY_public_check(context.get()) != 1) {
        return InvalidArgument("invalid EC P-256 public key");
      }
      return KeyKind::kEcP256Public;
    }
    default:
      return InvalidArgument("key is neither RSA nor EC P-256");
  }
}

// A public key built from provider parameters ("RSA" or "EC").
absl::StatusOr<OpenSslPtr<EVP_PKEY>> PublicKeyFromParams(const char* type,
                                                         OSSL_PARAM_BLD* builder) {
  OpenSslPtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(builder));
  OpenSslPtr<EVP_PKEY_CTX> context(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (params == nullptr || context == nullptr || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    EVP_PKEY_free(key);
    return InvalidArgument(absl::StrCat("invalid ", type, " key parameters"));
  }
  return OpenSslPtr<EVP_PKEY>(key);
}

// A required base64url string member of a JWK, decoded.
absl::StatusOr<std::string> JwkBytes(const boost::json::object& jwk, absl::string_view name) {
  const boost::json::value* value = Find(jwk, name);
  const boost::json::string* text = value == nullptr ? nullptr : value->if_string();
  if (text == nullptr) return InvalidArgument(absl::StrCat("JWK without string \"", name, "\""));
  std::optional<std::string> bytes = Base64UrlDecode(absl::string_view(text->data(), text->size()));
  if (!bytes.has_value() || bytes->empty()) {
    return InvalidArgument(absl::StrCat("JWK \"", name, "\" is not base64url"));
  }
  return *std::move(bytes);
}

absl::StatusOr<OpenSslPtr<EVP_PKEY>> RsaKeyFromJwk(const boost::json::object& jwk) {
  absl::StatusOr<std::string> n = JwkBytes(jwk, "n");
  if (!n.ok()) return n.status();
  absl::StatusOr<std::string> e = JwkBytes(jwk, "e");
  if (!e.ok()) return e.status();
  if (n->size() > kMaxRsaModulusBytes || e->size() > n->size()) {
    return InvalidArgument("JWK RSA key is too large");
  }
  OpenSslPtr<BIGNUM> modulus(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                                       static_cast<int>(n->size()), nullptr));
  OpenSslPtr<BIGNUM> exponent(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                                        static_cast<int>(e->size()), nullptr));
  OpenSslPtr<OSSL_PARAM_BLD> builder(OSSL_PARAM_BLD_new());
  if (modulus == nullptr || exponent == nullptr || builder == nullptr ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, modulus.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, exponent.get()) != 1) {
    return InvalidArgument("invalid JWK RSA key");
  }
  return PublicKeyFromParams("RSA", builder.get());
}

absl::StatusOr<OpenSslPtr<EVP_PKEY>> EcKeyFromJwk(const boost::json::object& jwk) {
  absl::StatusOr<std::string> x = JwkBytes(jwk, "x");
  if (!x.ok()) return x.status();
  absl::StatusOr<std::string> y = JwkBytes(jwk, "y");
  if (!y.ok()) return y.status();
  if (x->size() != kEs256HalfBytes || y->size() != kEs256HalfBytes) {
    return InvalidArgument("JWK P-256 coordinates must be 32 bytes each");
  }
  std::string point = absl::StrCat("\x04", *x, *y);  // SEC 1 uncompressed point.
  OpenSslPtr<OSSL_PARAM_BLD> builder(OSSL_PARAM_BLD_new());
  static constexpr char kGroup[] = "prime256v1";
  if (builder == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, kGroup, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return InvalidArgument("invalid JWK EC key");
  }
  return PublicKeyFromParams("EC", builder.get());
}

// One-shot SHA-256 digest verification with a context of its own (safe across threads).
bool DigestVerify(EVP_PKEY* key, absl::string_view input, const unsigned char* signature,
                  size_t signature_size) {
  OpenSslPtr<EVP_MD_CTX> context(EVP_MD_CTX_new());
  return context != nullptr &&
         EVP_DigestVerifyInit(context.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
         EVP_DigestVerify(context.get(), signature, signature_size,
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

bool HmacSha256(absl::string_view secret, absl::string_view input, unsigned char* mac,
                unsigned int* mac_size) {
  return HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
              reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
              mac_size) != nullptr;
}

// The JWS ES256 signature (r || s, 32 bytes each) as the DER ECDSA-Sig-Value OpenSSL verifies.
std::optional<std::string> Es256SignatureToDer(absl::string_view signature) {
  if (signature.size() != 2 * kEs256HalfBytes) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(signature.data());
  OpenSslPtr<BIGNUM> r(BN_bin2bn(bytes, kEs256HalfBytes, nullptr));
  OpenSslPtr<BIGNUM> s(BN_bin2bn(bytes + kEs256HalfBytes, kEs256HalfBytes, nullptr));
  OpenSslPtr<ECDSA_SIG> ecdsa(ECDSA_SIG_new());
  if (r == nullptr || s == nullptr || ecdsa == nullptr) return std::nullopt;
  if (ECDSA_SIG_set0(ecdsa.get(), r.get(), s.get()) != 1) return std::nullopt;
  r.release();  // Now owned by `ecdsa`.
  s.release();
  unsigned char* der = nullptr;
  int der_size = i2d_ECDSA_SIG(ecdsa.get(), &der);
  OpenSslPtr<unsigned char> der_owner(der);
  if (der_size <= 0 || der == nullptr) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(der), static_cast<size_t>(der_size));
}

// The DER ECDSA-Sig-Value OpenSSL signs as the JWS ES256 form r || s.
std::optional<std::string> DerToEs256Signature(absl::string_view der) {
  const auto* cursor = reinterpret_cast<const unsigned char*>(der.data());
  OpenSslPtr<ECDSA_SIG> ecdsa(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der.size())));
  if (ecdsa == nullptr) return std::nullopt;
  std::string signature(2 * kEs256HalfBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(signature.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa.get()), out, kEs256HalfBytes) < 0 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa.get()), out + kEs256HalfBytes, kEs256HalfBytes) < 0) {
    return std::nullopt;
  }
  return signature;
}

// An unencrypted PEM private key; a passphrase callback that refuses keeps OpenSSL from
// prompting on the terminal for an encrypted one.
OpenSslPtr<EVP_PKEY> ReadPrivateKeyPem(absl::string_view pem) {
  if (pem.size() > static_cast<size_t>(INT_MAX)) return nullptr;
  OpenSslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return nullptr;
  pem_password_cb* no_passphrase = [](char*, int, int, void*) { return -1; };
  return OpenSslPtr<EVP_PKEY>(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
}

}  // namespace

struct JwtKeySet::Key {
  KeyKind kind;
  std::string kid;
  std::string secret;               // kHmacSecret only.
  OpenSslPtr<EVP_PKEY> public_key;  // kRsaPublic and kEcP256Public only.
};

JwtKeySet::JwtKeySet() = default;
JwtKeySet::~JwtKeySet() = default;
JwtKeySet::JwtKeySet(JwtKeySet&& other) noexcept = default;
JwtKeySet& JwtKeySet::operator=(JwtKeySet&& other) noexcept = default;

bool JwtKeySet::empty() const { return keys_.empty(); }

size_t JwtKeySet::size() const { return keys_.size(); }

absl::Status JwtKeySet::AddHs256Secret(std::string secret, std::string kid) {
  if (secret.empty()) return InvalidArgument("HS256 secret is empty");
  if (secret.size() > static_cast<size_t>(INT_MAX)) {
    return InvalidArgument("HS256 secret is too long");
  }
  keys_.push_back(Key{KeyKind::kHmacSecret, std::move(kid), std::move(secret), nullptr});
  return absl::OkStatus();
}

absl::Status JwtKeySet::AddPublicKeysPem(absl::string_view pem, std::string kid) {
  if (pem.size() > static_cast<size_t>(INT_MAX)) return InvalidArgument("PEM is too long");
  OpenSslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return InvalidArgument("cannot read PEM");
  std::vector<Key> added;
  while (true) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long length = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &length) != 1) {
      unsigned long error = ERR_peek_last_error();
      if (ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE) {
        ERR_clear_error();  // The end of the input: no further block.
        break;
      }
      return InvalidArgument("malformed PEM block");
    }
    OpenSslPtr<char> name_owner(name);
    OpenSslPtr<char> header_owner(header);
    OpenSslPtr<unsigned char> data_owner(data);
    absl::string_view block(name);
    const unsigned char* cursor = data;
    OpenSslPtr<EVP_PKEY> key;
    if (block == "PUBLIC KEY") {
      key.reset(d2i_PUBKEY(nullptr, &cursor, length));
    } else if (block == "CERTIFICATE") {
      OpenSslPtr<X509> certificate(d2i_X509(nullptr, &cursor, length));
      if (certificate != nullptr) key.reset(X509_get_pubkey(certificate.get()));
    } else {
      return InvalidArgument(absl::StrCat("unsupported PEM block \"", block,
                                          "\": expected PUBLIC KEY or CERTIFICATE"));
    }
    if (key == nullptr || cursor != data + length) {
      return InvalidArgument(absl::StrCat("malformed ", block, " PEM block"));
    }
    absl::StatusOr<KeyKind> kind = CheckKey(key.get());
    if (!kind.ok()) return kind.status();
    added.push_back(Key{*kind, kid, "", std::move(key)});
  }
  if (added.empty()) return InvalidArgument("no PUBLIC KEY or CERTIFICATE block in PEM");
  for (Key& key : added) keys_.push_back(std::move(key));
  return absl::OkStatus();
}

absl::Status JwtKeySet::AddJwks(absl::string_view json) {
  std::optional<boost::json::object> document = ParseJsonObject(json);
  if (!document.has_value()) return InvalidArgument("JWKS is not a JSON object");
  const boost::json::value* keys_value = Find(*document, "keys");
  const boost::json::array* keys = keys_value == nullptr ? nullptr : keys_value->if_array();
  if (keys == nullptr) return InvalidArgument("JWKS without a \"keys\" array");
  std::vector<Key> added;
  for (const boost::json::value& entry : *keys) {
    const boost::json::object* jwk = entry.if_object();
    if (jwk == nullptr) return InvalidArgument("JWKS key is not an object");
    const boost::json::value* kty_value = Find(*jwk, "kty");
    const boost::json::string* kty = kty_value == nullptr ? nullptr : kty_value->if_string();
    if (kty == nullptr) return InvalidArgument("JWK without string \"kty\"");
    std::string kid;
    if (const boost::json::value* kid_value = Find(*jwk, "kid")) {
      const boost::json::string* text = kid_value->if_string();
      if (text == nullptr) return InvalidArgument("JWK \"kid\" is not a string");
      kid = ToString(*text);
    }
    if (const boost::json::value* use = Find(*jwk, "use")) {
      if (!use->is_string()) return InvalidArgument("JWK \"use\" is not a string");
      if (use->get_string() != "sig") continue;
    }
    const boost::json::string* alg = nullptr;
    if (const boost::json::value* alg_value = Find(*jwk, "alg")) {
      alg = alg_value->if_string();
      if (alg == nullptr) return InvalidArgument("JWK \"alg\" is not a string");
    }
    absl::StatusOr<OpenSslPtr<EVP_PKEY>> key;
    if (*kty == "RSA") {
      if (alg != nullptr && *alg != "RS256") continue;
      key = RsaKeyFromJwk(*jwk);
    } else if (*kty == "EC") {
      const boost::json::value* crv = Find(*jwk, "crv");
      if (crv == nullptr || !crv->is_string()) {
        return InvalidArgument("EC JWK without string \"crv\"");
      }
      if (crv->get_string() != "P-256") continue;
      if (alg != nullptr && *alg != "ES256") continue;
      key = EcKeyFromJwk(*jwk);
    } else {
      continue;  // "oct", "OKP", ...: not used by Herald.
    }
    if (!key.ok()) return key.status();
    absl::StatusOr<KeyKind> kind = CheckKey(key->get());
    if (!kind.ok()) return kind.status();
    added.push_back(Key{*kind, std::move(kid), "", *std::move(key)});
  }
  if (added.empty()) return InvalidArgument("JWKS holds no usable RS256 or ES256 key");
  for (Key& key : added) keys_.push_back(std::move(key));
  return absl::OkStatus();
}

absl::StatusOr<JwtClaims> JwtKeySet::Verify(absl::string_view token,
                                            const JwtVerifyOptions& options) const {
  if (token.size() > kMaxJwtBytes) return Unauthenticated("token too large");
  size_t first_dot = token.find('.');
  size_t second_dot =
      first_dot == absl::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == absl::string_view::npos ||
      token.find('.', second_dot + 1) != absl::string_view::npos) {
    return Unauthenticated("malformed token: expected three parts");
  }
  std::optional<std::string> header_json = Base64UrlDecode(token.substr(0, first_dot));
  std::optional<std::string> payload_json =
      Base64UrlDecode(token.substr(first_dot + 1, second_dot - first_dot - 1));
  std::optional<std::string> signature = Base64UrlDecode(token.substr(second_dot + 1));
  if (!header_json.has_value() || !payload_json.has_value() || !signature.has_value()) {
    return Unauthenticated("malformed token: bad base64url");
  }

  std::optional<boost::json::object> header = ParseJsonObject(*header_json);
  if (!header.has_value()) return Unauthenticated("malformed token header");
  const boost::json::value* alg_value = Find(*header, "alg");
  const boost::json::string* alg_name = alg_value == nullptr ? nullptr : alg_value->if_string();
  std::optional<Alg> alg;
  if (alg_name != nullptr) alg = ParseAlg(absl::string_view(alg_name->data(), alg_name->size()));
  if (!alg.has_value()) return Unauthenticated("unsupported alg");
  if (Find(*header, "crit") != nullptr) return Unauthenticated("crit header not supported");
  std::optional<absl::string_view> kid;
  if (const boost::json::value* kid_value = Find(*header, "kid")) {
    const boost::json::string* text = kid_value->if_string();
    if (text == nullptr) return Unauthenticated("malformed token header");
    kid = absl::string_view(text->data(), text->size());
  }

  // The signature covers the two encoded parts exactly as received.
  absl::string_view signing_input = token.substr(0, second_dot);
  std::optional<std::string> der_signature;
  if (*alg == Alg::kEs256) {
    der_signature = Es256SignatureToDer(*signature);
    if (!der_signature.has_value()) return Unauthenticated("bad signature");
  }
  const KeyKind kind = KindFor(*alg);
  bool candidate_found = false;
  bool verified = false;
  for (const Key& key : keys_) {
    if (key.kind != kind) continue;
    if (kid.has_value() && !key.kid.empty() && key.kid != *kid) continue;
    candidate_found = true;
    switch (key.kind) {
      case KeyKind::kHmacSecret: {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mac_size = 0;
        verified = HmacSha256(key.secret, signing_input, mac, &mac_size) &&
                   signature->size() == mac_size &&
                   CRYPTO_memcmp(mac, signature->data(), mac_size) == 0;
        break;
      }
      case KeyKind::kRsaPublic:
        verified = DigestVerify(key.public_key.get(), signing_input,
                                reinterpret_cast<const unsigned char*>(signature->data()),
                                signature->size());
        break;
      case KeyKind::kEcP256Public:
        verified = DigestVerify(key.public_key.get(), signing_input,
                                reinterpret_cast<const unsigned char*>(der_signature->data()),
                                der_signature->size());
        break;
    }
    if (verified) break;
  }
  ERR_clear_error();  // Keys tried before the one that verified may have left errors.
  if (!candidate_found) {
    if (kid.has_value()) return Unauthenticated("unknown kid");
    return Unauthenticated(absl::StrCat("no ", AlgName(*alg), " key"));
  }
  if (!verified) return Unauthenticated("bad signature");

  // Only an authenticated payload is parsed.
  std::optional<boost::json::object> claims = ParseJsonObject(*payload_json);
  if (!claims.has_value()) return Unauthenticated("malformed token payload");
  JwtClaims result;
  if (const boost::json::value* exp = Find(*claims, "exp")) {
    std::optional<absl::Time> expires = NumericDate(*exp);
    if (!expires.has_value()) return Unauthenticated("bad exp claim");
    if (*expires + options.leeway <= options.now) return Unauthenticated("token expired");
    if (options.max_lifetime > absl::ZeroDuration() &&
        *expires - options.now > options.max_lifetime + options.leeway) {
      return Unauthenticated(absl::StrCat("token lives longer than the allowed ",
                                          absl::FormatDuration(options.max_lifetime),
                                          " (--jwt_max_lifetime)"));
    }
    result.expires = *expires;
  } else if (options.require_exp || options.max_lifetime > absl::ZeroDuration()) {
    return Unauthenticated("missing exp claim: tokens must expire (--jwt_require_exp)");
  }
  if (const boost::json::value* nbf = Find(*claims, "nbf")) {
    std::optional<absl::Time> not_before = NumericDate(*nbf);
    if (!not_before.has_value()) return Unauthenticated("bad nbf claim");
    if (*not_before - options.leeway > options.now) {
      return Unauthenticated("token not yet valid");
    }
  }
  if (const boost::json::value* sub = Find(*claims, "sub")) {
    const boost::json::string* text = sub->if_string();
    if (text == nullptr) return Unauthenticated("bad sub claim");
    result.subject = ToString(*text);
  }
  if (!ReadStringArray(*claims, "subscribe", result.subscribe)) {
    return Unauthenticated("bad subscribe claim");
  }
  if (!ReadStringArray(*claims, "publish", result.publish)) {
    return Unauthenticated("bad publish claim");
  }
  if (!options.issuer.empty()) {
    const boost::json::value* iss = Find(*claims, "iss");
    if (iss == nullptr) return Unauthenticated("missing iss claim");
    const boost::json::string* text = iss->if_string();
    if (text == nullptr) return Unauthenticated("bad iss claim");
    if (absl::string_view(text->data(), text->size()) != options.issuer) {
      return Unauthenticated("wrong issuer");
    }
  }
  if (!options.audience.empty()) {
    const boost::json::value* aud = Find(*claims, "aud");
    if (aud == nullptr) return Unauthenticated("missing aud claim");
    bool matched = false;
    if (const boost::json::string* text = aud->if_string()) {
      matched = absl::string_view(text->data(), text->size()) == options.audience;
    } else if (const boost::json::array* array = aud->if_array()) {
      for (const boost::json::value& item : *array) {
        const boost::json::string* text = item.if_string();
        if (text == nullptr) return Unauthenticated("bad aud claim");
        if (absl::string_view(text->data(), text->size()) == options.audience) matched = true;
      }
    } else {
      return Unauthenticated("bad aud claim");
    }
    if (!matched) return Unauthenticated("wrong audience");
  }
  return result;
}

absl::StatusOr<std::string> SignJwt(absl::string_view alg, absl::string_view claims_json,
                                    absl::string_view key, absl::string_view kid) {
  std::optional<Alg> parsed_alg = ParseAlg(alg);
  if (!parsed_alg.has_value()) {
    return InvalidArgument("unsupported alg: expected HS256, RS256 or ES256");
  }
  if (!ParseJsonObject(claims_json).has_value()) {
    return InvalidArgument("claims are not a JSON object");
  }
  boost::json::object header;
  header["alg"] = boost::json::string_view(alg.data(), alg.size());
  header["typ"] = "JWT";
  if (!kid.empty()) header["kid"] = boost::json::string_view(kid.data(), kid.size());
  std::string signing_input = absl::StrCat(Base64UrlEncode(boost::json::serialize(header)), ".",
                                           Base64UrlEncode(claims_json));

  std::string signature;
  if (*parsed_alg == Alg::kHs256) {
    if (key.empty()) return InvalidArgument("HS256 secret is empty");
    if (key.size() > static_cast<size_t>(INT_MAX)) {
      return InvalidArgument("HS256 secret is too long");
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    if (!HmacSha256(key, signing_input, mac, &mac_size)) {
      ERR_clear_error();
      return absl::InternalError("HMAC-SHA256 failed");
    }
    signature.assign(reinterpret_cast<const char*>(mac), mac_size);
  } else {
    OpenSslPtr<EVP_PKEY> private_key = ReadPrivateKeyPem(key);
    if (private_key == nullptr) return InvalidArgument("key is not an unencrypted PEM private key");
    absl::StatusOr<KeyKind> kind = CheckKey(private_key.get());
    if (!kind.ok()) return kind.status();
    if (*kind != KindFor(*parsed_alg)) {
      return InvalidArgument(absl::StrCat("key does not fit ", alg));
    }
    OpenSslPtr<EVP_MD_CTX> context(EVP_MD_CTX_new());
    size_t signature_size = 0;
    const auto* input = reinterpret_cast<const unsigned char*>(signing_input.data());
    if (context == nullptr ||
        EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, private_key.get()) != 1 ||
        EVP_DigestSign(context.get(), nullptr, &signature_size, input, signing_input.size()) != 1) {
      ERR_clear_error();
      return absl::InternalError(absl::StrCat(alg, " signing failed"));
    }
    signature.resize(signature_size);
    if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()),
                       &signature_size, input, signing_input.size()) != 1) {
      ERR_clear_error();
      return absl::InternalError(absl::StrCat(alg, " signing failed"));
    }
    signature.resize(signature_size);
    if (*parsed_alg == Alg::kEs256) {
      std::optional<std::string> raw = DerToEs256Signature(signature);
      if (!raw.has_value()) {
        ERR_clear_error();
        return absl::InternalError("ES256 signature conversion failed");
      }
      signature = *std::move(raw);
    }
  }
  return absl::StrCat(signing_input, ".", Base64UrlEncode(signature));
}

}  // namespace herald
