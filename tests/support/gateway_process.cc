// GatewayProcess: fork/exec of herald, the log reader thread and the reaper thread.
#include "support/gateway_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#ifndef HERALD_BINARY_DIR
#define HERALD_BINARY_DIR "bin"
#endif

extern char** environ;

namespace herald::testing {
namespace {

constexpr std::string_view kListeningMarker = "herald listening";

// The value after `key` (e.g. "http=") in `line`, up to the next blank (or the quote that ends
// a JSON line's message); empty if absent.
std::string FieldValue(std::string_view line, std::string_view key) {
  const std::size_t at = line.find(key);
  if (at == std::string_view::npos) return {};
  std::string_view value = line.substr(at + key.size());
  const std::size_t end = value.find_first_of(" \t\r\n\"");
  return std::string(value.substr(0, end));
}

// The port after the last ':' of "host:port", or 0.
std::uint16_t PortOf(std::string_view address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon + 1 >= address.size()) return 0;
  unsigned value = 0;
  for (char c : address.substr(colon + 1)) {
    if (c < '0' || c > '9' || value > 65535) return 0;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value > 65535 ? 0 : static_cast<std::uint16_t>(value);
}

std::string NameOfEnvEntry(std::string_view entry) {
  return std::string(entry.substr(0, entry.find('=')));
}

}  // namespace

std::string BinaryPath(std::string_view name) {
  return std::string(HERALD_BINARY_DIR) + "/" + std::string(name);
}

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t read;
  while ((read = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, read);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

CommandResult RunHerald(const std::string& flags) {
  return RunCommand(BinaryPath("herald") +
                    " --http_listen=127.0.0.1:0 --grpc_listen=127.0.0.1:0 " + flags + " 2>&1");
}

std::unique_ptr<GatewayProcess> GatewayProcess::Start(std::vector<std::string> extra_args,
                                                      std::string* error) {
  GatewayOptions options;
  options.args = std::move(extra_args);
  return StartWithOptions(std::move(options), error);
}

std::unique_ptr<GatewayProcess> GatewayProcess::StartWithOptions(GatewayOptions options,
                                                                 std::string* error) {
  std::string ignored_error;
  if (error == nullptr) error = &ignored_error;
  std::unique_ptr<GatewayProcess> process(new GatewayProcess());
  process->log_prefix_ = options.log_prefix;
  if (!process->Spawn(options, error)) {
    std::fprintf(stderr, "[gateway_process] %s\n", error->c_str());
    return nullptr;
  }
  process->reader_ = std::thread([p = process.get()] { p->ReadLog(); });
  process->waiter_ = std::thread([p = process.get()] { p->WaitChild(); });
  if (!options.wait_for_listening) return process;

  std::unique_lock<std::mutex> lock(process->mutex_);
  const bool ready = process->changed_.wait_for(lock, options.start_timeout, [&] {
    return process->listening_ || (process->reaped_ && process->log_ended_);
  });
  if (process->listening_) return process;
  if (!ready) {
    *error = "no listening line from " + options.binary + " within " +
             std::to_string(options.start_timeout.count()) + " ms";
  } else {
    *error = options.binary + " exited with code " + std::to_string(process->exit_code_) +
             " before listening";
  }
  *error += "; last log lines:\n" + process->LogTail(20);
  lock.unlock();
  std::fprintf(stderr, "[gateway_process] %s\n", error->c_str());
  return nullptr;
}

bool GatewayProcess::Spawn(const GatewayOptions& options, std::string* error) {
  if (::access(options.binary.c_str(), X_OK) != 0) {
    *error = "cannot execute " + options.binary + ": " + std::strerror(errno);
    return false;
  }

  // Everything the child needs is built before fork: after it only async-signal-safe calls.
  std::vector<std::string> args = {options.binary};
  if (options.default_listen_args) {
    args.emplace_back("--http_listen=127.0.0.1:0");
    args.emplace_back("--grpc_listen=127.0.0.1:0");
  }
  args.insert(args.end(), options.args.begin(), options.args.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string name = NameOfEnvEntry(*entry);
    bool overridden = false;
    for (const std::string& extra : options.env) overridden |= NameOfEnvEntry(extra) == name;
    if (!overridden) env.emplace_back(*entry);
  }
  env.insert(env.end(), options.env.begin(), options.env.end());
  std::vector<char*> envp;
  for (std::string& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    *error = std::string("pipe2: ") + std::strerror(errno);
    return false;
  }
  const int dev_null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    ::close(fds[0]);
    ::close(fds[1]);
    if (dev_null >= 0) ::close(dev_null);
    return false;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (dev_null >= 0) ::dup2(dev_null, STDIN_FILENO);
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction default_action;
    std::memset(&default_action, 0, sizeof default_action);
    default_action.sa_handler = SIG_DFL;
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) ::sigaction(sig, &default_action, nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    static constexpr char kMessage[] = "gateway_process: execve failed\n";
    [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    ::_exit(127);
  }
  ::close(fds[1]);
  if (dev_null >= 0) ::close(dev_null);
  pid_ = pid;
  log_fd_ = fds[0];
  return true;
}

GatewayProcess::~GatewayProcess() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pid_ > 0 && !reaped_) ::kill(pid_, SIGKILL);
  }
  if (waiter_.joinable()) waiter_.join();
  if (reader_.joinable()) reader_.join();
  if (log_fd_ >= 0) ::close(log_fd_);
}

void GatewayProcess::ReadLog() {
  std::string pending;
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::read(log_fd_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t lf; (lf = pending.find('\n', start)) != std::string::npos; start = lf + 1) {
      std::string line = pending.substr(start, lf - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const std::string forwarded = log_prefix_ + line + "\n";
      std::fwrite(forwarded.data(), 1, forwarded.size(), stderr);
      std::lock_guard<std::mutex> lock(mutex_);
      HandleLine(std::move(line));
    }
    pending.erase(0, start);
  }
  if (!pending.empty()) {
    const std::string forwarded = log_prefix_ + pending + "\n";
    std::fwrite(forwarded.data(), 1, forwarded.size(), stderr);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!pending.empty()) HandleLine(std::move(pending));
  log_ended_ = true;
  changed_.notify_all();
}

void GatewayProcess::HandleLine(std::string line) {
  if (!listening_) {
    const std::size_t marker = line.find(kListeningMarker);
    if (marker != std::string::npos) {
      const std::string_view rest = std::string_view(line).substr(marker);
      std::string http = FieldValue(rest, "http=");
      std::string grpc = FieldValue(rest, "grpc=");
      if (PortOf(http) != 0 && PortOf(grpc) != 0) {
        http_port_ = PortOf(http);
        grpc_port_ = PortOf(grpc);
        metrics_port_ = PortOf(FieldValue(rest, "metrics="));
        http_address_ = std::move(http);
        grpc_address_ = std::move(grpc);
        listening_ = true;
      }
    }
  }
  log_lines_.push_back(std::move(line));
  changed_.notify_all();
}

void GatewayProcess::WaitChild() {
  siginfo_t info;
  int result;
  do {
    std::memset(&info, 0, sizeof info);
    // WNOWAIT: the zombie keeps the pid reserved until we reap it under the lock, so SendSignal
    // never hits a recycled pid.
    result = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT);
  } while (result != 0 && errno == EINTR);

  std::lock_guard<std::mutex> lock(mutex_);
  int status = 0;
  pid_t reaped;
  do {
    reaped = ::waitpid(pid_, &status, 0);
  } while (reaped < 0 && errno == EINTR);
  if (reaped == pid_ && WIFEXITED(status)) {
    exit_code_ = WEXITSTATUS(status);
  } else if (reaped == pid_ && WIFSIGNALED(status)) {
    exit_code_ = 128 + WTERMSIG(status);
    killed_by_signal_ = true;
  } else {
    exit_code_ = -1;  // reaped elsewhere (SIGCHLD ignored?)
  }
  reaped_ = true;
  changed_.notify_all();
}

std::uint16_t GatewayProcess::http_port() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return http_port_;
}

std::uint16_t GatewayProcess::metrics_port() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return metrics_port_;
}

std::uint16_t GatewayProcess::grpc_port() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return grpc_port_;
}

std::string GatewayProcess::grpc_target() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return "127.0.0.1:" + std::to_string(grpc_port_);
}

std::string GatewayProcess::http_address() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return http_address_;
}

std::size_t GatewayProcess::RssBytes() const {
  std::FILE* status = std::fopen(("/proc/" + std::to_string(pid_) + "/status").c_str(), "r");
  if (status == nullptr) return 0;
  std::size_t kib = 0;
  char line[256];
  while (std::fgets(line, sizeof(line), status) != nullptr) {
    if (std::sscanf(line, "VmRSS: %zu kB", &kib) == 1) break;
  }
  std::fclose(status);
  return kib * 1024;
}

bool GatewayProcess::SendSignal(int sig) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (pid_ <= 0 || reaped_) return false;
  return ::kill(pid_, sig) == 0;
}

std::optional<int> GatewayProcess::WaitForExit(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!changed_.wait_for(lock, timeout, [&] { return reaped_; })) return std::nullopt;
  return exit_code_;
}

bool GatewayProcess::Running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return !reaped_;
}

bool GatewayProcess::KilledBySignal() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return killed_by_signal_;
}

bool GatewayProcess::SawLogLine(std::string_view text) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const std::string& line : log_lines_) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

bool GatewayProcess::WaitForLogEnd(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return log_ended_; });
}

bool GatewayProcess::WaitForLogLine(std::string_view text, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mutex_);
  std::size_t checked = 0;
  for (;;) {
    for (; checked < log_lines_.size(); ++checked) {
      if (log_lines_[checked].find(text) != std::string::npos) return true;
    }
    if (log_ended_) return false;
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (; checked < log_lines_.size(); ++checked) {
        if (log_lines_[checked].find(text) != std::string::npos) return true;
      }
      return false;
    }
  }
}

std::vector<std::string> GatewayProcess::LogLines() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return log_lines_;
}

std::string GatewayProcess::LogTail(std::size_t lines) const {
  std::string tail;
  const std::size_t first = log_lines_.size() > lines ? log_lines_.size() - lines : 0;
  for (std::size_t i = first; i < log_lines_.size(); ++i) tail += "  " + log_lines_[i] + "\n";
  return tail;
}

}  // namespace herald::testing
