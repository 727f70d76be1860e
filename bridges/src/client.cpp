#include "warren/bridges/client.hpp"

#include "owner/call_client.hpp"
#include "owner/connection_core.hpp"
#include "warren/core/errc.hpp"
#include "warren/core/json_read.hpp"

#include <optional>

namespace warren::bridges {

namespace {

constexpr uint16_t reply_channel = 4;
constexpr uint16_t receive_channel = 5;
constexpr uint16_t request_channel = 6;

using clock_type = std::chrono::steady_clock;

std::chrono::milliseconds remaining(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    deadline - clock_type::now());
  return left.count() > 0 ? left : std::chrono::milliseconds{0};
}

// Fills `body` from `raw_body`; a body that is not JSON stays null (the
// bytes are in raw_body), since tools must be able to show bad messages.
envelope with_parsed_body(envelope env) {
  if (!env.raw_body.empty()) {
    boost::json::error_code ec;
    auto value = read_json(env.raw_body, ec);
    if (!ec)
      env.body = std::move(value);
  }
  return env;
}

// A tool's publishes fail rather than wait: it does not reconnect.
detail::confirm_policy client_policy() {
  detail::confirm_policy p;
  p.wait_while_disconnected = false;
  p.republish_after_loss = false;
  return p;
}

} // namespace

// The connection, and what the events waited for have brought so far.
struct blocking_client::state : detail::event_sink {
  explicit state(const broker_settings& settings)
    : core(settings, client_policy(), settings.connection_name),
      calls("warren.reply.tool." + make_message_id().substr(0, 12),
            reply_channel, request_channel) {
    // Nothing else to do.
  }

  void on_delivery(envelope&& msg, uint16_t channel) override {
    if (channel == reply_channel) {
      calls.on_reply(msg);
    } else if (channel == receive_channel && taking) {
      msg.queue = taking_queue;
      taken.push_back(with_parsed_body(std::move(msg)));
      last_taken = clock_type::now();
    }
  }

  void on_consumer_cancelled(const std::string&) override {
    failure = make_error(errc::not_found,
                         "the broker cancelled the consumer (queue deleted?)");
  }

  void on_returned(const envelope& msg, const std::string& reason) override {
    calls.on_returned(msg, reason);
  }

  caf::error on_channel_closed(uint16_t channel, int reply_code,
                               const std::string& reason) override {
    failure = make_error(errc_of_reply_code(reply_code),
                         "the broker closed the channel: " + reason);
    if (channel == reply_channel || channel == request_channel)
      calls.on_channel_closed(failure);
    return caf::none;
  }

  /// Reads events until `done()` holds; `timeout` (an error) at `deadline`.
  caf::error wait_until(const std::function<bool()>& done,
                        clock_type::time_point deadline, caf::error timeout) {
    for (;;) {
      if (done())
        return caf::none;
      if (failure)
        return std::exchange(failure, caf::error{});
      auto left = remaining(deadline);
      if (left.count() == 0)
        return timeout;
      core.conn().wait_readable(left, -1);
      int events = 0;
      if (auto lost = core.pump(*this, 256, events)) {
        core.drop(*lost);
        return make_error(errc::connection_lost, *lost);
      }
    }
  }

  detail::connection_core core;
  detail::call_client calls;
  caf::error failure;
  bool taking = false;
  std::string taking_queue;
  std::string taking_tag;
  std::vector<envelope> taken;
  clock_type::time_point last_taken;
};

caf::expected<std::unique_ptr<blocking_client>>
blocking_client::connect(const broker_settings& settings) {
  auto st = std::make_unique<state>(settings);
  if (auto err = st->core.connect(topology{}))
    return err;
  return std::unique_ptr<blocking_client>{new blocking_client(std::move(st))};
}

blocking_client::blocking_client(std::unique_ptr<state> st)
  : st_(std::move(st)) {
  // Nothing else to do.
}

blocking_client::~blocking_client() {
  st_->core.close();
}

caf::error blocking_client::declare(const topology& topo) {
  return st_->core.conn().declare(topo);
}

caf::error blocking_client::publish(const outgoing_message& msg,
                                    std::chrono::milliseconds timeout) {
  // Shared with the callback, which outlives this call when it times out.
  auto result = std::make_shared<std::optional<caf::error>>();
  if (auto lost = st_->core.publish(
        msg, [result](const caf::error& err) { *result = err; }))
    return make_error(errc::connection_lost, *lost);
  if (auto err = st_->wait_until(
        [&result] { return result->has_value(); }, clock_type::now() + timeout,
        make_error(errc::timeout, "no publisher confirm in time")))
    return err;
  return **result;
}

caf::expected<envelope>
blocking_client::call(outgoing_message request,
                      std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  auto reply = std::make_shared<std::optional<caf::expected<envelope>>>();
  if (auto err =
        st_->calls.call(st_->core.conn(), std::move(request), deadline,
                        [reply](caf::expected<envelope> r) { *reply = r; }))
    return err;
  if (auto err = st_->wait_until(
        [&reply] { return reply->has_value(); }, deadline,
        make_error(errc::timeout, "no reply within " +
                                    std::to_string(timeout.count()) + " ms"))) {
    st_->calls.expire(std::chrono::milliseconds{0}); // Forget the call.
    return err;
  }
  if (!**reply)
    return (*reply)->error();
  return with_parsed_body(std::move(***reply));
}

caf::expected<std::vector<envelope>>
blocking_client::receive(const std::string& queue, std::size_t max,
                         std::chrono::milliseconds idle_timeout, bool ack,
                         const field_table& arguments,
                         std::chrono::milliseconds at_most) {
  auto taken = take(queue, max, idle_timeout, arguments, at_most);
  if (!taken)
    return taken;
  std::vector<uint64_t> done;
  if (ack)
    for (const auto& env : *taken)
      done.push_back(env.delivery_tag);
  if (auto err = settle(done))
    return err;
  return taken;
}

caf::expected<std::vector<envelope>>
blocking_client::take(const std::string& queue, std::size_t max,
                      std::chrono::milliseconds idle_timeout,
                      const field_table& arguments,
                      std::chrono::milliseconds at_most) {
  if (max == 0)
    return std::vector<envelope>{};
  auto& conn = st_->core.conn();
  if (auto err = conn.open_channel(receive_channel))
    return err;
  // Prefetch exactly `max` and settle everything at the end: acking as they
  // come would let the broker send more than we take, and those deliveries
  // would still be buffered when the channel number is reused.
  max = std::min<std::size_t>(max, 65535);
  if (auto err = conn.qos(receive_channel, static_cast<uint16_t>(max)))
    return err;
  auto tag = conn.consume(receive_channel, queue, false, false, arguments);
  if (!tag)
    return tag.error();
  st_->taking = true;
  st_->taking_queue = queue;
  st_->taking_tag = *tag;
  st_->taken.clear();
  st_->last_taken = clock_type::now();
  // Until `max` arrived, or none for `idle_timeout`, or `at_most` passed.
  auto give_up = clock_type::now() + at_most;
  for (;;) {
    auto before = st_->taken.size();
    auto err = st_->wait_until(
      [&] { return st_->taken.size() >= max || st_->taken.size() != before; },
      std::min(st_->last_taken + idle_timeout, give_up), caf::error{});
    if (err)
      return err;
    if (st_->taken.size() >= max || st_->taken.size() == before ||
        clock_type::now() >= give_up)
      break;
  }
  if (auto err = conn.cancel(receive_channel, st_->taking_tag))
    return err;
  // Deliveries that raced the cancel stay unacked; `settle` returns them.
  auto result = std::move(st_->taken);
  st_->taken.clear();
  if (result.size() > max)
    result.resize(max);
  return result;
}

caf::error blocking_client::settle(const std::vector<uint64_t>& done) {
  if (!st_->taking)
    return caf::none;
  st_->taking = false;
  st_->taking_tag.clear();
  auto& conn = st_->core.conn();
  for (auto tag : done)
    if (auto err = conn.ack(receive_channel, tag, false))
      return err;
  // Closing the channel returns every delivery still unacked to the queue.
  if (auto err = conn.close_channel(receive_channel))
    return err;
  // Deliveries that raced the cancel arrived during the cancel and close
  // RPCs, which rabbitmq-c queues for later: read them now, while nothing is
  // taken, so the next take does not ack their tags on the reopened channel
  // (406 "unknown delivery tag", closing it).
  int events = 0;
  if (auto lost = st_->core.pump(*st_, 1 << 20, events)) {
    st_->core.drop(*lost);
    return make_error(errc::connection_lost, *lost);
  }
  return caf::none;
}

caf::expected<uint32_t>
blocking_client::message_count(const std::string& queue) {
  return st_->core.conn().queue_message_count(queue);
}

caf::expected<std::pair<uint32_t, uint32_t>>
blocking_client::queue_counts(const std::string& queue) {
  return st_->core.conn().queue_counts(queue);
}

caf::expected<uint32_t>
blocking_client::consumer_count(const std::string& queue) {
  return st_->core.conn().queue_consumer_count(queue);
}

caf::expected<uint32_t> blocking_client::purge(const std::string& queue) {
  return st_->core.conn().purge(queue);
}

caf::error blocking_client::delete_queue(const std::string& queue) {
  return st_->core.conn().delete_queue(queue);
}

} // namespace warren::bridges
