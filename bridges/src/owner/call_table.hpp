#pragma once

// Private to warren::bridges: request-response calls waiting for their
// replies (pure bookkeeping, no I/O), for every connection owner that makes
// calls: the requester (calls from outside actors) and each consumer (calls
// from its handlers, on its own connection).
//
// A call is registered under a fresh correlation id with a deadline. It ends
// exactly once: with its reply; `errc::timeout` at its deadline; or whatever
// error its owner fails it with (the request could not be published, the
// connection was lost). Late and foreign replies are dropped.

#include "warren/core/envelope.hpp"

#include <boost/json/value.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>

namespace warren::bridges::detail {

class call_table {
 public:
  using clock_type = std::chrono::steady_clock;
  using reply_handler = std::function<void(caf::expected<envelope>)>;

  /// Registers a call ending by `deadline`; returns its correlation id:
  /// `preferred` when given and not in use, else a fresh one.
  std::string add(reply_handler done, clock_type::time_point deadline,
                  const std::string& preferred = {});

  /// The request of call `id` was confirmed by the broker: from now on a
  /// lost connection fails it (its reply queue goes with the connection).
  void mark_sent(const std::string& id);

  /// Whether call `id` still waits.
  bool contains(const std::string& id) const;

  /// Ends the call the reply is for. Returns false for a late or foreign
  /// reply.
  bool on_reply(const envelope& reply);

  /// Ends call `id` with `err` (no-op when it already ended).
  void fail(const std::string& id, const caf::error& err);

  /// Ends every sent call with `err`; unsent ones keep waiting.
  void fail_sent(const caf::error& err);

  /// Ends every call with `err`.
  void fail_all(const caf::error& err);

  /// Ends the calls whose deadline is not after `now` with `errc::timeout`,
  /// and returns how long until the next deadline, at most `cap`.
  std::chrono::milliseconds expire(clock_type::time_point now,
                                   std::chrono::milliseconds cap);

  std::size_t size() const noexcept { return calls_.size(); }
  bool empty() const noexcept { return calls_.empty(); }

 private:
  struct call {
    reply_handler done;
    clock_type::time_point deadline;
    bool sent = false;
  };

  void finish(const std::string& id, caf::expected<envelope> result);

  std::unordered_map<std::string, call> calls_;
  // Deadline entries of ended calls stay until due; they then find no call.
  std::multimap<clock_type::time_point, std::string> deadlines_;
};

/// What a call gets from its reply: the JSON body; `errc::remote_error` when
/// the service answered `warren.error` (the sentence is its
/// `x-warren-error`); `errc::malformed_body` when the body is not JSON.
caf::expected<boost::json::value> reply_body(const envelope& reply);

} // namespace warren::bridges::detail
