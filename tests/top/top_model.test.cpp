// `warren top`'s figures: the exposition parser, PromQL's arithmetic, the
// views between two scrapes and the frame they render to (no I/O).

#include "top_model.hpp"

#include "warren/metrics/registry.hpp"
#include "warren/metrics/sets.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>

using namespace warren::cli::top_model;

namespace {

const double inf = std::numeric_limits<double>::infinity();

std::vector<sample> parsed(const std::string& text) {
  auto samples = parse_exposition(text);
  REQUIRE(samples);
  return *samples;
}

std::string parse_error(const std::string& text) {
  auto samples = parse_exposition(text);
  REQUIRE(!samples);
  return warren::describe(samples.error());
}

scrape scrape_of(double at, const std::string& text) {
  scrape s;
  s.source = "127.0.0.1:9464";
  s.taken_at = at;
  s.samples = parsed(text);
  return s;
}

// What a node with one actor renders, in the registry's own words, with the
// figures that change between scrapes as parameters.
std::string actor_text(const std::string& actor, int received, int handled,
                       int failed, int fast, int slow, int in_flight) {
  auto labels = "{actor=\"" + actor + "\",node=\"n1\"";
  auto line = [&](const std::string& name, const std::string& more, int v) {
    return name + labels + more + "} " + std::to_string(v) + "\n";
  };
  return "# TYPE warren_messages_received_total counter\n" +
         line("warren_messages_received_total", "", received) +
         line("warren_messages_handled_total", "", handled) +
         line("warren_messages_failed_total", ",reason=\"malformed_body\"",
              failed) +
         line("warren_messages_failed_total", ",reason=\"timeout\"", 0) +
         line("warren_deliveries_in_flight", "", in_flight) +
         line("warren_prefetch", "", 10) +
         line("warren_actor_queue_info", ",queue=\"q-" + actor + "\"", 1) +
         line("warren_handler_duration_seconds_bucket", ",le=\"0.001\"", 0) +
         line("warren_handler_duration_seconds_bucket", ",le=\"0.01\"", fast) +
         line("warren_handler_duration_seconds_bucket", ",le=\"0.1\"",
              fast + slow) +
         line("warren_handler_duration_seconds_bucket", ",le=\"+Inf\"",
              fast + slow) +
         line("warren_handler_duration_seconds_count", "", fast + slow);
}

} // namespace

// -- the exposition format ----------------------------------------------------

TEST_CASE("the parser reads names, labels with escaped backslashes, quotes "
          "and newlines, and values such as +Inf and NaN, skipping comments",
          "[top]") {
  auto samples =
    parsed("# HELP a_total Things, with \\\\ and \\n.\n"
           "# TYPE a_total counter\n"
           "\n"
           "a_total{node=\"n1\",path=\"C:\\\\x \\\"y\\\"\\nz\"} 3\n"
           "b:rule{} +Inf\n"
           "c -Inf 1700000000000\n"
           "  d { x = \"1\" , } NaN\r\n"
           "e 1.5e-3");
  REQUIRE(samples.size() == 5);
  CHECK(samples[0].name == "a_total");
  CHECK(samples[0].labels.at("node") == "n1");
  CHECK(samples[0].labels.at("path") == "C:\\x \"y\"\nz");
  CHECK(samples[0].value == 3);
  CHECK(samples[1].name == "b:rule");
  CHECK(samples[1].labels.empty());
  CHECK(samples[1].value == inf);
  CHECK(samples[2].value == -inf);
  CHECK(samples[3].labels.at("x") == "1");
  CHECK(std::isnan(samples[3].value));
  CHECK(samples[4].value == Approx(0.0015));
}

TEST_CASE("a line the parser cannot read rejects the scrape and names the "
          "line and what is wrong",
          "[top]") {
  CHECK(parse_error("ok 1\n{x=\"1\"} 2\n") == "line 2: expected a metric name");
  CHECK(parse_error("a{x=\"1} 2\n") ==
        "line 1: no closing '\"' in the value of label x");
  CHECK(parse_error("a{x=\"\\t\"} 2\n") ==
        "line 1: unknown escape \\t in the value of label x");
  CHECK(parse_error("a{x} 2\n") == "line 1: expected '=' after label x");
  CHECK(parse_error("a{x=\"1\" y=\"2\"} 2\n") ==
        "line 1: expected ',' or '}' after label x");
  CHECK(parse_error("a twelve\n") == "line 1: the value is not a number");
  CHECK(parse_error("a 1 soon\n") == "line 1: the timestamp is not an integer");
  CHECK(parse_error("a 1 2 3\n") == "line 1: unexpected text after the value");
  CHECK(parse_error("a\n") ==
        "line 1: expected a blank and a value after the series");
}

TEST_CASE("the parser reads what a node's metrics registry renders", "[top]") {
  warren::metrics::registry reg{"n1"};
  auto m = warren::metrics::make_delivery_metrics(reg, "orders", "orders-q");
  m.received.inc(3);
  m.handler_seconds.observe(0.002);
  auto samples = parsed(reg.scrape());
  bool received = false;
  bool inf_bucket = false;
  for (const auto& s : samples) {
    CHECK(s.labels.at("node") == "n1");
    if (s.name == "warren_messages_received_total") {
      received = true;
      CHECK(s.labels.at("actor") == "orders");
      CHECK(s.value == 3);
    }
    if (s.name == "warren_handler_duration_seconds_bucket" &&
        s.labels.at("le") == "+Inf") {
      inf_bucket = true;
      CHECK(s.value == 1);
    }
  }
  CHECK(received);
  CHECK(inf_bucket);
}

// -- arithmetic ---------------------------------------------------------------

TEST_CASE("histogram_quantile interpolates linearly inside the bucket that "
          "holds the rank, as PromQL does",
          "[top]") {
  bucket_counts buckets{{0.1, 10}, {0.5, 30}, {1, 40}, {inf, 40}};
  // Rank 20 of 40 is the 10th of 20 observations in (0.1, 0.5].
  CHECK(*histogram_quantile(0.5, buckets) == Approx(0.3));
  // Rank 39.6 is the 9.6th of 10 in (0.5, 1].
  CHECK(*histogram_quantile(0.99, buckets) == Approx(0.98));
  // The first bucket starts at 0.
  CHECK(*histogram_quantile(0.5, {{1, 10}, {inf, 10}}) == Approx(0.5));
  // In the +Inf bucket: the largest finite bound.
  CHECK(*histogram_quantile(0.5, {{0.1, 1}, {1, 2}, {inf, 10}}) == 1);
  // A count that dips (scraped mid-update) is read as the running maximum.
  CHECK(*histogram_quantile(0.5, {{0.1, 6}, {0.5, 5}, {inf, 10}}) ==
        Approx(0.1 * 5 / 6));
}

TEST_CASE("histogram_quantile has no answer without observations or "
          "without a +Inf bucket",
          "[top]") {
  CHECK(!histogram_quantile(0.5, {{0.1, 0}, {inf, 0}}));
  CHECK(!histogram_quantile(0.5, {{0.1, 3}, {1, 5}}));
  CHECK(!histogram_quantile(0.5, {{inf, 5}}));
  CHECK(!histogram_quantile(0.5, {}));
}

TEST_CASE("a counter that went down was reset, and its increase is its new "
          "value, and so is a histogram's when any bucket went down",
          "[top]") {
  CHECK(increase(10, 25) == 15);
  CHECK(increase(10, 4) == 4);
  CHECK(increase({{1, 5}, {inf, 8}}, {{1, 7}, {inf, 12}}) ==
        bucket_counts{{1, 2}, {inf, 4}});
  CHECK(increase({{1, 5}, {inf, 8}}, {{1, 1}, {inf, 9}}) ==
        bucket_counts{{1, 1}, {inf, 9}});
}

// -- views --------------------------------------------------------------------

TEST_CASE("between two scrapes an actor's row has its handled rate, "
          "quantiles, error ratio, in-flight and prefetch, and queue depth",
          "[top]") {
  auto before = scrape_of(100, actor_text("echo", 100, 100, 0, 100, 0, 3) +
                                 "warren_queue_messages{node=\"n1\","
                                 "queue=\"q-echo\"} 50\n");
  auto now = scrape_of(102, actor_text("echo", 310, 300, 10, 250, 50, 7) +
                              "warren_queue_messages{node=\"n1\","
                              "queue=\"q-echo\"} 42\n");
  auto nodes = compare(&before, now);
  REQUIRE(nodes.size() == 1);
  CHECK(nodes[0].node == "n1");
  CHECK(nodes[0].failure.empty());
  REQUIRE(nodes[0].actors.size() == 1);
  const auto& row = nodes[0].actors[0];
  CHECK(row.actor == "echo");
  CHECK(row.handled_per_second.value == Approx(100)); // 200 in 2 s
  // 150 new in (0.001, 0.01], 50 in (0.01, 0.1]: rank 100 and 198.
  CHECK(row.p50_seconds.value == Approx(0.001 + 0.009 * 100 / 150));
  CHECK(row.p99_seconds.value == Approx(0.01 + 0.09 * 48 / 50));
  CHECK(row.error_ratio.value == Approx(10.0 / 210));
  CHECK(row.in_flight.value == 7);
  CHECK(row.prefetch.value == 10);
  CHECK(row.queue_messages.value == 42);
  // Nothing else was exported: absent, not unknown.
  CHECK(nodes[0].connections == 0);
  CHECK(nodes[0].restarts.what == figure::state::absent);
  CHECK(nodes[0].commit_p99_seconds.what == figure::state::absent);
}

TEST_CASE("a node's line counts its connections up, sums its supervisors' "
          "restarts and its actors' store commits",
          "[top]") {
  auto text = [](int restarts_a, int commits_fast, int commits_slow) {
    auto n = [](int v) {
      return std::to_string(v);
    };
    return "warren_connection_up{connection=\"c1\",node=\"n1\"} 1\n"
           "warren_connection_up{connection=\"c2\",node=\"n1\"} 0\n"
           "warren_connection_up{connection=\"c3\",node=\"n1\"} 1\n"
           "warren_supervisor_restarts_total{node=\"n1\",supervisor=\"a\"} " +
           n(restarts_a) +
           "\nwarren_supervisor_restarts_total{node=\"n1\",supervisor=\"b\"} "
           "2\n"
           "warren_store_commit_seconds_bucket{actor=\"x\",node=\"n1\","
           "le=\"0.01\"} " +
           n(commits_fast) +
           "\nwarren_store_commit_seconds_bucket{actor=\"x\",node=\"n1\","
           "le=\"+Inf\"} " +
           n(commits_fast) +
           "\nwarren_store_commit_seconds_bucket{actor=\"y\",node=\"n1\","
           "le=\"0.01\"} 0\n"
           "warren_store_commit_seconds_bucket{actor=\"y\",node=\"n1\","
           "le=\"+Inf\"} " +
           n(commits_slow) + "\n";
  };
  auto before = scrape_of(10, text(1, 0, 0));
  auto now = scrape_of(11, text(4, 99, 1));
  auto nodes = compare(&before, now);
  REQUIRE(nodes.size() == 1);
  CHECK(nodes[0].connections_up == 2);
  CHECK(nodes[0].connections == 3);
  CHECK(nodes[0].restarts.value == 6);
  CHECK(nodes[0].restarts_increase.value == 3);
  // Rank 99 of 100 is the last observation of the first bucket.
  CHECK(nodes[0].commit_p99_seconds.value == Approx(0.01));
  // Store metrics carry `actor` but make no actor row.
  CHECK(nodes[0].actors.empty());
}

TEST_CASE("on the first scrape, and in an interval without traffic, rates "
          "and quantiles are unknown while gauges are shown",
          "[top]") {
  auto first = scrape_of(1, actor_text("echo", 5, 5, 0, 5, 0, 2));
  auto alone = compare(nullptr, first);
  REQUIRE(alone.size() == 1);
  REQUIRE(alone[0].actors.size() == 1);
  auto row = alone[0].actors[0];
  CHECK(row.handled_per_second.what == figure::state::unknown);
  CHECK(row.p50_seconds.what == figure::state::unknown);
  CHECK(row.error_ratio.what == figure::state::unknown);
  CHECK(row.in_flight.value == 2);
  CHECK(row.prefetch.value == 10);
  // No warren_queue_messages: the queue depth is absent.
  CHECK(row.queue_messages.what == figure::state::absent);

  auto idle = scrape_of(3, actor_text("echo", 5, 5, 0, 5, 0, 0));
  row = compare(&first, idle)[0].actors[0];
  CHECK(row.handled_per_second.value == 0);
  CHECK(row.p99_seconds.what == figure::state::unknown);
  CHECK(row.error_ratio.what == figure::state::unknown);
}

TEST_CASE("a node restarted between scrapes is read as counters reset, not "
          "as negative rates",
          "[top]") {
  auto before = scrape_of(1, actor_text("echo", 500, 490, 10, 490, 0, 0));
  auto now = scrape_of(2, actor_text("echo", 20, 18, 2, 18, 0, 0));
  auto row = compare(&before, now)[0].actors[0];
  CHECK(row.handled_per_second.value == 18);
  CHECK(row.error_ratio.value == Approx(0.1));
}

TEST_CASE("an endpoint whose scrape failed is one view that says why, and "
          "several nodes behind one endpoint are views of their own",
          "[top]") {
  scrape failed;
  failed.source = "10.0.0.9:9464";
  failed.failure = "unreachable: connection refused";
  auto nodes = compare(nullptr, failed);
  REQUIRE(nodes.size() == 1);
  CHECK(nodes[0].source == "10.0.0.9:9464");
  CHECK(nodes[0].failure == "unreachable: connection refused");

  auto two = scrape_of(1, "warren_prefetch{actor=\"a\",node=\"n2\"} 1\n"
                          "warren_prefetch{actor=\"a\",node=\"n1\"} 1\n");
  nodes = compare(&failed, two);
  REQUIRE(nodes.size() == 2);
  CHECK(nodes[0].node == "n1");
  CHECK(nodes[1].node == "n2");
}

// -- text ---------------------------------------------------------------------

TEST_CASE("seconds and rates are shown short", "[top]") {
  CHECK(format_seconds(0.00085) == "850us");
  CHECK(format_seconds(0.00125) == "1.25ms");
  CHECK(format_seconds(0.0125) == "12.5ms");
  CHECK(format_seconds(1.5) == "1.50s");
  CHECK(format_seconds(600) == "600s");
  CHECK(format_rate(0.5) == "0.5");
  CHECK(format_rate(123.44) == "123.4");
  CHECK(format_rate(12345.6) == "12346");
  CHECK(format_rate(2.5e6) == "2.5M");
}

TEST_CASE("a frame fits 80 columns: long names end in '~', absent figures "
          "are blank and unknown ones '-'",
          "[top]") {
  auto before = scrape_of(0, actor_text("echo", 0, 0, 0, 0, 0, 0));
  auto now =
    scrape_of(2, actor_text("echo", 210, 200, 10, 200, 0, 7) +
                   actor_text("a-very-long-actor-name-for-a-column[12]", 0, 0,
                              0, 0, 0, 0) +
                   "warren_connection_up{connection=\"c\",node=\"n1\"} 1\n");
  scrape down;
  down.source = "http://10.0.0.9:9464";
  down.failure = "unreachable: no connection within 2000 ms";
  auto nodes = compare(&before, now);
  nodes.push_back(compare(nullptr, down)[0]);
  auto lines = render("warren top  over 2s", nodes);
  for (const auto& line : lines) {
    INFO(line);
    CHECK(line.size() <= 80);
  }
  REQUIRE(lines.size() == 6);
  CHECK(lines[0] == "warren top  over 2s");
  CHECK(lines[1] == "  ACTOR                HANDLED/s      P50      P99   "
                    "ERR%  INFLIGHT/PF    QUEUE");
  CHECK(lines[2] == "n1  127.0.0.1:9464  conns 1/1");
  // The long actor is new in this scrape: no rate yet.
  CHECK(lines[3] == "  a-very-long-actor-n~         -        -        -      "
                    "-         0/10");
  CHECK(lines[4] == "  echo                     100.0   5.50ms   9.91ms   "
                    "4.8%         7/10");
  CHECK(lines[5] ==
        "http://10.0.0.9:9464  unreachable: no connection within 2000 ms");
  // Narrower windows cut lines instead of wrapping them.
  for (const auto& line : render("t", nodes, 40))
    CHECK(line.size() <= 40);
}
