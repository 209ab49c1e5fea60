// Starting and stopping the gateway under test, and reading its memory and CPU use from /proc.
#include "gateway_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

namespace herald::bench {

namespace {

// Appends to `tail` keeping only its last few KB (for error messages).
void KeepTail(std::string* tail, const char* data, size_t size) {
  tail->append(data, size);
  constexpr size_t kKeep = 4096;
  if (tail->size() > kKeep) tail->erase(0, tail->size() - kKeep);
}

}  // namespace

GatewayProcess::~GatewayProcess() {
  if (pid_ > 0) Stop(std::chrono::seconds(5));
  if (drainer_.joinable()) drainer_.join();
  if (stderr_fd_ >= 0) close(stderr_fd_);
}

bool GatewayProcess::Start(const std::string& binary, const std::vector<std::string>& extra_args,
                           std::chrono::seconds timeout, std::string* error) {
  std::vector<std::string> args = {binary, "--http_listen=127.0.0.1:0",
                                   "--grpc_listen=127.0.0.1:0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    // Child: the gateway dies with the bench, writes stderr into the pipe.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    dup2(pipe_fds[1], STDERR_FILENO);
    execv(argv[0], argv.data());
    const char kMessage[] = "herald-bench: exec failed\n";
    (void)!write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    _exit(127);
  }
  close(pipe_fds[1]);
  pid_ = pid;
  stderr_fd_ = pipe_fds[0];

  // Read stderr until the listening line shows up.
  static const std::regex kListening(
      R"(herald listening http=([0-9.]+:[0-9]+) grpc=([0-9.]+:[0-9]+))");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string text;
  char buffer[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      *error = "timed out waiting for the listening line; stderr:\n" + text;
      return false;
    }
    pollfd poll_fd{stderr_fd_, POLLIN, 0};
    int ready = poll(&poll_fd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    ssize_t got = read(stderr_fd_, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      *error = "gateway exited before listening; stderr:\n" + text;
      return false;
    }
    text.append(buffer, static_cast<size_t>(got));
    std::smatch match;
    if (std::regex_search(text, match, kListening)) {
      http_address_ = match[1];
      grpc_address_ = match[2];
      break;
    }
  }
  KeepTail(&last_lines_, text.data(), text.size());
  drainer_ = std::thread([this] { Drain(); });
  return true;
}

void GatewayProcess::Drain() {
  char buffer[4096];
  while (true) {
    ssize_t got = read(stderr_fd_, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return;
    KeepTail(&last_lines_, buffer, static_cast<size_t>(got));
  }
}

std::string GatewayProcess::Stop(std::chrono::seconds timeout) {
  if (pid_ <= 0) return "not running";
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  std::string result;
  while (true) {
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      result = "killed after SIGTERM timeout; ";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  if (drainer_.joinable()) drainer_.join();
  if (WIFEXITED(status)) {
    result += "exit " + std::to_string(WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    result += "signal " + std::to_string(WTERMSIG(status));
  }
  return result;
}

std::optional<uint64_t> ReadRssBytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      uint64_t kib = 0;
      if (fields >> kib) return kib * 1024;
    }
  }
  return std::nullopt;
}

std::optional<MemoryStatus> ReadMemoryStatus(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/status", static_cast<int>(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buffer[8192];
  ssize_t got = read(fd, buffer, sizeof(buffer) - 1);
  close(fd);
  if (got <= 0) return std::nullopt;
  buffer[got] = '\0';
  auto field = [&](const char* name) -> std::optional<uint64_t> {
    const char* at = std::strstr(buffer, name);
    if (at == nullptr) return std::nullopt;
    return std::strtoull(at + std::strlen(name), nullptr, 10) * 1024;
  };
  std::optional<uint64_t> rss = field("VmRSS:");
  std::optional<uint64_t> hwm = field("VmHWM:");
  if (!rss) return std::nullopt;
  return MemoryStatus{*rss, hwm.value_or(*rss)};
}

bool ResetPeakRss(pid_t pid) {
  std::ofstream clear_refs("/proc/" + std::to_string(pid) + "/clear_refs");
  if (!clear_refs) return false;
  clear_refs << "5\n";
  clear_refs.flush();
  return static_cast<bool>(clear_refs);
}

MemorySampler::MemorySampler(pid_t pid, std::chrono::milliseconds period)
    : pid_(pid), period_(period) {
  thread_ = std::thread([this] {
    while (!stop_.load()) {
      if (std::optional<MemoryStatus> status = ReadMemoryStatus(pid_)) {
        if (status->rss > max_rss_.load()) max_rss_.store(status->rss);
        if (status->hwm > max_hwm_.load()) max_hwm_.store(status->hwm);
        samples_.fetch_add(1);
      }
      std::this_thread::sleep_for(period_);
    }
  });
}

MemorySampler::~MemorySampler() { Stop(); }

void MemorySampler::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

std::optional<double> ReadProcessCpuSeconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start after the last ')'.
  size_t paren = text.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  // State is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i < 14; ++i) fields >> field;
  uint64_t utime = 0, stime = 0;
  if (!(fields >> utime >> stime)) return std::nullopt;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& value) {
    return static_cast<double>(value.tv_sec) + static_cast<double>(value.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

uint64_t RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

}  // namespace herald::bench
