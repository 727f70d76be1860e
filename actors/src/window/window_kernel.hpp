#pragma once

// Private to warren::actors: the event-time window operator of the `window`
// kind, as pure logic (no broker, no store, no actor). docs/windows.md has
// the semantics in full; in short:
//
// - Events are offered one by one with a key, an event time (ms) and one
//   value per field (NaN = the field is missing from that event). They go
//   into slices (tumbling and sliding windows: per key, slices of
//   gcd(size, slide) ms) or session runs, each holding partial moments and,
//   for fields with percentiles, the raw values. Overlapping windows share
//   slices; no event is copied into every window.
// - The watermark W (global over keys) is max event time - out-of-orderness
//   - 1, raised at each flush() and by advance_idle(). A window [start, end)
//   fires (revision 0) at the first flush where W >= end - 1, and is
//   forgotten once W >= end - 1 + allowed lateness. Until then an event that
//   joins it makes it emit an update (revision 1, 2, ...) at the next flush.
//   An event whose windows are all forgotten is late: offer() says so and
//   changes nothing.
// - State for recovery: the caller logs accepted events; export_state() is
//   the small rest (watermark, revisions of windows within lateness,
//   sessions). A fresh kernel given import_state() and then replay() of the
//   logged events, in their original order, is in exactly the state of the
//   one that exported, and produces the same results from then on.
//
// Not thread-safe: one kernel belongs to one actor.

#include "window/aggregates.hpp"
#include "window/window_spec.hpp"

#include <boost/json/value.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace warren::actors {

/// A key as the kernel knows it (see window_kernel::intern).
using window_key_id = std::uint32_t;

enum class offer_result : std::uint8_t {
  /// Added to at least one window.
  accepted,
  /// Every window of the event is already forgotten (past the allowed
  /// lateness): not added; the caller sends it to the late side output.
  late,
  /// The event time is outside [-kMaxEventTime, kMaxEventTime] or a value is
  /// infinite: not added (the caller dead-letters it).
  invalid,
};

/// The aggregates of one value field over a window. With no value (count 0)
/// sum is 0 and everything else is NaN; the sample variance needs 2 values.
struct window_field_result {
  std::uint64_t count = 0;
  double sum = 0.0;
  /// Mean, from Welford/Chan (not sum / count; equal up to rounding).
  double mean = 0.0;
  double min = 0.0;
  double max = 0.0;
  /// Population variance and standard deviation (divided by n).
  double variance = 0.0;
  double stddev = 0.0;
  /// Sample variance and standard deviation (divided by n - 1).
  double variance_sample = 0.0;
  double stddev_sample = 0.0;
  /// One per percentile of the field's spec, in the same order.
  const double* percentiles = nullptr;
  std::size_t percentile_count = 0;
  /// One per approximate percentile of the field's spec, in the same order.
  const double* approx_percentiles = nullptr;
  std::size_t approx_percentile_count = 0;
};

/// One result: a window that fired, or an update of one.
struct window_result {
  window_key_id key = 0;
  /// Valid during the emit callback only.
  std::string_view key_name;
  /// [start, end) in event time. A session's end is its last event + gap.
  std::int64_t start = 0;
  std::int64_t end = 0;
  /// 0 for the first result of a window, then 1, 2, ... for its updates.
  /// Key + start + end + revision identify a result.
  std::uint32_t revision = 0;
  bool is_update = false;
  /// Events in the window, with or without values.
  std::uint64_t event_count = 0;
  /// One per value field of the spec; valid during the callback only.
  const window_field_result* fields = nullptr;
  std::size_t field_count = 0;
};

/// Counts since the kernel was made (not part of the exported state).
struct window_counters {
  std::uint64_t events_in = 0;     ///< offer() calls
  std::uint64_t accepted = 0;      ///< offers accepted
  std::uint64_t late = 0;          ///< offers reported late
  std::uint64_t invalid = 0;       ///< offers reported invalid
  std::uint64_t windows_fired = 0; ///< first results (revision 0)
  std::uint64_t updates = 0;       ///< updated results (revision > 0)
  std::uint64_t replayed = 0;      ///< replay() calls that added the event
};

/// What the kernel holds now, for bounds and gauges.
struct window_memory {
  std::size_t keys = 0;
  /// Slices (tumbling, sliding) or session runs holding events.
  std::size_t partials = 0;
  /// Windows with state (fired within lateness, or holding events but not
  /// fired yet); sessions for session windows.
  std::size_t open_windows = 0;
  /// Raw values kept for percentiles.
  std::uint64_t values = 0;
  /// Buckets of the approximate-percentile sketches.
  std::size_t sketch_buckets = 0;
  /// An estimate of the bytes held: values, sketch buckets, slices, windows
  /// and keys (spare vector capacity and allocator overhead not included).
  std::size_t approx_bytes = 0;
};

/// A non-owning reference to the caller's result callback, so that emitting
/// costs no allocation and the kernel no template.
class window_emit_ref {
 public:
  template<class F, class = std::enable_if_t<
                      !std::is_same_v<std::decay_t<F>, window_emit_ref>>>
  window_emit_ref(F&& f) noexcept // NOLINT: implicit on purpose
    : target_(const_cast<void*>(static_cast<const void*>(&f))),
      call_([](void* target, const window_result& r) {
        (*static_cast<std::remove_reference_t<F>*>(target))(r);
      }) {}
  void operator()(const window_result& r) const { call_(target_, r); }

 private:
  void* target_;
  void (*call_)(void*, const window_result&);
};

class window_kernel {
 public:
  /// Precondition: validate(spec) is nullopt.
  explicit window_kernel(window_spec spec);
  ~window_kernel();
  window_kernel(const window_kernel&) = delete;
  window_kernel& operator=(const window_kernel&) = delete;

  const window_spec& spec() const noexcept { return spec_; }

  // -- keys ------------------------------------------------------------------

  /// The id of `key`, made on first use, so that the per-event calls hash
  /// no string. A key that holds nothing (its windows all closed, or it got
  /// no accepted event) is dropped from memory at the next flush(),
  /// advance_idle() or import_state(), and its id may go to another key:
  /// intern again after those calls, or keep ids across them only while
  /// key_generation() stays the same.
  window_key_id intern(std::string_view key);
  /// Changes whenever a key is dropped: ids obtained since it last changed
  /// are all still valid.
  std::uint64_t key_generation() const noexcept { return key_generation_; }
  /// The id of `key` if the kernel holds it.
  std::optional<window_key_id> find_key(std::string_view key) const;

  // -- events ----------------------------------------------------------------

  /// Adds an event: `values` points at one double per value field of the
  /// spec, NaN for a field the event does not have. Decides lateness against
  /// the watermark of the last flush. Windows it joins that already fired
  /// are emitted as updates at the next flush.
  offer_result offer(window_key_id key, std::int64_t event_time,
                     const double* values);

  /// Raises the watermark to what the events offered so far allow and emits
  /// every result that is due (first results and updates), key by key in
  /// order of due time, per key in window order. Then forgets the windows
  /// past their lateness and the keys that hold nothing. `now_processing_ms`
  /// is the processing time of the events offered since the last flush (it
  /// starts the idle timeout). Call it after each message or batch. `emit`
  /// must not call back into the kernel.
  void flush(std::int64_t now_processing_ms, window_emit_ref emit);

  /// When no event was offered (accepted or not) for at least
  /// idle_timeout_ms of processing time (since the flush that followed the
  /// last offer), moves the
  /// watermark to max event time - out-of-orderness - 1 + (now - last
  /// arrival) and emits what is due. Does nothing when the timeout is 0 or
  /// not reached, or before the first event. True when it moved the
  /// watermark. Pending offers are flushed first (and then nothing is idle).
  bool advance_idle(std::int64_t now_processing_ms, window_emit_ref emit);

  /// The end of the input (a replayed file): the watermark moves past every
  /// window, and every result still due is emitted (first results, then
  /// nothing more can change). Call flush() first.
  void finish(window_emit_ref emit);

  // -- recovery --------------------------------------------------------------

  /// Puts back an event that offer() accepted before a restart, after
  /// import_state(), with no lateness decision, no counter and no update
  /// mark: it joins the windows it can still join (its windows that are not
  /// forgotten; the session of the imported state that spans it). False
  /// when there is none, and then nothing changed (such an event may be
  /// deleted from the log).
  bool replay(window_key_id key, std::int64_t event_time, const double* values);

  /// Everything but the events: watermark, max event time, last arrival,
  /// per key the revision and update marks of the windows still within the
  /// allowed lateness, and the sessions' extents. Small: a few numbers per
  /// window within lateness, none per event.
  boost::json::value export_state() const;

  /// Loads export_state()'s value into a kernel that has seen nothing yet
  /// (then replay() the logged events in their logged order). Nullopt on
  /// success, else what is wrong (a different spec, a malformed value).
  std::optional<std::string> import_state(const boost::json::value& state);

  /// The watermark at which no window containing an event of time
  /// `event_time` can change any more (tumbling and sliding: end of its last
  /// window - 1 + allowed lateness). For sessions, whose extent grows,
  /// there is no such bound from the time alone: use retention_horizon().
  std::int64_t retained_until(std::int64_t event_time) const noexcept;

  /// Every accepted event with an event time below this is in no window
  /// that can change any more, and is no longer needed for replay: the
  /// caller may delete such events from its log. O(1) for tumbling and
  /// sliding windows, O(keys) for sessions.
  std::int64_t retention_horizon() const;

  // -- observation -----------------------------------------------------------

  /// The current watermark (before any event: -2^62).
  std::int64_t watermark() const noexcept { return watermark_; }
  /// The largest event time accepted, if any.
  std::optional<std::int64_t> max_event_time() const noexcept;
  const window_counters& counters() const noexcept { return counters_; }
  window_memory memory() const noexcept;
  /// Raw values held for `key` (0 for an unknown id).
  std::uint64_t key_values(window_key_id key) const noexcept;

 private:
  struct partial;
  struct window_record;
  struct session;
  struct key_state;
  struct timer {
    std::int64_t due;
    window_key_id key;
    bool operator>(const timer& other) const noexcept {
      return due != other.due ? due > other.due : key > other.key;
    }
  };

  bool time_windows() const noexcept {
    return spec_.type != window_type::session;
  }
  bool valid_event(std::int64_t event_time,
                   const double* values) const noexcept;
  void note_accepted(std::int64_t event_time) noexcept;
  void add_values(partial& p, key_state& key, const double* values) noexcept;
  partial take_partial(std::int64_t index);
  void recycle(partial&& p, key_state& key);

  bool add_to_slices(key_state& key, std::int64_t t, const double* values,
                     bool replaying);
  partial& find_or_add_slice(key_state& key, std::int64_t slice);
  void touch_window(key_state& key, std::int64_t k, bool replaying);
  window_record* find_record(key_state& key, std::int64_t k);
  bool add_to_sessions(key_state& key, std::int64_t t, const double* values,
                       bool replaying);
  void schedule(key_state& key, std::int64_t due);
  void reschedule(key_state& key);

  void raise_watermark(std::int64_t w);
  void fire_due(window_emit_ref emit);
  void process_slices(key_state& key, window_emit_ref emit);
  void process_sessions(key_state& key, window_emit_ref emit);
  void emit_result(key_state& key, partial* const* parts, std::size_t count,
                   std::int64_t start, std::int64_t end, std::int32_t& revision,
                   window_emit_ref emit);
  void ensure_sorted(std::vector<double>& values, std::size_t& sorted);
  void drop_key(key_state& key);

  window_spec spec_;
  slice_grid grid_;
  std::size_t field_count_ = 0;
  /// Per field: its index among the fields that keep raw values, or -1.
  std::vector<int> raw_slot_;
  std::vector<std::size_t> raw_field_;
  std::size_t raw_count_ = 0;
  /// Per field: its index among the fields with approximate percentiles, or
  /// -1; and an empty sketch of each such field's error bound.
  std::vector<int> sketch_slot_;
  std::vector<log_sketch> empty_sketches_;

  std::vector<std::unique_ptr<key_state>> keys_;
  std::vector<window_key_id> free_ids_;
  std::uint64_t key_generation_ = 0;
  /// Interned since the last flush: dropped there if still empty.
  std::vector<window_key_id> fresh_keys_;
  std::unordered_map<std::string_view, window_key_id> ids_;
  std::priority_queue<timer, std::vector<timer>, std::greater<timer>> timers_;

  std::int64_t watermark_;
  std::int64_t max_event_time_;
  bool have_events_ = false;
  std::int64_t last_arrival_ = 0;
  bool have_arrival_ = false;
  bool offered_since_flush_ = false;
  // Derived from the watermark (tumbling, sliding), recomputed only when it
  // crosses next_threshold_: windows below live_from_ are forgotten, below
  // unfired_from_ fired; an event at or after fast_from_ joins no fired
  // window.
  std::int64_t live_from_ = 0;
  std::int64_t unfired_from_ = 0;
  std::int64_t fast_from_ = 0;
  std::int64_t next_threshold_ = 0;
  void recompute_thresholds() noexcept;

  window_counters counters_;
  std::size_t partials_ = 0;
  std::size_t open_windows_ = 0;
  std::uint64_t values_ = 0;
  std::size_t sketch_buckets_ = 0;

  std::vector<partial> spare_;
  // Scratch for emitting, reused so that emitting allocates nothing.
  std::vector<partial*> parts_;
  std::vector<sorted_run> runs_;
  std::vector<std::size_t> select_scratch_;
  std::vector<double> merge_scratch_;
  std::vector<std::uint64_t> sort_scratch_;
  std::vector<window_field_result> field_results_;
  std::vector<double> percentile_values_;
  std::vector<double> approx_values_;
  log_sketch merged_sketch_;
};

} // namespace warren::actors
