// Line logging to stderr.
#include "log.h"

#include <unistd.h>

#include <boost/json.hpp>
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

// The lines waiting, and the thread that writes them.
class LogWriter {
 public:
  LogWriter() : thread_([this] { Run(); }) { thread_.detach(); }

  void Push(std::string line) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (waiting_bytes_ + line.size() > kMostWaitingBytes) {
        ++dropped_;
        return;
      }
      waiting_bytes_ += line.size();
      lines_.push_back(std::move(line));
    }
    ready_.notify_one();
  }

  // Waits until the lines waiting are written, for 2 s at most (stderr may be stuck).
  void Flush() {
    std::unique_lock<std::mutex> lock(mutex_);
    written_.wait_for(lock, std::chrono::seconds(2),
                      [this] { return lines_.empty() && !writing_; });
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
      if (dropped > 0) {
        batch.push_back(absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                                      absl::UTCTimeZone()),
                                     " WARN ", dropped, " log lines dropped: stderr is behind\n"));
      }
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

LogFormat format = LogFormat::kText;
LogLevel least_level = LogLevel::kInfo;

// A text value as it is, or as a JSON string when it would not read back as one value.
std::string TextValue(std::string_view value) {
  bool plain = !value.empty() && value.find_first_of(" \"=\n\r\t\\") == std::string_view::npos;
  return plain ? std::string(value)
               : boost::json::serialize(boost::json::string_view(value.data(), value.size()));
}

std::string FormatLine(LogLevel level, std::string_view message,
                       std::initializer_list<LogField> fields) {
  std::string time =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  if (format == LogFormat::kJson) {
    boost::json::object line;
    line["time"] = time;
    line["level"] = absl::AsciiStrToLower(LevelName(level));
    line["msg"] = boost::json::string_view(message.data(), message.size());
    for (const LogField& field : fields) {
      boost::json::string_view key(field.key.data(), field.key.size());
      if (const int64_t* number = std::get_if<int64_t>(&field.value)) {
        line[key] = *number;
      } else {
        std::string_view text = std::get<std::string_view>(field.value);
        line[key] = boost::json::string_view(text.data(), text.size());
      }
    }
    return boost::json::serialize(line) + "\n";
  }
  std::string line = absl::StrCat(time, " ", LevelName(level), " ",
                                  absl::string_view(message.data(), message.size()));
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

}  // namespace

void ConfigureLog(LogFormat log_format, LogLevel level) {
  format = log_format;
  least_level = level;
}

void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  if (level < least_level) return;
  Writer().Push(FormatLine(level, message, fields));
}

void LogInfo(absl::string_view line) { Log(LogLevel::kInfo, {line.data(), line.size()}); }
void LogListening(absl::string_view line) {
  Writer().Push(FormatLine(LogLevel::kInfo, {line.data(), line.size()}, {}));
}
void LogWarning(absl::string_view line) { Log(LogLevel::kWarning, {line.data(), line.size()}); }
void LogError(absl::string_view line) { Log(LogLevel::kError, {line.data(), line.size()}); }

void FlushLog() { Writer().Flush(); }

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
