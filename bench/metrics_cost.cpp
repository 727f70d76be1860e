#include "metrics_cost.hpp"

#include "stats.hpp"
#include "warren/metrics/registry.hpp"

#include <atomic>
#include <chrono>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <thread>

// What one observation costs on a consumer's thread: prometheus-cpp's
// Histogram::Observe (a mutex a scrape also takes) against warren's
// histogram cells (atomic buckets fed to the library at scrape time), alone
// and while another thread scrapes without pause (the worst case: a real
// scrape comes every few seconds).

namespace warren::bench {

namespace {

using bench_clock = std::chrono::steady_clock;

constexpr int observations = 5'000'000;

// Nanoseconds per call of `observe(i)`, while `scrape` runs on another
// thread in a loop (when set).
template<class Observe, class Scrape>
double ns_per_observation(Observe observe, Scrape scrape, bool scraping) {
  std::atomic<bool> done{false};
  std::thread scraper;
  if (scraping)
    scraper = std::thread{[&] {
      while (!done)
        scrape();
    }};
  auto start = bench_clock::now();
  for (int i = 0; i < observations; ++i)
    observe(static_cast<double>(i % 1000) * 1e-5);
  auto took =
    std::chrono::duration<double, std::nano>(bench_clock::now() - start)
      .count();
  done = true;
  if (scraper.joinable())
    scraper.join();
  return took / observations;
}

} // namespace

void measure_metrics_cost() {
  auto prom = std::make_shared<prometheus::Registry>();
  auto& family = prometheus::BuildHistogram()
                   .Name("bench_prometheus_seconds")
                   .Help("bench")
                   .Register(*prom);
  auto& library = family.Add({{"actor", "a"}}, metrics::duration_buckets());
  auto library_scrape = [&] {
    (void)prometheus::TextSerializer{}.Serialize(prom->Collect());
  };
  metrics::registry reg{"bench"};
  auto cells =
    reg.make_histogram("bench_warren_seconds", "bench",
                       metrics::duration_buckets(), {{"actor", "a"}});
  auto warren_scrape = [&] {
    (void)reg.scrape();
  };
  for (bool scraping : {false, true}) {
    auto suffix = scraping ? ".scraping" : "";
    print_metric(std::string{"metrics.observe.prometheus_cpp"} + suffix,
                 ns_per_observation([&](double v) { library.Observe(v); },
                                    library_scrape, scraping),
                 "ns");
    print_metric(std::string{"metrics.observe.warren"} + suffix,
                 ns_per_observation([&](double v) { cells.observe(v); },
                                    warren_scrape, scraping),
                 "ns");
  }
}

} // namespace warren::bench
