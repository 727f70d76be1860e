#pragma once

/// The process's own figures, read from /proc at each scrape (nothing is
/// kept between scrapes): process_cpu_seconds_total,
/// process_resident_memory_bytes, process_virtual_memory_bytes,
/// process_open_fds, process_max_fds, process_start_time_seconds (the
/// names of Prometheus's client libraries), and warren_process_cpu_cores
/// (the CPUs the process may run on), warren_process_memory_limit_bytes
/// (its cgroup's memory limit, or the machine's memory) and
/// warren_build_info{version} = 1.

#include <memory>
#include <string>

namespace prometheus {
class Collectable;
} // namespace prometheus

namespace warren::metrics {

std::shared_ptr<prometheus::Collectable>
make_process_collector(const std::string& node_name,
                       const std::string& version);

} // namespace warren::metrics
