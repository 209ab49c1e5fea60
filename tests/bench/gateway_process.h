// Starting and stopping the gateway under test, and reading its memory and CPU use from /proc.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace herald::bench {

// A herald process started by the bench: its stderr is drained by a thread for its whole life.
class GatewayProcess {
 public:
  GatewayProcess() = default;
  GatewayProcess(const GatewayProcess&) = delete;
  GatewayProcess& operator=(const GatewayProcess&) = delete;
  ~GatewayProcess();

  // Starts `binary` listening on ephemeral loopback ports, plus `extra_args`, and waits for its
  // "herald listening" line. Returns false (with `error`) when it exits or times out first.
  bool Start(const std::string& binary, const std::vector<std::string>& extra_args,
             std::chrono::seconds timeout, std::string* error);

  // SIGTERM, then waits up to `timeout` (SIGKILL after that). Returns the exit status text.
  std::string Stop(std::chrono::seconds timeout);

  pid_t pid() const { return pid_; }
  const std::string& http_address() const { return http_address_; }
  const std::string& grpc_address() const { return grpc_address_; }

 private:
  void Drain();

  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  std::string http_address_;
  std::string grpc_address_;
  std::thread drainer_;
  std::string last_lines_;
};

// Resident set size of a process in bytes (VmRSS), if readable.
std::optional<uint64_t> ReadRssBytes(pid_t pid);

// VmRSS and VmHWM (peak RSS) of a process in bytes, from one read of /proc/<pid>/status.
struct MemoryStatus {
  uint64_t rss = 0;
  uint64_t hwm = 0;
};
std::optional<MemoryStatus> ReadMemoryStatus(pid_t pid);

// Resets the process' VmHWM to its current RSS (writes 5 to /proc/<pid>/clear_refs); false when
// not permitted or not supported.
bool ResetPeakRss(pid_t pid);

// Samples VmRSS/VmHWM of a process from its own thread every `period` while it lives.
class MemorySampler {
 public:
  MemorySampler(pid_t pid, std::chrono::milliseconds period);
  ~MemorySampler();
  MemorySampler(const MemorySampler&) = delete;
  MemorySampler& operator=(const MemorySampler&) = delete;

  void Stop();
  uint64_t max_rss() const { return max_rss_.load(); }
  uint64_t max_hwm() const { return max_hwm_.load(); }
  uint64_t samples() const { return samples_.load(); }

 private:
  pid_t pid_;
  std::chrono::milliseconds period_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> max_rss_{0};
  std::atomic<uint64_t> max_hwm_{0};
  std::atomic<uint64_t> samples_{0};
  std::thread thread_;
};

// User + system CPU time a process has used so far, in seconds, if readable.
std::optional<double> ReadProcessCpuSeconds(pid_t pid);

// CPU time (user + system) of this process, in seconds.
double SelfCpuSeconds();

// Raises this process' RLIMIT_NOFILE soft limit to its hard limit; returns the new soft limit.
uint64_t RaiseFileLimit();

}  // namespace herald::bench
