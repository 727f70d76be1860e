#include "owner/connection_actor.hpp"

#include <algorithm>
#include <cstdint>
#include <sys/eventfd.h>
#include <unistd.h>

namespace warren::bridges::detail {

connection_actor::connection_actor(caf::actor_config& cfg) : super(cfg) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

connection_actor::~connection_actor() {
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

void connection_actor::enqueue(caf::mailbox_element_ptr ptr,
                               caf::execution_unit* eu) {
  // Our own poll messages must not wake the poll they follow, or an idle
  // actor would spin.
  bool is_poll = ptr->content().match_elements<poll_atom>();
  super::enqueue(std::move(ptr), eu);
  if (is_poll)
    return;
  pending_.store(true);
  if (in_wait_.load() && wake_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof(one));
  }
}

bool connection_actor::wait_for_io(amqp_connection& conn,
                                   std::chrono::milliseconds timeout) {
  // Order matters: announce the wait first, then look for messages that came
  // before the announcement; anything later writes the eventfd.
  in_wait_.store(true);
  if (pending_.exchange(false))
    timeout = std::chrono::milliseconds{0};
  auto readable = conn.wait_readable(timeout, wake_fd_);
  in_wait_.store(false);
  uint64_t drained;
  while (::read(wake_fd_, &drained, sizeof(drained)) > 0) {
    // Reset the eventfd counter.
  }
  return readable;
}

void connection_actor::schedule_poll() {
  if (poll_scheduled_)
    return;
  poll_scheduled_ = true;
  send(this, poll_atom::value);
}

std::chrono::milliseconds
connection_actor::next_backoff(const broker_settings& settings) {
  if (backoff_.count() == 0)
    backoff_ = settings.reconnect_min;
  else
    backoff_ = std::min(backoff_ * 2, settings.reconnect_max);
  return backoff_;
}

} // namespace warren::bridges::detail
