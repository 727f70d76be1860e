#include "cluster_support.hpp"

#include "warren/bridges/topology.hpp"
#include "warren/core/dead_letter.hpp"
#include "warren/core/errc.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace warren::test {

namespace {

const char* required_env(const char* variable) {
  const char* value = std::getenv(variable);
  if (value == nullptr || *value == '\0')
    FAIL(variable << " is not set: the [cluster] tests need the test "
                     "cluster; run them with scripts/test.sh (or start it "
                     "with scripts/broker.sh cluster-start NAME and export "
                     "WARREN_TEST_CLUSTER_NAME, WARREN_TEST_CLUSTER_URIS and "
                     "WARREN_TEST_BROKER_SCRIPT)");
  return value;
}

} // namespace

test_cluster::test_cluster() : name_{required_env("WARREN_TEST_CLUSTER_NAME")} {
  std::string list = required_env("WARREN_TEST_CLUSTER_URIS");
  std::istringstream in{list};
  for (std::string uri; std::getline(in, uri, ',');)
    uris_.push_back(uri);
  REQUIRE(uris_.size() >= 3);
  required_env("WARREN_TEST_BROKER_SCRIPT");
  // Members an earlier test left down come back (the others are left as
  // they are: the command only starts what does not run).
  auto r = run_command({std::getenv("WARREN_TEST_BROKER_SCRIPT"),
                        "cluster-start", name_, std::to_string(size())},
                       180s);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

test_cluster::~test_cluster() {
  for (auto i : killed_)
    script("start", i);
}

const std::string& test_cluster::uri(std::size_t i) const {
  REQUIRE(i >= 1);
  REQUIRE(i <= size());
  return uris_[i - 1];
}

boost::json::array test_cluster::uris_from(std::size_t first) const {
  boost::json::array out;
  for (std::size_t k = 0; k < size(); ++k)
    out.emplace_back(uri((first - 1 + k) % size() + 1));
  return out;
}

boost::json::array test_cluster::uris() const {
  boost::json::array out;
  for (const auto& uri : uris_)
    out.emplace_back(uri);
  return out;
}

bridges::broker_settings test_cluster::settings(std::size_t i) const {
  auto ep = bridges::parse_broker_uri(uri(i));
  if (!ep)
    FAIL("cluster URI " << uri(i) << ": " << describe(ep.error()));
  auto settings = broker_settings();
  settings.endpoints = {*ep};
  return settings;
}

std::unique_ptr<bridges::blocking_client>
test_cluster::client(std::size_t i) const {
  auto client = bridges::blocking_client::connect(settings(i));
  if (!client)
    FAIL("cannot connect to cluster member " << i << ": "
                                             << describe(client.error()));
  return std::move(*client);
}

void test_cluster::kill(std::size_t i) {
  killed_.insert(i);
  REQUIRE(script("kill", i) == 0);
}

void test_cluster::start(std::size_t i) {
  REQUIRE(script("start", i) == 0);
  killed_.erase(i);
}

std::set<std::size_t> test_cluster::running(std::size_t first_up) const {
  auto r = run_command({std::getenv("WARREN_TEST_BROKER_SCRIPT"),
                        "cluster-nodes", name_, std::to_string(first_up)},
                       60s);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::set<std::size_t> out;
  std::istringstream lines{r.out};
  for (std::string line; std::getline(lines, line);)
    if (auto dash = line.rfind('-'); dash != std::string::npos)
      out.insert(std::stoul(line.substr(dash + 1)));
  return out;
}

std::string test_cluster::member(std::size_t i) const {
  return name_ + "-" + std::to_string(i);
}

int test_cluster::script(const std::string& command, std::size_t i) const {
  auto r = run_command(
    {std::getenv("WARREN_TEST_BROKER_SCRIPT"), command, member(i)}, 120s);
  if (r.exit_code != 0)
    WARN("broker.sh " << command << " " << member(i) << ": " << r.err);
  return r.exit_code;
}

void publish_until_confirmed(bridges::blocking_client& client,
                             const outgoing_message& m) {
  for (int attempt = 0;; ++attempt) {
    auto err = client.publish(m, std::chrono::seconds{10});
    if (!err)
      return;
    INFO("publishing " << m.properties.message_id << ": " << describe(err));
    REQUIRE(attempt < 40);
    std::this_thread::sleep_for(std::chrono::milliseconds{500});
  }
}

void send_confirmed(bridges::blocking_client& client, int& sent, int count,
                    const std::function<outgoing_message(int)>& make) {
  for (int i = 0; i < count; ++i, ++sent) {
    publish_until_confirmed(client, make(sent));
    std::this_thread::sleep_for(std::chrono::milliseconds{3});
  }
}

node_group::node_group(std::size_t size, const config_maker& config)
  : node_group(size, config, size) {}

node_group::node_group(std::size_t size, const config_maker& config,
                       std::size_t started) {
  for (std::size_t n = 0; n < size; ++n) {
    dirs_.push_back(std::make_unique<temp_dir>());
    cfgs_.push_back(config(*dirs_.back(), n));
  }
  nodes_.resize(size);
  for (std::size_t n = 0; n < started && n < size; ++n)
    start(n);
  if (started > 0)
    std::this_thread::sleep_for(std::chrono::seconds{3});
}

void node_group::start(std::size_t n, std::vector<std::string> command_prefix) {
  nodes_.at(n).reset();
  nodes_[n] = std::make_unique<node_process>(
    *dirs_.at(n), cfgs_.at(n), std::vector<std::string>{},
    node_process::until::ready, std::move(command_prefix));
}

void node_group::kill(std::size_t n) {
  kill_hard(*nodes_.at(n));
}

std::string node_group::name(std::size_t n) const {
  return std::string{cfgs_.at(n).at("node").as_string()};
}

std::vector<std::string> node_group::names(std::size_t count) const {
  std::vector<std::string> out;
  for (std::size_t n = 0; n < count && n < cfgs_.size(); ++n)
    out.push_back(name(n));
  return out;
}

std::vector<const temp_dir*> node_group::dirs(std::size_t count) const {
  std::vector<const temp_dir*> out;
  for (std::size_t n = 0; n < count && n < dirs_.size(); ++n)
    out.push_back(dirs_[n].get());
  return out;
}

std::string node_group::logs() const {
  std::string out;
  for (const auto& node : nodes_)
    if (node)
      out += node->err();
  return out;
}

void kill_two_in_turn(node_group& group, const std::function<void(int)>& send) {
  send(150);
  // The first node dies with its shards; it comes back as a standby.
  group.kill(0);
  send(100);
  group.start(0);
  send(100);
  // The second node dies.
  group.kill(1);
  send(100);
  group.start(1);
}

sharded_queues::sharded_queues(
  const test_cluster& cluster,
  std::vector<std::pair<std::string, std::size_t>> actors)
  : actors_(std::move(actors)) {
  for (std::size_t i = cluster.size(); i >= 1; --i)
    members_.push_back(cluster.settings(i));
}

sharded_queues::~sharded_queues() {
  for (const auto& member : members_) {
    auto client = bridges::blocking_client::connect(member);
    if (!client)
      continue;
    for (const auto& [actor, shards] : actors_) {
      std::vector<std::string> queues{actor, actor + ".log"};
      for (std::size_t i = 0; i < shards; ++i)
        queues.push_back(actor + ".s" + std::to_string(i));
      for (const auto& queue : queues) {
        if (auto err = (*client)->delete_queue(queue))
          std::cerr << "warning: deleting " << queue << ": " << describe(err)
                    << "\n";
        if (queue != actor + ".log")
          (*client)->delete_queue(dead_letter_queue_name(queue));
      }
    }
    return;
  }
  std::cerr << "warning: no cluster member to delete the queues of the "
               "sharded actors on\n";
}

status_reading cluster_status(const std::string& uri,
                              const std::string& actor) {
  auto r = warren({"cluster", "status", "--json", "-u", uri, "--actor", actor},
                  std::chrono::seconds{30});
  status_reading out;
  out.exit_code = r.exit_code;
  out.text = r.out + r.err;
  boost::system::error_code ec;
  auto v = boost::json::parse(r.out, ec);
  if (!ec && v.is_object())
    out.status = v.as_object();
  return out;
}

const boost::json::object* node_in(const boost::json::object& status,
                                   const std::string& name) {
  for (const auto& n : status.at("nodes").as_array())
    if (n.at("node").as_string() == name)
      return &n.as_object();
  return nullptr;
}

std::map<int64_t, std::pair<std::string, int64_t>>
owners_in(const boost::json::object& status) {
  std::map<int64_t, std::pair<std::string, int64_t>> out;
  const auto& actors = status.at("actors").as_array();
  if (actors.empty())
    return out;
  for (const auto& s : actors[0].at("shard").as_array()) {
    const auto& owner = s.at("owner");
    out[s.at("shard").to_number<int64_t>()] = {
      owner.is_string() ? std::string{owner.as_string()} : std::string{},
      s.at("epoch").to_number<int64_t>()};
  }
  return out;
}

bool no_stale_owners(const boost::json::object& status) {
  const auto& actors = status.at("actors").as_array();
  if (actors.empty())
    return true;
  for (const auto& s : actors[0].at("shard").as_array())
    if (!s.at("stale_owners").as_array().empty())
      return false;
  return true;
}

std::map<std::string, int> spread_of(const boost::json::object& status) {
  std::map<std::string, int> out;
  for (const auto& [shard, owner] : owners_in(status))
    ++out[owner.first];
  return out;
}

std::optional<double>
wait_for_status(const test_cluster& cluster, const std::string& actor,
                const std::function<bool(const boost::json::object&)>& wanted,
                std::chrono::milliseconds timeout) {
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < timeout) {
    auto st = cluster_status(cluster.uri(3), actor);
    if (!st.status.empty() && wanted(st.status))
      return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                           start)
        .count();
    std::this_thread::sleep_for(200ms);
  }
  return std::nullopt;
}

bool even(const std::map<std::string, int>& spread,
          const std::vector<std::string>& nodes, int low) {
  if (spread.count("") > 0 || spread.size() != nodes.size())
    return false;
  for (const auto& n : nodes) {
    auto found = spread.find(n);
    if (found == spread.end() || found->second < low || found->second > low + 1)
      return false;
  }
  return true;
}

std::string describe_spread(const std::map<std::string, int>& spread) {
  std::string out;
  for (const auto& [node, count] : spread)
    out += (node.empty() ? std::string{"(none)"} : node) + ": " +
           std::to_string(count) + "  ";
  return out;
}

// -- the oracle ---------------------------------------------------------------

outgoing_message to_actor(const std::string& actor, std::string id,
                          std::string type, std::string body) {
  outgoing_message m;
  m.exchange = bridges::actors_exchange;
  m.routing_key = actor;
  m.properties.message_id = std::move(id);
  m.properties.type = std::move(type);
  m.body = std::move(body);
  return m;
}

outgoing_message increment(const std::string& actor, int i) {
  return to_actor(actor, actor + "-" + std::to_string(i), "increment",
                  R"({"counter":"c)" + std::to_string(i % 10) + R"(","by":1})");
}

std::map<std::string, int64_t> counts_in(const temp_dir& dir,
                                         const std::string& actor) {
  return counter_counts(dir.file("state") + "/warren.db", actor);
}

namespace {

int64_t sum(const std::map<std::string, int64_t>& counts) {
  int64_t n = 0;
  for (const auto& [key, count] : counts)
    n += count;
  return n;
}

} // namespace

boost::json::object cluster_node_config(const test_cluster& cluster,
                                        const temp_dir& dir, std::size_t n) {
  auto cfg = node_config(dir);
  cfg["broker"] = boost::json::object{{"uris", cluster.uris_from(n % 3 + 1)},
                                      {"heartbeat_seconds", 2}};
  return cfg;
}

boost::json::object
oracle_node_config(const test_cluster& cluster, const temp_dir& dir,
                   std::size_t n, const std::string& accounts,
                   const std::string& ledger,
                   const boost::json::object& cluster_section) {
  auto cfg = cluster_node_config(cluster, dir, n);
  auto acct = counter_actor(accounts, ledger);
  acct["shards"] = 6;
  auto book = counter_actor(ledger);
  book["shards"] = 3;
  cfg["actors"] = boost::json::array{acct, book};
  if (!cluster_section.empty())
    cfg["cluster"] = cluster_section;
  return cfg;
}

std::string expect_exact(const std::vector<const temp_dir*>& files,
                         std::vector<std::unique_ptr<node_process>>& nodes,
                         const std::string& accounts, const std::string& ledger,
                         int sent) {
  std::map<std::string, int64_t> expected;
  for (int i = 0; i < sent; ++i)
    ++expected["c" + std::to_string(i % 10)];
  for (std::size_t n = 0; n < files.size(); ++n) {
    INFO("node " << n + 1);
    std::map<std::string, int64_t> acct_counts;
    std::map<std::string, int64_t> ledger_counts;
    eventually(
      [&] {
        acct_counts = counts_in(*files[n], accounts);
        ledger_counts = counts_in(*files[n], ledger);
        return sum(acct_counts) >= sent && sum(ledger_counts) >= sent;
      },
      60s);
    INFO("accounts counted " << sum(acct_counts) << ", ledger "
                             << sum(ledger_counts) << " of " << sent);
    if (sum(acct_counts) < sent || sum(ledger_counts) < sent) {
      // What the nodes said, for the failure's report.
      std::string said;
      for (auto& node : nodes)
        if (node)
          said += node->err();
      UNSCOPED_INFO(said);
    }
    CHECK(acct_counts == expected);
    CHECK(ledger_counts == expected);
  }
  std::string logs;
  for (auto& node : nodes)
    if (node)
      logs += node->err();
  INFO(logs);
  if (std::getenv("WARREN_TEST_SHOW_LOGS") != nullptr)
    std::cerr << logs;
  for (auto& node : nodes)
    if (node)
      CHECK(node->running());
  return logs;
}

steady_load::steady_load(const test_cluster& cluster, std::string actor) {
  // Connected here, so that a failure to connect fails the test.
  std::shared_ptr<bridges::blocking_client> client = cluster.client(3);
  thread_ = std::thread{[this, client, actor{std::move(actor)}] {
    while (!stopping_) {
      auto m = increment(actor, sent_);
      bool confirmed = false;
      for (int attempt = 0; attempt < 40 && !confirmed; ++attempt) {
        confirmed = !client->publish(m, 10s);
        if (!confirmed)
          std::this_thread::sleep_for(500ms);
      }
      if (!confirmed) {
        ++unconfirmed_;
        break;
      }
      ++sent_;
      std::this_thread::sleep_for(2ms);
    }
  }};
}

steady_load::~steady_load() {
  stopping_ = true;
  if (thread_.joinable())
    thread_.join();
}

int steady_load::stop() {
  stopping_ = true;
  if (thread_.joinable())
    thread_.join();
  REQUIRE(unconfirmed_ == 0);
  return sent_;
}

// -- what the nodes' logs say -------------------------------------------------

namespace {

constexpr int64_t day_ms = 24 * 60 * 60 * 1000;

} // namespace

int64_t log_time_ms(const std::string& line) {
  int h = 0;
  int m = 0;
  int sec = 0;
  int ms = 0;
  if (line.size() < 24 ||
      std::sscanf(line.c_str() + 11, "%d:%d:%d.%d", &h, &m, &sec, &ms) != 4)
    return -1;
  return ((h * 60 + m) * 60 + sec) * 1000 + ms;
}

int64_t now_time_ms() {
  auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch)
           .count() %
         day_ms;
}

double seconds_between(int64_t from, int64_t to) {
  return static_cast<double>(((to - from) % day_ms + day_ms) % day_ms) / 1000.0;
}

bool at_or_after(int64_t at, int64_t since) {
  return seconds_between(since, at) < 3600;
}

std::vector<shard_event> shard_events(const std::string& logs,
                                      const std::string& actor) {
  std::vector<shard_event> events;
  std::istringstream in{logs};
  auto scope = "/" + actor + ": shard ";
  for (std::string line; std::getline(in, line);) {
    auto at = line.find(scope);
    if (at == std::string::npos)
      continue;
    bool handover = line.find("handing it over") != std::string::npos;
    if (!handover && line.find("taken over in epoch") == std::string::npos)
      continue;
    shard_event e;
    e.at = log_time_ms(line);
    e.shard = std::atoll(line.c_str() + at + scope.size());
    e.handover = handover;
    events.push_back(e);
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const auto& a, const auto& b) { return a.at < b.at; });
  return events;
}

std::vector<double> handover_pauses(const std::string& logs,
                                    const std::string& actor, int64_t since) {
  auto events = shard_events(logs, actor);
  std::vector<double> out;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (!events[i].handover ||
        (since >= 0 && !at_or_after(events[i].at, since)))
      continue;
    for (std::size_t j = i + 1; j < events.size(); ++j)
      if (!events[j].handover && events[j].shard == events[i].shard) {
        out.push_back(seconds_between(events[i].at, events[j].at));
        break;
      }
  }
  return out;
}

} // namespace warren::test
