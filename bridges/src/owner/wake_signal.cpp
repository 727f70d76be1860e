#include "owner/wake_signal.hpp"

#include "wire/amqp_connection.hpp"

#include <cstdint>
#include <sys/eventfd.h>
#include <unistd.h>

namespace warren::bridges::detail {

wake_signal::wake_signal() {
  fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

wake_signal::~wake_signal() {
  if (fd_ >= 0)
    ::close(fd_);
}

void wake_signal::notify() noexcept {
  pending_.store(true);
  if (in_wait_.load() && fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof(one));
  }
}

bool wake_signal::wait(amqp_connection& conn,
                       std::chrono::milliseconds timeout) {
  // Order matters: announce the wait first, then look for messages that came
  // before the announcement; anything later writes the eventfd.
  in_wait_.store(true);
  if (pending_.exchange(false))
    timeout = std::chrono::milliseconds{0};
  auto readable = conn.wait_readable(timeout, fd_);
  in_wait_.store(false);
  uint64_t drained;
  while (::read(fd_, &drained, sizeof(drained)) > 0) {
    // Reset the eventfd counter.
  }
  return readable;
}

} // namespace warren::bridges::detail
