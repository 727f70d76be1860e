#pragma once

/// What JSON can and cannot carry of what AMQP brings. AMQP strings are
/// bytes (any, not only UTF-8) and its header doubles may be NaN or
/// infinite; JSON text is UTF-8 and has no NaN or infinity (Boost.JSON 1.81
/// writes them as `NaN`/`Infinity`, which no JSON parser reads back). These
/// helpers tell such values apart, so that warren refuses them where they
/// would make JSON it cannot read, or encodes them losslessly where it
/// stores them (pure; unit-tested and fuzzed).

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace warren {

/// Whether `text` is well-formed UTF-8 (no overlong forms, no surrogates,
/// nothing above U+10FFFF).
bool is_utf8(std::string_view text) noexcept;

/// `text` with every byte that is not part of well-formed UTF-8 written as
/// the four characters `\xNN`, for log lines (lossy: only for reading).
std::string escape_non_utf8(std::string_view text);

/// The value of hex digit `c` (either case), or -1.
int hex_digit(char c) noexcept;

/// `in` with every byte but RFC 3986's unreserved characters (letters,
/// digits, `-._~`) written as `%XX`, for a URI's user, host or path
/// segment.
std::string percent_encode(std::string_view in);

/// Two lowercase hex digits per byte, and back (nullopt when `hex` is not
/// an even number of hex digits).
std::string to_hex(std::string_view bytes);
std::optional<std::string> from_hex(std::string_view hex);

/// What of `v` JSON text cannot carry, as "<what> at <JSON path>" (e.g.
/// "a number out of the range of a double at $.a[2].b"), or nullopt: a NaN
/// or infinite number (a literal like `1e400` parses as infinity) and, with
/// `check_utf8`, a string or key that is not UTF-8. The first one found.
std::optional<std::string> unwritable_json(const boost::json::value& v,
                                           bool check_utf8 = true);

} // namespace warren
