#pragma once

// Private to warren::actors: the window kind's log of accepted events. Each
// unit of work writes one row holding the events it accepted (key, event
// time, one double per value field); after a restart the kernel's exported
// state plus these events, replayed in order, rebuild it exactly
// (window_kernel.hpp, "recovery"). Pure logic.
//
// A row's bytes: "WEV1", the field count (uint16), then per event the key's
// length (uint32), the key, the event time (int64) and the values (double),
// all little-endian, which is what every machine warren runs on uses (a
// static_assert makes sure).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace warren::actors {

class event_log_writer {
 public:
  explicit event_log_writer(std::size_t fields);

  void add(std::string_view key, std::int64_t event_time, const double* values);

  bool empty() const noexcept { return events_ == 0; }
  std::size_t events() const noexcept { return events_; }
  /// The largest event time added since the last take.
  std::int64_t max_time() const noexcept { return max_time_; }

  /// The row's bytes; starts a new row.
  std::string take();

 private:
  void start();

  std::size_t fields_;
  std::string bytes_;
  std::size_t events_ = 0;
  std::int64_t max_time_ = 0;
};

/// Calls `each(key, time, values)` for every event of a row, in order.
/// Nullopt when the row is whole, else what is wrong with it (a row written
/// with another number of fields, truncated bytes).
std::optional<std::string> read_event_log(
  std::string_view row, std::size_t fields,
  const std::function<void(std::string_view, std::int64_t, const double*)>&
    each);

} // namespace warren::actors
