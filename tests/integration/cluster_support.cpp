#include "cluster_support.hpp"

#include "support.hpp"
#include "warren/core/errc.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

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

node_group::node_group(
  std::size_t size,
  const std::function<boost::json::object(const temp_dir&, std::size_t)>&
    config) {
  for (std::size_t n = 0; n < size; ++n) {
    dirs_.push_back(std::make_unique<temp_dir>());
    cfgs_.push_back(config(*dirs_.back(), n));
  }
  for (std::size_t n = 0; n < size; ++n)
    nodes_.push_back(std::make_unique<node_process>(*dirs_[n], cfgs_[n]));
  std::this_thread::sleep_for(std::chrono::seconds{3});
}

void node_group::kill(std::size_t n) {
  kill_hard(*nodes_.at(n));
}

void node_group::restart(std::size_t n) {
  nodes_.at(n).reset();
  nodes_.at(n) = std::make_unique<node_process>(*dirs_.at(n), cfgs_.at(n));
}

std::vector<const temp_dir*> node_group::dirs() const {
  std::vector<const temp_dir*> out;
  for (const auto& d : dirs_)
    out.push_back(d.get());
  return out;
}

std::string node_group::logs() const {
  std::string out;
  for (const auto& node : nodes_)
    out += node->err();
  return out;
}

void kill_two_in_turn(node_group& group, const std::function<void(int)>& send) {
  send(150);
  // The first node dies with its shards; it comes back as a standby.
  group.kill(0);
  send(100);
  group.restart(0);
  send(100);
  // The second node dies.
  group.kill(1);
  send(100);
  group.restart(1);
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

} // namespace warren::test
