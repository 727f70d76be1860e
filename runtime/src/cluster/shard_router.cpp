#include "cluster/shard_router.hpp"

#include "cluster/shard_directory.hpp"
#include "dispatch/admission.hpp"
#include "dispatch/settle.hpp"
#include "warren/core/errc.hpp"
#include "warren/core/shard.hpp"

namespace warren::runtime::cluster {

namespace {

class shard_router : public bridges::delivery_handler {
 public:
  shard_router(std::shared_ptr<stateful_base> keys, uint32_t shards,
               warren::detail::admission_rules rules, std::string node)
    : keys_(std::move(keys)), shards_(shards), rules_(rules),
      node_(std::move(node)) {}

  void handle(bridges::consumer_host& host, bridges::delivery msg,
              std::function<void(bridges::settlement)> done) override {
    if (auto rejected = warren::detail::admit(*msg, rules_)) {
      done(
        warren::detail::to_settlement(*rejected, *msg, keys_->name(), node_));
      return;
    }
    auto shard = shard_of_message(*keys_, *msg, shards_);
    if (!shard) {
      done(warren::detail::to_settlement(
        outcome::reject(errc::validation_failed, describe(shard.error())), *msg,
        keys_->name(), node_));
      return;
    }
    outgoing_message copy;
    copy.routing_key = shard_name(keys_->name(), *shard);
    copy.properties = msg->properties;
    copy.body = msg->raw_body;
    copy.mandatory = true;
    host.publish(std::move(copy),
                 [msg, done = std::move(done)](const caf::error& err) {
                   if (!err) {
                     done(bridges::settlement::ack());
                     return;
                   }
                   bridges::settlement back;
                   back.what = bridges::settlement::action::requeue;
                   back.reason = "forwarding to its shard: " + describe(err);
                   back.code = code_of(err);
                   done(std::move(back));
                 });
  }

 private:
  std::shared_ptr<stateful_base> keys_;
  uint32_t shards_;
  warren::detail::admission_rules rules_;
  std::string node_;
};

} // namespace

std::shared_ptr<bridges::delivery_handler>
make_shard_router(std::shared_ptr<stateful_base> keys, uint32_t shards,
                  warren::detail::admission_rules rules, std::string node) {
  return std::make_shared<shard_router>(std::move(keys), shards, rules,
                                        std::move(node));
}

} // namespace warren::runtime::cluster
