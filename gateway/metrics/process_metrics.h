// The process_* series, named as Prometheus' own client libraries name them.
#pragma once

#include "metrics/prometheus_text.h"

namespace herald {

// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds and process_start_time_seconds, read from /proc. A value
// that cannot be read is left out.
void WriteProcessMetrics(PrometheusText& text);

}  // namespace herald
