#pragma once

// A list of broker URIs as one string ($WARREN_BROKER_URI, the CLI's
// --uri): a node's config and the CLI read it the same way.

#include <string>
#include <string_view>
#include <vector>

namespace warren::config {

/// The URIs of a comma-separated list, each trimmed of spaces and tabs, in
/// order (an empty one stays, so that its parse error names it).
std::vector<std::string> split_broker_uris(std::string_view list);

} // namespace warren::config
