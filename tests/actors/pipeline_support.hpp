#pragma once

// For the pipeline stages' unit tests: a context that records what a
// handler sends, an actor made from options as the node makes it, and a
// config reader over options, as `warren check` runs a kind's validator.

#include "warren/config/reader.hpp"
#include "warren/runtime/actor.hpp"
#include "warren/runtime/registry.hpp"

#include <boost/json/parse.hpp>
#include <memory>
#include <string>
#include <vector>

namespace warren::test {

/// What a handler sent through its context.
struct sent_message {
  /// "actor" (send_json) or "publish".
  std::string how;
  /// The actor, or the exchange.
  std::string to;
  std::string routing_key;
  std::string type;
  boost::json::value body;
};

class recording_context : public context {
 public:
  explicit recording_context(std::string type = {}, std::string id = "m-1") {
    message_.properties.type = std::move(type);
    message_.properties.message_id = std::move(id);
  }

  const envelope& message() const override { return message_; }
  const std::string& actor_name() const override { return name_; }
  const boost::json::object& options() const override { return options_; }
  void reply_json(boost::json::value, std::string) override {}
  void reply_error(const std::string&, const std::string&,
                   boost::json::object) override {}
  void send_json(const std::string& actor, std::string type,
                 boost::json::value body) override {
    sent.push_back({"actor", actor, {}, std::move(type), std::move(body)});
  }
  void publish_json(const std::string& exchange, const std::string& key,
                    std::string type, boost::json::value body,
                    publish_options) override {
    sent.push_back(
      {"publish", exchange, key, std::move(type), std::move(body)});
  }
  void send_batch_json(const std::string&, std::string,
                       std::vector<boost::json::value>) override {}
  void publish_batch_json(const std::string&, const std::string&, std::string,
                          std::vector<boost::json::value>,
                          publish_options) override {}
  void call_json(const std::string&, std::string, boost::json::value,
                 call_continuation, std::chrono::milliseconds) override {}
  void fail(status) override {}
  void stop() override {}

  std::vector<sent_message> sent;

 private:
  envelope message_;
  std::string name_ = "stage";
  boost::json::object options_;
};

/// A stage of kind `Stage` made from `options` (JSON text), its handlers
/// set up; runs a body through the default handler.
template<class Stage>
class stage_under_test {
 public:
  explicit stage_under_test(const std::string& options,
                            std::string config_dir = {},
                            metrics::registry* metrics = nullptr) {
    actor_init init;
    init.name = "stage";
    init.metrics = metrics;
    init.options = boost::json::parse(options).as_object();
    init.config_dir = std::move(config_dir);
    stage_ = std::make_unique<Stage>(init);
    stage_->setup(handlers_);
  }

  /// Handles `body` (JSON text) as a message of `type`.
  status handle(recording_context& ctx, const std::string& body) {
    const auto* handler = handlers_.find(ctx.message().properties.type);
    if (handler == nullptr)
      return status::fail("no handler");
    return (*handler)(ctx, boost::json::parse(body));
  }

 private:
  std::unique_ptr<Stage> stage_;
  handlers handlers_;
};

/// The first error a kind's options validator records for `options` (JSON
/// text), as `<path>: <message>` without the source; "" when none.
inline std::string options_error(const options_validator& check,
                                 const std::string& options) {
  config::config_reader reader{"node.json"};
  auto json = boost::json::parse(options);
  config::object_reader obj{reader, json.as_object(), "$.actors[0].options"};
  check(obj);
  if (reader.ok())
    return {};
  auto text = describe(reader.error());
  auto prefix = std::string{"node.json: "};
  return text.rfind(prefix, 0) == 0 ? text.substr(prefix.size()) : text;
}

/// `options_error` with `Stage::check_options`.
template<class Stage>
std::string options_error(const std::string& options) {
  return options_error(
    [](config::object_reader& o) { Stage::check_options(o); }, options);
}

} // namespace warren::test
