#include "owner/call_table.hpp"

#include "warren/core/errc.hpp"
#include "warren/core/json_read.hpp"

#include <vector>

namespace warren::bridges::detail {

std::string call_table::add(reply_handler done, clock_type::time_point deadline,
                            const std::string& preferred) {
  auto id =
    preferred.empty() || contains(preferred) ? make_message_id() : preferred;
  calls_.emplace(id, call{std::move(done), deadline, false});
  deadlines_.emplace(deadline, id);
  return id;
}

void call_table::mark_sent(const std::string& id) {
  if (auto i = calls_.find(id); i != calls_.end())
    i->second.sent = true;
}

bool call_table::contains(const std::string& id) const {
  return calls_.count(id) != 0;
}

bool call_table::on_reply(const envelope& reply) {
  const auto& id = reply.properties.correlation_id;
  if (!contains(id))
    return false;
  finish(id, reply);
  return true;
}

caf::expected<boost::json::value> reply_body(const envelope& reply) {
  if (reply.body_dropped)
    return make_error(errc::oversized_body,
                      "the reply's body of " + std::to_string(reply.body_size) +
                        " bytes exceeds the limit (limits.max_body_bytes)");
  if (reply.properties.type == "warren.error") {
    std::string text = "the service failed";
    if (auto* msg = find_field(reply.properties.headers, header::error))
      if (auto* s = std::get_if<std::string>(msg))
        text = *s;
    return make_error(errc::remote_error, text);
  }
  if (reply.raw_body.empty())
    return boost::json::value{};
  boost::json::error_code ec;
  auto body = read_json(reply.raw_body, ec);
  if (ec)
    return make_error(errc::malformed_body,
                      "the reply is not JSON: " + ec.message());
  return body;
}

void call_table::fail(const std::string& id, const caf::error& err) {
  finish(id, err);
}

void call_table::fail_sent(const caf::error& err) {
  std::vector<std::string> sent;
  for (const auto& [id, c] : calls_)
    if (c.sent)
      sent.push_back(id);
  for (const auto& id : sent)
    finish(id, err);
}

void call_table::fail_all(const caf::error& err) {
  std::vector<std::string> all;
  for (const auto& entry : calls_)
    all.push_back(entry.first);
  for (const auto& id : all)
    finish(id, err);
}

std::chrono::milliseconds call_table::expire(clock_type::time_point now,
                                             std::chrono::milliseconds cap) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    auto id = std::move(deadlines_.begin()->second);
    deadlines_.erase(deadlines_.begin());
    finish(id, make_error(errc::timeout, "no reply within the call timeout"));
  }
  if (deadlines_.empty())
    return cap;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadlines_.begin()->first - now) +
              std::chrono::milliseconds{1};
  return std::min(left, cap);
}

void call_table::finish(const std::string& id, caf::expected<envelope> result) {
  auto i = calls_.find(id);
  if (i == calls_.end())
    return;
  auto done = std::move(i->second.done);
  calls_.erase(i);
  done(std::move(result));
}

} // namespace warren::bridges::detail
