// amqp_connection: waiting for the socket and reading what the broker says,
// one event at a time, without blocking.

#include "warren/core/errc.hpp"
#include "wire/amqp_connection.hpp"

#include <amqp_framing.h>
#include <poll.h>

namespace warren::bridges::detail {

bool amqp_connection::wait_readable(std::chrono::milliseconds timeout,
                                    int wake_fd) {
  if (conn_ == nullptr)
    return false;
  if (amqp_frames_enqueued(conn_) || amqp_data_in_buffer(conn_))
    return true;
  pollfd fds[2];
  fds[0].fd = amqp_get_sockfd(conn_);
  fds[0].events = POLLIN;
  fds[0].revents = 0;
  fds[1].fd = wake_fd;
  fds[1].events = POLLIN;
  fds[1].revents = 0;
  auto rc =
    ::poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(timeout.count()));
  return rc > 0 && fds[0].revents != 0;
}

amqp_event amqp_connection::next_event() {
  amqp_event ev;
  if (conn_ == nullptr) {
    ev.what = amqp_event::kind::connection_lost;
    ev.reason = "not connected";
    return ev;
  }
  amqp_frame_t frame;
  int rc = AMQP_STATUS_OK;
  if (!stashed_.empty()) {
    frame = stashed_.front();
    stashed_.pop_front();
  } else {
    timeval zero{0, 0};
    rc = amqp_simple_wait_frame_noblock(conn_, &frame, &zero);
  }
  if (rc == AMQP_STATUS_TIMEOUT)
    return ev;
  if (rc != AMQP_STATUS_OK) {
    ev.what = amqp_event::kind::connection_lost;
    ev.reason = amqp_error_string2(rc);
    destroy();
    return ev;
  }
  if (frame.frame_type != AMQP_FRAME_METHOD)
    return ev; // Stray header/body frames of nothing we asked for.
  ev.channel = frame.channel;
  decode_method(frame, ev);
  // Frames put aside live in their channels' pools until they are read.
  if (conn_ != nullptr && stashed_.empty())
    amqp_maybe_release_buffers(conn_);
  return ev;
}

int amqp_connection::wait_frame_on(uint16_t channel, amqp_frame_t& frame) {
  for (auto i = stashed_.begin(); i != stashed_.end(); ++i) {
    if (i->channel == channel) {
      frame = *i;
      stashed_.erase(i);
      return AMQP_STATUS_OK;
    }
  }
  for (;;) {
    auto rc = amqp_simple_wait_frame(conn_, &frame);
    if (rc != AMQP_STATUS_OK || frame.channel == channel)
      return rc;
    // Another channel's frame, between two of this message's: it is read
    // after this message (`next_event`, `wait_frame_on`).
    stashed_.push_back(frame);
  }
}

bool amqp_connection::stashed_on(uint16_t channel) const {
  for (const auto& f : stashed_)
    if (f.channel == channel)
      return true;
  return false;
}

bool amqp_connection::read_content(uint16_t channel, amqp_event& ev) {
  // As amqp_read_message does, but the body is kept only when it fits the
  // channel's limit: the size is known from the header frame, before any
  // of the body is held.
  auto lost = [&](std::string why) {
    ev.what = amqp_event::kind::connection_lost;
    ev.reason = "reading message content: " + std::move(why);
    destroy();
    return false;
  };
  amqp_frame_t frame;
  auto rc = wait_frame_on(channel, frame);
  if (rc != AMQP_STATUS_OK)
    return lost(amqp_error_string2(rc));
  if (frame.frame_type != AMQP_FRAME_HEADER)
    return lost("expected a content header frame");
  const auto* props = static_cast<const amqp_basic_properties_t*>(
    frame.payload.properties.decoded);
  decode_properties(*props, ev.message.properties);
  auto size = frame.payload.properties.body_size;
  auto limit = channel < body_limits_.size() ? body_limits_[channel] : 0;
  auto& msg = ev.message;
  msg.body_size = size;
  msg.body_dropped = limit != 0 && size > limit;
  if (!msg.body_dropped)
    msg.raw_body.reserve(size);
  for (uint64_t got = 0; got < size;) {
    rc = wait_frame_on(channel, frame);
    if (rc != AMQP_STATUS_OK)
      return lost(amqp_error_string2(rc));
    if (frame.frame_type != AMQP_FRAME_BODY)
      return lost("expected a content body frame");
    const auto& part = frame.payload.body_fragment;
    if (!msg.body_dropped)
      msg.raw_body.append(static_cast<const char*>(part.bytes), part.len);
    got += part.len;
    // A dropped body's frames are freed as they come.
    if (!stashed_on(channel))
      amqp_maybe_release_buffers_on_channel(conn_, channel);
  }
  return true;
}

void amqp_connection::decode_method(const amqp_frame_t& frame, amqp_event& ev) {
  const auto* decoded = frame.payload.method.decoded;
  using kind = amqp_event::kind;
  switch (frame.payload.method.id) {
    case AMQP_BASIC_DELIVER_METHOD: {
      const auto* m = static_cast<const amqp_basic_deliver_t*>(decoded);
      ev.what = kind::delivery;
      ev.consumer_tag = string_of(m->consumer_tag);
      ev.message.delivery_tag = m->delivery_tag;
      ev.message.redelivered = m->redelivered != 0;
      ev.message.exchange = string_of(m->exchange);
      ev.message.routing_key = string_of(m->routing_key);
      read_content(frame.channel, ev);
      return;
    }
    case AMQP_BASIC_ACK_METHOD: {
      const auto* m = static_cast<const amqp_basic_ack_t*>(decoded);
      ev.what = kind::confirm;
      ev.delivery_tag = m->delivery_tag;
      ev.multiple = m->multiple != 0;
      ev.ack = true;
      return;
    }
    case AMQP_BASIC_NACK_METHOD: {
      const auto* m = static_cast<const amqp_basic_nack_t*>(decoded);
      ev.what = kind::confirm;
      ev.delivery_tag = m->delivery_tag;
      ev.multiple = m->multiple != 0;
      ev.ack = false;
      return;
    }
    case AMQP_BASIC_RETURN_METHOD: {
      const auto* m = static_cast<const amqp_basic_return_t*>(decoded);
      ev.what = kind::returned;
      ev.reply_code = m->reply_code;
      ev.reason =
        std::to_string(m->reply_code) + " " + string_of(m->reply_text);
      ev.message.exchange = string_of(m->exchange);
      ev.message.routing_key = string_of(m->routing_key);
      read_content(frame.channel, ev);
      return;
    }
    case AMQP_BASIC_CANCEL_METHOD: {
      const auto* m = static_cast<const amqp_basic_cancel_t*>(decoded);
      ev.what = kind::consumer_cancelled;
      ev.consumer_tag = string_of(m->consumer_tag);
      return;
    }
    case AMQP_CHANNEL_CLOSE_METHOD: {
      const auto* m = static_cast<const amqp_channel_close_t*>(decoded);
      ev.what = kind::channel_closed;
      ev.reply_code = m->reply_code;
      ev.reason =
        std::to_string(m->reply_code) + " " + string_of(m->reply_text);
      amqp_channel_close_ok_t close_ok;
      amqp_send_method(conn_, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD,
                       &close_ok);
      return;
    }
    case AMQP_CONNECTION_BLOCKED_METHOD: {
      const auto* m = static_cast<const amqp_connection_blocked_t*>(decoded);
      ev.what = kind::blocked;
      ev.reason = string_of(m->reason);
      blocked_ = true;
      return;
    }
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
      ev.what = kind::unblocked;
      blocked_ = false;
      return;
    case AMQP_CONNECTION_CLOSE_METHOD: {
      const auto* m = static_cast<const amqp_connection_close_t*>(decoded);
      ev.what = kind::connection_lost;
      ev.reply_code = m->reply_code;
      ev.reason =
        "connection closed by broker: " + std::to_string(m->reply_code) + " " +
        string_of(m->reply_text);
      amqp_connection_close_ok_t close_ok;
      amqp_send_method(conn_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &close_ok);
      destroy();
      return;
    }
    default:
      return;
  }
}

} // namespace warren::bridges::detail
