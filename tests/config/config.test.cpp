// Config parsing: defaults, every key, and one precise error per bad file.

#include "warren/config/node_config.hpp"
#include "warren/core/errc.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

using namespace std::chrono_literals;
using namespace warren;
using namespace warren::config;

namespace {

const std::string configs_dir =
  std::string{WARREN_SOURCE_DIR} + "/tests/configs";

/// Sets (or unsets, with nullopt) an environment variable for one scope and
/// restores the old value, so tests neither see nor leak the caller's
/// WARREN_BROKER_URI.
class env_guard {
 public:
  env_guard(std::string name, std::optional<std::string> value)
    : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str()))
      old_ = old;
    set(value);
  }

  ~env_guard() { set(old_); }

  env_guard(const env_guard&) = delete;
  env_guard& operator=(const env_guard&) = delete;

 private:
  void set(const std::optional<std::string>& value) {
    if (value)
      ::setenv(name_.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }

  std::string name_;
  std::optional<std::string> old_;
};

/// The error sentence of a config that must fail.
std::string error_of(const caf::expected<node_config>& cfg) {
  REQUIRE_FALSE(cfg);
  CHECK(code_of(cfg.error()) == errc::invalid_config);
  return describe(cfg.error());
}

std::string parse_error(const std::string& text) {
  return error_of(parse_config(text, "node.json", "/etc/warren"));
}

node_config parse_ok(const std::string& text) {
  auto cfg = parse_config(text, "node.json", "/etc/warren");
  if (!cfg)
    FAIL(describe(cfg.error()));
  return std::move(*cfg);
}

/// A scratch directory under the build tree, emptied on entry.
std::string scratch_dir(const std::string& name) {
  auto dir = std::filesystem::path{WARREN_BINARY_DIR} / "test-scratch" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out{path, std::ios::binary};
  out << text;
}

/// What each file in tests/configs/bad must fail with, after "<path>" (the
/// path as given to load_config). "{dir}" stands for the file's directory.
const std::map<std::string, std::string> bad_configs = {
  {"trailing_comma.json",
   ":4:1: invalid JSON: unexpected '}' (JSON allows no comma before a "
   "closing bracket)"},
  {"duplicate_key.json",
   ":5:5: $.broker.uri: duplicate key (each key may appear once per "
   "object)"},
  {"empty.json",
   ":1:1: invalid JSON: unexpected end of input (an object, array or string "
   "is not closed)"},
  {"not_an_object.json", ": $: expected an object, found an array"},
  {"unknown_top_level_key.json",
   ": $.actor: unknown key (expected one of: node, state_dir, broker, "
   "topology, actors, plugins, scheduler, publisher, limits, calls, "
   "shutdown, supervision, store, log, metrics, cluster)"},
  {"missing_node.json", ": $.node: required key is missing"},
  {"node_name_with_space.json",
   ": $.node: expected a name of 1 to 64 characters from A-Z, a-z, 0-9, "
   "'.', '_' and '-', found \"my node\""},
  {"node_name_too_long.json",
   ": $.node: expected a name of 1 to 64 characters from A-Z, a-z, 0-9, "
   "'.', '_' and '-', found \"n123456789012345678901234567890123456...\""},
  {"long_value_is_cut.json",
   ": $.node: expected a name of 1 to 64 characters from A-Z, a-z, 0-9, "
   "'.', '_' and '-', found \"this node name is rather long and has...\""},
  {"unknown_actor_key.json",
   ": $.actors[0].prefetc: unknown key (expected one of: name, kind, "
   "handler, queue, prefetch, instances, retry, commit, require_message_id, "
   "chunks, shards, options)"},
  {"chunks_timeout_too_short.json",
   ": $.actors[0].chunks.timeout_ms: expected an integer from 1000 to "
   "604800000, found 10"},
  {"chunks_unknown_key.json",
   ": $.actors[0].chunks.max_bytes: unknown key (expected one of: "
   "timeout_ms, max_transfer_bytes, max_staged_bytes)"},
  {"retry_delay_not_positive.json",
   ": $.actors[0].retry.delays_ms[1]: expected an integer from 1 to "
   "86400000, found 0"},
  {"retry_into_full_classic_queue.json",
   ": $.actors[0].retry.delays_ms: queue \"orders\" is a classic queue that "
   "rejects publishes when full: a message coming back from the retry ladder "
   "then would be dropped by the broker (classic queues dead-letter at most "
   "once); declare it with \"type\": \"quorum\", or without "
   "\"overflow\""},
  {"retry_unknown_key.json",
   ": $.actors[0].retry.delays: unknown key (expected one of: immediate, "
   "delays_ms)"},
  {"prefetch_is_a_double.json",
   ": $.actors[0].prefetch: expected an integer from 1 to 65535, found 5.0"},
  {"max_priority_out_of_range.json",
   ": $.topology.queues[1].max_priority: expected an integer from 1 to 255, "
   "found 300"},
  {"durable_is_a_number.json",
   ": $.topology.exchanges[0].durable: expected true or false, found 1"},
  {"exchange_type_misspelled.json",
   ": $.topology.exchanges[0].type: expected one of \"direct\", \"fanout\", "
   "\"topic\", \"headers\", found \"dirct\""},
  {"exchange_type_missing.json",
   ": $.topology.exchanges[0].type: required key is missing"},
  {"exchange_name_reserved.json",
   ": $.topology.exchanges[0].name: expected a name that does not start "
   "with \"amq.\" (reserved by RabbitMQ), found \"amq.events\""},
  {"duplicate_queue.json",
   ": $.topology.queues[2].name: duplicate queue name \"jobs\" (already "
   "declared at $.topology.queues[0])"},
  {"quorum_queue_with_priority.json",
   ": $.topology.queues[0].max_priority: quorum queues do not support "
   "priorities (use a classic queue)"},
  {"quorum_queue_not_durable.json",
   ": $.topology.queues[0].durable: quorum queues are always durable "
   "(remove the key or set it to true)"},
  {"routing_key_without_dlx.json",
   ": $.topology.queues[0].dead_letter_routing_key: needs "
   "dead_letter_exchange in the same queue (without it the broker ignores "
   "the routing key)"},
  {"reject_publish_dlx_without_dlx.json",
   ": $.topology.queues[0].overflow: \"reject-publish-dlx\" needs "
   "dead_letter_exchange in the same queue"},
  {"binding_to_unknown_exchange.json",
   ": $.topology.bindings[0].exchange: expected an exchange declared in "
   "$.topology.exchanges, warren.actors or a built-in amq.* exchange, found "
   "\"events\""},
  {"binding_to_unknown_queue.json",
   ": $.topology.bindings[0].queue: expected a queue declared in "
   "$.topology.queues or consumed by an actor, found \"jobz\""},
  {"headers_binding_bad_x_match.json",
   ": $.topology.bindings[0].arguments[\"x-match\"]: expected one of "
   "\"all\", \"any\", \"all-with-x\", \"any-with-x\", found \"some\""},
  {"binding_argument_is_an_array.json",
   ": $.topology.bindings[0].arguments.regions: expected a string, integer, "
   "number or boolean, found an array"},
  {"duplicate_actor_name.json",
   ": $.actors[1].name: duplicate actor name \"echo\" (already used at "
   "$.actors[0])"},
  {"two_actors_on_one_queue.json",
   ": $.actors[1].queue: queue \"echo\" is already consumed by actor "
   "\"echo\" ($.actors[0]); use \"instances\" for several consumers of one "
   "kind"},
  {"instances_out_of_range.json",
   ": $.actors[0].instances: expected an integer from 1 to 64, found 0"},
  {"actor_shards_zero.json",
   ": $.actors[0].shards: expected an integer from 1 to 1024, found 0"},
  {"options_not_an_object.json",
   ": $.actors[0].options: expected an object, found an array"},
  {"broker_port_out_of_range.json",
   ": $.broker.uris[1]: invalid broker URI "
   "\"amqp://app:***@rabbit-2:99999/\": expected a port number from 1 to "
   "65535, found 99999"},
  {"broker_scheme_unsupported.json",
   ": $.broker.uri: invalid broker URI \"http://rabbit-1:15672/\": "
   "unsupported scheme \"http\" (expected amqp or amqps)"},
  {"broker_uri_with_query.json",
   ": $.broker.uri: invalid broker URI \"amqp://rabbit-1/?heartbeat=10\": "
   "query strings and fragments are not supported (set heartbeat, timeouts "
   "and TLS with config keys instead)"},
  {"broker_uri_and_uris.json",
   ": $.broker.uris: cannot be combined with uri (give one of them)"},
  {"broker_uris_empty.json",
   ": $.broker.uris: expected a non-empty array of URIs, found an empty "
   "array"},
  {"password_env_and_file.json",
   ": $.broker.password_file: cannot be combined with password_env (give "
   "one of them)"},
  {"password_env_not_set.json",
   ": $.broker.password_env: environment variable "
   "WARREN_TEST_VARIABLE_THAT_IS_NEVER_SET is not set or empty"},
  {"password_file_missing.json",
   ": $.broker.password_file: cannot read "
   "\"{dir}/no-such-password-file.txt\": No such file or directory"},
  {"tls_cert_without_key.json",
   ": $.broker.tls.key_file: required key is missing (cert_file is given, "
   "and a client certificate needs its key)"},
  {"reconnect_min_above_max.json",
   ": $.broker.reconnect.min_ms: expected at most max_ms (2000), found "
   "8000"},
  {"heartbeat_is_a_string.json",
   ": $.broker.heartbeat_seconds: expected an integer from 0 to 3600, found "
   "\"30\""},
  {"state_dir_is_a_number.json",
   ": $.state_dir: expected a non-empty string, found 12"},
  {"scheduler_threads_out_of_range.json",
   ": $.scheduler.threads: expected an integer from 0 to 256, found 1000"},
  {"calls_timeout_zero.json",
   ": $.calls.timeout_ms: expected an integer from 1 to 3600000, found 0"},
  {"cluster_announce_interval_too_short.json",
   ": $.cluster.announce_interval_ms: expected an integer from 100 to 600000, "
   "found 50"},
  {"cluster_snapshot_above_retention.json",
   ": $.cluster.changelog_snapshot_bytes: expected at most a fifth of "
   "$.cluster.changelog_max_bytes (209715), found 524288"},
  {"cluster_down_after_too_short.json",
   ": $.cluster.down_after_ms: expected 0 (off) or at least twice "
   "$.cluster.announce_interval_ms (1000), found 900"},
  {"cluster_management_uri_https.json",
   ": $.cluster.management_uris[1]: invalid management URI "
   "\"https://rabbit-2:15671/\": unsupported scheme \"https\" (expected "
   "http)"},
  {"cluster_changelog_too_small.json",
   ": $.cluster.changelog_max_bytes: expected an integer from 65536 to "
   "1125899906842624, found 1000"},
  {"limits_unknown_key.json",
   ": $.limits.max_body_size: unknown key (expected one of: "
   "max_body_bytes)"},
  {"plugin_empty_path.json",
   ": $.plugins[1]: expected a non-empty string, found \"\""},
};

std::string replace_all(std::string text, const std::string& from,
                        const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
  return text;
}

} // namespace

TEST_CASE("a minimal config gets every documented default", "[config]") {
  env_guard no_uri{"WARREN_BROKER_URI", std::nullopt};
  auto path = configs_dir + "/good/minimal.json";
  auto cfg = load_config(path);
  REQUIRE(cfg);
  CHECK(cfg->source_file == path);
  CHECK(cfg->node_name == "minimal-node");
  CHECK(cfg->state_dir == configs_dir + "/good/.state/minimal-node");
  REQUIRE(cfg->broker.endpoints.size() == 1);
  const auto& ep = cfg->broker.endpoints[0];
  CHECK_FALSE(ep.tls);
  CHECK(ep.host == "localhost");
  CHECK(ep.port == 5672);
  CHECK(ep.vhost == "/");
  CHECK(ep.user == "guest");
  CHECK(ep.password == "guest");
  CHECK(cfg->broker.heartbeat_seconds == 30);
  CHECK(cfg->broker.connect_timeout == 5000ms);
  CHECK(cfg->broker.reconnect_min == 100ms);
  CHECK(cfg->broker.reconnect_max == 2000ms);
  CHECK(cfg->broker.tls.ca_file.empty());
  CHECK(cfg->broker.tls.verify_peer);
  CHECK(cfg->broker.tls.verify_hostname);
  CHECK(cfg->broker.connection_name == "warren-minimal-node");
  CHECK(cfg->topology.exchanges.empty());
  CHECK(cfg->topology.queues.empty());
  CHECK(cfg->topology.bindings.empty());
  CHECK(cfg->actors.empty());
  CHECK(cfg->plugins.empty());
  CHECK(cfg->scheduler_threads == 0);
  CHECK(cfg->publisher.max_unconfirmed == 1000);
  CHECK(cfg->max_body_bytes == 1024 * 1024);
  CHECK(cfg->call_timeout == 5000ms);
  CHECK(cfg->shutdown_timeout == 10000ms);
  CHECK(cfg->cluster.announce_interval == 2000ms);
  CHECK(cfg->cluster.changelog_max_bytes == 1024 * 1024 * 1024);
  CHECK(cfg->cluster.changelog_snapshot_bytes == 64 * 1024 * 1024);
}

TEST_CASE("a changelog's retention sets its segments, and its snapshot "
          "interval defaults to a sixteenth of it when that is less",
          "[config]") {
  auto cfg =
    parse_ok(R"({"node": "n1", "cluster": {"changelog_max_bytes": 1048576}})");
  CHECK(cfg.cluster.changelog_max_bytes == 1048576);
  CHECK(cfg.cluster.changelog_snapshot_bytes == 65536);
  CHECK(config::changelog_segment_bytes(1048576) == 131072);
  CHECK(config::changelog_segment_bytes(65536) == 8192);
  CHECK(config::changelog_segment_bytes(int64_t{1} << 40) == 500'000'000);
  cfg = parse_ok(R"({"node": "n1", "cluster": {"changelog_max_bytes": )"
                 R"(1048576, "changelog_snapshot_bytes": 200000}})");
  CHECK(cfg.cluster.changelog_snapshot_bytes == 200000);
}

TEST_CASE("downing is off by default and goes through each broker's "
          "management API unless told others",
          "[config]") {
  env_guard no_uri{"WARREN_BROKER_URI", std::nullopt};
  auto cfg = parse_ok(R"({"node": "n1", "broker": {"uris": [)"
                      R"("amqp://w:pw@r1:5700/", "amqp://w:pw@r2:5701/"]}})");
  CHECK(cfg.cluster.down_after == 0ms);
  REQUIRE(cfg.cluster.management.size() == 2);
  CHECK(cfg.cluster.management[0].redacted() == "http://r1:15700/");
  CHECK(cfg.cluster.management[1].redacted() == "http://r2:15701/");
  CHECK(cfg.cluster.management[1].user == "w");
  CHECK(cfg.cluster.management[1].password == "pw");
  cfg = parse_ok(R"({"node": "n1", "broker": {"uri": "amqp://w:pw@r1/"},)"
                 R"("cluster": {"down_after_ms": 4000, "management_uris": [)"
                 R"("http://ops:x@m1:8080", "http://m2:8081/"]}})");
  CHECK(cfg.cluster.down_after == 4000ms);
  REQUIRE(cfg.cluster.management.size() == 2);
  CHECK(cfg.cluster.management[0].user == "ops");
  CHECK(cfg.cluster.management[0].port == 8080);
  // Without credentials, the broker's.
  CHECK(cfg.cluster.management[1].user == "w");
  CHECK(cfg.cluster.management[1].password == "pw");
}

TEST_CASE("a config using every section is read key by key", "[config]") {
  env_guard no_uri{"WARREN_BROKER_URI", std::nullopt};
  const auto dir = configs_dir + "/good";
  auto cfg = load_config(dir + "/services.json");
  if (!cfg)
    FAIL(describe(cfg.error()));
  CHECK(cfg->node_name == "orders-1");
  CHECK(cfg->state_dir == "/var/lib/warren/orders-1");

  SECTION("broker") {
    const auto& b = cfg->broker;
    REQUIRE(b.endpoints.size() == 2);
    CHECK(b.endpoints[0].tls);
    CHECK(b.endpoints[0].host == "rabbit-1.example.com");
    CHECK(b.endpoints[0].port == 5671);
    CHECK(b.endpoints[0].vhost == "orders");
    CHECK(b.endpoints[0].user == "app");
    CHECK(b.endpoints[0].password == "s3cret");
    CHECK(b.endpoints[1].port == 5999);
    CHECK(b.heartbeat_seconds == 10);
    CHECK(b.connect_timeout == 2000ms);
    CHECK(b.reconnect_min == 50ms);
    CHECK(b.reconnect_max == 8000ms);
    CHECK(b.tls.ca_file == dir + "/tls/ca.pem");
    CHECK(b.tls.cert_file == dir + "/tls/client.pem");
    CHECK(b.tls.key_file == "/etc/warren/client.key");
    CHECK(b.tls.verify_peer);
    CHECK_FALSE(b.tls.verify_hostname);
    CHECK(b.connection_name == "orders node 1");
  }

  SECTION("exchanges") {
    const auto& ex = cfg->topology.exchanges;
    REQUIRE(ex.size() == 2);
    CHECK(ex[0].name == "orders");
    CHECK(ex[0].type == bridges::exchange_type::topic);
    CHECK(ex[0].durable);
    CHECK_FALSE(ex[0].auto_delete);
    CHECK_FALSE(ex[0].internal);
    CHECK(ex[1].type == bridges::exchange_type::headers);
    CHECK_FALSE(ex[1].durable);
    CHECK(ex[1].auto_delete);
    CHECK(ex[1].internal);
  }

  SECTION("queues") {
    const auto& qs = cfg->topology.queues;
    REQUIRE(qs.size() == 2);
    const auto& audit = qs[0];
    CHECK(audit.name == "orders.audit");
    CHECK(audit.type == bridges::queue_type::quorum);
    CHECK(audit.durable);
    CHECK(audit.message_ttl_ms == 86400000);
    CHECK(audit.dead_letter_exchange == std::string{});
    CHECK(audit.dead_letter_routing_key == std::string{"orders.dead"});
    CHECK(audit.max_length == 100000);
    CHECK(audit.overflow == bridges::overflow_mode::reject_publish);
    CHECK(audit.single_active_consumer);
    CHECK_FALSE(audit.dead_letter_queue);
    CHECK_FALSE(audit.max_priority);
    const auto& prio = qs[1];
    CHECK(prio.type == bridges::queue_type::classic);
    CHECK(prio.exclusive);
    CHECK(prio.auto_delete);
    CHECK_FALSE(prio.durable);
    CHECK(prio.expires_ms == 60000);
    CHECK(prio.max_length_bytes == 1048576);
    CHECK(prio.max_priority == 10);
    CHECK(prio.overflow == bridges::overflow_mode::reject_publish_dlx);
    CHECK(prio.dead_letter_queue);
    CHECK_FALSE(prio.message_ttl_ms);
  }

  SECTION("bindings") {
    const auto& bs = cfg->topology.bindings;
    REQUIRE(bs.size() == 4);
    CHECK(bs[0].exchange == "orders");
    CHECK(bs[0].queue == "orders.audit");
    CHECK(bs[0].routing_key == "order.#");
    CHECK(bs[1].queue == "place-order");
    CHECK(bs[3].routing_key.empty());
    const auto& args = bs[2].arguments;
    REQUIRE(args.size() == 5);
    CHECK(args[0].first == "x-match");
    CHECK(args[0].second == warren::field_value{std::string{"any"}});
    CHECK(args[1].second == warren::field_value{std::string{"eu"}});
    CHECK(args[2].second == warren::field_value{int64_t{2}});
    CHECK(args[3].second == warren::field_value{true});
    CHECK(args[4].second == warren::field_value{1.5});
  }

  SECTION("actors") {
    const auto& as = cfg->actors;
    REQUIRE(as.size() == 3);
    CHECK(as[0].name == "place-order");
    CHECK(as[0].kind == "service");
    CHECK(as[0].handler == "order_placer");
    CHECK(as[0].queue == "place-order");
    CHECK(as[0].prefetch == 20);
    CHECK(as[0].instances == 4);
    CHECK(as[0].options.at("retries").as_int64() == 3);
    CHECK(as[1].kind == "subscriber");
    CHECK(as[1].prefetch == 100);
    CHECK(as[1].instances == 1);
    CHECK(as[1].options.empty());
    CHECK(as[2].handler.empty());
    CHECK(as[2].queue == "orders.ticks");
  }

  SECTION("plugins and tuning") {
    CHECK(cfg->plugins ==
          std::vector<std::string>{dir + "/plugins/liborders.so",
                                   "/opt/warren/libaudit.so"});
    CHECK(cfg->scheduler_threads == 2);
    CHECK(cfg->publisher.max_unconfirmed == 500);
    CHECK(cfg->max_body_bytes == 65536);
    CHECK(cfg->call_timeout == 1500ms);
    CHECK(cfg->shutdown_timeout == 0ms);
  }
}

TEST_CASE("the example config in config/ is valid", "[config]") {
  env_guard no_uri{"WARREN_BROKER_URI", std::nullopt};
  env_guard password{"WARREN_BROKER_PASSWORD", std::string{"from-env"}};
  auto cfg =
    load_config(std::string{WARREN_SOURCE_DIR} + "/config/example.json");
  if (!cfg)
    FAIL(describe(cfg.error()));
  REQUIRE_FALSE(cfg->broker.endpoints.empty());
  for (const auto& ep : cfg->broker.endpoints)
    CHECK(ep.password == "from-env");
  CHECK_FALSE(cfg->actors.empty());
  CHECK_FALSE(cfg->topology.bindings.empty());
  REQUIRE(cfg->supervision.children.size() == 2);
  CHECK(cfg->supervision.children[1].supervisor.children.size() == 2);
  CHECK(cfg->metrics.enabled);
  CHECK(cfg->metrics.port == 9464);
}

TEST_CASE("each bad config fails with the expected path and message",
          "[config]") {
  env_guard no_uri{"WARREN_BROKER_URI", std::nullopt};
  const auto dir = configs_dir + "/bad";
  for (const auto& [file, expected] : bad_configs) {
    DYNAMIC_SECTION(file) {
      auto path = dir + "/" + file;
      CHECK(error_of(load_config(path)) ==
            path + replace_all(expected, "{dir}", dir));
    }
  }
}

TEST_CASE("every bad config file has an expected error", "[config]") {
  for (const auto& entry :
       std::filesystem::directory_iterator{configs_dir + "/bad"}) {
    auto name = entry.path().filename().string();
    INFO(name);
    CHECK(bad_configs.count(name) == 1);
  }
}

TEST_CASE("a missing config file is reported with the system's reason",
          "[config]") {
  auto path = configs_dir + "/no-such-file.json";
  CHECK(error_of(load_config(path)) ==
        path + ": cannot read: No such file or directory");
}

TEST_CASE("syntax errors name the line and column", "[config]") {
  CHECK(parse_error("{\n  \"node\": 'n1'\n}") ==
        "node.json:2:11: invalid JSON: unexpected ''' (JSON strings use "
        "double quotes)");
  CHECK(parse_error("{\"node\": \"n1\"} // the node") ==
        "node.json:1:16: invalid JSON: unexpected '/' (JSON has no "
        "comments) after the end of the document");
  CHECK(parse_error("{\"node\": \"caf\u00e9\" \"x\"}") ==
        "node.json:1:17: invalid JSON: unexpected '\"'");
  CHECK(parse_error("{\"node\": \"line\nbreak\"}") ==
        "node.json:1:15: invalid JSON: unexpected line break (strings "
        "cannot span lines)");
}

TEST_CASE("a duplicate key inside an array names its element", "[config]") {
  CHECK(parse_error(
          R"({"node": "n1", "actors": [{}, {"name": "a", "name": 1}]})") ==
        "node.json:1:45: $.actors[1].name: duplicate key (each key may "
        "appear once per object)");
}

TEST_CASE("a byte order mark at the start is accepted", "[config]") {
  auto cfg = parse_ok("\xEF\xBB\xBF{\"node\": \"n1\"}");
  CHECK(cfg.node_name == "n1");
}

TEST_CASE("integers must be JSON integers and booleans true or false",
          "[config]") {
  CHECK(parse_error(R"({"node": "n1", "calls": {"timeout_ms": 1e3}})") ==
        "node.json: $.calls.timeout_ms: expected an integer from 1 to "
        "3600000, found 1000.0");
  CHECK(parse_error(
          R"({"node": "n1", "calls": {"timeout_ms": 18446744073709551615}})") ==
        "node.json: $.calls.timeout_ms: expected an integer from 1 to "
        "3600000, found 18446744073709551615");
  CHECK(
    parse_error(R"({"node": "n1", "broker": {"tls": {"verify_peer": 0}}})") ==
    "node.json: $.broker.tls.verify_peer: expected true or false, "
    "found 0");
  CHECK(parse_error(
          R"({"node": "n1", "broker": {"tls": {"verify_peer": null}}})") ==
        "node.json: $.broker.tls.verify_peer: expected true or false, "
        "found null");
}

TEST_CASE("keys that are not identifiers are quoted in paths", "[config]") {
  CHECK(parse_error(R"({"node": "n1", "max body": 1})") ==
        "node.json: $[\"max body\"]: unknown key (expected one of: node, "
        "state_dir, broker, topology, actors, plugins, scheduler, "
        "publisher, limits, calls, shutdown, supervision, store, log, metrics, "
        "cluster)");
}

TEST_CASE("WARREN_BROKER_URI replaces the configured broker URIs", "[config]") {
  env_guard uri{"WARREN_BROKER_URI",
                std::string{"amqp://a:pa@one:1111/v, amqps://two"}};
  auto cfg =
    parse_ok(R"({"node": "n1", "broker": {"uri": "amqp://configured/"}})");
  REQUIRE(cfg.broker.endpoints.size() == 2);
  CHECK(cfg.broker.endpoints[0].host == "one");
  CHECK(cfg.broker.endpoints[0].port == 1111);
  CHECK(cfg.broker.endpoints[0].password == "pa");
  CHECK(cfg.broker.endpoints[1].host == "two");
  CHECK(cfg.broker.endpoints[1].port == 5671);
}

TEST_CASE("an empty WARREN_BROKER_URI is ignored", "[config]") {
  env_guard uri{"WARREN_BROKER_URI", std::string{}};
  auto cfg = parse_ok(R"({"node": "n1", "broker": {"uri": "amqp://mine/"}})");
  REQUIRE(cfg.broker.endpoints.size() == 1);
  CHECK(cfg.broker.endpoints[0].host == "mine");
}

TEST_CASE("a bad URI in WARREN_BROKER_URI names the variable", "[config]") {
  env_guard uri{"WARREN_BROKER_URI", std::string{"amqp://ok,ftp://x"}};
  CHECK(parse_error(R"({"node": "n1"})") ==
        "node.json: environment variable WARREN_BROKER_URI (URI 2): "
        "invalid broker URI \"ftp://x\": unsupported scheme \"ftp\" "
        "(expected amqp or amqps)");
}

TEST_CASE("the configured URIs are checked even when the environment "
          "replaces them",
          "[config]") {
  env_guard uri{"WARREN_BROKER_URI", std::string{"amqp://ok"}};
  CHECK(parse_error(R"({"node": "n1", "broker": {"uri": "amqp://"}})") ==
        "node.json: $.broker.uri: invalid broker URI \"amqp://\": the host "
        "is missing");
}

TEST_CASE("a reconnect max_ms below the default min_ms blames max_ms",
          "[config]") {
  CHECK(
    parse_error(R"({"node": "n1", "broker": {"reconnect": {"max_ms": 50}}})") ==
    "node.json: $.broker.reconnect.max_ms: expected at least min_ms "
    "(100, the default), found 50");
}

TEST_CASE("password_env replaces the password of every endpoint", "[config]") {
  env_guard no_uri{"WARREN_BROKER_URI", std::nullopt};
  env_guard password{"WARREN_TEST_PASSWORD", std::string{"p@ss word"}};
  auto cfg = parse_ok(R"({"node": "n1", "broker": {
      "uris": ["amqp://u:old@a/", "amqp://b/"],
      "password_env": "WARREN_TEST_PASSWORD"}})");
  REQUIRE(cfg.broker.endpoints.size() == 2);
  CHECK(cfg.broker.endpoints[0].password == "p@ss word");
  CHECK(cfg.broker.endpoints[0].user == "u");
  CHECK(cfg.broker.endpoints[1].password == "p@ss word");
}

TEST_CASE("password_file is read next to the config without its trailing "
          "newline",
          "[config]") {
  env_guard no_uri{"WARREN_BROKER_URI", std::nullopt};
  auto dir = scratch_dir("password_file");
  write_file(dir + "/broker.password", "s3cret\r\n");
  write_file(dir + "/node.json", R"({"node": "n1", "broker": {
      "password_file": "broker.password"}})");
  auto cfg = load_config(dir + "/node.json");
  if (!cfg)
    FAIL(describe(cfg.error()));
  REQUIRE(cfg->broker.endpoints.size() == 1);
  CHECK(cfg->broker.endpoints[0].password == "s3cret");
}

TEST_CASE("an empty password_file is an error", "[config]") {
  env_guard no_uri{"WARREN_BROKER_URI", std::nullopt};
  auto dir = scratch_dir("empty_password_file");
  write_file(dir + "/pw", "\n");
  write_file(dir + "/node.json",
             R"({"node": "n1", "broker": {"password_file": "pw"}})");
  CHECK(error_of(load_config(dir + "/node.json")) ==
        dir + "/node.json: $.broker.password_file: \"" + dir +
          "/pw\" is empty");
}

TEST_CASE("a config given without a directory keeps relative paths "
          "relative",
          "[config]") {
  auto cfg =
    parse_config(R"({"node": "n1", "plugins": ["libx.so"]})", "node.json", "");
  REQUIRE(cfg);
  CHECK(cfg->state_dir == ".state/n1");
  CHECK(cfg->plugins == std::vector<std::string>{"libx.so"});
}

TEST_CASE("an actor's queue defaults to its name and may be bound",
          "[config]") {
  auto cfg = parse_ok(R"({"node": "n1",
    "topology": {"bindings": [{"exchange": "warren.actors", "queue": "echo",
                               "routing_key": "shout"}]},
    "actors": [{"name": "echo", "kind": "echo"}]})");
  REQUIRE(cfg.actors.size() == 1);
  CHECK(cfg.actors[0].queue == "echo");
  CHECK(cfg.topology.bindings[0].routing_key == "shout");
}

TEST_CASE("an actor named like a reserved queue needs its own queue",
          "[config]") {
  CHECK(parse_error(
          R"({"node": "n1", "actors": [{"name": "amq.x", "kind": "k"}]})") ==
        "node.json: $.actors[0].name: expected a name that does not start "
        "with \"amq.\" (reserved by RabbitMQ), found \"amq.x\"");
  auto cfg = parse_ok(
    R"({"node": "n1", "actors": [{"name": "amq.x", "kind": "k", "queue": "x"}]})");
  CHECK(cfg.actors[0].queue == "x");
}

TEST_CASE("x-match is only checked on headers exchanges", "[config]") {
  auto cfg = parse_ok(R"({"node": "n1", "topology": {
    "exchanges": [{"name": "e", "type": "direct"}],
    "queues": [{"name": "q"}],
    "bindings": [{"exchange": "e", "queue": "q",
                  "arguments": {"x-match": "whatever"}}]}})");
  CHECK(cfg.topology.bindings.size() == 1);
  CHECK(parse_error(R"({"node": "n1", "topology": {
    "exchanges": [{"name": "e", "type": "headers"}],
    "queues": [{"name": "q"}],
    "bindings": [{"exchange": "e", "queue": "q",
                  "arguments": {"x-match": true}}]}})") ==
        "node.json: $.topology.bindings[0].arguments[\"x-match\"]: "
        "expected one of \"all\", \"any\", \"all-with-x\", \"any-with-x\", "
        "found true");
}

TEST_CASE("binding arguments must fit an AMQP field value", "[config]") {
  CHECK(parse_error(R"({"node": "n1", "topology": {"queues": [{"name": "q"}],
    "bindings": [{"exchange": "amq.headers", "queue": "q",
                  "arguments": {"n": 9223372036854775808}}]}})") ==
        "node.json: $.topology.bindings[0].arguments.n: expected an "
        "integer of at most 9223372036854775807 (a signed 64-bit integer), "
        "found 9223372036854775808");
}

TEST_CASE("warren.actors cannot be declared in the topology", "[config]") {
  CHECK(parse_error(R"({"node": "n1", "topology": {
    "exchanges": [{"name": "warren.actors", "type": "direct"}]}})") ==
        "node.json: $.topology.exchanges[0].name: \"warren.actors\" is "
        "declared by warren itself");
}

TEST_CASE("quorum queues reject what the broker would refuse", "[config]") {
  auto error_for = [](const std::string& extra) {
    return parse_error(
      R"({"node": "n1", "topology": {"queues": [{"name": "q", "type": "quorum", )" +
      extra + "}]}}");
  };
  CHECK(error_for(R"("exclusive": true)") ==
        "node.json: $.topology.queues[0].exclusive: quorum queues cannot "
        "be exclusive");
  CHECK(error_for(R"("auto_delete": true)") ==
        "node.json: $.topology.queues[0].auto_delete: quorum queues "
        "cannot be auto-delete");
  CHECK(
    error_for(
      R"("dead_letter_exchange": "dlx", "overflow": "reject-publish-dlx")") ==
    "node.json: $.topology.queues[0].overflow: quorum queues do not "
    "support \"reject-publish-dlx\" (use \"reject-publish\" or "
    "\"drop-head\")");
}

TEST_CASE("the default exchange cannot be bound", "[config]") {
  CHECK(parse_error(R"({"node": "n1", "topology": {"queues": [{"name": "q"}],
    "bindings": [{"exchange": "", "queue": "q"}]}})") ==
        "node.json: $.topology.bindings[0].exchange: the default exchange "
        "\"\" cannot be bound (it routes by queue name already)");
}

TEST_CASE("the first error in document order wins", "[config]") {
  CHECK(parse_error(R"({"node": "n1", "actors": [
    {"name": "a", "kind": "k", "prefetch": 0},
    {"name": "b", "kind": "k", "prefetch": -1}]})") ==
        "node.json: $.actors[0].prefetch: expected an integer from 1 to "
        "65535, found 0");
}

TEST_CASE("an actor's retry policy is read from its config, and defaults to "
          "no retries",
          "[config]") {
  auto cfg = parse_config(R"({"node": "n", "actors": [
      {"name": "a", "kind": "echo",
       "retry": {"immediate": 2, "delays_ms": [500, 5000]}},
      {"name": "b", "kind": "echo"}]})",
                          "node.json", "/tmp");
  REQUIRE(cfg);
  const auto& a = cfg->actors.at(0).retry;
  CHECK(a.immediate == 2);
  CHECK(a.delays ==
        std::vector<std::chrono::milliseconds>{
          std::chrono::milliseconds{500}, std::chrono::milliseconds{5000}});
  CHECK(a.max_attempts() == 5);
  const auto& b = cfg->actors.at(1).retry;
  CHECK(b.immediate == 0);
  CHECK(b.delays.empty());
  CHECK(b.max_attempts() == 1);
}

TEST_CASE("the supervision tree is read from the config, unlisted actors "
          "join the root as permanent children",
          "[config]") {
  auto cfg = parse_ok(R"({"node": "n",
    "actors": [{"name": "a", "kind": "echo"}, {"name": "b", "kind": "echo"},
               {"name": "c", "kind": "echo"}],
    "shutdown": {"timeout_ms": 3000},
    "supervision": {
      "strategy": "rest_for_one", "max_restarts": 3, "period_ms": 10000,
      "backoff": {"min_ms": 10, "max_ms": 1000, "jitter_percent": 50},
      "children": [
        {"supervisor": "inner", "strategy": "one_for_all", "restart":
         "transient", "children": [{"actor": "b", "restart": "temporary",
                                    "shutdown_ms": 250}]}
      ]}})");
  const auto& root = cfg.supervision;
  CHECK(root.id == "root");
  CHECK(root.strategy == restart_strategy::rest_for_one);
  CHECK(root.intensity.max_restarts == 3);
  CHECK(root.intensity.period == 10000ms);
  CHECK(root.backoff.min == 10ms);
  CHECK(root.backoff.max == 1000ms);
  CHECK(root.backoff.jitter == Approx(0.5));
  REQUIRE(root.children.size() == 3);
  const auto& inner = root.children[0];
  CHECK_FALSE(inner.is_actor());
  CHECK(inner.spec.id == "inner");
  CHECK(inner.spec.restart == restart_type::transient);
  CHECK(inner.supervisor.strategy == restart_strategy::one_for_all);
  // OTP's defaults where the file says nothing.
  CHECK(inner.supervisor.intensity.max_restarts == 1);
  CHECK(inner.supervisor.intensity.period == 5000ms);
  REQUIRE(inner.supervisor.children.size() == 1);
  const auto& b = inner.supervisor.children[0];
  CHECK(b.actor == "b");
  CHECK(b.spec.restart == restart_type::temporary);
  CHECK(b.spec.shutdown == 250ms);
  // a and c were not placed: appended to the root, in config order.
  CHECK(root.children[1].actor == "a");
  CHECK(root.children[2].actor == "c");
  CHECK(root.children[1].spec.restart == restart_type::permanent);
  CHECK(root.children[1].spec.shutdown == 3000ms);
}

TEST_CASE("without a supervision section every actor is a permanent child of "
          "a one_for_one root with OTP's intensity",
          "[config]") {
  auto cfg = parse_ok(R"({"node": "n", "actors": [
      {"name": "a", "kind": "echo"}, {"name": "b", "kind": "echo"}]})");
  const auto& root = cfg.supervision;
  CHECK(root.strategy == restart_strategy::one_for_one);
  CHECK(root.intensity.max_restarts == 1);
  CHECK(root.intensity.period == 5000ms);
  REQUIRE(root.children.size() == 2);
  CHECK(root.children[0].actor == "a");
  CHECK(root.children[1].actor == "b");
}

TEST_CASE("a bad supervision tree names the JSON path", "[config]") {
  const std::string actors =
    R"("actors": [{"name": "a", "kind": "echo"}, {"name": "b", "kind": "echo"}])";
  auto error = [&](const std::string& supervision) {
    return parse_error(R"({"node": "n", )" + actors + R"(, "supervision": )" +
                       supervision + "}");
  };
  CHECK(error(R"({"strategy": "one_for_some"})") ==
        "node.json: $.supervision.strategy: expected one of \"one_for_one\", "
        "\"one_for_all\", \"rest_for_one\", found \"one_for_some\"");
  CHECK_THAT(error(R"({"children": [{"actor": "zz"}]})"),
             Catch::StartsWith("node.json: $.supervision.children[0].actor: "
                               "expected the name of an actor in $.actors "
                               "(a, b), found \"zz\""));
  CHECK(error(R"({"children": [{"actor": "a"}, {"supervisor": "s",
      "children": [{"actor": "a"}]}]})") ==
        "node.json: $.supervision.children[1].children[0].actor: actor 'a' "
        "is already in the tree at $.supervision.children[0].actor");
  CHECK_THAT(error(R"({"children": [{"actor": "a", "supervisor": "s"}]})"),
             Catch::StartsWith("node.json: $.supervision.children[0]: "
                               "expected exactly one of"));
  CHECK_THAT(error(R"({"children": [{"actor": "a", "restart": "sometimes"}]})"),
             Catch::StartsWith("node.json: $.supervision.children[0].restart: "
                               "expected one of"));
  CHECK_THAT(error(R"({"backoff": {"min_ms": 500, "max_ms": 100}})"),
             Catch::StartsWith("node.json: $.supervision.backoff.max_ms: "
                               "expected at least min_ms (500), found 100"));
  CHECK_THAT(error(R"({"children": [{"supervisor": "s", "shutdown_ms": 5}]})"),
             Catch::StartsWith("node.json: $.supervision.children[0]."
                               "shutdown_ms: a supervisor waits"));
  CHECK_THAT(error(R"({"max_restarts": -1})"),
             Catch::StartsWith("node.json: $.supervision.max_restarts: "));
}

TEST_CASE("the store section and an actor's group commit are read, with "
          "defaults",
          "[config]") {
  auto cfg = parse_ok(R"({"node": "n",
    "store": {"synchronous": "normal", "inbox_retention_ms": 86400000},
    "actors": [{"name": "a", "kind": "echo",
                "commit": {"max_batch": 10, "max_delay_ms": 2}},
               {"name": "b", "kind": "echo"}]})");
  CHECK(cfg.store.synchronous == sync_mode::normal);
  CHECK(cfg.store.inbox_retention == 86400000ms);
  CHECK(cfg.actors[0].commit.max_batch == 10);
  CHECK(cfg.actors[0].commit.max_delay == 2ms);
  CHECK(cfg.actors[1].commit.max_batch == 64);
  CHECK(cfg.actors[1].commit.max_delay == 5ms);
  auto defaults = parse_ok(R"({"node": "n"})");
  CHECK(defaults.store.synchronous == sync_mode::full);
  CHECK(parse_error(R"({"node": "n", "store": {"synchronous": "off"}})") ==
        "node.json: $.store.synchronous: expected one of \"full\", "
        "\"normal\", found \"off\"");
  CHECK_THAT(parse_error(R"({"node": "n", "actors": [{"name": "a", "kind":
    "echo", "commit": {"max_batch": 0}}]})"),
             Catch::StartsWith("node.json: $.actors[0].commit.max_batch: "));
}

TEST_CASE("the log section sets level and format, defaults to info and "
          "text, and a bad level names its path",
          "[config]") {
  auto defaults = parse_ok(R"({"node": "n1"})");
  CHECK(defaults.log.level == warren::log::level::info);
  CHECK(defaults.log.format == warren::log::format::text);
  auto cfg =
    parse_ok(R"({"node": "n1", "log": {"level": "debug", "format": "json"}})");
  CHECK(cfg.log.level == warren::log::level::debug);
  CHECK(cfg.log.format == warren::log::format::json);
  CHECK(parse_error(R"({"node": "n1", "log": {"level": "loud"}})") ==
        "node.json: $.log.level: expected one of \"trace\", \"debug\", "
        "\"info\", \"warning\", \"error\", \"off\", found \"loud\"");
  CHECK(parse_error(R"({"node": "n1", "log": {"colour": true}})") ==
        "node.json: $.log.colour: unknown key (expected one of: level, "
        "format)");
}

TEST_CASE("the metrics section takes listen as host:port, is off without it, "
          "and a bad address names its path",
          "[config]") {
  auto off = parse_ok(R"({"node": "n1"})");
  CHECK_FALSE(off.metrics.enabled);
  auto cfg =
    parse_ok(R"({"node": "n1", "metrics": {"listen": "127.0.0.1:9464"}})");
  CHECK(cfg.metrics.enabled);
  CHECK(cfg.metrics.host == "127.0.0.1");
  CHECK(cfg.metrics.port == 9464);
  auto any =
    parse_ok(R"({"node": "n1", "metrics": {"listen": "localhost:0"}})");
  CHECK(any.metrics.host == "localhost");
  CHECK(any.metrics.port == 0);
  for (const char* bad :
       {"9464", ":9464", "host:", "host:65536", "host:9x", "host:-1"})
    CHECK(parse_error(std::string{R"({"node": "n1", "metrics": {"listen": ")"} +
                      bad + "\"}}") ==
          std::string{"node.json: $.metrics.listen: expected \"host:port\" "
                      "with a port from 0 to 65535 (e.g. \"127.0.0.1:9464\"), "
                      "found \""} +
            bad + "\"");
  CHECK(parse_error(R"({"node": "n1", "metrics": {"port": 1}})") ==
        "node.json: $.metrics.port: unknown key (expected one of: listen)");
  CHECK(parse_error(R"({"node": "n1", "metrics": {"listen": 9464}})") ==
        "node.json: $.metrics.listen: expected a string, found 9464");
}
