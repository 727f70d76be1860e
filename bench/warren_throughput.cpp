#include "stats.hpp"
#include "warren/actors/builtin.hpp"
#include "warren/bridges/atoms.hpp"
#include "warren/bridges/client.hpp"
#include "warren/bridges/publisher.hpp"
#include "warren/core/shard.hpp"
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
#include <vector>

// Throughput through warren (a counting subscriber, stateless or stateful)
// and the recovery of a stateful actor's states.

namespace warren::bench {

namespace {

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

} // namespace

throughput_result warren_throughput(const std::string& uri,
                                    const std::string& queue,
                                    std::size_t messages,
                                    std::size_t body_bytes,
                                    const std::string& state_dir, bool metrics,
                                    const keyed_load& load) {
  auto keys = load.keys;
  auto shards = load.shards;
  auto cfg = make_config(uri);
  if (metrics) {
    cfg.metrics.enabled = true;
    cfg.metrics.host = "127.0.0.1";
    cfg.metrics.port = 0;
  }
  delete_queues(cfg, queue);
  config::actor_spec spec;
  spec.name = queue;
  spec.kind = state_dir.empty() ? "bench.counter" : "bench.stateful";
  spec.queue = queue;
  spec.prefetch = 500;
  // Group commit: up to 250 messages per transaction and multiple-ack.
  spec.commit.max_batch = 250;
  spec.shards = shards;
  cfg.actors.push_back(spec);
  if (load.quorum) {
    bridges::queue_spec q;
    q.name = queue;
    q.type = bridges::queue_type::quorum;
    cfg.topology.queues.push_back(q);
  }
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
    scraper scrapes{node.metrics_port(), std::chrono::seconds{1}};
    auto start = clock_type::now();
    // A key's shard queue, when the publisher routes (computed once).
    std::vector<std::string> shard_of_key;
    if (load.to_shards && shards > 0)
      for (std::size_t k = 0; k < keys; ++k)
        shard_of_key.push_back(
          shard_name(queue, shard_of("k" + std::to_string(k), shards)));
    message_maker make = [prototype, keys, shard_of_key](std::size_t i) {
      auto msg = prototype;
      msg.properties.message_id = std::to_string(i);
      if (keys > 1)
        set_field(msg.properties.headers, "x-warren-key",
                  "k" + std::to_string(i % keys));
      if (!shard_of_key.empty())
        msg.routing_key = shard_of_key[i % keys];
      return msg;
    };
    sys.spawn(publish_driver, node.publisher(), std::move(make), messages,
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
    if (metrics && scrapes.stop() == 0)
      throw std::runtime_error("no scrape of /metrics succeeded");
    node.stop();
  }
  current_finish = nullptr;
  delete_queues(cfg, queue);
  for (uint32_t i = 0; i < shards; ++i)
    delete_queues(cfg, shard_name(queue, i));
  if (shards > 0)
    delete_queues(cfg, queue + ".log");
  return result;
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
