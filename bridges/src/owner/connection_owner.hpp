#pragma once

// Private to warren::bridges: the base of every actor that owns a
// rabbitmq-c connection (consumer, publisher, requester).
//
// What it does for them:
// - runs detached (rabbitmq-c blocks) and waits in poll(2) on the broker
//   socket and a wake signal, so a message to the actor is handled at once;
//   its loop is a `poll_atom` it sends itself, so the mailbox is read
//   between polls, and an idle connection still services heartbeats;
// - connects with backoff (broker_settings::reconnect_min doubling to
//   reconnect_max), declares the topology, opens the publish channel in
//   confirm mode, then lets the owner open its own channels
//   (`on_connected`);
// - routes the broker's events (connection_core): channel errors are
//   handled as channel errors (the channel reopened, one operation failed),
//   and only a lost connection is dropped and made again;
// - publishes with confirms for the owner (`publish`).
//
// `Interface` is the owner's typed actor interface; it must include
// `reacts_to<poll_atom>` and `reacts_to<reconnect_atom>`, whose handlers
// call `handle_poll` and `handle_reconnect`.

#include "owner/connection_core.hpp"
#include "owner/wake_signal.hpp"
#include "warren/bridges/atoms.hpp"
#include "warren/core/errc.hpp"
#include "warren/core/log.hpp"

#include <algorithm>
#include <caf/mailbox_element.hpp>
#include <chrono>

namespace warren::bridges::detail {

/// How long an owner waits for its socket when nothing is due.
constexpr std::chrono::milliseconds idle_poll{200};

/// Events read per poll before the mailbox gets its turn again.
constexpr int events_per_poll = 256;

template<class Interface>
class connection_owner : public Interface::base, protected event_sink {
 public:
  using super = typename Interface::base;

  connection_owner(caf::actor_config& cfg, broker_settings settings,
                   topology topo, confirm_policy policy,
                   std::string description)
    : super(cfg), core_(std::move(settings), policy, std::move(description)),
      topo_(std::move(topo)) {
    // Nothing else to do.
  }

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) override {
    // Our own poll messages must not wake the poll they follow, or an idle
    // actor would spin.
    bool is_poll = ptr->content().template match_elements<poll_atom>();
    super::enqueue(std::move(ptr), eu);
    if (!is_poll)
      wake_.notify();
  }

 protected:
  // -- what owners override ---------------------------------------------------

  /// Opens the owner's own channels once connected, declared and with its
  /// publish channel open.
  virtual caf::error on_connected() { return caf::none; }

  /// The connection is gone (the publish channel has dealt with its
  /// publishes); runs before the reconnect is scheduled.
  virtual void on_connection_lost(const std::string& why) = 0;

  /// The socket had nothing to read (between bursts, and at every idle
  /// poll).
  virtual void on_idle() {
    // Nothing to do by default.
  }

  /// How long the next poll may wait for the socket.
  virtual std::chrono::milliseconds next_wait() { return idle_poll; }

  /// Whether to connect again after a loss (false while the owner ends).
  virtual bool keeps_connecting() const { return true; }

  void on_delivery(envelope&&, uint16_t) override {
    // Owners that consume override this.
  }

  void on_consumer_cancelled(const std::string& tag) override {
    lose("the broker cancelled consumer " + tag);
  }

  caf::error on_channel_closed(uint16_t channel, int,
                               const std::string& reason) override {
    return make_error(errc::connection_lost, "the broker closed channel " +
                                               std::to_string(channel) + ": " +
                                               reason);
  }

  // -- what owners use --------------------------------------------------------

  /// Starts connecting (from `make_behavior`).
  void start_connecting() { this->send(this, reconnect_atom::value); }

  void handle_reconnect() {
    if (!core_.down() || !keeps_connecting())
      return;
    auto err = core_.connect(topo_);
    if (!err)
      err = on_connected();
    if (err) {
      core_.drop(describe(err));
      auto delay = next_backoff();
      // A refused login is not retried more than once a second: it will
      // not work before someone changes the password or the vhost.
      if (code_of(err) == errc::access_refused)
        delay = std::max(delay, std::chrono::milliseconds{1000});
      log::warning("{} cannot connect ({}); retrying in {} ms",
                   core_.description(), describe(err), delay.count());
      this->delayed_send(this, delay, reconnect_atom::value);
      return;
    }
    if (connects_ > 0)
      core_.metrics().reconnects.inc();
    if (connects_++ > 0)
      log::info("{} connected again to {}", core_.description(),
                core_.conn().endpoint_name());
    else
      log::debug("{} ready on {}", core_.description(),
                 core_.conn().endpoint_name());
    backoff_ = std::chrono::milliseconds{0};
    schedule_poll();
  }

  void handle_poll() {
    poll_scheduled_ = false;
    if (core_.down())
      return;
    wake_.wait(core_.conn(), next_wait());
    int events = 0;
    if (auto lost = core_.pump(*this, events_per_poll, events)) {
      lose(*lost);
      return;
    }
    if (core_.down())
      return; // Lost inside a callback, and handled there.
    if (events == 0)
      on_idle();
    if (!core_.down())
      schedule_poll();
  }

  /// Publishes with a confirm (see confirm_channel for the answers).
  void publish(outgoing_message msg, confirm_channel::callback done) {
    if (auto lost = core_.publish(std::move(msg), std::move(done)))
      lose(*lost);
  }

  /// The connection is lost: drops it (once), tells the owner, and
  /// schedules a reconnect.
  void lose(const std::string& why) {
    if (!core_.drop(why))
      return;
    log::warning("{} lost its connection: {}", core_.description(), why);
    on_connection_lost(why);
    if (keeps_connecting())
      this->delayed_send(this, next_backoff(), reconnect_atom::value);
  }

  /// Makes sure exactly one poll message is on its way.
  void schedule_poll() {
    if (poll_scheduled_)
      return;
    poll_scheduled_ = true;
    this->send(this, poll_atom::value);
  }

  /// Successful connections after the first.
  uint64_t reconnects() const noexcept {
    return connects_ > 0 ? connects_ - 1 : 0;
  }

  connection_core core_;
  topology topo_;

 private:
  std::chrono::milliseconds next_backoff() {
    const auto& settings = core_.conn().settings();
    if (backoff_.count() == 0)
      backoff_ = settings.reconnect_min;
    else
      backoff_ = std::min(backoff_ * 2, settings.reconnect_max);
    return backoff_;
  }

  wake_signal wake_;
  bool poll_scheduled_ = false;
  uint64_t connects_ = 0;
  std::chrono::milliseconds backoff_{0};
};

} // namespace warren::bridges::detail
