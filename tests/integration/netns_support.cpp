#include "netns_support.hpp"

#include "warren/bridges/broker.hpp"
#include "warren/core/errc.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace warren::test {

namespace fs = std::filesystem;

namespace {

constexpr int cap_net_admin = 12;
constexpr int cap_sys_admin = 21;
constexpr const char* name_prefix = "warren-part-";

// Whether capability `bit` is in this process's effective set.
bool has_capability(int bit) {
  std::ifstream in{"/proc/self/status"};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("CapEff:", 0) == 0)
      return ((std::stoull(line.substr(7), nullptr, 16) >> bit) & 1U) != 0;
  return false;
}

std::string host_address(int x) {
  return "10.213." + std::to_string(x) + ".1";
}

std::string inner_address(int x) {
  return "10.213." + std::to_string(x) + ".2";
}

// Runs `argv` and fails the test, with what it said, unless it succeeds.
void must(const std::vector<std::string>& argv) {
  auto r = run_command(argv, 30s);
  std::string line;
  for (const auto& a : argv)
    line += a + " ";
  INFO(line << "said: " << r.err);
  REQUIRE(r.exit_code == 0);
}

// Runs `argv` for cleaning up: whatever happens, the test goes on.
void attempt(const std::vector<std::string>& argv) noexcept {
  try {
    run_command(argv, 30s);
  } catch (...) {
    // A timeout was reported as a failure already; nothing else to do.
  }
}

// The namespaces (with their pair and route) that test runs no longer alive
// left behind: a run killed by its timeout never reaches a destructor.
void remove_leftovers(const std::string& ip) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator{"/run/netns", ec}) {
    auto name = entry.path().filename().string();
    int pid = 0;
    int x = 0;
    if (name.rfind(name_prefix, 0) != 0 ||
        std::sscanf(name.c_str() + std::strlen(name_prefix), "%d-%d", &pid,
                    &x) != 2)
      continue;
    if (pid == ::getpid() || fs::exists("/proc/" + std::to_string(pid)))
      continue;
    attempt({ip, "route", "del", "blackhole", inner_address(x) + "/32"});
    attempt({ip, "netns", "delete", name});
  }
}

// A /30 of 10.213.0.0/16 that no address or route on this machine uses.
int free_subnet(const std::string& ip) {
  auto used = run_command({ip, "-4", "-o", "addr", "show"}).out +
              run_command({ip, "-4", "route", "show", "table", "all"}).out;
  for (int k = 0; k < 256; ++k) {
    int x = (::getpid() + k) % 256;
    if (used.find("10.213." + std::to_string(x) + ".") == std::string::npos)
      return x;
  }
  FAIL("every 10.213.x.0/30 is in use on this machine");
  return -1;
}

// Whether something accepts TCP connections on `address`:`port`.
bool accepts(const std::string& address, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  ::inet_pton(AF_INET, address.c_str(), &to.sin_addr);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  ::close(fd);
  return ok;
}

} // namespace

std::string network_namespace_unavailable() {
  std::string missing;
  auto add = [&missing](const std::string& what) {
    missing += (missing.empty() ? "" : ", ") + what;
  };
  if (!has_capability(cap_net_admin))
    add("CAP_NET_ADMIN");
  if (!has_capability(cap_sys_admin))
    add("CAP_SYS_ADMIN (ip netns add mounts)");
  if (find_program("ip").empty())
    add("ip (iproute2)");
  if (find_program("socat").empty())
    add("socat");
  return missing;
}

network_namespace::network_namespace(
  const std::vector<std::string>& broker_uris)
  : ip_{find_program("ip")} {
  auto socat = find_program("socat");
  REQUIRE_FALSE(ip_.empty());
  REQUIRE_FALSE(socat.empty());
  remove_leftovers(ip_);
  auto x = free_subnet(ip_);
  name_ = name_prefix + std::to_string(::getpid()) + "-" + std::to_string(x);
  host_link_ = "wp" + std::to_string(x) + "h";
  auto inner_link = "wp" + std::to_string(x) + "n";
  host_address_ = host_address(x);
  inner_address_ = inner_address(x);
  try {
    must({ip_, "netns", "add", name_});
    must({ip_, "link", "add", host_link_, "type", "veth", "peer", "name",
          inner_link, "netns", name_});
    must({ip_, "addr", "add", host_address_ + "/30", "dev", host_link_});
    must({ip_, "link", "set", host_link_, "up"});
    must({ip_, "-n", name_, "addr", "add", inner_address_ + "/30", "dev",
          inner_link});
    must({ip_, "-n", name_, "link", "set", inner_link, "up"});
    must({ip_, "-n", name_, "link", "set", "lo", "up"});
    // Strict: a packet whose source routes elsewhere than this link (to
    // the blackhole, once cut) is dropped.
    write_file("/proc/sys/net/ipv4/conf/" + host_link_ + "/rp_filter", "1");
    for (const auto& uri : broker_uris) {
      auto ep = bridges::parse_broker_uri(uri);
      if (!ep)
        FAIL("broker URI " << uri << ": " << describe(ep.error()));
      REQUIRE((ep->host == "127.0.0.1" || ep->host == "localhost"));
      auto port = std::to_string(ep->port);
      forwarders_.push_back(
        std::make_unique<background_process>(std::vector<std::string>{
          socat,
          "TCP-LISTEN:" + port + ",bind=" + host_address_ + ",reuseaddr,fork",
          "TCP:127.0.0.1:" + port}));
      bool listening =
        eventually([&] { return accepts(host_address_, ep->port); }, 10s);
      INFO("socat forwarding " << host_address_ << ":" << port
                               << " said: " << forwarders_.back()->err());
      REQUIRE(listening);
      broker_ports_.push_back(port);
    }
  } catch (...) {
    tear_down();
    throw;
  }
}

network_namespace::~network_namespace() {
  tear_down();
}

void network_namespace::tear_down() noexcept {
  if (cut_)
    attempt({ip_, "route", "del", "blackhole", inner_address_ + "/32"});
  forwarders_.clear();
  // Deleting one end deletes the pair, even while a process still holds
  // the namespace.
  attempt({ip_, "link", "delete", host_link_});
  attempt({ip_, "netns", "delete", name_});
}

std::vector<std::string> network_namespace::command_prefix() const {
  return {ip_, "netns", "exec", name_};
}

std::string network_namespace::reach(const std::string& uri) const {
  auto ep = bridges::parse_broker_uri(uri);
  REQUIRE(ep);
  auto host = "@" + ep->host + ":" + std::to_string(ep->port) + "/";
  auto at = uri.find(host);
  INFO(uri);
  REQUIRE(at != std::string::npos);
  REQUIRE(std::find(broker_ports_.begin(), broker_ports_.end(),
                    std::to_string(ep->port)) != broker_ports_.end());
  return uri.substr(0, at + 1) + host_address_ +
         uri.substr(at + 1 + ep->host.size());
}

void network_namespace::cut() {
  must({ip_, "route", "add", "blackhole", inner_address_ + "/32"});
  cut_ = true;
}

void network_namespace::heal() {
  must({ip_, "route", "del", "blackhole", inner_address_ + "/32"});
  cut_ = false;
}

} // namespace warren::test
