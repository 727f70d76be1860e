#pragma once

// Private to warren::runtime: the `warren::context` handlers get. It only
// collects: what a handler sends or calls is kept in its message scope and
// goes out after the handler returned (and only if it succeeded).

#include "dispatch/message_scope.hpp"

namespace warren::detail {

class context_impl : public context {
 public:
  explicit context_impl(scope_ptr scope) : scope_(std::move(scope)) {}

  const envelope& message() const override;
  const std::string& actor_name() const override;
  const boost::json::object& options() const override;
  void reply_json(boost::json::value body, std::string type) override;
  void reply_error(const std::string& code, const std::string& message,
                   boost::json::object details) override;
  void send_json(const std::string& actor, std::string type,
                 boost::json::value body) override;
  void publish_json(const std::string& exchange, const std::string& routing_key,
                    std::string type, boost::json::value body,
                    publish_options opts) override;
  void send_batch_json(const std::string& actor, std::string type,
                       std::vector<boost::json::value> bodies) override;
  void publish_batch_json(const std::string& exchange,
                          const std::string& routing_key, std::string type,
                          std::vector<boost::json::value> bodies,
                          publish_options opts) override;
  void call_json(const std::string& service, std::string type,
                 boost::json::value body, call_continuation then,
                 std::chrono::milliseconds timeout) override;
  void fail(status why) override;
  void stop() override;

 private:
  // Whether the request has a reply_to (a warning when not).
  bool can_reply() const;
  // A reply joins the transient replies or the effects.
  void queue_reply(outgoing_message msg);
  outgoing_message make_batch(std::string exchange, std::string routing_key,
                              std::string type,
                              std::vector<boost::json::value> bodies);
  void apply(outgoing_message& msg, publish_options& opts);
  // A message for a sharded actor the node knows goes to its key's shard
  // queue (cluster/shard_directory.hpp); `body` is `msg`'s, lent.
  void to_shard(const std::string& actor, outgoing_message& msg,
                boost::json::value& body) const;

  scope_ptr scope_;
};

} // namespace warren::detail
