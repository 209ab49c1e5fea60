// Line logging to stderr.
#include "log.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace herald {
namespace {

constexpr size_t kMostWaitingBytes = 4 << 20;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
  }
  return "INFO";
}

// The line that says `dropped` lines were left out (in the configured format).
std::string DroppedLine(size_t dropped);

// The lines waiting, and the thread that writes them.
class LogWriter {
 public:
  LogWriter() : thread_([this] { Run(); }) { thread_.detach(); }

  void Push(std::string line) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (waiting_bytes_ + line.size() > kMostWaitingBytes) {
        ++dropped_;
        ready_.notify_one();
        return;
      }
      waiting_bytes_ += line.size();
      lines_.push_back(std::move(line));
    }
    ready_.notify_one();
  }

  // Waits until the lines waiting are written, for `most` at most (stderr may be stuck).
  void Flush(std::chrono::milliseconds most) {
    std::unique_lock<std::mutex> lock(mutex_);
    written_.wait_for(lock, most,
                      [this] { return lines_.empty() && dropped_ == 0 && !writing_; });
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      ready_.wait(lock, [this] { return !lines_.empty() || dropped_ > 0; });
      std::deque<std::string> batch;
      batch.swap(lines_);
      waiting_bytes_ = 0;
      size_t dropped = dropped_;
      dropped_ = 0;
      writing_ = true;
      lock.unlock();
      if (dropped > 0) batch.push_back(DroppedLine(dropped));
      for (const std::string& line : batch) {
        // One write() per line keeps lines whole; a failed or short write is not retried: the
        // line is lost, never the caller's time.
        ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
        (void)ignored;
      }
      lock.lock();
      writing_ = false;
      written_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable written_;
  std::deque<std::string> lines_;
  size_t waiting_bytes_ = 0;
  size_t dropped_ = 0;
  bool writing_ = false;
  std::thread thread_;  // Last: started once the rest exists; detached, it lives as long.
};

// Never destroyed (a line may come from any thread until the end); what waits is written at
// exit.
LogWriter& Writer() {
  static LogWriter* writer = [] {
    auto* created = new LogWriter;
    std::atexit(FlushLog);
    return created;
  }();
  return *writer;
}

// Set once at start, read by every thread that logs.
std::atomic<LogFormat> format{LogFormat::kText};
std::atomic<LogLevel> least_level{LogLevel::kInfo};

// `text` with each byte that is not part of valid UTF-8 replaced by U+FFFD, so that a JSON line
// stays JSON whatever a peer sent (an Origin header, a Redis reply).
std::string ValidUtf8(std::string_view text) {
  std::string valid;
  valid.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    auto byte = static_cast<unsigned char>(text[i]);
    size_t length = byte < 0x80 ? 1 : (byte >> 5) == 0x6 ? 2 : (byte >> 4) == 0xE ? 3
                                      : (byte >> 3) == 0x1E ? 4 : 0;
    bool whole = length > 0 && i + length <= text.size();
    for (size_t k = 1; whole && k < length; ++k) {
      whole = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    }
    // Overlong forms and surrogates are left to the decoder's judgement: structure is enough
    // for a JSON reader.
    if (whole) {
      valid.append(text.substr(i, length));
      i += length;
    } else {
      valid.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return valid;
}

// A text value as it is, or as a JSON string when it would not read back as one value (blanks,
// quotes, `=`, control characters).
std::string TextValue(std::string_view value) {
  bool plain = !value.empty() && std::none_of(value.begin(), value.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7F || c == '"' || c == '=' || c == '\\';
  });
  std::string valid = ValidUtf8(value);
  return plain ? valid : boost::json::serialize(boost::json::string_view(valid));
}

std::string FormatLine(LogLevel level, std::string_view message,
                       std::initializer_list<LogField> fields) {
  std::string time =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  if (format.load(std::memory_order_relaxed) == LogFormat::kJson) {
    boost::json::object line;
    line["time"] = time;
    line["level"] = level == LogLevel::kWarning ? "warning" : absl::AsciiStrToLower(LevelName(level));
    line["msg"] = ValidUtf8(message);
    for (const LogField& field : fields) {
      boost::json::string_view key(field.key.data(), field.key.size());
      if (const int64_t* number = std::get_if<int64_t>(&field.value)) {
        line[key] = *number;
      } else {
        line[key] = ValidUtf8(std::get<std::string_view>(field.value));
      }
    }
    return boost::json::serialize(line) + "\n";
  }
  std::string line = absl::StrCat(time, " ", LevelName(level), " ", ValidUtf8(message));
  for (const LogField& field : fields) {
    absl::StrAppend(&line, " ", absl::string_view(field.key.data(), field.key.size()), "=");
    if (const int64_t* number = std::get_if<int64_t>(&field.value)) {
      absl::StrAppend(&line, *number);
    } else {
      absl::StrAppend(&line, TextValue(std::get<std::string_view>(field.value)));
    }
  }
  return line + "\n";
}

std::string DroppedLine(size_t dropped) {
  return FormatLine(LogLevel::kWarning, "log lines dropped: stderr is behind",
                    {{"dropped", static_cast<int64_t>(dropped)}});
}

}  // namespace

void ConfigureLog(LogFormat log_format, LogLevel level) {
  format.store(log_format, std::memory_order_relaxed);
  least_level.store(level, std::memory_order_relaxed);
}

void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  if (level < least_level.load(std::memory_order_relaxed)) return;
  Writer().Push(FormatLine(level, message, fields));
  // An error may be the last thing said before an abort (a failed assertion in gRPC): it is
  // written before the caller goes on.
  // Briefly: a stuck stderr must not hold a loop up for long.
  if (level == LogLevel::kError) Writer().Flush(std::chrono::milliseconds(100));
}

void LogInfo(absl::string_view line) { Log(LogLevel::kInfo, {line.data(), line.size()}); }
void LogListening(absl::string_view line) {
  Writer().Push(FormatLine(LogLevel::kInfo, {line.data(), line.size()}, {}));
}
void LogWarning(absl::string_view line) { Log(LogLevel::kWarning, {line.data(), line.size()}); }
void LogError(absl::string_view line) { Log(LogLevel::kError, {line.data(), line.size()}); }

void FlushLog() { Writer().Flush(std::chrono::seconds(2)); }

bool LogRate::Allow(int64_t* suppressed) {
  int64_t second = absl::ToUnixSeconds(absl::Now());
  std::lock_guard<std::mutex> lock(mutex_);
  if (second != second_) {
    second_ = second;
    this_second_ = 0;
  }
  if (++this_second_ > per_second_) {
    ++suppressed_;
    return false;
  }
  *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

}  // namespace herald
