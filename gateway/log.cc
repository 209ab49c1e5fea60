// Line logging to stderr.
#include "log.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace herald {
namespace {

void WriteLine(absl::string_view level, absl::string_view line) {
  std::string text = absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), " ", level, " ",
      line, "\n");
  // One write() per line keeps lines whole; a short write to a pipe is not retried on purpose.
  ssize_t ignored = write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

}  // namespace

void LogInfo(absl::string_view line) { WriteLine("INFO", line); }
void LogWarning(absl::string_view line) { WriteLine("WARN", line); }
void LogError(absl::string_view line) { WriteLine("ERROR", line); }

}  // namespace herald
