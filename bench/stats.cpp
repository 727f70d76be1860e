#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <locale>
#include <sstream>
#include <stdexcept>

namespace warren::bench {

namespace {

void check_token(std::string_view token, const char* what) {
  if (token.empty())
    throw std::invalid_argument(std::string{"metric "} + what +
                                " must not be empty");
  for (char c : token) {
    // Whitespace or '=' inside a token would make the key=value line
    // ambiguous for whatever parses the benchmark output.
    if (c == '=' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
        c == '\v' || c == '\f')
      throw std::invalid_argument(std::string{"metric "} + what + " '" +
                                  std::string{token} +
                                  "' contains whitespace or '='");
  }
}

/// Decimals that keep at least four significant digits (min 1, max 6), so
/// that large rates do not carry noise digits and small values do not
/// collapse to 0.0.
int decimals_for(double value) {
  double magnitude = std::fabs(value);
  if (magnitude == 0.0)
    return 1;
  int exponent = static_cast<int>(std::floor(std::log10(magnitude)));
  return std::clamp(3 - exponent, 1, 6);
}

} // namespace

double percentile_sorted(const std::vector<double>& sorted, double p) {
  if (sorted.empty())
    throw std::invalid_argument("percentile of an empty sample");
  if (!(p >= 0.0 && p <= 100.0)) // also rejects NaN
    throw std::invalid_argument("percentile must be in [0, 100]");
  auto n = sorted.size();
  auto rank =
    static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(n)));
  // Rank 0 only happens for p = 0 (or p tiny); nearest-rank defines it as
  // the first sample.
  rank = std::clamp<std::size_t>(rank, 1, n);
  return sorted[rank - 1];
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  return percentile_sorted(values, p);
}

std::string format_metric(std::string_view name, double value,
                          std::string_view unit) {
  check_token(name, "name");
  check_token(unit, "unit");
  if (!std::isfinite(value))
    throw std::invalid_argument("metric '" + std::string{name} +
                                "' has a non-finite value");
  std::ostringstream out;
  // A global locale with ',' as decimal point or digit grouping would break
  // parsers of the BENCH lines.
  out.imbue(std::locale::classic());
  out << "BENCH name=" << name << " value=" << std::fixed
      << std::setprecision(decimals_for(value)) << value << " unit=" << unit;
  return out.str();
}

void print_metric(std::ostream& out, std::string_view name, double value,
                  std::string_view unit) {
  out << format_metric(name, value, unit) << '\n' << std::flush;
}

void print_metric(std::string_view name, double value, std::string_view unit) {
  print_metric(std::cout, name, value, unit);
}

} // namespace warren::bench
