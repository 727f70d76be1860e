#pragma once

// What `warren top` shows, computed from scrapes of nodes' /metrics, without
// any I/O (top.cpp scrapes and draws; tests/top checks this).
//
// Three steps, each a plain function:
//
//   parse_exposition   the Prometheus text format 0.0.4 -> samples
//   compare            two scrapes of one endpoint -> one view per node
//                      (rates, quantiles and ratios over the interval)
//   render             the views -> lines of at most 80 columns
//
// The figures follow PromQL, so the dashboard agrees with a Prometheus
// server looking at the same counters: `rate` is the increase over the
// interval divided by its seconds (a counter that went down was reset: its
// increase is its new value), and quantiles are `histogram_quantile` of the
// bucket increases, interpolated linearly inside a bucket.

#include <caf/expected.hpp>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace warren::cli::top_model {

// -- the exposition format ----------------------------------------------------

using label_set = std::map<std::string, std::string>;

/// One sample line: `name{label="value",...} value [timestamp]`.
struct sample {
  std::string name;
  /// Label values unescaped (\\, \" and \n).
  label_set labels;
  /// May be +Inf, -Inf or NaN.
  double value = 0;
};

/// Parses a whole exposition. `# HELP`, `# TYPE`, other comments and blank
/// lines are skipped; a timestamp after the value is ignored. Errors
/// (`errc::malformed_body`) name the line and what was wrong with it: a
/// scrape with one bad line is rejected whole, as Prometheus does.
caf::expected<std::vector<sample>> parse_exposition(std::string_view text);

// -- arithmetic ---------------------------------------------------------------

/// Cumulative bucket counts by upper bound (`le`), +Inf included.
using bucket_counts = std::map<double, double>;

/// The `q` quantile (0..1) of a histogram's buckets, as PromQL's
/// `histogram_quantile`: linear interpolation inside the bucket that holds
/// the rank, the first bucket starting at 0, and the largest finite bound
/// when the rank falls in the +Inf bucket. Nothing when the buckets hold no
/// observation or have no +Inf bucket.
std::optional<double> histogram_quantile(double q,
                                         const bucket_counts& buckets);

/// How much a counter grew from `before` to `now`; a counter that went down
/// was reset (its process restarted) and grew by `now`.
double increase(double before, double now);

/// The increase of each bucket, with the same reset rule: when any bucket
/// went down the whole histogram was reset, and `now` is the increase.
bucket_counts increase(const bucket_counts& before, const bucket_counts& now);

// -- scrapes and views --------------------------------------------------------

/// One scrape of one endpoint.
struct scrape {
  /// The endpoint as the user named it (shown when its nodes are unknown).
  std::string source;
  /// When it was taken, in seconds of a monotonic clock.
  double taken_at = 0;
  /// Why there are no samples: "unreachable: ..." or "unreadable: ..."
  /// ("" when the scrape worked).
  std::string failure;
  std::vector<sample> samples;
};

/// A figure of the dashboard. `absent`: the node does not export its metric
/// (shown blank); `unknown`: it does, but the interval tells nothing yet (no
/// earlier scrape, or no observation in it: shown "-").
struct figure {
  enum class state { absent, unknown, known };
  state what = state::absent;
  double value = 0;

  static figure unknown() { return {state::unknown, 0}; }
  static figure of(double v) { return {state::known, v}; }
  bool known() const noexcept { return what == state::known; }
};

/// One row: an actor instance (label `actor`).
struct actor_row {
  std::string actor;
  /// warren_messages_handled_total per second.
  figure handled_per_second;
  /// warren_handler_duration_seconds, over the interval.
  figure p50_seconds;
  figure p99_seconds;
  /// The increase of warren_messages_failed_total (every reason) divided by
  /// that of warren_messages_received_total.
  figure error_ratio;
  /// The gauges warren_deliveries_in_flight and warren_prefetch, now.
  figure in_flight;
  figure prefetch;
  /// warren_queue_messages of the queue warren_actor_queue_info names.
  figure queue_messages;
};

/// One node (label `node`) of an endpoint, or the endpoint itself when its
/// scrape failed.
struct node_view {
  /// The node's name ("" when the scrape failed or carried no node label).
  std::string node;
  std::string source;
  /// As in `scrape::failure`.
  std::string failure;
  /// warren_connection_up: series equal to 1, and all series.
  int connections_up = 0;
  int connections = 0;
  /// warren_store_commit_seconds of every actor together, over the interval.
  figure commit_p99_seconds;
  /// warren_supervisor_restarts_total of every supervisor together: the
  /// total now, and its increase over the interval.
  figure restarts;
  figure restarts_increase;
  /// Sorted by actor.
  std::vector<actor_row> actors;
};

/// The nodes of one endpoint from its two latest scrapes. `before` is null
/// (or failed) on the first scrape: rates and quantiles are then unknown,
/// gauges are shown all the same. Nodes are sorted by name.
std::vector<node_view> compare(const scrape* before, const scrape& now);

// -- text
// -----------------------------------------------------------------------

/// The width `render` fits its lines into.
constexpr std::size_t screen_width = 80;

/// A frame: `title`, the column headings, then per node one line (name,
/// source, connections, restarts, commit p99, or the failure) and one line
/// per actor. Names too long for their column end in '~'; no line is longer
/// than `width`. Plain text: the caller adds any escape codes.
std::vector<std::string> render(const std::string& title,
                                const std::vector<node_view>& nodes,
                                std::size_t width = screen_width);

/// Seconds as the dashboard shows them: "850us", "1.25ms", "12.5ms",
/// "1.50s".
std::string format_seconds(double seconds);

/// A per-second rate: one decimal below 1000, none above ("0.5", "1234").
std::string format_rate(double per_second);

} // namespace warren::cli::top_model
