#pragma once

// What the benchmark runs report with WARREN_BENCH_PROFILE set: where the
// CPU went (this process's threads, the broker's process) and figures
// from a node's own /metrics.

#include <map>
#include <string>
#include <utility>

namespace warren::bench {

/// Whether WARREN_BENCH_PROFILE is set (and not "0").
bool profiling();

/// CPU seconds of each thread of this process, by id, with its name.
std::map<std::string, std::pair<std::string, double>> thread_cpu();

/// CPU seconds of the broker's process (WARREN_BENCH_BROKER_PID, e.g. from
/// .state/broker/NAME/rabbit.pid), or -1.
double broker_cpu();

/// Prints (stderr) each thread's CPU seconds since `before`, over `wall`
/// seconds, for threads that used at least 0.05 s.
void report_cpu(
  const std::map<std::string, std::pair<std::string, double>>& before,
  double wall);

/// `name` (a counter, or a histogram's _sum/_count) summed over its series
/// in a scrape.
double scraped(const std::string& text, const std::string& name);

} // namespace warren::bench
