#include "pipeline/timestamp.hpp"

#include <boost/json/serialize.hpp>
#include <cmath>

namespace warren::actors {

namespace {

// |epoch seconds| beyond this is no time a message is about (and times
// 1000 still fits int64).
constexpr double max_epoch_seconds = 1e13;
constexpr double seconds_or_millis = 1e11;

bool leap(int64_t year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

unsigned days_in_month(int64_t year, unsigned month) {
  static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30,
                                      31, 31, 30, 31, 30, 31};
  return month == 2 && leap(year) ? 29 : days[month - 1];
}

// Reads exactly `n` digits at `pos`.
bool digits(std::string_view text, std::size_t& pos, std::size_t n,
            unsigned& out) {
  if (pos + n > text.size())
    return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9')
      return false;
    out = out * 10 + static_cast<unsigned>(c - '0');
  }
  pos += n;
  return true;
}

bool expect(std::string_view text, std::size_t& pos, char c) {
  if (pos < text.size() && text[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

std::optional<int64_t> from_seconds(double seconds, std::string& why) {
  if (!(std::fabs(seconds) < max_epoch_seconds)) {
    why = "epoch time out of range";
    return std::nullopt;
  }
  return static_cast<int64_t>(std::llround(seconds * 1000.0));
}

} // namespace

int64_t days_from_civil(int64_t year, unsigned month, unsigned day) {
  // Howard Hinnant's algorithm (public domain).
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy =
    (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::optional<int64_t> parse_iso8601(std::string_view text, std::string& why) {
  auto fail = [&](const char* what) -> std::optional<int64_t> {
    why = std::string{"not an ISO 8601 timestamp ("} + what +
          "; expected e.g. 2026-12-01T10:42:20Z or "
          "2026-12-01T10:42:20.123+01:00)";
    return std::nullopt;
  };
  std::size_t pos = 0;
  unsigned year = 0;
  unsigned month = 0;
  unsigned day = 0;
  if (!digits(text, pos, 4, year) || !expect(text, pos, '-') ||
      !digits(text, pos, 2, month) || !expect(text, pos, '-') ||
      !digits(text, pos, 2, day))
    return fail("no date YYYY-MM-DD");
  if (month < 1 || month > 12)
    return fail("month out of range");
  if (day < 1 || day > days_in_month(year, month))
    return fail("no such day in that month");
  if (!expect(text, pos, 'T') && !expect(text, pos, 't') &&
      !expect(text, pos, ' '))
    return fail("no time after the date");
  unsigned hour = 0;
  unsigned minute = 0;
  unsigned second = 0;
  if (!digits(text, pos, 2, hour) || !expect(text, pos, ':') ||
      !digits(text, pos, 2, minute))
    return fail("no time HH:MM");
  if (expect(text, pos, ':') && !digits(text, pos, 2, second))
    return fail("no seconds after ':'");
  if (hour > 23 || minute > 59 || second > 60)
    return fail("time out of range");
  int64_t millis = 0;
  if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
    ++pos;
    std::size_t start = pos;
    int64_t scale = 100;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      millis += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start)
      return fail("no digits after the decimal point");
  }
  int64_t offset_minutes = 0;
  if (expect(text, pos, 'Z') || expect(text, pos, 'z')) {
    // UTC
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    unsigned oh = 0;
    unsigned om = 0;
    if (!digits(text, pos, 2, oh))
      return fail("no offset hours");
    if (expect(text, pos, ':')) {
      if (!digits(text, pos, 2, om))
        return fail("no offset minutes");
    } else if (pos < text.size()) {
      if (!digits(text, pos, 2, om))
        return fail("bad offset");
    }
    if (oh > 23 || om > 59)
      return fail("offset out of range");
    offset_minutes = sign * static_cast<int64_t>(oh * 60 + om);
  } else {
    return fail(pos == text.size() ? "no offset: add Z or +HH:MM"
                                   : "unexpected text after the time");
  }
  if (pos != text.size())
    return fail("unexpected text after the offset");
  int64_t seconds = days_from_civil(year, month, day) * 86400 +
                    static_cast<int64_t>(hour) * 3600 + minute * 60 + second -
                    offset_minutes * 60;
  return seconds * 1000 + millis;
}

std::optional<int64_t> parse_timestamp(const boost::json::value& v,
                                       timestamp_format format,
                                       std::string& why) {
  bool number = v.is_int64() || v.is_uint64() || v.is_double();
  switch (format) {
    case timestamp_format::automatic:
      if (v.is_string())
        return parse_iso8601(v.get_string(), why);
      if (number) {
        auto d = v.to_number<double>();
        if (std::fabs(d) < seconds_or_millis)
          return from_seconds(d, why);
        return parse_timestamp(v, timestamp_format::epoch_millis, why);
      }
      why = "expected an ISO 8601 string or epoch seconds or milliseconds, "
            "found " +
            boost::json::serialize(v);
      return std::nullopt;
    case timestamp_format::iso8601:
      if (v.is_string())
        return parse_iso8601(v.get_string(), why);
      why = "expected an ISO 8601 string, found " + boost::json::serialize(v);
      return std::nullopt;
    case timestamp_format::epoch_seconds:
      if (number)
        return from_seconds(v.to_number<double>(), why);
      why =
        "expected epoch seconds (a number), found " + boost::json::serialize(v);
      return std::nullopt;
    case timestamp_format::epoch_millis:
      if (v.is_int64())
        return v.get_int64();
      if (number) {
        auto d = v.to_number<double>();
        if (!(std::fabs(d) < max_epoch_seconds * 1000.0)) {
          why = "epoch time out of range";
          return std::nullopt;
        }
        return static_cast<int64_t>(std::llround(d));
      }
      why = "expected epoch milliseconds (a number), found " +
            boost::json::serialize(v);
      return std::nullopt;
  }
  return std::nullopt;
}

} // namespace warren::actors
