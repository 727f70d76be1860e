// warren-bench: raw rabbitmq-c vs warren, in one run, as machine-readable
// lines `BENCH name=... value=... unit=...`.
//
//   build/bench/warren-bench [--uri URI] [--messages N] [--calls N] [--rounds N]
//
// URI defaults to $WARREN_TEST_AMQP_URI, then amqp://guest:guest@127.0.0.1:5690/.
// Each round runs raw then warren back to back; the figures are the medians.

#include "raw_baseline.hpp"
#include "stats.hpp"
#include "warren_side.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  using namespace warren::bench;
  std::string uri = "amqp://guest:guest@127.0.0.1:5690/";
  if (const char* env = std::getenv("WARREN_TEST_AMQP_URI"); env && *env)
    uri = env;
  std::size_t messages = 20000;
  std::size_t calls = 2000;
  std::size_t rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--uri")
      uri = value;
    else if (flag == "--messages")
      messages = std::stoul(value);
    else if (flag == "--calls")
      calls = std::stoul(value);
    else if (flag == "--rounds")
      rounds = std::stoul(value);
    else {
      std::cerr << "usage: warren-bench [--uri URI] [--messages N] [--calls N] "
                   "[--rounds N]\n";
      return 2;
    }
  }
  try {
    auto target = parse_target(uri);
    std::vector<double> raw_tp, warren_tp, raw_p50, raw_p99, raw_cps, w_p50,
      w_p99, w_cps;
    for (std::size_t r = 0; r < rounds; ++r) {
      std::cerr << "round " << r + 1 << ": raw throughput\n";
      raw_tp.push_back(
        raw_throughput(target, "bench.raw.throughput", messages).msgs_per_sec);
      std::cerr << "round " << r + 1 << ": warren throughput\n";
      warren_tp.push_back(
        warren_throughput(uri, "bench.warren.throughput", messages).msgs_per_sec);
      std::cerr << "round " << r + 1 << ": raw rpc\n";
      auto raw = raw_rpc(target, "bench.raw.rpc", calls);
      raw_p50.push_back(raw.p50_us);
      raw_p99.push_back(raw.p99_us);
      raw_cps.push_back(raw.calls_per_sec);
      std::cerr << "round " << r + 1 << ": warren rpc\n";
      auto w = warren_rpc(uri, "bench.warren.rpc", calls);
      w_p50.push_back(w.p50_us);
      w_p99.push_back(w.p99_us);
      w_cps.push_back(w.calls_per_sec);
      std::cerr << "round " << r + 1 << ": raw " << raw_tp.back()
                << " msg/s, warren " << warren_tp.back() << " msg/s; rpc p50 raw "
                << raw.p50_us << " us, warren " << w.p50_us << " us\n";
    }
    print_metric("config.messages", static_cast<double>(messages), "count");
    print_metric("config.calls", static_cast<double>(calls), "count");
    print_metric("config.rounds", static_cast<double>(rounds), "count");
    print_metric("raw.throughput", median(raw_tp), "msg/s");
    print_metric("warren.throughput", median(warren_tp), "msg/s");
    print_metric("warren.throughput.ratio", median(warren_tp) / median(raw_tp),
                 "ratio");
    print_metric("raw.rpc.throughput", median(raw_cps), "calls/s");
    print_metric("raw.rpc.p50", median(raw_p50), "us");
    print_metric("raw.rpc.p99", median(raw_p99), "us");
    print_metric("warren.rpc.throughput", median(w_cps), "calls/s");
    print_metric("warren.rpc.p50", median(w_p50), "us");
    print_metric("warren.rpc.p99", median(w_p99), "us");
    print_metric("warren.rpc.p50.ratio", median(w_p50) / median(raw_p50),
                 "ratio");
  } catch (const std::exception& e) {
    std::cerr << "warren-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
