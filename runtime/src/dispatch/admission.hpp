#pragma once

// Private to warren::runtime: the first stage of dispatch. A delivery is
// admitted to an actor only when its body fits (`limits.max_body_bytes`),
// its content type is JSON (or missing: treated as JSON) and its body
// parses; the body is parsed here, once. A message that came without an id
// gets a fresh one of its own (`anon-<random>`, `envelope::anonymous`): two
// such messages are never merged, even with the same content (README.md,
// "Message identity"). Bad input never reaches an actor: it is rejected
// permanently (dead-lettered with the reason).

#include "warren/core/envelope.hpp"
#include "warren/core/outcome.hpp"

#include <cstddef>
#include <optional>

namespace warren::detail {

/// What one actor admits.
struct admission_rules {
  /// Larger bodies are rejected.
  std::size_t max_body_bytes = 1024 * 1024;
  /// Messages without `message_id` are rejected instead of given one.
  bool require_message_id = false;
};

/// Completes `env` in place; returns the outcome to use when it must not
/// reach the actor (pure; unit-tested).
std::optional<outcome> admit(envelope& env, const admission_rules& rules);

/// Whether a content type is JSON: empty, `application/json`, `text/json`,
/// `*+json`, with or without parameters.
bool is_json_content_type(const std::string& type);

} // namespace warren::detail
