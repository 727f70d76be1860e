#pragma once

// Private to warren::runtime: where a warren sender's message to a sharded
// actor goes (README.md, "Clustering"). The context API sends a message for
// a sharded actor of the node's config straight to its key's shard queue
// rather than to the actor's own queue, where a router would forward it: a
// broker hop less, and a sender's messages for one key stay in the order
// it sent them. Messages for actors the node does not know as sharded, and
// messages whose key cannot be read (the router refuses them with the
// reason), go to the actor's name as before.

#include "warren/core/envelope.hpp"
#include "warren/runtime/stateful.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace warren::runtime::cluster {

/// The shard `msg` goes to, for an actor of kind `keys` with `shards`
/// shards: the shard it asks for (`shard_asked`), else its key's; the
/// key's error when it has none.
caf::expected<uint32_t> shard_of_message(const stateful_base& keys,
                                         const envelope& msg, uint32_t shards);

class shard_directory {
 public:
  /// `actor` has `shards` shards; `keys` reads a message's key (its kind's
  /// `key_of`, which must not change the instance: several consumer
  /// threads call it at once).
  void add(std::string actor, uint32_t shards,
           std::shared_ptr<const stateful_base> keys);

  /// Whether `actor` is sharded here.
  bool has(const std::string& actor) const { return actors_.count(actor) > 0; }

  /// The queue of the shard `msg` belongs to, when `actor` is sharded and
  /// the key of `msg` can be read; empty otherwise.
  std::string shard_queue(const std::string& actor, const envelope& msg) const;

 private:
  struct sharded_actor {
    uint32_t shards = 0;
    std::shared_ptr<const stateful_base> keys;
  };
  std::unordered_map<std::string, sharded_actor> actors_;
};

} // namespace warren::runtime::cluster
