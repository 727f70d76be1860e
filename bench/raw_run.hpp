#pragma once

// The raw baseline's runs (private to warren-bench): two threads, each with
// its own connection, that stop together when one fails, and the
// throughput run's confirm waiting.

#include "raw_amqp.hpp"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

namespace warren::bench::raw {

// -- coordination between the two threads of a run --------------------------

class run_state {
 public:
  /// Records the first error and tells the other thread to stop.
  void fail(std::exception_ptr error) {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!error_)
      error_ = std::move(error);
    aborted_ = true;
    changed_.notify_all();
  }

  void throw_if_aborted() const {
    if (aborted_.load(std::memory_order_relaxed))
      throw run_aborted{};
  }

  /// Called by the consuming side once its consumer is registered, so the
  /// timed part does not include its setup.
  void set_ready() {
    std::lock_guard<std::mutex> guard{mutex_};
    ready_ = true;
    changed_.notify_all();
  }

  void wait_ready() {
    std::unique_lock<std::mutex> lock{mutex_};
    if (!changed_.wait_for(lock, stall_limit,
                           [this] { return ready_ || aborted_.load(); }))
      throw std::runtime_error("the consuming thread was not ready after " +
                               std::to_string(stall_limit.count()) + " s");
    if (aborted_)
      throw run_aborted{};
  }

  void request_stop() { stop_ = true; }
  bool stop_requested() const { return stop_.load(); }

  bool failed() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return error_ != nullptr;
  }

  void rethrow_if_failed() const {
    std::lock_guard<std::mutex> guard{mutex_};
    if (error_)
      std::rethrow_exception(error_);
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::exception_ptr error_;
  bool ready_ = false;
  std::atomic<bool> aborted_{false};
  std::atomic<bool> stop_{false};
};

template<class F>
inline std::thread spawn(run_state& run, F body) {
  return std::thread([&run, body]() mutable {
    try {
      body();
    } catch (...) {
      run.fail(std::current_exception());
    }
  });
}

/// Joins both threads, deletes the queue and rethrows the first error of
/// the run. A cleanup error is reported only if the run itself succeeded, so
/// it never hides the original cause.
inline void finish_run(run_state& run, std::thread& a, std::thread& b,
                       const broker_target& target, const std::string& queue) {
  a.join();
  b.join();
  try {
    delete_queue(target, queue);
  } catch (...) {
    if (!run.failed())
      throw;
  }
  run.rethrow_if_failed();
}

// -- throughput --------------------------------------------------------------

/// Reads frames until every tag in [first_tag, last_tag] is confirmed.
/// Confirms may be single or cumulative (multiple=true); a nack, a returned
/// message or a channel error aborts with an error.
inline void await_confirms(amqp_connection_state_t state, uint64_t first_tag,
                           uint64_t last_tag, const run_state& run) {
  std::vector<bool> confirmed(last_tag - first_tag + 1, false);
  auto outstanding = confirmed.size();
  auto last_progress = steady::now();
  const std::string what = "waiting for publisher confirms";
  while (outstanding > 0) {
    run.throw_if_aborted();
    amqp_frame_t frame;
    auto tv = to_timeval(poll_interval);
    int status = amqp_simple_wait_frame_noblock(state, &frame, &tv);
    if (status == AMQP_STATUS_TIMEOUT) {
      if (steady::now() - last_progress > stall_limit)
        throw std::runtime_error("rabbitmq-c: no publisher confirm for " +
                                 std::to_string(stall_limit.count()) + " s (" +
                                 std::to_string(outstanding) + " of batch " +
                                 std::to_string(first_tag) + ".." +
                                 std::to_string(last_tag) + " unconfirmed)");
      continue;
    }
    check_status(status, what);
    if (frame.frame_type != AMQP_FRAME_METHOD ||
        frame.payload.method.id != AMQP_BASIC_ACK_METHOD)
      throw_unexpected(state, frame, what);
    auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
    if (ack->delivery_tag > last_tag)
      throw std::runtime_error("rabbitmq-c: broker confirmed delivery_tag " +
                               std::to_string(ack->delivery_tag) +
                               " that was never published");
    // Tags before first_tag belong to earlier, fully confirmed batches.
    auto from =
      std::max(ack->multiple ? first_tag : ack->delivery_tag, first_tag);
    for (auto tag = from; tag <= ack->delivery_tag; ++tag) {
      if (!confirmed[tag - first_tag]) {
        confirmed[tag - first_tag] = true;
        --outstanding;
      }
    }
    last_progress = steady::now();
  }
  amqp_maybe_release_buffers(state);
}

} // namespace warren::bench::raw
