#pragma once

namespace warren::bench {

/// Prints the nanoseconds one histogram observation costs, prometheus-cpp's
/// `Histogram::Observe` against warren's cells, with and without a thread
/// scraping meanwhile (`metrics.observe.*` lines). Needs no broker.
void measure_metrics_cost();

} // namespace warren::bench
