#include "warren_side.hpp"

#include "stats.hpp"
#include "warren/actors/builtin.hpp"
#include "warren/bridges/atoms.hpp"
#include "warren/bridges/client.hpp"
#include "warren/bridges/publisher.hpp"
#include "warren/runtime/call.hpp"
#include "warren/runtime/node.hpp"
#include "warren/runtime/stateful.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <atomic>
#include <boost/describe.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <caf/all.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <thread>

namespace warren::bench {

namespace {

using clock_type = std::chrono::steady_clock;

// The counting subscriber reports here; one benchmark runs at a time.
struct finish_line {
  std::mutex mtx;
  std::condition_variable cv;
  std::size_t target = 0;
  std::size_t seen = 0;
  clock_type::time_point last;
};

finish_line* current_finish = nullptr;

// Batches of 100 in flight. Measured: 10 (1000 messages unconfirmed) gave
// 13.7k msg/s, 4 gave 17.3k; a deeper pipeline only makes the broker throttle
// the connection (credit flow).
constexpr std::size_t window_batches = 4;

class counter : public warren::actor {
 public:
  using warren::actor::actor;
  void setup(handlers& on) override {
    on.otherwise([](context&, const boost::json::value&) {
      auto& f = *current_finish;
      std::lock_guard<std::mutex> guard{f.mtx};
      if (++f.seen == f.target) {
        f.last = clock_type::now();
        f.cv.notify_all();
      }
      return status::ok();
    });
  }
};

// The same count, from a stateful actor: each message also updates a state
// (one key), goes into the inbox, and is acked after its group commit.
struct bench_state {
  int64_t count = 0;
};
BOOST_DESCRIBE_STRUCT(bench_state, (), (count))

class stateful_counter : public warren::stateful_actor<bench_state> {
 public:
  using stateful_actor::stateful_actor;
  void setup_state(state_handlers<bench_state>& on) override {
    on.json("bench", [](context&, bench_state& s, const boost::json::value&) {
      ++s.count;
      auto& f = *current_finish;
      std::lock_guard<std::mutex> guard{f.mtx};
      if (++f.seen == f.target) {
        f.last = clock_type::now();
        f.cv.notify_all();
      }
    });
  }
};

// Calls from a handler (warren to warren): on "go" {"calls": n, "service":
// name}, the handler calls the service n times one after the other, each
// call made from the previous one's continuation, on the consumer's own
// connection; each round trip is timed from the call to its continuation.
struct call_log {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<double> us;
  std::string error;
  bool done = false;
  clock_type::time_point first;
  clock_type::time_point last;
};

call_log* current_calls = nullptr;

class caller : public warren::actor {
 public:
  using warren::actor::actor;
  void setup(handlers& on) override {
    on.json("go", [](context& ctx, const boost::json::value& body) {
      auto left = std::make_shared<int64_t>(body.at("calls").as_int64());
      auto service = std::string{body.at("service").as_string()};
      auto started = std::make_shared<clock_type::time_point>();
      auto next = std::make_shared<call_continuation>();
      auto call = [service, started, next](context& c) {
        *started = clock_type::now();
        c.call_json(service, "echo",
                    boost::json::object{{"op", "echo"},
                                        {"payload", "0123456789abcdef0123"}},
                    *next);
      };
      *next = [left, started, call, next](context& c, call_result reply) {
        auto& log = *current_calls;
        auto now = clock_type::now();
        std::unique_lock<std::mutex> guard{log.mtx};
        if (!reply) {
          log.error = describe(reply.error());
          log.done = true;
          log.cv.notify_all();
          *next = nullptr; // break the self-reference
          return;
        }
        if (log.us.empty())
          log.first = *started;
        log.us.push_back(
          std::chrono::duration<double, std::micro>(now - *started).count());
        log.last = now;
        if (--*left > 0) {
          guard.unlock();
          call(c);
          return;
        }
        log.done = true;
        log.cv.notify_all();
        *next = nullptr;
      };
      call(ctx);
      return status::ok();
    });
  }
};

config::node_config make_config(const std::string& uri) {
  config::node_config cfg;
  cfg.source_file = "bench";
  cfg.node_name = "bench";
  auto ep = bridges::parse_broker_uri(uri);
  if (!ep)
    throw std::runtime_error("bad URI: " + describe(ep.error()));
  cfg.broker.endpoints.push_back(*ep);
  cfg.broker.connection_name = "warren bench";
  cfg.scheduler_threads = 2;
  return cfg;
}

void delete_queues(const config::node_config& cfg, const std::string& queue) {
  auto client = bridges::blocking_client::connect(cfg.broker);
  if (!client)
    throw std::runtime_error("connect: " + describe(client.error()));
  (*client)->delete_queue(queue);
  (*client)->delete_queue(warren::dead_letter_queue_name(queue));
}

// Publishes `total` messages in batches of `batch` (one request and one
// answer per batch, as the raw loop waits for confirms per 100), keeping up
// to `window` batches outstanding, until all are confirmed.
caf::behavior publish_driver(caf::event_based_actor* self,
                             bridges::publisher_actor publisher,
                             warren::outgoing_message prototype,
                             std::size_t total, std::size_t batch,
                             std::size_t window,
                             std::shared_ptr<std::promise<std::size_t>> done) {
  struct state {
    std::size_t sent = 0;
    std::size_t confirmed = 0;
    std::size_t failed = 0;
  };
  auto st = std::make_shared<state>();
  auto send_one = std::make_shared<std::function<void()>>();
  auto settled = [=](std::size_t n, bool ok) {
    (ok ? st->confirmed : st->failed) += n;
    if (st->confirmed + st->failed == total) {
      done->set_value(st->failed);
      *send_one = nullptr; // break the self-reference
      self->quit();
      return;
    }
    (*send_one)();
  };
  *send_one = [=] {
    if (st->sent >= total)
      return;
    bridges::publish_batch msgs;
    auto n = std::min(batch, total - st->sent);
    msgs.messages.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      msgs.messages.push_back(prototype);
      msgs.messages.back().properties.message_id = std::to_string(st->sent++);
    }
    self
      ->request(publisher, caf::infinite, bridges::publish_atom::value,
                std::move(msgs))
      .then([=](caf::ok_atom) { settled(n, true); },
            [=](caf::error&) { settled(n, false); });
  };
  for (std::size_t i = 0; i < window && i * batch < total; ++i)
    (*send_one)();
  return {[](caf::ok_atom) {
  }};
}

} // namespace

throughput_result warren_throughput(const std::string& uri,
                                    const std::string& queue,
                                    std::size_t messages,
                                    std::size_t body_bytes,
                                    const std::string& state_dir) {
  auto cfg = make_config(uri);
  delete_queues(cfg, queue);
  config::actor_spec spec;
  spec.name = queue;
  spec.kind = state_dir.empty() ? "bench.counter" : "bench.stateful";
  spec.queue = queue;
  spec.prefetch = 500;
  // Group commit: up to 250 messages per transaction and multiple-ack.
  spec.commit.max_batch = 250;
  cfg.actors.push_back(spec);
  if (!state_dir.empty()) {
    std::filesystem::remove_all(state_dir);
    cfg.state_dir = state_dir;
  }
  registry kinds;
  kinds.add_kind<counter>("bench.counter");
  kinds.add_kind<stateful_counter>("bench.stateful");
  finish_line finish;
  finish.target = messages;
  current_finish = &finish;
  caf::actor_system_config sys_cfg;
  runtime::configure_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  throughput_result result{messages, 0, 0};
  {
    runtime::node node{sys, cfg, kinds};
    if (auto err = node.start(std::chrono::seconds{30}))
      throw std::runtime_error("node start: " + describe(err));
    warren::outgoing_message prototype;
    prototype.routing_key = queue;
    prototype.properties.delivery_mode = 2;
    prototype.properties.type = "bench";
    // A JSON string of exactly body_bytes bytes.
    prototype.body =
      "\"" + std::string(body_bytes > 2 ? body_bytes - 2 : 0, 'x') + "\"";
    auto done = std::make_shared<std::promise<std::size_t>>();
    auto confirmed = done->get_future();
    auto start = clock_type::now();
    sys.spawn(publish_driver, node.publisher(), prototype, messages,
              std::size_t{100}, window_batches, done);
    if (confirmed.wait_for(std::chrono::seconds{120}) !=
        std::future_status::ready)
      throw std::runtime_error("warren publish did not finish in 120 s");
    if (auto failed = confirmed.get(); failed > 0)
      throw std::runtime_error(std::to_string(failed) + " publishes failed");
    std::unique_lock<std::mutex> guard{finish.mtx};
    if (!finish.cv.wait_for(guard, std::chrono::seconds{120},
                            [&] { return finish.seen >= finish.target; }))
      throw std::runtime_error("warren subscriber saw only " +
                               std::to_string(finish.seen) + " of " +
                               std::to_string(messages));
    result.seconds = std::chrono::duration<double>(finish.last - start).count();
    result.msgs_per_sec = static_cast<double>(messages) / result.seconds;
    guard.unlock();
    node.stop();
  }
  current_finish = nullptr;
  delete_queues(cfg, queue);
  return result;
}

namespace {

// Sends "go" to the caller actor and waits for its chain of calls.
latency_result handler_calls(runtime::node& node, const std::string& caller,
                             const std::string& service, std::size_t calls) {
  call_log log;
  current_calls = &log;
  // The first calls declare the reply queue and warm the path up; they are
  // made and left out.
  constexpr std::size_t warm_up = 20;
  outgoing_message go;
  go.exchange = bridges::actors_exchange;
  go.routing_key = caller;
  go.properties.type = "go";
  go.properties.message_id = make_message_id();
  go.body = boost::json::serialize(boost::json::object{
    {"calls", static_cast<int64_t>(calls + warm_up)}, {"service", service}});
  caf::scoped_actor self{node.publisher().home_system()};
  self
    ->request(node.publisher(), std::chrono::seconds{10},
              bridges::publish_atom::value, go)
    .receive([](caf::ok_atom) {},
             [](caf::error& err) {
               throw std::runtime_error("publishing go: " + describe(err));
             });
  std::unique_lock<std::mutex> guard{log.mtx};
  if (!log.cv.wait_for(guard, std::chrono::seconds{120},
                       [&] { return log.done; }))
    throw std::runtime_error("handler calls did not finish in 120 s");
  current_calls = nullptr;
  if (!log.error.empty())
    throw std::runtime_error("handler call failed: " + log.error);
  latency_result result{calls, 0, 0, 0, 0};
  std::vector<double> us(log.us.begin() + warm_up, log.us.end());
  result.seconds = std::accumulate(us.begin(), us.end(), 0.0) / 1e6;
  result.calls_per_sec = static_cast<double>(calls) / result.seconds;
  std::sort(us.begin(), us.end());
  result.p50_us = percentile_sorted(us, 50);
  result.p99_us = percentile_sorted(us, 99);
  return result;
}

} // namespace

warren_rpc_result warren_rpc(const std::string& uri, const std::string& service,
                             std::size_t calls) {
  auto cfg = make_config(uri);
  delete_queues(cfg, service);
  config::actor_spec spec;
  spec.name = service;
  spec.kind = "service";
  spec.handler = "echo";
  spec.queue = service;
  spec.prefetch = 100;
  cfg.actors.push_back(spec);
  config::actor_spec caller_spec;
  caller_spec.name = service + ".caller";
  caller_spec.kind = "bench.caller";
  caller_spec.queue = caller_spec.name;
  cfg.actors.push_back(caller_spec);
  delete_queues(cfg, caller_spec.queue);
  registry kinds;
  actors::register_builtin_kinds(kinds);
  kinds.add_kind<caller>("bench.caller");
  caf::actor_system_config sys_cfg;
  runtime::configure_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  warren_rpc_result both{
    {calls, 0, 0, 0, 0}, {calls, 0, 0, 0, 0}, {calls, 0, 0, 0, 0}};
  auto& result = both.node_call;
  {
    runtime::node node{sys, cfg, kinds};
    if (auto err = node.start(std::chrono::seconds{30}))
      throw std::runtime_error("node start: " + describe(err));
    both.service =
      raw_rpc(parse_target(uri), service, calls, rpc_server::external);
    warren::outgoing_message prototype;
    prototype.exchange = bridges::actors_exchange;
    prototype.routing_key = service;
    prototype.mandatory = true;
    prototype.properties.delivery_mode = 1;
    prototype.body =
      R"({"op":"echo","payload":"0123456789abcdef0123456789ab"})";
    std::vector<double> latencies;
    latencies.reserve(calls);
    caf::scoped_actor self{sys};
    auto start = clock_type::now();
    for (std::size_t i = 0; i < calls; ++i) {
      auto t0 = clock_type::now();
      bool ok = false;
      std::string why;
      self
        ->request(node.requester(), caf::infinite, call_atom::value, prototype,
                  int64_t{10000})
        .receive([&](boost::json::value&) { ok = true; },
                 [&](caf::error& err) { why = describe(err); });
      if (!ok)
        throw std::runtime_error("warren call failed: " + why);
      latencies.push_back(
        std::chrono::duration<double, std::micro>(clock_type::now() - t0)
          .count());
    }
    result.seconds =
      std::chrono::duration<double>(clock_type::now() - start).count();
    result.calls_per_sec = static_cast<double>(calls) / result.seconds;
    std::sort(latencies.begin(), latencies.end());
    result.p50_us = percentile_sorted(latencies, 50);
    result.p99_us = percentile_sorted(latencies, 99);
    both.call = handler_calls(node, caller_spec.name, service, calls);
    node.stop();
  }
  delete_queues(cfg, service);
  delete_queues(cfg, caller_spec.queue);
  return both;
}

double stateful_recovery(const std::string& uri, const std::string& queue,
                         std::size_t states, const std::string& state_dir) {
  std::filesystem::remove_all(state_dir);
  {
    runtime::store_settings settings;
    settings.path = state_dir + "/warren.db";
    auto store = runtime::checkpoint_store::open(settings);
    if (!store)
      throw std::runtime_error(describe(store.error()));
    runtime::unit_of_work work{queue};
    for (std::size_t i = 0; i < states; ++i) {
      work.put_state({"key-" + std::to_string(i), 1,
                      R"({"count":)" + std::to_string(i) + "}"});
      work.applied("message-" + std::to_string(i));
    }
    if (auto err = (*store)->commit(work))
      throw std::runtime_error(describe(err));
  }
  auto cfg = make_config(uri);
  delete_queues(cfg, queue);
  config::actor_spec spec;
  spec.name = queue;
  spec.kind = "bench.stateful";
  spec.queue = queue;
  cfg.actors.push_back(spec);
  cfg.state_dir = state_dir;
  registry kinds;
  kinds.add_kind<stateful_counter>("bench.stateful");
  caf::actor_system_config sys_cfg;
  runtime::configure_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  double seconds = 0;
  {
    auto start = clock_type::now();
    runtime::node node{sys, cfg, kinds};
    if (auto err = node.start(std::chrono::seconds{30}))
      throw std::runtime_error("node start: " + describe(err));
    seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    node.stop();
  }
  delete_queues(cfg, queue);
  std::filesystem::remove_all(state_dir);
  return seconds;
}

} // namespace warren::bench
