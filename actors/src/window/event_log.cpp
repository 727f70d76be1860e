#include "window/event_log.hpp"

#include <cstring>
#include <limits>
#include <vector>

namespace warren::actors {

namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the event log is written in the machine's byte order");

constexpr std::string_view magic = "WEV1";

template<class T>
void put(std::string& out, T value) {
  char raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));
  out.append(raw, sizeof(T));
}

template<class T>
bool get(std::string_view& in, T& value) {
  if (in.size() < sizeof(T))
    return false;
  std::memcpy(&value, in.data(), sizeof(T));
  in.remove_prefix(sizeof(T));
  return true;
}

} // namespace

event_log_writer::event_log_writer(std::size_t fields) : fields_(fields) {
  start();
}

void event_log_writer::start() {
  bytes_.clear();
  bytes_.append(magic);
  put(bytes_, static_cast<std::uint16_t>(fields_));
  events_ = 0;
  max_time_ = std::numeric_limits<std::int64_t>::min();
}

void event_log_writer::add(std::string_view key, std::int64_t event_time,
                           const double* values) {
  put(bytes_, static_cast<std::uint32_t>(key.size()));
  bytes_.append(key);
  put(bytes_, event_time);
  bytes_.append(reinterpret_cast<const char*>(values),
                fields_ * sizeof(double));
  ++events_;
  if (event_time > max_time_)
    max_time_ = event_time;
}

std::string event_log_writer::take() {
  auto row = std::move(bytes_);
  start();
  return row;
}

std::optional<std::string> read_event_log(
  std::string_view row, std::size_t fields,
  const std::function<void(std::string_view, std::int64_t, const double*)>&
    each) {
  if (row.substr(0, magic.size()) != magic)
    return "not an event log row";
  row.remove_prefix(magic.size());
  std::uint16_t count = 0;
  if (!get(row, count))
    return "truncated";
  if (count != fields)
    return "written with " + std::to_string(count) +
           " value fields, the window has " + std::to_string(fields);
  std::vector<double> values(fields);
  while (!row.empty()) {
    std::uint32_t length = 0;
    std::int64_t time = 0;
    if (!get(row, length) || row.size() < length)
      return "truncated";
    auto key = row.substr(0, length);
    row.remove_prefix(length);
    if (!get(row, time) || row.size() < fields * sizeof(double))
      return "truncated";
    // memcpy to a null pointer is undefined even for no bytes (a window
    // without value fields).
    if (fields > 0)
      std::memcpy(values.data(), row.data(), fields * sizeof(double));
    row.remove_prefix(fields * sizeof(double));
    each(key, time, values.data());
  }
  return std::nullopt;
}

} // namespace warren::actors
