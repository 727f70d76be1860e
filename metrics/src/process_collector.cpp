#include "warren/metrics/process_collector.hpp"

#include <dirent.h>
#include <fstream>
#include <iterator>
#include <optional>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <sched.h>
#include <sstream>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <unistd.h>

namespace warren::metrics {

namespace {

std::string read_file(const char* path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

// Fields of /proc/self/stat after the command name (which may hold spaces
// and parentheses, so it is skipped by its last ')').
struct proc_stat {
  double cpu_seconds = 0;
  double start_time = 0; // seconds since boot
  double virtual_bytes = 0;
  double resident_bytes = 0;
};

proc_stat read_proc_stat() {
  proc_stat out;
  auto text = read_file("/proc/self/stat");
  auto close = text.rfind(')');
  if (close == std::string::npos)
    return out;
  std::istringstream in{text.substr(close + 2)};
  std::string field;
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  // Field 3 (state) is the first here; utime is 14, stime 15,
  // starttime 22, vsize 23, rss 24 (man 5 proc).
  for (int n = 3; in >> field; ++n) {
    if (n == 14 || n == 15)
      out.cpu_seconds += std::stod(field) / ticks;
    else if (n == 22)
      out.start_time = std::stod(field) / ticks;
    else if (n == 23)
      out.virtual_bytes = std::stod(field);
    else if (n == 24) {
      out.resident_bytes = std::stod(field) * page;
      break;
    }
  }
  return out;
}

double boot_time() {
  std::istringstream in{read_file("/proc/stat")};
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value)
      return value;
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

double open_fds() {
  double n = 0;
  if (auto* dir = opendir("/proc/self/fd")) {
    while (auto* entry = readdir(dir))
      if (entry->d_name[0] != '.')
        ++n;
    closedir(dir);
    --n; // the directory stream's own descriptor
  }
  return n;
}

double max_fds() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
    return 0;
  return static_cast<double>(lim.rlim_cur);
}

double cpu_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    return CPU_COUNT(&set);
  return static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
}

// A limit file's value: bytes, or nothing for "max" (v2) or a value no
// machine has (v1's "unlimited" is about 2^63).
std::optional<double> limit_in(const std::string& path) {
  auto text = read_file(path.c_str());
  if (text.empty() || text.rfind("max", 0) == 0)
    return std::nullopt;
  try {
    double limit = std::stod(text);
    if (limit > 0 && limit < 1e18)
      return limit;
  } catch (const std::exception&) {
    // Not a number: no limit here.
  }
  return std::nullopt;
}

// The tightest memory limit of the process's own cgroup and its parents
// (cgroup v2 `memory.max`, v1 `memory.limit_in_bytes`; /proc/self/cgroup
// names the cgroup), else the machine's memory.
double memory_limit() {
  double limit = 0;
  struct sysinfo info {};
  if (sysinfo(&info) == 0)
    limit = static_cast<double>(info.totalram) * info.mem_unit;
  auto tighter = [&](std::optional<double> found) {
    if (found && (limit == 0 || *found < limit))
      limit = *found;
  };
  std::istringstream groups{read_file("/proc/self/cgroup")};
  std::string line;
  while (std::getline(groups, line)) {
    // "<id>:<controllers>:<path>"; v2 is "0::<path>".
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos)
      continue;
    auto controllers = line.substr(first + 1, second - first - 1);
    auto path = line.substr(second + 1);
    std::string base, file;
    if (controllers.empty()) {
      base = "/sys/fs/cgroup";
      file = "/memory.max";
    } else if (("," + controllers + ",").find(",memory,") !=
               std::string::npos) {
      base = "/sys/fs/cgroup/memory";
      file = "/memory.limit_in_bytes";
    } else {
      continue;
    }
    // The cgroup and every parent up to the root: the tightest counts.
    for (;;) {
      tighter(limit_in(base + (path == "/" ? "" : path) + file));
      if (path.empty() || path == "/")
        break;
      auto slash = path.rfind('/');
      path =
        slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
    }
  }
  return limit;
}

class process_collector : public prometheus::Collectable {
 public:
  process_collector(std::string node, std::string version)
    : node_(std::move(node)), version_(std::move(version)),
      start_(read_proc_stat().start_time + boot_time()) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    auto stat = read_proc_stat();
    std::vector<prometheus::MetricFamily> out;
    out.push_back(one("process_cpu_seconds_total",
                      "User and system CPU time spent, in seconds.",
                      prometheus::MetricType::Counter, stat.cpu_seconds));
    out.push_back(gauge("process_resident_memory_bytes",
                        "Resident memory size in bytes.", stat.resident_bytes));
    out.push_back(gauge("process_virtual_memory_bytes",
                        "Virtual memory size in bytes.", stat.virtual_bytes));
    out.push_back(gauge("process_open_fds", "Number of open file descriptors.",
                        open_fds()));
    out.push_back(gauge("process_max_fds",
                        "Maximum number of open file descriptors.", max_fds()));
    out.push_back(gauge("process_start_time_seconds",
                        "Start time of the process since the Unix epoch, in "
                        "seconds.",
                        start_));
    out.push_back(gauge("warren_process_cpu_cores",
                        "CPUs the process may run on.", cpu_cores()));
    out.push_back(gauge("warren_process_memory_limit_bytes",
                        "The memory the process may use: its cgroup's limit, "
                        "or the machine's memory.",
                        memory_limit()));
    auto info = gauge("warren_build_info",
                      "Always 1; the label version is warren's version.", 1);
    info.metric[0].label.push_back({"version", version_});
    out.push_back(std::move(info));
    return out;
  }

 private:
  prometheus::MetricFamily one(const char* name, const char* help,
                               prometheus::MetricType type,
                               double value) const {
    prometheus::MetricFamily family;
    family.name = name;
    family.help = help;
    family.type = type;
    prometheus::ClientMetric metric;
    metric.label.push_back({"node", node_});
    if (type == prometheus::MetricType::Counter)
      metric.counter.value = value;
    else
      metric.gauge.value = value;
    family.metric.push_back(std::move(metric));
    return family;
  }

  prometheus::MetricFamily gauge(const char* name, const char* help,
                                 double value) const {
    return one(name, help, prometheus::MetricType::Gauge, value);
  }

  std::string node_;
  std::string version_;
  double start_;
};

} // namespace

std::shared_ptr<prometheus::Collectable>
make_process_collector(const std::string& node_name,
                       const std::string& version) {
  return std::make_shared<process_collector>(node_name, version);
}

} // namespace warren::metrics
