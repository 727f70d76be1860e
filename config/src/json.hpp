#pragma once

/// Private to warren::runtime: JSON plumbing for the config parser. Strict
/// parsing with positions in errors, JSON paths, and rendering of a found
/// value for "expected ..., found ..." sentences.

#include <boost/json/value.hpp>
#include <caf/expected.hpp>
#include <cstddef>
#include <string>
#include <string_view>

namespace warren::config::detail {

/// The path of member `key` under `parent`: `$.broker.uri`, or
/// `$.arguments["x-match"]` when the key is not a plain identifier.
std::string member_path(std::string_view parent, std::string_view key);

/// The path of element `index` under `parent`: `$.actors[2]`.
std::string element_path(std::string_view parent, std::size_t index);

/// Renders `v` for an error sentence: scalars as JSON text (strings quoted and
/// cut to about 40 characters), arrays and objects by their type.
std::string render_value(const boost::json::value& v);

/// A 1-based line and column (in characters, not bytes) in a text.
struct text_position {
  std::size_t line = 1;
  std::size_t column = 1;
};

/// The position of byte `offset` in `text`.
text_position position_of(std::string_view text, std::size_t offset);

/// Parses one JSON document. Unlike `boost::json::parse` it rejects
/// duplicate keys (which would silently keep the last value) and says where a
/// syntax error is: `<source>:<line>:<column>: invalid JSON: ...`. Errors
/// carry `errc::invalid_config`.
caf::expected<boost::json::value> parse_json(std::string_view text,
                                             const std::string& source);

} // namespace warren::config::detail
