#include "warren/metrics/registry.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace warren::metrics {

const std::vector<double>& duration_buckets() {
  // 1, 2.5, 5 per decade from 10 µs (a fast handler) to 60 s.
  static const std::vector<double> bounds{
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
    0.0025,  0.005,    0.01,    0.025,  0.05,    0.1,    0.25,
    0.5,     1,        2.5,     5,      10,      30,     60};
  return bounds;
}

const std::vector<double>& count_buckets() {
  static const std::vector<double> bounds{1,   2,   5,   10,   20,   50,
                                          100, 200, 500, 1000, 10000};
  return bounds;
}

// Our cells and the library histogram they feed at each scrape.
struct registry::fed_histogram {
  fed_histogram(const std::vector<double>& bounds, double scale,
                prometheus::Histogram* into)
    : cells(bounds, scale), target(into) {}
  histogram_cells cells;
  prometheus::Histogram* target;
};

registry::registry(std::string node_name)
  : node_(std::move(node_name)),
    prom_(std::make_shared<prometheus::Registry>()) {
  // Nothing else to do.
}

registry::~registry() = default;

labels registry::with_node(const labels& extra) const {
  auto all = extra;
  all["node"] = node_;
  return all;
}

counter registry::make_counter(const std::string& name, const std::string& help,
                               const labels& extra) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& family =
    prometheus::BuildCounter().Name(name).Help(help).Register(*prom_);
  return counter{&family.Add(with_node(extra))};
}

gauge registry::make_gauge(const std::string& name, const std::string& help,
                           const labels& extra) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& family =
    prometheus::BuildGauge().Name(name).Help(help).Register(*prom_);
  return gauge{&family.Add(with_node(extra))};
}

histogram registry::make_histogram(const std::string& name,
                                   const std::string& help,
                                   const std::vector<double>& bounds,
                                   const labels& extra, double scale) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& family =
    prometheus::BuildHistogram().Name(name).Help(help).Register(*prom_);
  auto& target = family.Add(with_node(extra), bounds);
  for (auto& h : histograms_)
    if (h->target == &target)
      return histogram{&h->cells};
  histograms_.push_back(
    std::make_unique<fed_histogram>(bounds, scale, &target));
  return histogram{&histograms_.back()->cells};
}

void registry::add_collectable(
  std::shared_ptr<prometheus::Collectable> source) {
  std::lock_guard<std::mutex> guard{mutex_};
  collectables_.push_back(std::move(source));
}

std::string registry::scrape() {
  std::lock_guard<std::mutex> guard{mutex_};
  for (auto& h : histograms_)
    h->cells.feed(*h->target);
  auto families = prom_->Collect();
  for (const auto& source : collectables_) {
    auto more = source->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  return prometheus::TextSerializer{}.Serialize(families);
}

} // namespace warren::metrics
