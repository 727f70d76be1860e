#pragma once

/// Small statistics and reporting helpers shared by every benchmark (the raw
/// rabbitmq-c baseline and warren's own figures), so both sides compute
/// percentiles the same way and print the same machine-readable lines.

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace warren::bench {

/// Nearest-rank percentile of already sorted (ascending) `sorted`: the value
/// at rank ceil(p / 100 * n), with p = 0 giving the smallest value. `p` must be
/// in [0, 100]. Throws std::invalid_argument for an empty input or a `p` out
/// of range. Nearest-rank always returns an observed sample, never an
/// interpolated one, so p99 of 2000 calls is the 1980th fastest call.
double percentile_sorted(const std::vector<double>& sorted, double p);

/// Like percentile_sorted, but sorts a copy of `values` first. Call
/// percentile_sorted directly when taking several percentiles of one sample.
double percentile(std::vector<double> values, double p);

/// Formats one metric as `BENCH name=<name> value=<number> unit=<unit>`
/// (without a newline). The number is in fixed notation with at least four
/// significant digits and at least one decimal (e.g. 15234.2, 412.7, 0.8123),
/// never in scientific notation, and always with a '.' decimal point whatever
/// the global locale, so a plain regex can parse it. Throws
/// std::invalid_argument if `value` is not finite or if `name` or `unit` is
/// empty or contains whitespace or '=' (either would break the line format).
std::string format_metric(std::string_view name, double value,
                          std::string_view unit);

/// Writes format_metric(name, value, unit) and a newline to `out`, then
/// flushes so that lines survive a later crash of the benchmark process.
void print_metric(std::ostream& out, std::string_view name, double value,
                  std::string_view unit);

/// Like the overload above, writing to std::cout.
void print_metric(std::string_view name, double value, std::string_view unit);

} // namespace warren::bench
