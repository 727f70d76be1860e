#include "stats.hpp"
#include "warren/actors/builtin.hpp"
#include "warren/bridges/atoms.hpp"
#include "warren/bridges/client.hpp"
#include "warren/bridges/publisher.hpp"
#include "warren/runtime/call.hpp"
#include "warren/runtime/node.hpp"
#include "warren/runtime/stateful.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"
#include "warren_common.hpp"
#include "warren_side.hpp"

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

// Request-response through warren: the raw client calling a warren service,
// calls from a handler, and calls from outside actors.

namespace warren::bench {

namespace {

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

} // namespace

namespace {

latency_result summary_of(std::vector<double> us) {
  latency_result result{us.size(), 0, 0, 0, 0};
  result.seconds = std::accumulate(us.begin(), us.end(), 0.0) / 1e6;
  result.calls_per_sec = static_cast<double>(us.size()) / result.seconds;
  std::sort(us.begin(), us.end());
  result.p50_us = percentile_sorted(us, 50);
  result.p99_us = percentile_sorted(us, 99);
  return result;
}

// Sends "go" to the caller actor and waits for its chain of `calls` calls;
// their round trips are appended to `us`.
void handler_calls(runtime::node& node, const std::string& caller,
                   const std::string& service, std::size_t calls,
                   std::vector<double>& us) {
  call_log log;
  current_calls = &log;
  outgoing_message go;
  go.exchange = bridges::actors_exchange;
  go.routing_key = caller;
  go.properties.type = "go";
  go.properties.message_id = make_message_id();
  go.body = boost::json::serialize(boost::json::object{
    {"calls", static_cast<int64_t>(calls)}, {"service", service}});
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
  us.insert(us.end(), log.us.begin(), log.us.end());
}

// One call from outside any actor, through the node's requester; its round
// trip in microseconds.
double node_call(caf::scoped_actor& self, runtime::node& node,
                 const outgoing_message& request) {
  auto t0 = clock_type::now();
  std::string why;
  bool ok = false;
  self
    ->request(node.requester(), caf::infinite, call_atom::value, request,
              int64_t{10000})
    .receive([&](boost::json::value&) { ok = true; },
             [&](caf::error& err) { why = describe(err); });
  if (!ok)
    throw std::runtime_error("warren call failed: " + why);
  return std::chrono::duration<double, std::micro>(clock_type::now() - t0)
    .count();
}

// The node: an echo service, and the actor that calls it from a handler.
config::node_config rpc_node_config(const std::string& uri,
                                    const std::string& service) {
  auto cfg = make_config(uri);
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
  for (const auto& a : cfg.actors)
    delete_queues(cfg, a.queue);
  return cfg;
}

} // namespace

rpc_comparison compare_rpc(const std::string& uri, const std::string& service,
                           std::size_t calls) {
  auto cfg = rpc_node_config(uri, service);
  registry kinds;
  actors::register_builtin_kinds(kinds);
  kinds.add_kind<caller>("bench.caller");
  caf::actor_system_config sys_cfg;
  runtime::configure_system(sys_cfg, cfg);
  caf::actor_system sys{sys_cfg};
  std::vector<double> raw, svc, raw_c, call, raw_n, ncall;
  {
    runtime::node node{sys, cfg, kinds};
    if (auto err = node.start(std::chrono::seconds{30}))
      throw std::runtime_error("node start: " + describe(err));
    auto target = parse_target(uri);
    const auto raw_queue = service + ".raw";
    raw_rpc_server server{target, raw_queue};
    raw_rpc_client client{target};
    // Warm every path up (connections, the caller's reply queue).
    std::vector<double> warm_up;
    handler_calls(node, cfg.actors[1].name, service, 20, warm_up);
    for (int i = 0; i < 20; ++i) {
      client.call(raw_queue);
      client.call(service);
    }
    for (std::size_t i = 0; i < calls; ++i) {
      raw.push_back(client.call(raw_queue));
      svc.push_back(client.call(service));
    }
    constexpr std::size_t block = 100;
    for (std::size_t done = 0; done < calls; done += block) {
      auto n = std::min(block, calls - done);
      for (std::size_t i = 0; i < n; ++i)
        raw_c.push_back(client.call(raw_queue));
      handler_calls(node, cfg.actors[1].name, service, n, call);
    }
    outgoing_message request;
    request.exchange = bridges::actors_exchange;
    request.routing_key = service;
    request.mandatory = true;
    request.properties.delivery_mode = 1;
    request.body = R"({"op":"echo","payload":"0123456789abcdef0123456789ab"})";
    caf::scoped_actor self{sys};
    for (std::size_t i = 0; i < calls; ++i) {
      raw_n.push_back(client.call(raw_queue));
      ncall.push_back(node_call(self, node, request));
    }
    node.stop();
  }
  for (const auto& a : cfg.actors)
    delete_queues(cfg, a.queue);
  return {summary_of(raw),  summary_of(svc),   summary_of(raw_c),
          summary_of(call), summary_of(raw_n), summary_of(ncall)};
}

} // namespace warren::bench
