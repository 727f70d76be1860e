#pragma once

/// Reading JSON text into a `boost::json::value` with every number read
/// exactly. Boost.JSON 1.81's own parser rounds some decimal numbers to a
/// neighbouring double (measured: about one in ten uniformly drawn values
/// in [0, 1e6) comes back one unit in the last place off after
/// serialize + parse), so a state, an outbox row or a body read with
/// `boost::json::parse` is not always what was written or sent. This reader
/// is Boost.JSON's parser with doubles converted by `std::from_chars`
/// (correctly rounded); everything else, errors included, is as
/// `boost::json::parse`.

#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <string_view>

namespace warren {

/// Parses one JSON document (like `boost::json::parse(text, ec, {}, opt)`).
/// A number beyond a double's range is infinity (or 0 for an underflow) as
/// in Boost.JSON; `unwritable_json` finds such values.
boost::json::value read_json(std::string_view text, boost::json::error_code& ec,
                             const boost::json::parse_options& opt = {});

} // namespace warren
