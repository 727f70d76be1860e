/// Scratch driver for the raw rabbitmq-c baseline, until bench/main.cpp runs
/// it next to warren's figures. Usage:
///
///   raw_main_scratch [amqp-uri] [messages] [calls]
///
/// Defaults: amqp://guest:guest@127.0.0.1:5690/ (the private test broker of
/// scripts/broker.sh), 20000 messages, 2000 calls.

#include "raw_baseline.hpp"
#include "stats.hpp"

#include <exception>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  using namespace warren::bench;
  try {
    std::string uri = argc > 1 ? argv[1] : "amqp://guest:guest@127.0.0.1:5690/";
    std::size_t messages = argc > 2 ? std::stoul(argv[2]) : 20000;
    std::size_t calls = argc > 3 ? std::stoul(argv[3]) : 2000;
    auto target = parse_target(uri);

    auto tp = raw_throughput(target, "warren.bench.raw.throughput", messages);
    print_metric("raw.throughput", tp.msgs_per_sec, "msg/s");
    print_metric("raw.throughput.seconds", tp.seconds, "s");

    auto rpc = raw_rpc(target, "warren.bench.raw.rpc", calls);
    print_metric("raw.rpc.throughput", rpc.calls_per_sec, "calls/s");
    print_metric("raw.rpc.p50", rpc.p50_us, "us");
    print_metric("raw.rpc.p99", rpc.p99_us, "us");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "raw_main_scratch: " << e.what() << '\n';
    return 1;
  }
}
