// Line logging to stderr, as text or JSON lines (--log_format, --log_level). Lines are written by
// a thread of their own: a slow, full or closed stderr never holds up the caller (past 4 MiB of
// lines waiting, new ones are dropped and then counted in a line of their own).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>

#include "absl/strings/string_view.h"

namespace herald {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
enum class LogFormat { kText, kJson };

// Before the first line worth keeping (main, after the flags); lines below `level` are dropped.
void ConfigureLog(LogFormat format, LogLevel level);

// One named value of a line: text, or a number.
struct LogField {
  std::string_view key;
  std::variant<std::string_view, int64_t> value;
};

// `message` and its fields: in text, `<time> <LEVEL> <message> key=value ...` (values with
// spaces, quotes or = quoted as JSON strings); in JSON, {"time","level","msg",<fields>}.
void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});

void LogInfo(absl::string_view line);
// An INFO line written whatever --log_level says: where the gateway listens, which tools and
// scripts wait for.
void LogListening(absl::string_view line);
void LogWarning(absl::string_view line);
void LogError(absl::string_view line);

// A cap on lines of one kind (refused handshakes): at most `per_second`, the rest counted and
// named in the next line let through. Thread-safe.
class LogRate {
 public:
  explicit LogRate(int per_second) : per_second_(per_second) {}
  // Whether a line may go now; then `*suppressed` is how many were held back before it.
  bool Allow(int64_t* suppressed);

 private:
  const int per_second_;
  std::mutex mutex_;
  int64_t second_ = 0;
  int this_second_ = 0;
  int64_t suppressed_ = 0;
};

// Waits (2 s at most) until the lines still waiting are written; at exit it runs by itself.
void FlushLog();

}  // namespace herald
