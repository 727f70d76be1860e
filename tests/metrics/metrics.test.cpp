// The metric cells, the registry and the text format (pure: no HTTP).

#include "warren/metrics/cells.hpp"
#include "warren/metrics/process_collector.hpp"
#include "warren/metrics/registry.hpp"
#include "warren/metrics/sets.hpp"

#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace warren;

namespace {

// The value of the sample line `series` (name and labels as printed) in a
// scrape, or -1 when there is none.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0)
      return std::stod(line.substr(series.size() + 1));
  return -1;
}

} // namespace

TEST_CASE("counters and gauges carry the node label and their own labels",
          "[metrics]") {
  metrics::registry reg{"n1"};
  auto c = reg.make_counter("warren_things_total", "Things.", {{"actor", "a"}});
  auto g = reg.make_gauge("warren_level", "A level.", {{"actor", "a"}});
  c.inc();
  c.inc(2);
  g.set(7);
  g.add(-2);
  auto text = reg.scrape();
  CHECK(sample(text, R"(warren_things_total{actor="a",node="n1"})") == 3);
  CHECK(sample(text, R"(warren_level{actor="a",node="n1"})") == 5);
  CHECK(text.find("# TYPE warren_things_total counter") != std::string::npos);
  CHECK(text.find("# HELP warren_level A level.") != std::string::npos);
}

TEST_CASE("asking again for a metric returns the same one, so counters stay "
          "monotonic when an actor restarts or reconnects",
          "[metrics]") {
  metrics::registry reg{"n"};
  auto first = metrics::make_delivery_metrics(reg, "orders", "orders");
  first.received.inc(5);
  first.failed.of(errc::unknown_type).inc();
  // The restarted instance makes its set again.
  auto second = metrics::make_delivery_metrics(reg, "orders", "orders");
  second.received.inc();
  second.failed.of(errc::unknown_type).inc();
  auto text = reg.scrape();
  CHECK(sample(text,
               R"(warren_messages_received_total{actor="orders",node="n"})") ==
        6);
  CHECK(sample(text, R"(warren_messages_failed_total{actor="orders",node="n",)"
                     R"(reason="unknown_type"})") == 2);
  // The usual reasons exist from the start, at 0.
  CHECK(sample(text, R"(warren_messages_failed_total{actor="orders",node="n",)"
                     R"(reason="handler_failed"})") == 0);
}

TEST_CASE("histogram buckets are upper-inclusive and cumulative, the sum is "
          "exact to the nanosecond, and each scrape adds only what is new",
          "[metrics]") {
  metrics::registry reg{"n"};
  auto h = reg.make_histogram("warren_x_seconds", "X.", {0.1, 1}, {});
  h.observe(0.1); // le="0.1" counts 0.1
  h.observe(0.5);
  h.observe(3);
  auto text = reg.scrape();
  CHECK(sample(text, R"(warren_x_seconds_bucket{node="n",le="0.1"})") == 1);
  CHECK(sample(text, R"(warren_x_seconds_bucket{node="n",le="1"})") == 2);
  CHECK(sample(text, R"(warren_x_seconds_bucket{node="n",le="+Inf"})") == 3);
  CHECK(sample(text, R"(warren_x_seconds_count{node="n"})") == 3);
  CHECK(sample(text, R"(warren_x_seconds_sum{node="n"})") == Approx(3.6));
  h.observe(0.05);
  text = reg.scrape();
  text = reg.scrape(); // a scrape with nothing new changes nothing
  CHECK(sample(text, R"(warren_x_seconds_bucket{node="n",le="0.1"})") == 2);
  CHECK(sample(text, R"(warren_x_seconds_count{node="n"})") == 4);
  CHECK(sample(text, R"(warren_x_seconds_sum{node="n"})") == Approx(3.65));
}

TEST_CASE("observations from several threads during scrapes are all counted",
          "[metrics]") {
  metrics::registry reg{"n"};
  auto h = reg.make_histogram("warren_y_seconds", "Y.",
                              metrics::duration_buckets(), {});
  auto c = reg.make_counter("warren_y_total", "Y.");
  constexpr int per_thread = 100000;
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t)
    writers.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        h.observe(0.002);
        c.inc();
      }
    });
  for (int i = 0; i < 50; ++i)
    (void)reg.scrape();
  for (auto& w : writers)
    w.join();
  auto text = reg.scrape();
  CHECK(sample(text, R"(warren_y_seconds_count{node="n"})") == 2 * per_thread);
  CHECK(sample(text, R"(warren_y_seconds_bucket{node="n",le="0.001"})") == 0);
  CHECK(sample(text, R"(warren_y_seconds_bucket{node="n",le="0.0025"})") ==
        2 * per_thread);
  CHECK(sample(text, R"(warren_y_total{node="n"})") == 2 * per_thread);
  CHECK(sample(text, R"(warren_y_seconds_sum{node="n"})") ==
        Approx(2 * per_thread * 0.002));
}

TEST_CASE("label values are escaped in the text format", "[metrics]") {
  metrics::registry reg{"node \"q\"\\"};
  reg.make_counter("warren_z_total", "Z.", {{"actor", "a\nb"}}).inc();
  auto text = reg.scrape();
  CHECK(sample(text, R"(warren_z_total{actor="a\nb",node="node \"q\"\\"})") ==
        1);
}

TEST_CASE("handles of metrics that are off do nothing", "[metrics]") {
  metrics::delivery_metrics off;
  off.received.inc();
  off.failed.of(errc::timeout).inc();
  off.handler_seconds.observe(1);
  off.in_flight.set(3);
  CHECK_FALSE(off.received);
  CHECK_FALSE(off.handler_seconds);
  CHECK(off.in_flight.value() == 0);
}

TEST_CASE("the process collector reports this process", "[metrics]") {
  metrics::registry reg{"n"};
  reg.add_collectable(metrics::make_process_collector("n", "9.9.9"));
  auto text = reg.scrape();
  CHECK(sample(text, R"(process_resident_memory_bytes{node="n"})") > 1e5);
  CHECK(sample(text, R"(process_open_fds{node="n"})") >= 3);
  CHECK(sample(text, R"(process_start_time_seconds{node="n"})") > 1.6e9);
  CHECK(sample(text, R"(process_cpu_seconds_total{node="n"})") >= 0);
  CHECK(sample(text, R"(warren_process_cpu_cores{node="n"})") >= 1);
  CHECK(sample(text, R"(warren_process_memory_limit_bytes{node="n"})") > 1e6);
  CHECK(sample(text, R"(warren_build_info{node="n",version="9.9.9"})") == 1);
}
