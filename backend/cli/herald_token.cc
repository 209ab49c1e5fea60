// herald-token: mints a JWT for Herald (tests, demos, and backends that hand tokens to browsers).
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "absl/flags/flag.h"
#include "tool/tool_flags.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "auth/jwt.h"

ABSL_FLAG(std::string, alg, "HS256", "HS256, RS256 or ES256.");
ABSL_FLAG(std::string, key_file, "",
          "The HS256 secret (the whole file, a final newline cut), or for RS256/ES256 the PEM "
          "private key (required).");
ABSL_FLAG(std::string, kid, "", "Key id put in the token's header.");
ABSL_FLAG(std::string, sub, "", "The user id (`sub`).");
ABSL_FLAG(std::vector<std::string>, subscribe, {},
          "Topic patterns the token may subscribe to (comma-separated; chat.* or chat.>).");
ABSL_FLAG(std::vector<std::string>, publish, {}, "Topic patterns the token may publish to.");
ABSL_FLAG(absl::Duration, ttl, absl::Hours(1), "Lifetime (`exp` = now + ttl).");
ABSL_FLAG(std::string, aud, "", "Audience (`aud`), when the gateway sets --jwt_audience.");
ABSL_FLAG(std::string, iss, "", "Issuer (`iss`), when the gateway sets --jwt_issuer.");

int main(int argc, char** argv) {
  herald::ParseToolFlags(
      argc, argv, "herald-token",
      "Mints a Herald JWT and prints it.\n"
      "Usage: herald-token --key_file=secret --sub=ada --subscribe='chat.>' --publish='chat.>'",
      "herald_token");
  std::ifstream file(absl::GetFlag(FLAGS_key_file), std::ios::binary);
  if (absl::GetFlag(FLAGS_key_file).empty() || !file) {
    std::cerr << "herald-token: --key_file must name a readable file\n";
    return 2;
  }
  std::ostringstream key;
  key << file.rdbuf();
  std::string key_text = key.str();
  std::string alg = absl::GetFlag(FLAGS_alg);
  if (alg == "HS256") {
    while (!key_text.empty() && (key_text.back() == '\n' || key_text.back() == '\r')) {
      key_text.pop_back();
    }
  }

  boost::json::object claims;
  if (!absl::GetFlag(FLAGS_sub).empty()) claims["sub"] = absl::GetFlag(FLAGS_sub);
  absl::Time now = absl::Now();
  claims["iat"] = absl::ToUnixSeconds(now);
  claims["exp"] = absl::ToUnixSeconds(now + absl::GetFlag(FLAGS_ttl));
  for (auto [name, patterns] : {std::pair{"subscribe", absl::GetFlag(FLAGS_subscribe)},
                                {"publish", absl::GetFlag(FLAGS_publish)}}) {
    boost::json::array list;
    for (const std::string& pattern : patterns) list.emplace_back(pattern);
    if (!list.empty()) claims[name] = std::move(list);
  }
  if (!absl::GetFlag(FLAGS_aud).empty()) claims["aud"] = absl::GetFlag(FLAGS_aud);
  if (!absl::GetFlag(FLAGS_iss).empty()) claims["iss"] = absl::GetFlag(FLAGS_iss);

  absl::StatusOr<std::string> token =
      herald::SignJwt(alg, boost::json::serialize(claims), key_text, absl::GetFlag(FLAGS_kid));
  if (!token.ok()) {
    std::cerr << "herald-token: " << token.status().message() << "\n";
    return 1;
  }
  std::cout << *token << "\n";
  return 0;
}
