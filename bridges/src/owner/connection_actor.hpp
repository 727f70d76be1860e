#pragma once

// Private to warren::bridges: the base of the connection-owner actors.
//
// A connection owner is spawned detached (its own thread) because rabbitmq-c
// blocks. It waits in poll(2) on the broker socket and on an eventfd; any
// message put into its mailbox writes the eventfd, so a publish request or an
// actor's outcome is handled at once instead of after the poll timeout. Its
// loop is a `poll_atom` it sends itself, so the mailbox is read between polls.

#include "warren/bridges/atoms.hpp"
#include "wire/amqp_connection.hpp"

#include <atomic>
#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <chrono>

namespace warren::bridges::detail {

class connection_actor : public caf::event_based_actor {
 public:
  using super = caf::event_based_actor;

  explicit connection_actor(caf::actor_config& cfg);
  ~connection_actor() override;

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) override;

 protected:
  /// Waits until the socket has data, a message arrives, or `timeout` passes.
  /// Returns true when the socket has data.
  bool wait_for_io(amqp_connection& conn, std::chrono::milliseconds timeout);

  /// Makes sure exactly one poll message is on its way.
  void schedule_poll();

  /// Call at the start of the poll handler.
  void poll_started() { poll_scheduled_ = false; }

  /// Backoff for the next reconnect attempt: doubles from min up to max.
  std::chrono::milliseconds next_backoff(const broker_settings& settings);
  void reset_backoff() { backoff_ = std::chrono::milliseconds{0}; }

 private:
  int wake_fd_ = -1;
  std::atomic<bool> in_wait_{false};
  std::atomic<bool> pending_{false};
  bool poll_scheduled_ = false;
  std::chrono::milliseconds backoff_{0};
};

} // namespace warren::bridges::detail
