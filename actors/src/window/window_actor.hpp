#pragma once

// Private to warren::actors: the `window` kind, a stream operator
// (warren/runtime/stream_operator.hpp) around the window kernel. Per
// message: the event's key, time and values are read from the body (a
// message that lacks them is dead-lettered, memory untouched), offered to
// the kernel, and the results that are due are published with ids of their
// own (key, window, revision), so a result published again after a restart
// is dropped by the inboxes downstream. Late events go to the late output
// (or are dead-lettered). What it persists, in the unit of work with the
// inbox and the outbox: one row per commit with the events accepted
// ("e/<n>"), deleted once no window they are in can change, and a row with
// the kernel's small state ("m"). A restart imports "m" and replays the
// event rows: the kernel is as it was at the last commit.

#include "warren/metrics/cells.hpp"
#include "warren/runtime/stream_operator.hpp"
#include "window/event_log.hpp"
#include "window/window_codec.hpp"
#include "window/window_kernel.hpp"
#include "window/window_options.hpp"

#include <map>
#include <string>
#include <vector>

namespace warren::actors {

class window_actor : public stream_operator {
 public:
  /// Throws std::invalid_argument when the options are wrong (they were
  /// checked with the config, so only for a config checked by another
  /// build).
  explicit window_actor(const actor_init& init);

  static void check_options(config::object_reader& options);

  /// The event's key (its key fields as a JSON array): a sharded window
  /// gets each key's events on one shard, in one kernel.
  caf::expected<std::string> key_of(const envelope& msg) const override;
  caf::error restore(operator_row_set rows) override;
  status apply(context& ctx, const envelope& msg) override;
  void checkpoint(operator_rows& rows) override;
  std::chrono::milliseconds tick_interval() const override;
  void tick(operator_output& out, int64_t now_ms) override;
  bool accepting() const override;

 private:
  struct metric_set {
    metrics::counter events;
    metrics::counter late;
    metrics::counter results;
    metrics::counter updates;
    metrics::gauge open_windows;
    metrics::gauge values;
    metrics::gauge keys;
    metrics::gauge watermark_lag;
    metrics::gauge output_lag;
    metrics::gauge held;
  };

  // Reads an event from `body` into key_/values_ and `time`; false with
  // `why` when it cannot.
  bool read_event(const boost::json::value& body, int64_t now_ms, int64_t& time,
                  std::string& why);
  // A result as a message body, and its id.
  boost::json::value result_body(const window_result& r) const;
  std::string result_id(const window_result& r) const;
  void observe(int64_t now_ms);
  template<class Sink>
  void publish_result(Sink& sink, const window_result& r, int64_t now_ms);

  window_settings settings_;
  window_codec codec_{settings_};
  window_kernel kernel_;
  event_log_writer log_;
  // Rows of the event log by the largest event time they hold: deleted once
  // the kernel's retention horizon passes it.
  std::multimap<int64_t, std::string> log_rows_;
  uint64_t next_row_ = 0;
  bool meta_dirty_ = false;
  // A key over max_values_per_key (empty: none): no more deliveries until
  // its windows close.
  std::string full_key_;
  std::string key_;
  std::vector<double> values_;
  metric_set metrics_;
};

} // namespace warren::actors
