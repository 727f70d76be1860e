// warren-bench: raw rabbitmq-c vs warren, in one run, as machine-readable
// lines `BENCH name=... value=... unit=...`.
//
//   build/bench/warren-bench [--uri URI] [--messages N] [--calls N] [--rounds
//   N]
//
// URI defaults to $WARREN_TEST_AMQP_URI, then
// amqp://guest:guest@127.0.0.1:5690/. Each round runs raw then warren back to
// back; figures are medians over the rounds, ratios the medians of the
// per-round ratios.
//
//   warren.rpc.*   the raw client calling a warren echo service (the cost of
//                  warren's service side, against the raw server)
//   warren.call.*  warren to warren: calls made by a handler, on its
//                  consumer's own connection
//   warren.node_call.*  calls from outside actors, through a node's
//                  requester

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
    // Per round: raw then warren, back to back; ratios are taken per round
    // (same moment, same machine load) and their median reported.
    std::vector<double> raw_tp, w_tp, tp_ratio;
    std::vector<double> raw_p50, raw_p99, raw_cps;
    std::vector<double> svc_p50, svc_p99, svc_cps, svc_ratio;
    std::vector<double> call_p50, call_p99, call_cps, call_ratio;
    std::vector<double> ncall_p50, ncall_ratio;
    std::vector<double> st_tp, st_ratio, recovery;
    const std::string state_dir = "/tmp/warren-bench-state";
    for (std::size_t r = 0; r < rounds; ++r) {
      std::cerr << "round " << r + 1 << ": throughput\n";
      raw_tp.push_back(
        raw_throughput(target, "bench.raw.throughput", messages).msgs_per_sec);
      w_tp.push_back(warren_throughput(uri, "bench.warren.throughput", messages)
                       .msgs_per_sec);
      tp_ratio.push_back(w_tp.back() / raw_tp.back());
      st_tp.push_back(warren_throughput(uri, "bench.warren.stateful", messages,
                                        256, state_dir)
                        .msgs_per_sec);
      st_ratio.push_back(st_tp.back() / raw_tp.back());
      recovery.push_back(
        stateful_recovery(uri, "bench.warren.recovery", 100000, state_dir));
      std::cerr << "round " << r + 1 << ": rpc\n";
      auto raw = raw_rpc(target, "bench.raw.rpc", calls);
      auto w = warren_rpc(uri, "bench.warren.rpc", calls);
      raw_p50.push_back(raw.p50_us);
      raw_p99.push_back(raw.p99_us);
      raw_cps.push_back(raw.calls_per_sec);
      svc_p50.push_back(w.service.p50_us);
      svc_p99.push_back(w.service.p99_us);
      svc_cps.push_back(w.service.calls_per_sec);
      svc_ratio.push_back(w.service.p50_us / raw.p50_us);
      call_p50.push_back(w.call.p50_us);
      call_p99.push_back(w.call.p99_us);
      call_cps.push_back(w.call.calls_per_sec);
      call_ratio.push_back(w.call.p50_us / raw.p50_us);
      ncall_p50.push_back(w.node_call.p50_us);
      ncall_ratio.push_back(w.node_call.p50_us / raw.p50_us);
      std::cerr << "round " << r + 1 << ": raw " << raw_tp.back()
                << " msg/s, warren " << w_tp.back() << " msg/s, stateful "
                << st_tp.back() << " msg/s, recovery of 100k states "
                << recovery.back() << " s; rpc p50 raw " << raw.p50_us
                << " us, warren service " << w.service.p50_us
                << " us, warren call " << w.call.p50_us << " us\n";
    }
    print_metric("config.messages", static_cast<double>(messages), "count");
    print_metric("config.calls", static_cast<double>(calls), "count");
    print_metric("config.rounds", static_cast<double>(rounds), "count");
    print_metric("raw.throughput", median(raw_tp), "msg/s");
    print_metric("warren.throughput", median(w_tp), "msg/s");
    print_metric("warren.throughput.ratio", median(tp_ratio), "ratio");
    print_metric("warren.stateful.throughput", median(st_tp), "msg/s");
    print_metric("warren.stateful.throughput.ratio", median(st_ratio), "ratio");
    print_metric("warren.stateful.recovery_100k", median(recovery), "s");
    print_metric("raw.rpc.throughput", median(raw_cps), "calls/s");
    print_metric("raw.rpc.p50", median(raw_p50), "us");
    print_metric("raw.rpc.p99", median(raw_p99), "us");
    print_metric("warren.rpc.throughput", median(svc_cps), "calls/s");
    print_metric("warren.rpc.p50", median(svc_p50), "us");
    print_metric("warren.rpc.p99", median(svc_p99), "us");
    print_metric("warren.rpc.p50.ratio", median(svc_ratio), "ratio");
    print_metric("warren.call.throughput", median(call_cps), "calls/s");
    print_metric("warren.call.p50", median(call_p50), "us");
    print_metric("warren.call.p99", median(call_p99), "us");
    print_metric("warren.call.p50.ratio", median(call_ratio), "ratio");
    print_metric("warren.node_call.p50", median(ncall_p50), "us");
    print_metric("warren.node_call.p50.ratio", median(ncall_ratio), "ratio");
  } catch (const std::exception& e) {
    std::cerr << "warren-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
