#pragma once

// Private to warren::runtime: the first stage of dispatch. A delivery is
// admitted to an actor only when its body fits (`limits.max_body_bytes`),
// its content type is JSON (or missing: treated as JSON) and its body
// parses; the body is parsed here, once. What a foreign client left out is
// filled in (the message id). Bad input never reaches an actor: it is
// rejected permanently (dead-lettered with the reason).

#include "warren/core/envelope.hpp"
#include "warren/core/outcome.hpp"

#include <cstddef>
#include <optional>

namespace warren::detail {

/// Completes `env` in place; returns the outcome to use when it must not
/// reach the actor (pure; unit-tested).
std::optional<outcome> admit(envelope& env, std::size_t max_body_bytes);

/// Whether a content type is JSON: empty, `application/json`, `text/json`,
/// `*+json`, with or without parameters.
bool is_json_content_type(const std::string& type);

} // namespace warren::detail
