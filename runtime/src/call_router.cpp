#include "call_router.hpp"

#include "runtime_atoms.hpp"
#include "warren/bridges/atoms.hpp"
#include "warren/bridges/consumer.hpp"
#include "warren/bridges/envelope.hpp"
#include "warren/errc.hpp"

#include <caf/all.hpp>

namespace warren::detail {

std::string reply_queue_name(const std::string& node_name) {
  return "warren.reply." + node_name + "." + bridges::make_message_id().substr(0, 12);
}

namespace {

caf::error error_of_reply(const bridges::envelope& env) {
  if (env.properties.type != "warren.error")
    return caf::none;
  std::string text = "the service failed";
  if (auto* msg = bridges::find_field(env.properties.headers,
                                      bridges::header::error))
    if (auto* s = std::get_if<std::string>(msg))
      text = *s;
  return make_error(errc::remote_error, text);
}

} // namespace

caf::behavior call_router(caf::stateful_actor<call_router_state>* self,
                          call_router_config cfg) {
  self->state.reply_queue = reply_queue_name(cfg.node_name);
  bridges::consumer_config cc;
  cc.broker = cfg.broker;
  cc.broker.connection_name = cfg.broker.connection_name + " replies";
  bridges::queue_spec reply_queue;
  reply_queue.name = self->state.reply_queue;
  reply_queue.durable = false;
  reply_queue.exclusive = true;
  reply_queue.auto_delete = true;
  reply_queue.dead_letter_queue = false;
  cc.topo.queues.push_back(reply_queue);
  cc.queue = self->state.reply_queue;
  cc.no_ack = true;
  cc.exclusive = true;
  cc.targets.push_back(caf::actor_cast<caf::actor>(self));
  cc.actor_name = "warren.call_router";
  cc.node_name = cfg.node_name;
  self->state.consumer = bridges::spawn_consumer(self->system(), std::move(cc));
  self->link_to(self->state.consumer);
  auto publisher = cfg.publisher;
  return {
    [self, publisher](call_atom, bridges::outgoing_message& request,
                      int64_t timeout_ms) -> caf::result<boost::json::value> {
      auto id = bridges::make_message_id();
      request.properties.reply_to = self->state.reply_queue;
      request.properties.correlation_id = id;
      if (request.properties.message_id.empty())
        request.properties.message_id = id;
      auto promise = self->make_response_promise();
      self->state.pending.emplace(id, promise);
      self->request(publisher, caf::infinite, bridges::publish_atom::value,
                    std::move(request))
        .then([](caf::ok_atom) {},
              [self, id](caf::error& err) {
                auto i = self->state.pending.find(id);
                if (i != self->state.pending.end()) {
                  i->second.deliver(err);
                  self->state.pending.erase(i);
                }
              });
      self->delayed_send(self, std::chrono::milliseconds{timeout_ms},
                         call_timeout_atom::value, id);
      return promise;
    },
    [self](bridges::deliver_atom, const bridges::envelope& reply) {
      auto i = self->state.pending.find(reply.properties.correlation_id);
      if (i == self->state.pending.end())
        return; // Late or foreign reply.
      if (auto err = error_of_reply(reply))
        i->second.deliver(std::move(err));
      else
        i->second.deliver(reply.body);
      self->state.pending.erase(i);
    },
    [self](call_timeout_atom, const std::string& id) {
      auto i = self->state.pending.find(id);
      if (i == self->state.pending.end())
        return;
      i->second.deliver(make_error(errc::timeout, "no reply within the call timeout"));
      self->state.pending.erase(i);
    },
    [self](bridges::stats_atom) {
      return self->delegate(self->state.consumer, bridges::stats_atom::value);
    },
  };
}

} // namespace warren::detail
