#include "pipeline/stage_output.hpp"

#include "warren/bridges/topology.hpp"

namespace warren::actors {

std::optional<stage_output> stage_output::read(config::object_reader& options,
                                               std::string_view key,
                                               bool required) {
  if (options.find(key) == nullptr) {
    if (required)
      options.require(key);
    return std::nullopt;
  }
  auto output = options.object(key);
  if (!output)
    return std::nullopt;
  return read(*output);
}

std::optional<stage_output> stage_output::read(config::object_reader& output) {
  output.allow({"actor", "exchange", "routing_key", "type"});
  stage_output result;
  output.string("type", result.type_);
  bool to_actor = output.find("actor") != nullptr;
  bool to_exchange = output.find("exchange") != nullptr;
  if (to_actor == to_exchange) {
    output.reader().fail(output.path(),
                         "expected either \"actor\" (an actor's name) or "
                         "\"exchange\" with \"routing_key\"");
    return std::nullopt;
  }
  if (to_actor) {
    output.string("actor", result.actor_, config::text_rule::non_empty);
    if (output.find("routing_key") != nullptr)
      output.reader().fail(output.path_of("routing_key"),
                           "a routing key goes with \"exchange\", not with "
                           "\"actor\"");
    return output.reader().ok() ? std::optional{result} : std::nullopt;
  }
  output.string("exchange", result.exchange_);
  std::string key;
  if (output.require("routing_key") && output.string("routing_key", key)) {
    std::string why;
    result.routing_key_ = key_template::parse(key, why);
    if (!result.routing_key_)
      output.reader().fail(output.path_of("routing_key"), why);
  }
  return output.reader().ok() ? std::optional{result} : std::nullopt;
}

status stage_output::emit(context& ctx, boost::json::value body) const {
  auto type = type_.empty() ? ctx.message().properties.type : type_;
  if (!actor_.empty()) {
    ctx.send_json(actor_, std::move(type), std::move(body));
    return status::ok();
  }
  std::string key;
  std::string why;
  if (!routing_key_->render(body, key, why))
    return status::fail(errc::validation_failed,
                        "cannot make the routing key '" + routing_key_->text() +
                          "': " + why,
                        true);
  ctx.publish_json(exchange_, key, std::move(type), std::move(body));
  return status::ok();
}

bool stage_output::resolve(const boost::json::value& body, target& out,
                           std::string& why) const {
  if (!actor_.empty()) {
    out.exchange = bridges::actors_exchange;
    out.routing_key = actor_;
    return true;
  }
  out.exchange = exchange_;
  if (routing_key_->render(body, out.routing_key, why))
    return true;
  why = "cannot make the routing key '" + routing_key_->text() + "': " + why;
  return false;
}

std::string stage_output::describe() const {
  if (!actor_.empty())
    return "actor '" + actor_ + "'";
  return "exchange '" + exchange_ + "' with key '" + routing_key_->text() + "'";
}

} // namespace warren::actors
