// JWT verification: signatures, algorithm confusion, key ids, time and audience claims, bad input.
#include "auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace herald {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kSecret[] = "a secret of thirty-two bytes ...";

JwtVerifyOptions Options() {
  JwtVerifyOptions options;
  options.now = absl::FromUnixSeconds(kNow);
  return options;
}

std::string B64(absl::string_view bytes) { return absl::WebSafeBase64Escape(bytes); }

std::string UnB64(absl::string_view text) {
  std::string bytes;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(text, &bytes)) << text;
  return bytes;
}

std::vector<std::string> Parts(absl::string_view token) { return absl::StrSplit(token, '.'); }

std::string Join(const std::vector<std::string>& parts) { return absl::StrJoin(parts, "."); }

std::string Pem(EVP_PKEY* key, bool private_key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  int written =
      private_key ? PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)
                  : PEM_write_bio_PUBKEY(bio.get(), key);
  EXPECT_EQ(written, 1);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string SelfSignedCertificatePem(EVP_PKEY* key) {
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("herald test"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  EXPECT_GT(X509_sign(cert.get(), key, EVP_sha256()), 0);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  EXPECT_EQ(PEM_write_bio_X509(bio.get(), cert.get()), 1);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

// A base64url big-endian parameter of a key, left-padded to `width` bytes when width > 0.
std::string KeyParam(EVP_PKEY* key, const char* name, int width = 0) {
  BIGNUM* number = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &number), 1) << name;
  std::string bytes(width > 0 ? width : BN_num_bytes(number), '\0');
  BN_bn2binpad(number, reinterpret_cast<unsigned char*>(bytes.data()),
               static_cast<int>(bytes.size()));
  BN_free(number);
  return B64(bytes);
}

struct KeyPair {
  PkeyPtr key;
  std::string private_pem;
  std::string public_pem;
};

KeyPair MakeKeyPair(PkeyPtr key) {
  EXPECT_NE(key, nullptr);
  KeyPair pair;
  pair.private_pem = Pem(key.get(), true);
  pair.public_pem = Pem(key.get(), false);
  pair.key = std::move(key);
  return pair;
}

// Generated once: RSA-2048 keygen is the slow part of this suite.
struct TestKeys {
  KeyPair rsa = MakeKeyPair(PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})));
  KeyPair rsa2 = MakeKeyPair(PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})));
  KeyPair ec = MakeKeyPair(PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")));
  KeyPair ec2 = MakeKeyPair(PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")));
};

const TestKeys& Keys() {
  static const TestKeys* keys = new TestKeys();
  return *keys;
}

// An HS256 token over exactly these header and payload bytes, signed independently of jwt.cc.
std::string HsToken(absl::string_view header_json, absl::string_view payload_json,
                    absl::string_view secret = kSecret) {
  std::string input = absl::StrCat(B64(header_json), ".", B64(payload_json));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_size);
  return absl::StrCat(input, ".",
                      B64(absl::string_view(reinterpret_cast<const char*>(mac), mac_size)));
}

constexpr char kHsHeader[] = R"({"alg":"HS256","typ":"JWT"})";

std::string Sign(absl::string_view alg, absl::string_view claims, absl::string_view key,
                 absl::string_view kid = "") {
  absl::StatusOr<std::string> token = SignJwt(alg, claims, key, kid);
  EXPECT_TRUE(token.ok()) << token.status();
  return token.ok() ? *token : "";
}

std::string ClaimsExpiringIn(int64_t seconds) {
  return absl::StrCat(R"({"sub":"alice","exp":)", kNow + seconds, "}");
}

JwtKeySet AllKinds() {
  JwtKeySet keys;
  EXPECT_TRUE(keys.AddHs256Secret(kSecret).ok());
  EXPECT_TRUE(keys.AddPublicKeysPem(Keys().rsa.public_pem).ok());
  EXPECT_TRUE(keys.AddPublicKeysPem(Keys().ec.public_pem).ok());
  return keys;
}

// The token signed with `alg` by the matching key of AllKinds().
std::string SignedByAllKinds(absl::string_view alg, absl::string_view claims) {
  if (alg == "HS256") return Sign(alg, claims, kSecret);
  if (alg == "RS256") return Sign(alg, claims, Keys().rsa.private_pem);
  return Sign(alg, claims, Keys().ec.private_pem);
}

void ExpectRefused(const absl::StatusOr<JwtClaims>& result, absl::string_view reason) {
  ASSERT_FALSE(result.ok()) << "expected refusal: " << reason;
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << result.status();
  EXPECT_EQ(result.status().message(), reason);
  EXPECT_EQ(ERR_peek_error(), 0u) << "OpenSSL error queue not cleared";
}

TEST(JwtVerify, ValidTokenOfEachAlgorithmReturnsItsClaims) {
  JwtKeySet keys = AllKinds();
  std::string claims = absl::StrCat(R"({"sub":"alice","exp":)", kNow + 60, R"(,"nbf":)", kNow - 60,
                                    R"(,"subscribe":["chat.*","news"],"publish":["chat.alice"],)",
                                    R"("iat":1,"custom":{"nested":[1,2]}})");
  for (const char* alg : {"HS256", "RS256", "ES256"}) {
    SCOPED_TRACE(alg);
    absl::StatusOr<JwtClaims> result = keys.Verify(SignedByAllKinds(alg, claims), Options());
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->subject, "alice");
    EXPECT_EQ(result->expires, absl::FromUnixSeconds(kNow + 60));
    EXPECT_EQ(result->subscribe, (std::vector<std::string>{"chat.*", "news"}));
    EXPECT_EQ(result->publish, (std::vector<std::string>{"chat.alice"}));
  }
}

TEST(JwtVerify, AcceptsTokenSignedOutsideThisModuleAndMissingOptionalClaims) {
  JwtKeySet keys;
  ASSERT_TRUE(keys.AddHs256Secret(kSecret).ok());
  absl::StatusOr<JwtClaims> result = keys.Verify(HsToken(kHsHeader, "{}"), Options());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->subject, "");
  EXPECT_EQ(result->expires, absl::InfiniteFuture());  // No exp: no expiry.
  EXPECT_TRUE(result->subscribe.empty());
  EXPECT_TRUE(result->publish.empty());
}

// A token without exp lives forever: --jwt_require_exp refuses it, and --jwt_max_lifetime
// refuses it and any token that expires later than that from now.
TEST(JwtVerify, RequiredExpAndMaxLifetimeRefuseTokensThatLiveTooLong) {
  JwtKeySet keys;
  ASSERT_TRUE(keys.AddHs256Secret(kSecret).ok());
  JwtVerifyOptions require_exp = Options();
  require_exp.require_exp = true;
  ExpectRefused(keys.Verify(Sign("HS256", "{}", kSecret), require_exp), "missing exp claim: tokens must expire (--jwt_require_exp)");
  EXPECT_TRUE(keys.Verify(Sign("HS256", ClaimsExpiringIn(86400 * 365), kSecret), require_exp).ok());

  JwtVerifyOptions max_lifetime = Options();
  max_lifetime.max_lifetime = absl::Hours(1);
  ExpectRefused(keys.Verify(Sign("HS256", "{}", kSecret), max_lifetime), "missing exp claim: tokens must expire (--jwt_require_exp)");
  EXPECT_TRUE(keys.Verify(Sign("HS256", ClaimsExpiringIn(3600), kSecret), max_lifetime).ok());
  // Within the leeway (10 s) of the limit, as for exp itself.
  EXPECT_TRUE(keys.Verify(Sign("HS256", ClaimsExpiringIn(3605), kSecret), max_lifetime).ok());
  ExpectRefused(keys.Verify(Sign("HS256", ClaimsExpiringIn(3611), kSecret), max_lifetime),
                "token lives longer than the allowed 1h (--jwt_max_lifetime)");
  // Without either option a token without exp is still taken (the default, for compatibility).
  EXPECT_TRUE(keys.Verify(Sign("HS256", "{}", kSecret), Options()).ok());
}

TEST(JwtVerify, SignJwtHeaderNamesAlgTypAndKid) {
  std::vector<std::string> parts = Parts(Sign("RS256", "{}", Keys().rsa.private_pem, "k1"));
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(UnB64(parts[0]), R"({"alg":"RS256","typ":"JWT","kid":"k1"})");
  EXPECT_EQ(UnB64(parts[1]), "{}");
  EXPECT_EQ(UnB64(parts[2]).size(), 256u);
  parts = Parts(Sign("ES256", "{}", Keys().ec.private_pem));
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(UnB64(parts[0]), R"({"alg":"ES256","typ":"JWT"})");
  EXPECT_EQ(UnB64(parts[2]).size(), 64u);
}

TEST(JwtVerify, OneChangedByteInAnyPartIsABadSignature) {
  JwtKeySet keys = AllKinds();
  for (const char* alg : {"HS256", "RS256", "ES256"}) {
    std::string token = SignedByAllKinds(alg, ClaimsExpiringIn(60));
    ASSERT_TRUE(keys.Verify(token, Options()).ok()) << alg;
    for (size_t part = 0; part < 3; ++part) {
      SCOPED_TRACE(absl::StrCat(alg, " part ", part));
      std::vector<std::string> parts = Parts(token);
      std::string bytes = UnB64(parts[part]);
      // A byte that keeps the JSON valid: a letter of "JWT" / "alice", or a signature byte.
      size_t at = part == 0 ? bytes.find("JWT") : part == 1 ? bytes.find("alice") : 10;
      ASSERT_NE(at, std::string::npos);
      bytes[at] = static_cast<char>(bytes[at] ^ 0x01);
      parts[part] = B64(bytes);
      ExpectRefused(keys.Verify(Join(parts), Options()), "bad signature");
    }
    // A signature cut short, lengthened or empty.
    std::vector<std::string> cut = Parts(token);
    std::string signature = UnB64(cut[2]);
    for (const std::string& changed : {signature.substr(0, signature.size() - 1), signature + '\0',
                                       signature + signature, std::string()}) {
      cut[2] = B64(changed);
      ExpectRefused(keys.Verify(Join(cut), Options()), "bad signature");
    }
    // One changed character inside the signature text.
    std::vector<std::string> parts = Parts(token);
    parts[2][5] = parts[2][5] == 'A' ? 'B' : 'A';
    ExpectRefused(keys.Verify(Join(parts), Options()), "bad signature");
  }
}

TEST(JwtVerify, RefusesAlgNoneAndEveryOtherAlgorithm) {
  JwtKeySet keys = AllKinds();
  std::string payload = B64(ClaimsExpiringIn(60));
  for (const char* alg : {"none", "None", "NONE", "", "hs256", "HS256 ", "HS384", "HS512", "RS384",
                          "RS512", "PS256", "ES384", "ES256K", "EdDSA"}) {
    SCOPED_TRACE(alg);
    std::string header = B64(absl::StrCat(R"({"alg":")", alg, R"(","typ":"JWT"})"));
    ExpectRefused(keys.Verify(absl::StrCat(header, ".", payload, "."), Options()),
                  "unsupported alg");
    ExpectRefused(keys.Verify(absl::StrCat(header, ".", payload, ".", B64("signature")), Options()),
                  "unsupported alg");
    // Even with a valid HMAC over the same input.
    std::string hs = HsToken(absl::StrCat(R"({"alg":")", alg, R"("})"), ClaimsExpiringIn(60));
    ExpectRefused(keys.Verify(hs, Options()), "unsupported alg");
  }
  // An alg that is missing or not a string.
  ExpectRefused(keys.Verify(HsToken(R"({"typ":"JWT"})", "{}"), Options()), "unsupported alg");
  ExpectRefused(keys.Verify(HsToken(R"({"alg":1})", "{}"), Options()), "unsupported alg");
  ExpectRefused(keys.Verify(HsToken(R"({"alg":["HS256"]})", "{}"), Options()), "unsupported alg");
}

TEST(JwtVerify, HmacTokenKeyedWithTheRsaPublicKeyIsRefused) {
  const std::string& rsa_pem = Keys().rsa.public_pem;
  std::string forged = Sign("HS256", ClaimsExpiringIn(60), rsa_pem);
  // The forged token is otherwise sound: a key set holding the PEM text as a secret accepts it.
  JwtKeySet as_secret;
  ASSERT_TRUE(as_secret.AddHs256Secret(rsa_pem).ok());
  ASSERT_TRUE(as_secret.Verify(forged, Options()).ok());

  JwtKeySet keys;
  ASSERT_TRUE(keys.AddPublicKeysPem(rsa_pem).ok());
  ExpectRefused(keys.Verify(forged, Options()), "no HS256 key");
  JwtKeySet named;
  ASSERT_TRUE(named.AddPublicKeysPem(rsa_pem, "rsa").ok());
  ExpectRefused(named.Verify(Sign("HS256", ClaimsExpiringIn(60), rsa_pem, "rsa"), Options()),
                "unknown kid");
  // The same for the EC key.
  const std::string& ec_pem = Keys().ec.public_pem;
  JwtKeySet ec_keys;
  ASSERT_TRUE(ec_keys.AddPublicKeysPem(ec_pem).ok());
  ExpectRefused(ec_keys.Verify(Sign("HS256", ClaimsExpiringIn(60), ec_pem), Options()),
                "no HS256 key");
}

TEST(JwtVerify, KeyOfOneAlgorithmNeverVerifiesAnother) {
  JwtKeySet ec_only;
  ASSERT_TRUE(ec_only.AddPublicKeysPem(Keys().ec.public_pem).ok());
  JwtKeySet rsa_only;
  ASSERT_TRUE(rsa_only.AddPublicKeysPem(Keys().rsa.public_pem).ok());
  JwtKeySet hs_only;
  ASSERT_TRUE(hs_only.AddHs256Secret(kSecret).ok());
  std::string rs256 = Sign("RS256", ClaimsExpiringIn(60), Keys().rsa.private_pem);
  std::string es256 = Sign("ES256", ClaimsExpiringIn(60), Keys().ec.private_pem);
  ASSERT_TRUE(rsa_only.Verify(rs256, Options()).ok());
  ASSERT_TRUE(ec_only.Verify(es256, Options()).ok());
  ExpectRefused(ec_only.Verify(rs256, Options()), "no RS256 key");
  ExpectRefused(rsa_only.Verify(es256, Options()), "no ES256 key");
  ExpectRefused(hs_only.Verify(rs256, Options()), "no RS256 key");
  ExpectRefused(hs_only.Verify(es256, Options()), "no ES256 key");

  // A token whose header claims the other algorithm, its signature left as it was.
  JwtKeySet both = AllKinds();
  std::vector<std::string> parts = Parts(rs256);
  parts[0] = B64(R"({"alg":"ES256","typ":"JWT"})");
  ExpectRefused(both.Verify(Join(parts), Options()), "bad signature");  // 256 bytes, not 64.
  parts = Parts(es256);
  parts[0] = B64(R"({"alg":"RS256","typ":"JWT"})");
  ExpectRefused(both.Verify(Join(parts), Options()), "bad signature");
}

TEST(JwtVerify, KeyIdsSelectTheKey) {
  JwtKeySet keys;
  ASSERT_TRUE(keys.AddHs256Secret("first secret", "k1").ok());
  ASSERT_TRUE(keys.AddHs256Secret("second secret", "k2").ok());
  ASSERT_TRUE(keys.AddPublicKeysPem(Keys().rsa.public_pem, "rsa").ok());
  std::string claims = ClaimsExpiringIn(60);

  EXPECT_TRUE(keys.Verify(Sign("HS256", claims, "second secret", "k2"), Options()).ok());
  EXPECT_TRUE(keys.Verify(Sign("HS256", claims, "first secret", "k1"), Options()).ok());
  EXPECT_TRUE(keys.Verify(Sign("RS256", claims, Keys().rsa.private_pem, "rsa"), Options()).ok());
  // Right key, wrong kid: only the key named by the kid is tried.
  ExpectRefused(keys.Verify(Sign("HS256", claims, "second secret", "k1"), Options()),
                "bad signature");
  ExpectRefused(keys.Verify(Sign("HS256", claims, "second secret", "k3"), Options()),
                "unknown kid");
  ExpectRefused(keys.Verify(Sign("RS256", claims, Keys().rsa.private_pem, "k1"), Options()),
                "unknown kid");
  // "rsa" names an RSA key: no HS256 key has it.
  ExpectRefused(keys.Verify(Sign("HS256", claims, "first secret", "rsa"), Options()),
                "unknown kid");
  // A token without kid tries every key of its algorithm.
  EXPECT_TRUE(keys.Verify(Sign("HS256", claims, "second secret"), Options()).ok());
  ExpectRefused(keys.Verify(Sign("HS256", claims, "third secret"), Options()), "bad signature");
  // A kid that is not a string.
  ExpectRefused(keys.Verify(HsToken(R"({"alg":"HS256","kid":7})", "{}", "first secret"), Options()),
                "malformed token header");
}

TEST(JwtVerify, KeyWithoutKidMatchesAnyKid) {
  JwtKeySet keys;
  ASSERT_TRUE(keys.AddHs256Secret(kSecret).ok());
  ASSERT_TRUE(keys.AddPublicKeysPem(Keys().ec.public_pem).ok());
  std::string claims = ClaimsExpiringIn(60);
  EXPECT_TRUE(keys.Verify(Sign("HS256", claims, kSecret, "whatever"), Options()).ok());
  EXPECT_TRUE(keys.Verify(Sign("HS256", claims, kSecret), Options()).ok());
  EXPECT_TRUE(keys.Verify(Sign("ES256", claims, Keys().ec.private_pem, "x"), Options()).ok());
  ExpectRefused(keys.Verify(Sign("ES256", claims, Keys().ec2.private_pem, "x"), Options()),
                "bad signature");
}

TEST(JwtVerify, ManyKeysWithoutKidTriesEachAndLeavesNoOpenSslError) {
  JwtKeySet keys;
  ASSERT_TRUE(keys.AddPublicKeysPem(Keys().rsa.public_pem).ok());
  ASSERT_TRUE(keys.AddPublicKeysPem(Keys().rsa2.public_pem).ok());
  ASSERT_TRUE(keys.AddPublicKeysPem(Keys().ec.public_pem).ok());
  ASSERT_TRUE(keys.AddPublicKeysPem(Keys().ec2.public_pem).ok());
  std::string claims = ClaimsExpiringIn(60);
  // Signed by the second key: the first one fails first (RSA pushes errors when it does).
  EXPECT_TRUE(keys.Verify(Sign("RS256", claims, Keys().rsa2.private_pem), Options()).ok());
  EXPECT_EQ(ERR_peek_error(), 0u);
  EXPECT_TRUE(keys.Verify(Sign("ES256", claims, Keys().ec2.private_pem), Options()).ok());
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(JwtVerify, ExpiryAndNotBeforeWithLeeway) {
  JwtKeySet keys = AllKinds();
  auto verify = [&](absl::string_view claims) {
    return keys.Verify(Sign("HS256", claims, kSecret), Options());
  };
  ExpectRefused(verify(absl::StrCat(R"({"exp":)", kNow - 60, "}")), "token expired");
  ExpectRefused(verify(absl::StrCat(R"({"exp":)", kNow - 10, "}")), "token expired");
  EXPECT_TRUE(verify(absl::StrCat(R"({"exp":)", kNow - 9, "}")).ok());  // Within 10 s leeway.
  EXPECT_TRUE(verify(absl::StrCat(R"({"exp":)", kNow + 3600, "}")).ok());
  absl::StatusOr<JwtClaims> fractional = verify(absl::StrCat(R"({"exp":)", kNow, ".5e0}"));
  ASSERT_TRUE(fractional.ok()) << fractional.status();
  EXPECT_EQ(fractional->expires, absl::FromUnixMillis(kNow * 1000 + 500));
  ExpectRefused(verify(absl::StrCat(R"({"exp":)", kNow - 11, ".5}")), "token expired");

  ExpectRefused(verify(absl::StrCat(R"({"nbf":)", kNow + 60, "}")), "token not yet valid");
  ExpectRefused(verify(absl::StrCat(R"({"nbf":)", kNow + 11, "}")), "token not yet valid");
  EXPECT_TRUE(verify(absl::StrCat(R"({"nbf":)", kNow + 10, "}")).ok());  // Within leeway.
  EXPECT_TRUE(verify(absl::StrCat(R"({"nbf":)", kNow - 60, "}")).ok());

  JwtVerifyOptions strict = Options();
  strict.leeway = absl::ZeroDuration();
  std::string almost = Sign("HS256", absl::StrCat(R"({"exp":)", kNow - 1, "}"), kSecret);
  ExpectRefused(keys.Verify(almost, strict), "token expired");
  EXPECT_TRUE(keys.Verify(almost, Options()).ok());
  // Huge values stay far in the future instead of overflowing.
  EXPECT_TRUE(verify(R"({"exp":18446744073709551615})").ok());
  EXPECT_TRUE(verify(R"({"exp":1e300})").ok());
  ExpectRefused(verify(R"({"exp":-1e300})"), "token expired");
}

TEST(JwtVerify, Audience) {
  JwtKeySet keys = AllKinds();
  JwtVerifyOptions options = Options();
  options.audience = "herald";
  auto verify = [&](absl::string_view claims) {
    return keys.Verify(Sign("ES256", claims, Keys().ec.private_pem), options);
  };
  EXPECT_TRUE(verify(R"({"aud":"herald"})").ok());
  EXPECT_TRUE(verify(R"({"aud":["other","herald"]})").ok());
  ExpectRefused(verify(R"({"aud":"other"})"), "wrong audience");
  ExpectRefused(verify(R"({"aud":"herald2"})"), "wrong audience");
  ExpectRefused(verify(R"({"aud":["other"]})"), "wrong audience");
  ExpectRefused(verify(R"({"aud":[]})"), "wrong audience");
  ExpectRefused(verify(R"({})"), "missing aud claim");
  ExpectRefused(verify(R"({"aud":1})"), "bad aud claim");
  ExpectRefused(verify(R"({"aud":["herald",1]})"), "bad aud claim");
  // Not checked when no audience is required.
  EXPECT_TRUE(
      keys.Verify(Sign("ES256", R"({"aud":"other"})", Keys().ec.private_pem), Options()).ok());
}

TEST(JwtVerify, Issuer) {
  JwtKeySet keys = AllKinds();
  JwtVerifyOptions options = Options();
  options.issuer = "https://issuer.example";
  auto verify = [&](absl::string_view claims) {
    return keys.Verify(Sign("RS256", claims, Keys().rsa.private_pem), options);
  };
  EXPECT_TRUE(verify(R"({"iss":"https://issuer.example"})").ok());
  ExpectRefused(verify(R"({"iss":"https://issuer.example/"})"), "wrong issuer");
  ExpectRefused(verify(R"({})"), "missing iss claim");
  ExpectRefused(verify(R"({"iss":["https://issuer.example"]})"), "bad iss claim");
  EXPECT_TRUE(keys.Verify(Sign("RS256", R"({"iss":"x"})", Keys().rsa.private_pem), Options()).ok());
}

TEST(JwtVerify, RefusesWrongPartCount) {
  JwtKeySet keys = AllKinds();
  std::string token = Sign("HS256", ClaimsExpiringIn(60), kSecret);
  std::vector<std::string> parts = Parts(token);
  ASSERT_TRUE(keys.Verify(token, Options()).ok());
  constexpr char kReason[] = "malformed token: expected three parts";
  ExpectRefused(keys.Verify(absl::StrCat(parts[0], ".", parts[1]), Options()), kReason);
  ExpectRefused(keys.Verify(absl::StrCat(token, ".", parts[2]), Options()), kReason);
  ExpectRefused(keys.Verify(absl::StrCat(token, "."), Options()), kReason);
  ExpectRefused(keys.Verify(parts[0], Options()), kReason);
  ExpectRefused(keys.Verify("", Options()), kReason);
  ExpectRefused(keys.Verify("...", Options()), kReason);
}

TEST(JwtVerify, RefusesBadBase64AndPadding) {
  JwtKeySet keys = AllKinds();
  std::string token = Sign("HS256", ClaimsExpiringIn(60), kSecret);
  constexpr char kReason[] = "malformed token: bad base64url";
  for (size_t part = 0; part < 3; ++part) {
    for (char bad : {'+', '/', '=', '*', ' ', '\n', '\0', '\x80'}) {
      SCOPED_TRACE(absl::StrCat("part ", part, " char ", static_cast<int>(bad)));
      std::vector<std::string> parts = Parts(token);
      parts[part][4] = bad;
      ExpectRefused(keys.Verify(Join(parts), Options()), kReason);
    }
    std::vector<std::string> parts = Parts(token);
    parts[part] += "=";
    ExpectRefused(keys.Verify(Join(parts), Options()), kReason);
    parts[part] += "==";
    ExpectRefused(keys.Verify(Join(parts), Options()), kReason);
    parts = Parts(token);
    while (parts[part].size() % 4 != 1) parts[part] += 'A';  // No byte string has this length.
    ExpectRefused(keys.Verify(Join(parts), Options()), kReason);
  }
  // The 32-byte HS256 signature is 43 characters, the last carrying 2 unused bits; setting them
  // would decode to the same bytes in a lenient decoder.
  std::vector<std::string> parts = Parts(token);
  ASSERT_EQ(parts[2].size(), 43u);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t last = alphabet.find(parts[2].back());
  ASSERT_EQ(last % 4, 0u);
  parts[2].back() = alphabet[last + 1];
  ASSERT_EQ(UnB64(parts[2]), UnB64(Parts(token)[2]));
  ExpectRefused(keys.Verify(Join(parts), Options()), kReason);
}

TEST(JwtVerify, RefusesMalformedHeaderAndPayloadJson) {
  JwtKeySet keys = AllKinds();
  std::string claims = ClaimsExpiringIn(60);
  ASSERT_TRUE(keys.Verify(HsToken(kHsHeader, claims), Options()).ok());
  for (const char* header :
       {"not json", "", "[\"HS256\"]", "\"HS256\"", "null", R"({"alg":"HS256")",
        R"({"alg":"HS256"} {})", "{\"alg\":\"HS256\",\"x\":\"\xff\"}"}) {
    SCOPED_TRACE(header);
    ExpectRefused(keys.Verify(HsToken(header, claims), Options()), "malformed token header");
  }
  ExpectRefused(keys.Verify(HsToken(R"({"alg":"HS256","crit":["exp"]})", claims), Options()),
                "crit header not supported");
  for (const char* payload : {"[]", R"([{"sub":"alice"}])", "not json", "", "1", "\"x\"",
                              R"({"sub":"alice"} x)", R"({"sub":"alice",})"}) {
    SCOPED_TRACE(payload);
    ExpectRefused(keys.Verify(HsToken(kHsHeader, payload), Options()), "malformed token payload");
  }
  // Deeply nested JSON is refused, not a stack overflow.
  std::string deep = absl::StrCat(R"({"x":)", std::string(2000, '['), std::string(2000, ']'), "}");
  ExpectRefused(keys.Verify(HsToken(kHsHeader, deep), Options()), "malformed token payload");
}

TEST(JwtVerify, RefusesClaimsOfTheWrongType) {
  JwtKeySet keys = AllKinds();
  struct Case {
    const char* claims;
    const char* reason;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"exp":"1700000000"})", "bad exp claim"},
           {R"({"exp":null})", "bad exp claim"},
           {R"({"exp":true})", "bad exp claim"},
           {R"({"exp":[1800000000]})", "bad exp claim"},
           {R"({"exp":1e400})", "bad exp claim"},  // Boost.JSON reads this as infinity.
           {R"({"exp":-1e400})", "bad exp claim"},
           {R"({"nbf":"0"})", "bad nbf claim"},
           {R"({"nbf":-1e400})", "bad nbf claim"},
           {R"({"nbf":{}})", "bad nbf claim"},
           {R"({"sub":1})", "bad sub claim"},
           {R"({"sub":["alice"]})", "bad sub claim"},
           {R"({"subscribe":"chat"})", "bad subscribe claim"},
           {R"({"subscribe":["chat",1]})", "bad subscribe claim"},
           {R"({"subscribe":[null]})", "bad subscribe claim"},
           {R"({"publish":{"chat":true}})", "bad publish claim"},
           {R"({"publish":[["chat"]]})", "bad publish claim"},
       }) {
    SCOPED_TRACE(c.claims);
    ExpectRefused(keys.Verify(HsToken(kHsHeader, c.claims), Options()), c.reason);
  }
}

TEST(JwtVerify, RefusesTokensLongerThan8KiB) {
  JwtKeySet keys = AllKinds();
  std::string at_limit;
  std::string over_limit;
  for (const char* kid : {"", "k"}) {
    for (size_t filler = 5800; filler < 6300; ++filler) {
      std::string token =
          Sign("HS256", absl::StrCat(R"({"x":")", std::string(filler, 'x'), R"("})"), kSecret, kid);
      if (token.size() == kMaxJwtBytes) at_limit = token;
      if (token.size() == kMaxJwtBytes + 1) over_limit = token;
    }
  }
  ASSERT_EQ(at_limit.size(), kMaxJwtBytes);
  ASSERT_EQ(over_limit.size(), kMaxJwtBytes + 1);
  EXPECT_TRUE(keys.Verify(at_limit, Options()).ok());
  ExpectRefused(keys.Verify(over_limit, Options()), "token too large");
  ExpectRefused(keys.Verify(std::string(1 << 20, 'A'), Options()), "token too large");
}

TEST(JwtVerify, Es256SignatureMustBe64RawBytes) {
  JwtKeySet keys = AllKinds();
  std::string token = Sign("ES256", ClaimsExpiringIn(60), Keys().ec.private_pem);
  ASSERT_TRUE(keys.Verify(token, Options()).ok());
  std::vector<std::string> parts = Parts(token);
  std::string signature = UnB64(parts[2]);
  ASSERT_EQ(signature.size(), 64u);
  for (const std::string& changed :
       {signature.substr(0, 63), signature.substr(1), signature + '\0', '\0' + signature,
        std::string(), std::string(64, '\0'), std::string(128, '\xff')}) {
    SCOPED_TRACE(changed.size());
    parts[2] = B64(changed);
    ExpectRefused(keys.Verify(Join(parts), Options()), "bad signature");
  }
  // The DER form OpenSSL itself produces is refused too.
  std::string signing_input = absl::StrCat(parts[0], ".", parts[1]);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                  &EVP_MD_CTX_free);
  ASSERT_EQ(EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, Keys().ec.key.get()),
            1);
  unsigned char der[128];
  size_t der_size = sizeof(der);
  ASSERT_EQ(EVP_DigestSign(context.get(), der, &der_size,
                           reinterpret_cast<const unsigned char*>(signing_input.data()),
                           signing_input.size()),
            1);
  parts[2] = B64(absl::string_view(reinterpret_cast<const char*>(der), der_size));
  ExpectRefused(keys.Verify(Join(parts), Options()), "bad signature");
}

std::string TestJwks() {
  EVP_PKEY* rsa = Keys().rsa.key.get();
  EVP_PKEY* ec = Keys().ec.key.get();
  std::string n = KeyParam(rsa, OSSL_PKEY_PARAM_RSA_N);
  std::string e = KeyParam(rsa, OSSL_PKEY_PARAM_RSA_E);
  std::vector<std::string> jwks = {
      absl::StrCat(R"({"kty":"RSA","kid":"rsa1","use":"sig","alg":"RS256","n":")", n, R"(","e":")",
                   e, R"("})"),
      absl::StrCat(R"({"kty":"EC","crv":"P-256","kid":"ec1","x":")",
                   KeyParam(ec, OSSL_PKEY_PARAM_EC_PUB_X, 32), R"(","y":")",
                   KeyParam(ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32), R"("})"),
      // Skipped: an encryption key, another algorithm, other key types and curves.
      absl::StrCat(R"({"kty":"RSA","kid":"enc","use":"enc","n":")", n, R"(","e":")", e, R"("})"),
      absl::StrCat(R"({"kty":"RSA","kid":"rs512","alg":"RS512","n":")", n, R"(","e":")", e,
                   R"("})"),
      R"({"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcH"})",
      R"({"kty":"EC","crv":"P-384","kid":"p384","x":"AA","y":"AA"})",
      R"({"kty":"oct","kid":"oct","k":"c2VjcmV0"})",
  };
  return absl::StrCat(R"({"keys":[)", absl::StrJoin(jwks, ","), "]}");
}

TEST(JwtKeySet, JwksKeysVerifyTokensByKid) {
  JwtKeySet keys;
  absl::Status added = keys.AddJwks(TestJwks());
  ASSERT_TRUE(added.ok()) << added;
  EXPECT_EQ(keys.size(), 2u);
  std::string claims = ClaimsExpiringIn(60);
  EXPECT_TRUE(keys.Verify(Sign("RS256", claims, Keys().rsa.private_pem, "rsa1"), Options()).ok());
  EXPECT_TRUE(keys.Verify(Sign("ES256", claims, Keys().ec.private_pem, "ec1"), Options()).ok());
  ExpectRefused(keys.Verify(Sign("RS256", claims, Keys().rsa.private_pem, "ec1"), Options()),
                "unknown kid");
  ExpectRefused(keys.Verify(Sign("RS256", claims, Keys().rsa.private_pem, "enc"), Options()),
                "unknown kid");
  ExpectRefused(keys.Verify(Sign("RS256", claims, Keys().rsa.private_pem, "rs512"), Options()),
                "unknown kid");
  ExpectRefused(keys.Verify(Sign("ES256", claims, Keys().ec2.private_pem, "ec1"), Options()),
                "bad signature");
  ExpectRefused(keys.Verify(Sign("HS256", claims, "c2VjcmV0", "oct"), Options()), "unknown kid");
}

TEST(JwtKeySet, RefusesUnusableJwks) {
  EVP_PKEY* ec = Keys().ec.key.get();
  std::string x = KeyParam(ec, OSSL_PKEY_PARAM_EC_PUB_X, 32);
  std::string y = KeyParam(ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
  std::string bad_y = UnB64(y);
  bad_y[31] = static_cast<char>(bad_y[31] ^ 1);
  std::string ec_key =
      absl::StrCat(R"({"kty":"EC","crv":"P-256","x":")", x, R"(","y":")", y, R"("})");
  for (const std::string& jwks : std::vector<std::string>{
           "",
           "not json",
           "[]",
           R"({})",
           R"({"keys":{}})",
           R"({"keys":[]})",
           R"({"keys":[1]})",
           R"({"keys":[{"kid":"x"}]})",
           R"({"keys":[{"kty":"RSA","e":"AQAB"}]})",
           R"({"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]})",  // Far too short.
           R"({"keys":[{"kty":"RSA","n":"a+b","e":"AQAB"}]})",
           absl::StrCat(R"({"keys":[{"kty":"EC","crv":"P-256","x":")", x, R"("}]})"),
           absl::StrCat(R"({"keys":[{"kty":"EC","crv":"P-256","x":")", x.substr(0, 40),
                        R"(","y":")", y, R"("}]})"),
           absl::StrCat(R"({"keys":[{"kty":"EC","crv":"P-256","x":")", x, R"(","y":")", B64(bad_y),
                        R"("}]})"),
           absl::StrCat(R"({"keys":[{"kty":"EC","x":")", x, R"(","y":")", y, R"("}]})"),
           absl::StrCat(R"({"keys":[)", ec_key, R"(,{"kty":"EC","crv":"P-256","kid":7,"x":")", x,
                        R"(","y":")", y, R"("}]})"),
           R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"AA"}]})",
           R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})",
       }) {
    SCOPED_TRACE(jwks);
    JwtKeySet keys;
    absl::Status status = keys.AddJwks(jwks);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_TRUE(keys.empty());
    EXPECT_EQ(ERR_peek_error(), 0u);
  }
  JwtKeySet keys;
  EXPECT_TRUE(keys.AddJwks(absl::StrCat(R"({"keys":[)", ec_key, "]}")).ok());
  EXPECT_EQ(keys.size(), 1u);
}

TEST(JwtKeySet, PemWithSeveralPublicKeys) {
  JwtKeySet keys;
  std::string pem = absl::StrCat("comment line\n", Keys().rsa.public_pem, Keys().ec.public_pem,
                                 "trailing text\n");
  ASSERT_TRUE(keys.AddPublicKeysPem(pem, "both").ok());
  EXPECT_EQ(keys.size(), 2u);
  std::string claims = ClaimsExpiringIn(60);
  EXPECT_TRUE(keys.Verify(Sign("RS256", claims, Keys().rsa.private_pem, "both"), Options()).ok());
  EXPECT_TRUE(keys.Verify(Sign("ES256", claims, Keys().ec.private_pem, "both"), Options()).ok());
  ExpectRefused(keys.Verify(Sign("ES256", claims, Keys().ec.private_pem, "other"), Options()),
                "unknown kid");
}

TEST(JwtKeySet, PemCertificateProvidesItsKey) {
  for (const KeyPair* pair : {&Keys().rsa, &Keys().ec}) {
    const char* alg = pair == &Keys().rsa ? "RS256" : "ES256";
    SCOPED_TRACE(alg);
    std::string certificate = SelfSignedCertificatePem(pair->key.get());
    ASSERT_NE(certificate.find("BEGIN CERTIFICATE"), std::string::npos);
    JwtKeySet keys;
    absl::Status added = keys.AddPublicKeysPem(certificate);
    ASSERT_TRUE(added.ok()) << added;
    EXPECT_EQ(keys.size(), 1u);
    EXPECT_TRUE(keys.Verify(Sign(alg, ClaimsExpiringIn(60), pair->private_pem), Options()).ok());
    const KeyPair& other = pair == &Keys().rsa ? Keys().rsa2 : Keys().ec2;
    ExpectRefused(keys.Verify(Sign(alg, ClaimsExpiringIn(60), other.private_pem), Options()),
                  "bad signature");
  }
}

TEST(JwtKeySet, RefusesUnusablePem) {
  PkeyPtr p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  PkeyPtr ed25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  PkeyPtr rsa1024(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}));
  ASSERT_NE(p384, nullptr);
  ASSERT_NE(ed25519, nullptr);
  ASSERT_NE(rsa1024, nullptr);
  std::string corrupted = Keys().ec.public_pem;
  corrupted[40] = corrupted[40] == 'A' ? 'B' : 'A';
  std::string truncated = Keys().rsa.public_pem.substr(0, 200);
  for (const std::string& pem : std::vector<std::string>{
           "", "garbage", std::string(1000, '\xff'), Keys().rsa.private_pem, Keys().ec.private_pem,
           Pem(p384.get(), false), Pem(ed25519.get(), false), Pem(rsa1024.get(), false), corrupted,
           truncated, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
           "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
           // One good key does not let a bad one in, nor another kind of block.
           absl::StrCat(Keys().rsa.public_pem, Pem(p384.get(), false)),
           absl::StrCat(Keys().ec.public_pem, Keys().ec.private_pem)}) {
    SCOPED_TRACE(pem);
    JwtKeySet keys;
    absl::Status status = keys.AddPublicKeysPem(pem);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_TRUE(keys.empty());
    EXPECT_EQ(ERR_peek_error(), 0u);
  }
}

TEST(JwtKeySet, SecretsSizeAndMove) {
  JwtKeySet keys;
  EXPECT_TRUE(keys.empty());
  EXPECT_EQ(keys.AddHs256Secret("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(keys.empty());
  ASSERT_TRUE(keys.AddHs256Secret(kSecret).ok());
  ASSERT_TRUE(keys.AddPublicKeysPem(Keys().ec.public_pem).ok());
  EXPECT_FALSE(keys.empty());
  EXPECT_EQ(keys.size(), 2u);
  JwtKeySet moved = std::move(keys);
  EXPECT_EQ(moved.size(), 2u);
  EXPECT_TRUE(moved.Verify(Sign("ES256", "{}", Keys().ec.private_pem), Options()).ok());
  JwtKeySet assigned;
  assigned = std::move(moved);
  EXPECT_TRUE(assigned.Verify(Sign("HS256", "{}", kSecret), Options()).ok());
  // An empty key set refuses everything.
  ExpectRefused(JwtKeySet().Verify(Sign("HS256", "{}", kSecret), Options()), "no HS256 key");
}

TEST(JwtKeySet, VerifiesFromManyThreadsAtOnce) {
  JwtKeySet keys = AllKinds();
  std::vector<std::string> tokens;
  for (const char* alg : {"HS256", "RS256", "ES256"}) {
    tokens.push_back(SignedByAllKinds(alg, ClaimsExpiringIn(60)));
    std::vector<std::string> parts = Parts(tokens.back());
    parts[1] = B64(ClaimsExpiringIn(61));  // Same signature, other payload: refused.
    tokens.push_back(Join(parts));
  }
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        for (size_t k = 0; k < tokens.size(); ++k) {
          bool ok = keys.Verify(tokens[k], Options()).ok();
          if (ok != (k % 2 == 0)) ++failures[t];
        }
      }
      if (ERR_peek_error() != 0) ++failures[t];
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

TEST(SignJwt, RefusesBadArguments) {
  EXPECT_EQ(SignJwt("none", "{}", kSecret).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SignJwt("HS512", "{}", kSecret).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SignJwt("HS256", "[]", kSecret).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SignJwt("HS256", "{", kSecret).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SignJwt("HS256", "{}", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SignJwt("RS256", "{}", "garbage").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SignJwt("RS256", "{}", Keys().rsa.public_pem).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SignJwt("RS256", "{}", Keys().ec.private_pem).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SignJwt("ES256", "{}", Keys().rsa.private_pem).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ERR_peek_error(), 0u);
  EXPECT_TRUE(SignJwt("ES256", "{}", Keys().ec.private_pem).ok());
}

}  // namespace
}  // namespace herald
