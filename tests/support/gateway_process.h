// GatewayProcess: runs the real `herald` binary for a test and follows its log.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace herald::testing {

// Path of a built program: BinaryPath("herald-publish") -> "<build>/bin/herald-publish".
std::string BinaryPath(std::string_view name);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // Its stdout.
};
// Runs a shell command and collects its stdout.
CommandResult RunCommand(const std::string& command);
// Runs herald on free ports with `flags` (shell words) until it exits; its stdout and stderr.
// For flags it refuses to start with.
CommandResult RunHerald(const std::string& flags);

struct GatewayOptions {
  // Extra command-line arguments, placed after the defaults (so a later flag overrides them).
  std::vector<std::string> args;
  std::string binary = BinaryPath("herald");
  // Prepend --http_listen=127.0.0.1:0 --grpc_listen=127.0.0.1:0.
  bool default_listen_args = true;
  // Extra environment entries "NAME=value" (the test's environment is inherited).
  std::vector<std::string> env;
  // Prefix of every forwarded log line on the test's stderr.
  std::string log_prefix = "[herald] ";
  // False: return as soon as the process runs (for tests that expect it to fail at start).
  bool wait_for_listening = true;
  std::chrono::milliseconds start_timeout{20000};
};

// A running gateway. Its stdout and stderr go through one pipe; a reader thread forwards each
// line to the test's stderr (prefixed) and keeps it for SawLogLine / WaitForLogLine. Start waits
// for the line `herald listening http=HOST:PORT grpc=HOST:PORT`. A waiter thread reaps the
// process when it exits. The destructor kills (SIGKILL) a process still running and joins both
// threads. The child also gets SIGKILL if the thread that started it dies (PR_SET_PDEATHSIG), so
// start it from the test's own thread.
class GatewayProcess {
 public:
  // Starts `herald` with the default listen flags plus `extra_args`. Null on failure (a missing
  // binary, an exit or no listening line within 20 s), with the reason in *error when given.
  static std::unique_ptr<GatewayProcess> Start(std::vector<std::string> extra_args = {},
                                               std::string* error = nullptr);
  static std::unique_ptr<GatewayProcess> StartWithOptions(GatewayOptions options,
                                                          std::string* error = nullptr);

  ~GatewayProcess();
  GatewayProcess(const GatewayProcess&) = delete;
  GatewayProcess& operator=(const GatewayProcess&) = delete;

  // From the listening line (0 / empty when not seen).
  std::uint16_t http_port() const;
  std::uint16_t grpc_port() const;
  // With --metrics_listen: the port of /metrics, /healthz and /readyz.
  std::uint16_t metrics_port() const;
  std::string grpc_target() const;  // "127.0.0.1:PORT"
  std::string http_address() const;  // "127.0.0.1:PORT", as printed

  pid_t Pid() const { return pid_; }
  // Its resident memory now (VmRSS), in bytes; 0 when it cannot be read.
  std::size_t RssBytes() const;
  // kill(pid, sig) while the process has not been reaped. False if it is gone or kill fails.
  bool SendSignal(int sig);
  // Exit code once the process ended (128 + N when killed by signal N); nullopt on timeout.
  std::optional<int> WaitForExit(std::chrono::milliseconds timeout);
  bool Running() const;
  // True when it was killed by a signal (valid after WaitForExit returned a value).
  bool KilledBySignal() const;

  // Any log line so far contains `text`.
  bool SawLogLine(std::string_view text) const;
  // Waits until a log line contains `text`; false on timeout or when the log ended without one.
  bool WaitForLogLine(std::string_view text, std::chrono::milliseconds timeout);
  std::vector<std::string> LogLines() const;
  // Waits until its log is read to the end (it exited and every line is in LogLines).
  bool WaitForLogEnd(std::chrono::milliseconds timeout);

 private:
  GatewayProcess() = default;

  bool Spawn(const GatewayOptions& options, std::string* error);
  void ReadLog();    // reader thread
  void WaitChild();  // waiter thread
  void HandleLine(std::string line);  // caller holds mutex_
  std::string LogTail(std::size_t lines) const;

  pid_t pid_ = -1;
  int log_fd_ = -1;
  std::string log_prefix_;
  std::thread reader_;
  std::thread waiter_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> log_lines_;
  bool log_ended_ = false;
  bool listening_ = false;
  std::string http_address_;
  std::string grpc_address_;
  std::uint16_t http_port_ = 0;
  std::uint16_t grpc_port_ = 0;
  std::uint16_t metrics_port_ = 0;
  bool reaped_ = false;
  int exit_code_ = 0;
  bool killed_by_signal_ = false;
};

}  // namespace herald::testing
