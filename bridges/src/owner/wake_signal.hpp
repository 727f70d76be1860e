#pragma once

// Private to warren::bridges: how a message to a connection owner wakes its
// thread while it waits in poll(2) on the broker socket.
//
// A connection owner is spawned detached (its own thread) because rabbitmq-c
// blocks. It waits on the broker socket and on an eventfd; a message put into
// its mailbox writes the eventfd, so a publish request or an actor's outcome
// is handled at once instead of after the poll timeout.

#include <atomic>
#include <chrono>

namespace warren::bridges::detail {

class amqp_connection;

class wake_signal {
 public:
  wake_signal();
  ~wake_signal();

  wake_signal(const wake_signal&) = delete;
  wake_signal& operator=(const wake_signal&) = delete;

  /// A message arrived (any thread).
  void notify() noexcept;

  /// Waits until `conn`'s socket has data, `notify` is called, or `timeout`
  /// passes. Returns true when the socket has data.
  bool wait(amqp_connection& conn, std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  std::atomic<bool> in_wait_{false};
  std::atomic<bool> pending_{false};
};

} // namespace warren::bridges::detail
