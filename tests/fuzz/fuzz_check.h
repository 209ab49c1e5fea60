// Shared by the fuzz targets: a check that holds in every build type, and fixed test keys.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

// Aborts (a crash libFuzzer records) when `condition` is false. Unlike assert(), it stays on
// under NDEBUG.
#define HERALD_FUZZ_CHECK(condition)                                                     \
  do {                                                                                   \
    if (!(condition)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (false)

namespace herald::fuzz {

// The clock of every verification, so tokens in the seed corpus never expire.
inline absl::Time FuzzNow() { return absl::FromUnixSeconds(1'700'000'000); }

// The HS256 secret of the seed tokens (tests/fuzz/make_corpus.py). A test value; it guards
// nothing.
inline constexpr char kHs256Secret[] = "herald fuzz secret: not a real one";

// The public half of the ES256 test key that signed the seed tokens (make_corpus.py derives
// the private half from a fixed phrase). A test key; it guards nothing.
inline constexpr char kEs256PublicKeyPem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4SYyebeHhyN5h/ACyWxvvlmbNJCG\n"
    "WefRc5MtYpMBDWqQLjaMGtP4NDmgh88QrCsbiz1R7t2Oc0XB0lEutQwR/A==\n"
    "-----END PUBLIC KEY-----\n";

// An independent, obvious implementation of topic pattern matching, to compare with
// TopicPatternMatches: `pattern` and `topic` must both be valid.
inline bool ReferencePatternMatches(absl::string_view pattern, absl::string_view topic) {
  std::vector<absl::string_view> pattern_segments = absl::StrSplit(pattern, '.');
  std::vector<absl::string_view> topic_segments = absl::StrSplit(topic, '.');
  for (size_t i = 0; i < pattern_segments.size(); ++i) {
    if (pattern_segments[i] == ">") return topic_segments.size() > i;
    if (i >= topic_segments.size()) return false;
    if (pattern_segments[i] != "*" && pattern_segments[i] != topic_segments[i]) return false;
  }
  return pattern_segments.size() == topic_segments.size();
}

inline bool ReferenceAnyMatches(const std::vector<std::string>& patterns, absl::string_view topic) {
  for (const std::string& pattern : patterns) {
    if (ReferencePatternMatches(pattern, topic)) return true;
  }
  return false;
}

}  // namespace herald::fuzz
