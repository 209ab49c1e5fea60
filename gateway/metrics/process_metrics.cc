// The process_* series, from /proc/self.
#include "metrics/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace herald {
namespace {

// The fields of /proc/self/stat after the command name (which may hold spaces): field 3 (state)
// is fields[0].
std::vector<std::string> StatFields() {
  std::ifstream file("/proc/self/stat");
  std::string line;
  std::getline(file, line);
  std::vector<std::string> fields;
  size_t name_end = line.rfind(')');
  if (name_end == std::string::npos) return fields;
  std::istringstream rest(line.substr(name_end + 1));
  for (std::string field; rest >> field;) fields.push_back(field);
  return fields;
}

// The system's boot time (btime in /proc/stat), in seconds since the Unix epoch; 0 if unknown.
uint64_t BootTime() {
  std::ifstream file("/proc/stat");
  for (std::string key; file >> key;) {
    if (key == "btime") {
      uint64_t seconds = 0;
      file >> seconds;
      return seconds;
    }
    file.ignore(1 << 20, '\n');
  }
  return 0;
}

size_t OpenFds() {
  size_t count = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count > 0 ? count - 1 : 0;  // Less the directory being read.
}

}  // namespace

void WriteProcessMetrics(PrometheusText& text) {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const uint64_t page_bytes = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  std::vector<std::string> stat = StatFields();
  // Fields 14 and 15 (utime, stime), 20 (starttime), 23 (vsize), 24 (rss): indexes 11, 12, 19,
  // 20 and 21 here.
  if (stat.size() > 21 && ticks > 0) {
    double cpu = (std::stod(stat[11]) + std::stod(stat[12])) / ticks;
    text.Family("process_cpu_seconds_total", "counter",
                "Total user and system CPU time spent in seconds.");
    text.Sample("process_cpu_seconds_total", {}, cpu);
    text.Family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    text.Sample("process_virtual_memory_bytes", {}, uint64_t{std::stoull(stat[20])});
    text.Family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    text.Sample("process_resident_memory_bytes", {}, uint64_t{std::stoull(stat[21]) * page_bytes});
    if (uint64_t boot = BootTime(); boot != 0) {
      text.Family("process_start_time_seconds", "gauge",
                  "Start time of the process since unix epoch in seconds.");
      text.Sample("process_start_time_seconds", {},
                  static_cast<double>(boot) + std::stod(stat[19]) / ticks);
    }
  }
  text.Family("process_open_fds", "gauge", "Number of open file descriptors.");
  text.Sample("process_open_fds", uint64_t{OpenFds()});
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    text.Family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
    text.Sample("process_max_fds", uint64_t{limit.rlim_cur});
  }
}

}  // namespace herald
