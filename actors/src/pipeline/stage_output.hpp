#pragma once

// Private to warren::actors: where a pipeline stage sends what it made, as
// its `options.output` (or a router's route) says:
//
//   {"actor": "enrich"}                          to an actor by name (the
//                                                `warren.actors` exchange)
//   {"exchange": "metrics",
//    "routing_key": "device.{device_id}"}        published; the key is a
//                                                template (key_template.hpp)
//   "type": "reading.clean"                      optional: the output's
//                                                message type (default: the
//                                                input's)
//
// What leaves carries a stable id derived from the input's (the runtime's
// `make_outgoing`), so a redelivered input produces the same ids and the
// inboxes downstream drop the copies. A publish no queue takes fails the
// message (mandatory), so it is dead-lettered rather than lost.

#include "pipeline/key_template.hpp"
#include "warren/config/reader.hpp"
#include "warren/runtime/actor.hpp"

#include <optional>
#include <string>

namespace warren::actors {

class stage_output {
 public:
  /// Reads the object at `key` of `options` (required when `required`).
  /// Records errors in the reader; nullopt when absent or wrong.
  static std::optional<stage_output> read(config::object_reader& options,
                                          std::string_view key,
                                          bool required = true);

  /// Reads an output object itself (a router's route).
  static std::optional<stage_output> read(config::object_reader& output);

  /// Sends `body` on; a routing key that cannot be rendered fails the
  /// message permanently (`validation_failed`, with the field's path).
  status emit(context& ctx, boost::json::value body) const;

  /// Where `body` goes: the exchange (`warren.actors` for an actor), the
  /// routing key (rendered from `body`), and whether the publish is
  /// mandatory (always: a message no queue takes fails rather than
  /// vanishes). False with `why` when the routing key cannot be rendered.
  struct target {
    std::string exchange;
    std::string routing_key;
  };
  bool resolve(const boost::json::value& body, target& out,
               std::string& why) const;

  /// The output's message type; empty: the input's.
  const std::string& type() const noexcept { return type_; }

  /// "actor 'enrich'" or "exchange 'metrics' with key 'device.{id}'".
  std::string describe() const;

 private:
  std::string actor_;
  std::string exchange_;
  std::optional<key_template> routing_key_;
  std::string type_;
};

} // namespace warren::actors
