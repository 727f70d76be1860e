#include "window/window_kernel.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cassert>
#include <cmath>
#include <limits>

namespace warren::actors {

namespace {

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
/// The watermark before any event, and its ceiling: far enough from the
/// int64 limits that W + 1 - lateness - size never overflows.
constexpr std::int64_t kNoWatermark = -(std::int64_t{1} << 62);
constexpr std::int64_t kMaxWatermark = std::int64_t{1} << 62;
/// Spare slices kept for reuse (with their vectors' capacity).
constexpr std::size_t kMaxSpare = 1024;
constexpr const char* kFormat = "warren.window/1";

} // namespace

struct raw_values {
  std::vector<double> values;
  /// values[0, sorted) is sorted; values appended later are not yet.
  std::size_t sorted = 0;
};

/// A slice (tumbling, sliding: index = slice number) or a session run
/// (index = its first event time): the partial aggregates of its events.
struct window_kernel::partial {
  std::int64_t index = 0;
  std::uint64_t events = 0;
  std::vector<moments> fields;
  std::vector<raw_values> raws;
  std::vector<log_sketch> sketches;
};

/// A window that holds events or fired within lateness (tumbling, sliding).
struct window_kernel::window_record {
  std::int64_t index = 0;
  /// Of the last result; -1 before the first.
  std::int32_t revision = -1;
  /// Has events not yet in a result (always true before the first).
  bool pending = true;
};

struct window_kernel::session {
  std::int64_t start = 0;
  std::int64_t last = 0;
  std::int32_t revision = -1;
  bool pending = true;
  /// Sorted by first event time, disjoint: one per session merged into this
  /// one, so that each run's aggregates are built in event order and a
  /// replay rebuilds them bit for bit.
  std::vector<partial> runs;
};

struct window_kernel::key_state {
  window_key_id id = 0;
  std::string name;
  /// Due time of this key's pending timer entry; kNever when none.
  std::int64_t scheduled = kNever;
  std::uint64_t values = 0;
  // Tumbling and sliding: slices and windows sorted by index.
  std::deque<partial> slices;
  std::deque<window_record> windows;
  /// Windows below fired_upto that got events since they were emitted.
  std::vector<std::int64_t> dirty;
  /// Windows below this were considered for firing at the last processing.
  std::int64_t fired_upto = 0;
  /// The slice of the last event, for events that follow in it.
  partial* hot = nullptr;
  std::int64_t hot_start = 1;
  std::int64_t hot_end = 0;
  // Session.
  std::vector<session> sessions;
};

window_kernel::window_kernel(window_spec spec)
  : spec_(std::move(spec)), watermark_(kNoWatermark),
    max_event_time_(kNoWatermark) {
  if (time_windows())
    grid_ = slice_grid{spec_};
  field_count_ = spec_.fields.size();
  raw_slot_.assign(field_count_, -1);
  std::size_t percentiles = 0;
  for (std::size_t f = 0; f < field_count_; ++f) {
    if (spec_.fields[f].percentiles.empty())
      continue;
    raw_slot_[f] = static_cast<int>(raw_count_++);
    raw_field_.push_back(f);
    percentiles += spec_.fields[f].percentiles.size();
  }
  sketch_slot_.assign(field_count_, -1);
  std::size_t approx = 0;
  for (std::size_t f = 0; f < field_count_; ++f) {
    const auto& field = spec_.fields[f];
    if (field.approx_percentiles.empty())
      continue;
    sketch_slot_[f] = static_cast<int>(empty_sketches_.size());
    empty_sketches_.emplace_back(field.approx_relative_error);
    approx += field.approx_percentiles.size();
  }
  field_results_.resize(field_count_);
  percentile_values_.resize(percentiles);
  approx_values_.resize(approx);
  recompute_thresholds();
}

window_kernel::~window_kernel() = default;

// -- keys ---------------------------------------------------------------------

window_key_id window_kernel::intern(std::string_view key) {
  if (auto it = ids_.find(key); it != ids_.end())
    return it->second;
  window_key_id id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    id = static_cast<window_key_id>(keys_.size());
    keys_.emplace_back();
  }
  auto state = std::make_unique<key_state>();
  state->id = id;
  state->name.assign(key);
  state->fired_upto = unfired_from_;
  ids_.emplace(std::string_view{state->name}, id);
  keys_[id] = std::move(state);
  fresh_keys_.push_back(id);
  return id;
}

std::optional<window_key_id>
window_kernel::find_key(std::string_view key) const {
  if (auto it = ids_.find(key); it != ids_.end())
    return it->second;
  return std::nullopt;
}

void window_kernel::drop_key(key_state& key) {
  for (auto& p : key.slices)
    recycle(std::move(p), key);
  for (auto& s : key.sessions)
    for (auto& p : s.runs)
      recycle(std::move(p), key);
  open_windows_ -= key.windows.size() + key.sessions.size();
  window_key_id id = key.id;
  ++key_generation_;
  ids_.erase(std::string_view{key.name});
  free_ids_.push_back(id);
  keys_[id].reset();
}

// -- events -------------------------------------------------------------------

bool window_kernel::valid_event(std::int64_t t,
                                const double* values) const noexcept {
  if (t < -kMaxEventTime || t > kMaxEventTime)
    return false;
  for (std::size_t f = 0; f < field_count_; ++f)
    if (std::isinf(values[f]))
      return false;
  return true;
}

void window_kernel::note_accepted(std::int64_t t) noexcept {
  ++counters_.accepted;
  if (t > max_event_time_)
    max_event_time_ = t;
  have_events_ = true;
}

void window_kernel::add_values(partial& p, key_state& key,
                               const double* values) noexcept {
  ++p.events;
  for (std::size_t f = 0; f < field_count_; ++f) {
    double x = values[f];
    if (x != x) // NaN: the event has no such field
      continue;
    p.fields[f].add(x);
    int slot = raw_slot_[f];
    if (slot >= 0) {
      p.raws[static_cast<std::size_t>(slot)].values.push_back(x);
      ++key.values;
      ++values_;
    }
    int sketch = sketch_slot_[f];
    if (sketch >= 0) {
      log_sketch& sk = p.sketches[static_cast<std::size_t>(sketch)];
      std::size_t before = sk.buckets();
      sk.add(x);
      sketch_buckets_ += sk.buckets() - before;
    }
  }
}

window_kernel::partial window_kernel::take_partial(std::int64_t index) {
  partial p;
  if (!spare_.empty()) {
    p = std::move(spare_.back());
    spare_.pop_back();
  } else {
    p.fields.resize(field_count_);
    p.raws.resize(raw_count_);
    p.sketches = empty_sketches_;
  }
  p.index = index;
  ++partials_;
  return p;
}

void window_kernel::recycle(partial&& p, key_state& key) {
  for (auto& r : p.raws) {
    key.values -= r.values.size();
    values_ -= r.values.size();
  }
  for (auto& sk : p.sketches)
    sketch_buckets_ -= sk.buckets();
  --partials_;
  if (spare_.size() >= kMaxSpare)
    return;
  for (auto& sk : p.sketches)
    sk.clear();
  for (auto& m : p.fields)
    m = moments{};
  for (auto& r : p.raws) {
    r.values.clear();
    r.sorted = 0;
  }
  p.events = 0;
  spare_.push_back(std::move(p));
}

offer_result window_kernel::offer(window_key_id id, std::int64_t t,
                                  const double* values) {
  ++counters_.events_in;
  offered_since_flush_ = true; // the input is not idle, late or not
  if (!valid_event(t, values)) {
    ++counters_.invalid;
    return offer_result::invalid;
  }
  assert(id < keys_.size() && keys_[id] && "a key id from before a drop");
  key_state& key = *keys_[id];
  if (time_windows()) {
    // The common case: the event falls in the slice of the key's previous
    // event and joins no window that already fired.
    if (t >= key.hot_start && t < key.hot_end && t >= fast_from_)
      add_values(*key.hot, key, values);
    else if (!add_to_slices(key, t, values, false)) {
      ++counters_.late;
      return offer_result::late;
    }
  } else if (!add_to_sessions(key, t, values, false)) {
    ++counters_.late;
    return offer_result::late;
  }
  note_accepted(t);
  return offer_result::accepted;
}

bool window_kernel::replay(window_key_id id, std::int64_t t,
                           const double* values) {
  if (!valid_event(t, values))
    return false;
  assert(id < keys_.size() && keys_[id] && "a key id from before a drop");
  key_state& key = *keys_[id];
  bool added = time_windows() ? add_to_slices(key, t, values, true)
                              : add_to_sessions(key, t, values, true);
  if (added)
    ++counters_.replayed;
  return added;
}

bool window_kernel::add_to_slices(key_state& key, std::int64_t t,
                                  const double* values, bool replaying) {
  std::int64_t j = grid_.slice_of(t);
  std::int64_t k_first = std::max(grid_.first_window_of_slice(j), live_from_);
  std::int64_t k_last = grid_.last_window_of_slice(j);
  if (k_first > k_last)
    return false; // every window of the event is forgotten
  std::size_t before = key.slices.size();
  partial& slice = find_or_add_slice(key, j);
  add_values(slice, key, values);
  // A new slice brings windows that may not exist yet; an event before
  // fast_from_ may join windows that fired. Otherwise the windows exist and
  // wait for their first firing, and there is nothing to mark.
  if (key.slices.size() != before || t < fast_from_)
    for (std::int64_t k = k_first; k <= k_last; ++k)
      touch_window(key, k, replaying);
  return true;
}

window_kernel::partial& window_kernel::find_or_add_slice(key_state& key,
                                                         std::int64_t j) {
  auto& slices = key.slices;
  partial* found;
  if (slices.empty() || slices.back().index < j) {
    slices.push_back(take_partial(j));
    found = &slices.back();
  } else {
    auto it = std::lower_bound(
      slices.begin(), slices.end(), j,
      [](const partial& p, std::int64_t index) { return p.index < index; });
    if (it == slices.end() || it->index != j)
      it = slices.insert(it, take_partial(j));
    found = &*it;
  }
  key.hot = found;
  key.hot_start = grid_.slice_start(j);
  key.hot_end = grid_.slice_start(j + 1);
  return *found;
}

window_kernel::window_record* window_kernel::find_record(key_state& key,
                                                         std::int64_t k) {
  auto& windows = key.windows;
  auto it = std::lower_bound(
    windows.begin(), windows.end(), k,
    [](const window_record& w, std::int64_t index) { return w.index < index; });
  if (it == windows.end() || it->index != k)
    return nullptr;
  return &*it;
}

void window_kernel::touch_window(key_state& key, std::int64_t k,
                                 bool replaying) {
  auto& windows = key.windows;
  window_record* rec;
  bool created = false;
  if (windows.empty() || windows.back().index < k) {
    windows.push_back(window_record{k, -1, true});
    rec = &windows.back();
    created = true;
  } else {
    auto it = std::lower_bound(windows.begin(), windows.end(), k,
                               [](const window_record& w, std::int64_t index) {
                                 return w.index < index;
                               });
    if (it == windows.end() || it->index != k) {
      it = windows.insert(it, window_record{k, -1, true});
      created = true;
    }
    rec = &*it;
  }
  if (created) {
    ++open_windows_;
    if (k < key.fired_upto)
      key.dirty.push_back(k);
    schedule(key, grid_.window_end(k) - 1);
  } else if (!rec->pending && !replaying) {
    // A fired window within lateness: an update at the next flush.
    rec->pending = true;
    key.dirty.push_back(k);
    schedule(key, grid_.window_end(k) - 1);
  }
}

bool window_kernel::add_to_sessions(key_state& key, std::int64_t t,
                                    const double* values, bool replaying) {
  const std::int64_t gap = spec_.gap_ms;
  auto& sessions = key.sessions;
  std::size_t i;
  if (replaying) {
    // The session of the imported state that spans t, if any.
    auto it = std::upper_bound(
      sessions.begin(), sessions.end(), t,
      [](std::int64_t time, const session& s) { return time < s.start; });
    if (it == sessions.begin() || std::prev(it)->last < t)
      return false;
    i = static_cast<std::size_t>(std::prev(it) - sessions.begin());
  } else {
    // Sessions are sorted and more than gap apart, so an event touches at
    // most two: the first that does not end before it, and the next.
    // Late when the event's own window [t, t + gap) is past the allowed
    // lateness, even if it touches a live session: so no session grows back
    // over the time of one already forgotten (docs/windows.md).
    if (t + gap - 1 + spec_.allowed_lateness_ms <= watermark_)
      return false;
    auto it =
      std::partition_point(sessions.begin(), sessions.end(),
                           [&](const session& s) { return s.last + gap < t; });
    i = static_cast<std::size_t>(it - sessions.begin());
    bool touches = i < sessions.size() && sessions[i].start <= t + gap;
    if (!touches) {
      session fresh;
      fresh.start = t;
      fresh.last = t;
      fresh.runs.push_back(take_partial(t));
      sessions.insert(it, std::move(fresh));
      ++open_windows_;
    } else if (i + 1 < sessions.size() && sessions[i + 1].start <= t + gap) {
      // The event bridges two sessions: one session, whose next result
      // revises both.
      session& a = sessions[i];
      session& b = sessions[i + 1];
      for (auto& run : b.runs)
        a.runs.push_back(std::move(run));
      a.last = b.last;
      a.revision = std::max(a.revision, b.revision);
      sessions.erase(sessions.begin() + static_cast<std::ptrdiff_t>(i + 1));
      --open_windows_;
    }
  }
  session& s = sessions[i];
  auto& runs = s.runs;
  partial* run;
  if (t < runs.front().index) {
    runs.front().index = t;
    run = &runs.front();
  } else {
    auto it = std::upper_bound(
      runs.begin(), runs.end(), t,
      [](std::int64_t time, const partial& p) { return time < p.index; });
    run = &*std::prev(it);
  }
  add_values(*run, key, values);
  if (!replaying) {
    s.start = std::min(s.start, t);
    s.last = std::max(s.last, t);
    s.pending = true;
    schedule(key, s.last + gap - 1);
  }
  return true;
}

// -- timers and firing --------------------------------------------------------

void window_kernel::schedule(key_state& key, std::int64_t due) {
  if (due < key.scheduled) {
    key.scheduled = due;
    timers_.push(timer{due, key.id});
  }
}

void window_kernel::reschedule(key_state& key) {
  std::int64_t due = kNever;
  const std::int64_t lateness = spec_.allowed_lateness_ms;
  if (time_windows()) {
    auto& windows = key.windows;
    if (!windows.empty())
      due = grid_.window_end(windows.front().index) - 1 + lateness;
    if (!key.dirty.empty())
      due = std::min(due, grid_.window_end(*std::min_element(key.dirty.begin(),
                                                             key.dirty.end())) -
                            1);
    // Windows from fired_upto on have not fired yet: all pending.
    auto it = std::lower_bound(windows.begin(), windows.end(), key.fired_upto,
                               [](const window_record& w, std::int64_t index) {
                                 return w.index < index;
                               });
    if (it != windows.end())
      due = std::min(due, grid_.window_end(it->index) - 1);
  } else {
    for (const auto& s : key.sessions)
      due =
        std::min(due, s.last + spec_.gap_ms - 1 + (s.pending ? 0 : lateness));
  }
  key.scheduled = kNever;
  if (due != kNever)
    schedule(key, due);
}

void window_kernel::recompute_thresholds() noexcept {
  if (!time_windows()) {
    next_threshold_ = kNever;
    return;
  }
  const std::int64_t lateness = spec_.allowed_lateness_ms;
  unfired_from_ = grid_.first_window_ending_after(watermark_ + 1);
  live_from_ = grid_.first_window_ending_after(watermark_ + 1 - lateness);
  fast_from_ = grid_.window_end(unfired_from_ - 1);
  next_threshold_ = std::min(grid_.window_end(unfired_from_) - 1,
                             grid_.window_end(live_from_) - 1 + lateness);
}

void window_kernel::raise_watermark(std::int64_t w) {
  w = std::min(w, kMaxWatermark);
  if (w <= watermark_)
    return;
  watermark_ = w;
  if (watermark_ >= next_threshold_)
    recompute_thresholds();
}

void window_kernel::flush(std::int64_t now, window_emit_ref emit) {
  if (offered_since_flush_) {
    last_arrival_ = now;
    have_arrival_ = true;
    offered_since_flush_ = false;
  }
  if (have_events_)
    raise_watermark(max_event_time_ - spec_.max_out_of_orderness_ms - 1);
  fire_due(emit);
}

bool window_kernel::advance_idle(std::int64_t now, window_emit_ref emit) {
  if (offered_since_flush_) {
    flush(now, emit);
    return false;
  }
  if (spec_.idle_timeout_ms <= 0 || !have_arrival_ || !have_events_)
    return false;
  std::int64_t quiet = now - last_arrival_;
  if (quiet < spec_.idle_timeout_ms)
    return false;
  std::int64_t before = watermark_;
  raise_watermark(max_event_time_ - spec_.max_out_of_orderness_ms - 1 +
                  std::min(quiet, kMaxWatermark));
  fire_due(emit);
  return watermark_ != before;
}

void window_kernel::finish(window_emit_ref emit) {
  raise_watermark(kMaxWatermark);
  fire_due(emit);
}

void window_kernel::fire_due(window_emit_ref emit) {
  // Keys interned since the last call that got no event (late ones, say)
  // hold nothing: forget them.
  for (window_key_id id : fresh_keys_) {
    key_state* key = keys_[id].get();
    if (key != nullptr && key->slices.empty() && key->windows.empty() &&
        key->sessions.empty())
      drop_key(*key);
  }
  fresh_keys_.clear();
  while (!timers_.empty() && timers_.top().due <= watermark_) {
    timer t = timers_.top();
    timers_.pop();
    key_state* key = t.key < keys_.size() ? keys_[t.key].get() : nullptr;
    if (key == nullptr || key->scheduled != t.due)
      continue; // superseded by an earlier timer of the key
    key->scheduled = kNever;
    if (time_windows())
      process_slices(*key, emit);
    else
      process_sessions(*key, emit);
  }
}

void window_kernel::process_slices(key_state& key, window_emit_ref emit) {
  auto& windows = key.windows;
  auto& slices = key.slices;
  auto emit_window = [&](window_record& w) {
    std::int64_t first = grid_.first_slice_of_window(w.index);
    std::int64_t end = first + grid_.slices_per_window();
    auto it = std::lower_bound(
      slices.begin(), slices.end(), first,
      [](const partial& p, std::int64_t index) { return p.index < index; });
    parts_.clear();
    for (; it != slices.end() && it->index < end; ++it)
      parts_.push_back(&*it);
    w.pending = false;
    emit_result(key, parts_.data(), parts_.size(), grid_.window_start(w.index),
                grid_.window_end(w.index), w.revision, emit);
  };
  // Updates of fired windows, then the windows that fire now: window order.
  if (!key.dirty.empty()) {
    std::sort(key.dirty.begin(), key.dirty.end());
    for (std::int64_t k : key.dirty)
      if (window_record* w = find_record(key, k); w != nullptr && w->pending)
        emit_window(*w);
    key.dirty.clear();
  }
  auto it = std::lower_bound(
    windows.begin(), windows.end(), key.fired_upto,
    [](const window_record& w, std::int64_t index) { return w.index < index; });
  for (; it != windows.end() && it->index < unfired_from_; ++it)
    if (it->pending)
      emit_window(*it);
  key.fired_upto = std::max(key.fired_upto, unfired_from_);
  // Forget the windows past their lateness, and the slices no live window
  // needs.
  while (!windows.empty() && windows.front().index < live_from_) {
    windows.pop_front();
    --open_windows_;
  }
  bool dropped_slice = false;
  while (!slices.empty() &&
         grid_.last_window_of_slice(slices.front().index) < live_from_) {
    recycle(std::move(slices.front()), key);
    slices.pop_front();
    dropped_slice = true;
  }
  if (dropped_slice) {
    key.hot = nullptr;
    key.hot_start = 1;
    key.hot_end = 0;
  }
  if (windows.empty() && slices.empty()) {
    drop_key(key);
    return;
  }
  reschedule(key);
}

void window_kernel::process_sessions(key_state& key, window_emit_ref emit) {
  const std::int64_t gap = spec_.gap_ms;
  const std::int64_t lateness = spec_.allowed_lateness_ms;
  auto& sessions = key.sessions;
  for (auto& s : sessions)
    if (s.pending && s.last + gap - 1 <= watermark_) {
      parts_.clear();
      for (auto& run : s.runs)
        parts_.push_back(&run);
      s.pending = false;
      emit_result(key, parts_.data(), parts_.size(), s.start, s.last + gap,
                  s.revision, emit);
    }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    session& s = sessions[i];
    if (s.last + gap - 1 + lateness <= watermark_) {
      for (auto& run : s.runs)
        recycle(std::move(run), key);
      --open_windows_;
    } else {
      if (kept != i)
        sessions[kept] = std::move(s);
      ++kept;
    }
  }
  sessions.erase(sessions.begin() + static_cast<std::ptrdiff_t>(kept),
                 sessions.end());
  if (sessions.empty()) {
    drop_key(key);
    return;
  }
  reschedule(key);
}

void window_kernel::ensure_sorted(std::vector<double>& values,
                                  std::size_t& sorted) {
  if (sorted == values.size())
    return;
  if (sorted == 0) {
    sort_values(values.data(), values.size(), sort_scratch_);
  } else {
    // Values that came after the slice was first sorted (late events):
    // sort them alone and merge, through a buffer kept for that.
    auto middle = values.begin() + static_cast<std::ptrdiff_t>(sorted);
    sort_values(values.data() + sorted, values.size() - sorted, sort_scratch_);
    merge_scratch_.resize(values.size());
    std::merge(values.begin(), middle, middle, values.end(),
               merge_scratch_.begin());
    values.swap(merge_scratch_);
  }
  sorted = values.size();
}

void window_kernel::emit_result(key_state& key, partial* const* parts,
                                std::size_t count, std::int64_t start,
                                std::int64_t end, std::int32_t& revision,
                                window_emit_ref emit) {
  window_result r;
  for (std::size_t i = 0; i < count; ++i)
    r.event_count += parts[i]->events;
  if (r.event_count == 0)
    return; // only after an import whose events were not replayed
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::size_t next_percentile = 0;
  std::size_t next_approx = 0;
  for (std::size_t f = 0; f < field_count_; ++f) {
    moments m;
    for (std::size_t i = 0; i < count; ++i)
      m.merge(parts[i]->fields[f]);
    window_field_result& out = field_results_[f];
    out.count = m.count;
    out.sum = m.sum;
    bool any = m.count > 0;
    out.mean = any ? m.mean : nan;
    out.min = any ? m.min : nan;
    out.max = any ? m.max : nan;
    out.variance = m.variance();
    out.variance_sample = m.variance_sample();
    out.stddev = std::sqrt(out.variance);
    out.stddev_sample = std::sqrt(out.variance_sample);
    const auto& approx = spec_.fields[f].approx_percentiles;
    out.approx_percentiles = approx_values_.data() + next_approx;
    out.approx_percentile_count = approx.size();
    if (!approx.empty()) {
      auto slot = static_cast<std::size_t>(sketch_slot_[f]);
      merged_sketch_ = empty_sketches_[slot];
      for (std::size_t i = 0; i < count; ++i)
        merged_sketch_.merge(parts[i]->sketches[slot]);
      for (double p : approx)
        approx_values_[next_approx++] = approx_percentile(merged_sketch_, p);
    }
    const auto& ps = spec_.fields[f].percentiles;
    out.percentiles = percentile_values_.data() + next_percentile;
    out.percentile_count = ps.size();
    if (ps.empty())
      continue;
    auto slot = static_cast<std::size_t>(raw_slot_[f]);
    runs_.clear();
    for (std::size_t i = 0; i < count; ++i) {
      raw_values& raw = parts[i]->raws[slot];
      if (raw.values.empty())
        continue;
      ensure_sorted(raw.values, raw.sorted);
      runs_.push_back(sorted_run{raw.values.data(), raw.values.size()});
    }
    for (double p : ps)
      percentile_values_[next_percentile++] =
        percentile(runs_.data(), runs_.size(), m.count, p, select_scratch_);
  }
  ++revision;
  r.key = key.id;
  r.key_name = key.name;
  r.start = start;
  r.end = end;
  r.revision = static_cast<std::uint32_t>(revision);
  r.is_update = revision > 0;
  r.fields = field_results_.data();
  r.field_count = field_count_;
  if (r.is_update)
    ++counters_.updates;
  else
    ++counters_.windows_fired;
  emit(r);
}

// -- recovery -----------------------------------------------------------------

namespace json = boost::json;

json::value window_kernel::export_state() const {
  json::object out;
  out["format"] = kFormat;
  out["type"] = to_string(spec_.type);
  out["size_ms"] = spec_.size_ms;
  out["slide_ms"] = spec_.slide_ms;
  out["gap_ms"] = spec_.gap_ms;
  out["offset_ms"] = spec_.offset_ms;
  out["fields"] = field_count_;
  out["watermark"] = watermark_;
  if (have_events_)
    out["max_event_time"] = max_event_time_;
  else
    out["max_event_time"] = nullptr;
  if (have_arrival_)
    out["last_arrival"] = last_arrival_;
  else
    out["last_arrival"] = nullptr;
  out["unflushed"] = offered_since_flush_;
  // Sorted by name, so that equal states export equal values.
  std::vector<const key_state*> sorted;
  for (const auto& ptr : keys_)
    if (ptr)
      sorted.push_back(ptr.get());
  std::sort(
    sorted.begin(), sorted.end(),
    [](const key_state* a, const key_state* b) { return a->name < b->name; });
  json::array keys;
  for (const key_state* ptr : sorted) {
    const key_state& key = *ptr;
    json::object k;
    k["key"] = key.name;
    if (time_windows()) {
      k["fired_upto"] = key.fired_upto;
      json::array windows;
      // Windows that never fired and hold events come back with the events.
      for (const auto& w : key.windows)
        if (w.revision >= 0 || (w.pending && w.index < key.fired_upto))
          windows.push_back(json::array{w.index, w.revision, w.pending});
      k["windows"] = std::move(windows);
    } else {
      json::array sessions;
      for (const auto& s : key.sessions) {
        json::array runs;
        for (std::size_t i = 1; i < s.runs.size(); ++i)
          runs.push_back(s.runs[i].index);
        sessions.push_back(
          json::array{s.start, s.last, s.revision, s.pending, std::move(runs)});
      }
      k["sessions"] = std::move(sessions);
    }
    keys.push_back(std::move(k));
  }
  out["keys"] = std::move(keys);
  return out;
}

namespace {

/// Reads an integer (or a bool) at `path`, or says what is wrong there.
struct json_reader {
  std::string error;

  bool fail(const std::string& path, const char* expected) {
    if (error.empty())
      error = "window state: " + path + ": expected " + expected;
    return false;
  }
  bool integer(const json::value* v, const std::string& path,
               std::int64_t& out) {
    if (v != nullptr && v->is_int64()) {
      out = v->get_int64();
      return true;
    }
    if (v != nullptr && v->is_uint64() &&
        v->get_uint64() <= static_cast<std::uint64_t>(
                             std::numeric_limits<std::int64_t>::max())) {
      out = static_cast<std::int64_t>(v->get_uint64());
      return true;
    }
    return fail(path, "an integer");
  }
  bool boolean(const json::value* v, const std::string& path, bool& out) {
    if (v != nullptr && v->is_bool()) {
      out = v->get_bool();
      return true;
    }
    return fail(path, "true or false");
  }
  bool optional_integer(const json::value* v, const std::string& path,
                        std::int64_t& out, bool& present) {
    present = v != nullptr && !v->is_null();
    return !present || integer(v, path, out);
  }
};

} // namespace

std::optional<std::string>
window_kernel::import_state(const json::value& state) {
  if (!keys_.empty() || have_events_)
    return std::string{"window state: import into a kernel that has already "
                       "seen events"};
  const json::object* root = state.if_object();
  if (root == nullptr)
    return std::string{"window state: expected an object"};
  const json::value* format = root->if_contains("format");
  if (format == nullptr || !format->is_string() ||
      format->get_string() != kFormat)
    return std::string{"window state: format: expected \""} + kFormat + "\"";
  json_reader read;
  const json::value* type = root->if_contains("type");
  if (type == nullptr || !type->is_string() ||
      type->get_string() != to_string(spec_.type))
    return std::string{"window state: type: saved by a window of another type, "
                       "this one is "} +
           to_string(spec_.type);
  struct {
    const char* name;
    std::int64_t now;
  } const shape[] = {{"size_ms", spec_.size_ms},
                     {"slide_ms", spec_.slide_ms},
                     {"gap_ms", spec_.gap_ms},
                     {"offset_ms", spec_.offset_ms},
                     {"fields", static_cast<std::int64_t>(field_count_)}};
  for (const auto& item : shape) {
    std::int64_t then = 0;
    if (!read.integer(root->if_contains(item.name), item.name, then))
      return read.error;
    if (then != item.now)
      return std::string{"window state: "} + item.name + ": saved with " +
             std::to_string(then) + ", the window now has " +
             std::to_string(item.now);
  }
  std::int64_t watermark = 0, max_event = 0, arrival = 0;
  bool have_max = false, have_arrival = false, unflushed = false;
  if (!read.integer(root->if_contains("watermark"), "watermark", watermark) ||
      !read.optional_integer(root->if_contains("max_event_time"),
                             "max_event_time", max_event, have_max) ||
      !read.optional_integer(root->if_contains("last_arrival"), "last_arrival",
                             arrival, have_arrival) ||
      !read.boolean(root->if_contains("unflushed"), "unflushed", unflushed))
    return read.error;
  if (watermark < kNoWatermark || watermark > kMaxWatermark ||
      (have_max && (max_event < -kMaxEventTime || max_event > kMaxEventTime)))
    return std::string{
      "window state: watermark or max_event_time out of range"};
  const json::value* keys = root->if_contains("keys");
  if (keys == nullptr || !keys->is_array())
    return std::string{"window state: keys: expected an array"};

  watermark_ = watermark;
  have_events_ = have_max;
  max_event_time_ = have_max ? max_event : kNoWatermark;
  have_arrival_ = have_arrival;
  last_arrival_ = arrival;
  offered_since_flush_ = unflushed;
  recompute_thresholds();

  auto undo = [&](std::string error) {
    // Leave the kernel as fresh as it was.
    keys_.clear();
    free_ids_.clear();
    fresh_keys_.clear();
    ids_.clear();
    timers_ = {};
    partials_ = open_windows_ = 0;
    values_ = 0;
    watermark_ = max_event_time_ = kNoWatermark;
    have_events_ = have_arrival_ = offered_since_flush_ = false;
    recompute_thresholds();
    return std::optional<std::string>{std::move(error)};
  };
  const json::array& list = keys->get_array();
  for (std::size_t n = 0; n < list.size(); ++n) {
    std::string path = "keys[" + std::to_string(n) + "]";
    const json::object* k = list[n].if_object();
    const json::value* name = k ? k->if_contains("key") : nullptr;
    if (name == nullptr || !name->is_string())
      return undo("window state: " + path + ".key: expected a string");
    std::string_view key_name{name->get_string().data(),
                              name->get_string().size()};
    if (ids_.count(key_name) != 0)
      return undo("window state: " + path + ".key: a key given twice");
    key_state& key = *keys_[intern(key_name)];
    if (time_windows()) {
      const json::value* windows = k->if_contains("windows");
      if (!read.integer(k->if_contains("fired_upto"), path + ".fired_upto",
                        key.fired_upto))
        return undo(read.error);
      if (windows == nullptr || !windows->is_array())
        return undo("window state: " + path + ".windows: expected an array");
      for (std::size_t i = 0; i < windows->get_array().size(); ++i) {
        std::string at = path + ".windows[" + std::to_string(i) + "]";
        const json::array* w = windows->get_array()[i].if_array();
        if (w == nullptr || w->size() != 3)
          return undo("window state: " + at +
                      ": expected [index, revision, pending]");
        window_record rec;
        std::int64_t revision = 0;
        if (!read.integer(&(*w)[0], at + "[0]", rec.index) ||
            !read.integer(&(*w)[1], at + "[1]", revision) ||
            !read.boolean(&(*w)[2], at + "[2]", rec.pending))
          return undo(read.error);
        if (revision < -1 ||
            revision > std::numeric_limits<std::int32_t>::max() ||
            (!key.windows.empty() && key.windows.back().index >= rec.index))
          return undo("window state: " + at +
                      ": revision out of range or windows not in order");
        rec.revision = static_cast<std::int32_t>(revision);
        if (rec.index < live_from_)
          continue; // forgotten under the imported watermark anyway
        key.windows.push_back(rec);
        ++open_windows_;
        if (rec.pending && rec.index < key.fired_upto)
          key.dirty.push_back(rec.index);
      }
      if (key.windows.empty()) {
        drop_key(key);
        continue;
      }
    } else {
      const json::value* sessions = k->if_contains("sessions");
      if (sessions == nullptr || !sessions->is_array())
        return undo("window state: " + path + ".sessions: expected an array");
      for (std::size_t i = 0; i < sessions->get_array().size(); ++i) {
        std::string at = path + ".sessions[" + std::to_string(i) + "]";
        const json::array* s = sessions->get_array()[i].if_array();
        if (s == nullptr || s->size() != 5 || !(*s)[4].is_array())
          return undo("window state: " + at +
                      ": expected [start, last, revision, pending, [runs]]");
        session fresh;
        std::int64_t revision = 0;
        if (!read.integer(&(*s)[0], at + "[0]", fresh.start) ||
            !read.integer(&(*s)[1], at + "[1]", fresh.last) ||
            !read.integer(&(*s)[2], at + "[2]", revision) ||
            !read.boolean(&(*s)[3], at + "[3]", fresh.pending))
          return undo(read.error);
        if (revision < -1 ||
            revision > std::numeric_limits<std::int32_t>::max() ||
            fresh.start > fresh.last ||
            (!key.sessions.empty() &&
             key.sessions.back().last + spec_.gap_ms >= fresh.start))
          return undo("window state: " + at +
                      ": revision out of range or sessions not in order");
        fresh.revision = static_cast<std::int32_t>(revision);
        fresh.runs.push_back(take_partial(fresh.start));
        for (const auto& run : (*s)[4].get_array()) {
          std::int64_t index = 0;
          if (!read.integer(&run, at + "[4]", index))
            return undo(read.error);
          if (index <= fresh.runs.back().index || index > fresh.last)
            return undo("window state: " + at + "[4]: runs not in order");
          fresh.runs.push_back(take_partial(index));
        }
        key.sessions.push_back(std::move(fresh));
        ++open_windows_;
      }
      if (key.sessions.empty()) {
        drop_key(key);
        continue;
      }
    }
    reschedule(key);
  }
  return std::nullopt;
}

std::int64_t window_kernel::retained_until(std::int64_t t) const noexcept {
  if (!time_windows())
    return kNever;
  std::int64_t last = grid_.last_window_of_slice(grid_.slice_of(t));
  return grid_.window_end(last) - 1 + spec_.allowed_lateness_ms;
}

std::int64_t window_kernel::retention_horizon() const {
  if (time_windows())
    return grid_.window_start(live_from_);
  std::int64_t horizon = kNever;
  for (const auto& key : keys_)
    if (key && !key->sessions.empty())
      horizon = std::min(horizon, key->sessions.front().start);
  if (horizon == kNever)
    horizon = have_events_ ? max_event_time_ + 1 : kNoWatermark;
  return horizon;
}

// -- observation --------------------------------------------------------------

std::optional<std::int64_t> window_kernel::max_event_time() const noexcept {
  if (!have_events_)
    return std::nullopt;
  return max_event_time_;
}

window_memory window_kernel::memory() const noexcept {
  window_memory m;
  m.keys = ids_.size();
  m.partials = partials_;
  m.open_windows = open_windows_;
  m.values = values_;
  m.sketch_buckets = sketch_buckets_;
  std::size_t per_partial = sizeof(partial) + field_count_ * sizeof(moments) +
                            raw_count_ * sizeof(raw_values);
  std::size_t per_window =
    time_windows() ? sizeof(window_record) : sizeof(session);
  m.approx_bytes = static_cast<std::size_t>(values_) * sizeof(double) +
                   sketch_buckets_ * sizeof(std::uint32_t) +
                   partials_ * per_partial + open_windows_ * per_window +
                   m.keys * (sizeof(key_state) + 64) +
                   timers_.size() * sizeof(timer);
  return m;
}

std::uint64_t window_kernel::key_values(window_key_id key) const noexcept {
  if (key >= keys_.size() || !keys_[key])
    return 0;
  return keys_[key]->values;
}

} // namespace warren::actors
