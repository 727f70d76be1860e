// The node's metrics endpoint (`metrics.listen`) against the private broker:
// what /metrics counts for a known mix of messages, read with a parser of
// the Prometheus text format 0.0.4 (not by substrings); /healthz and /readyz,
// also while the broker has closed the node's connections; requests that are
// wrong, slow or garbage; an address already in use; and a real Prometheus
// (scripts/prometheus.sh) scraping a node under a steady load.
//
// Nodes listen on 127.0.0.1:0 and the tests read the port from the node's
// log line "metrics on http://127.0.0.1:<port>/metrics". HTTP is spoken over
// plain POSIX sockets, so the tests see exactly what goes over the wire.

#include "support.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/dead_letter.hpp"

#include <arpa/inet.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

using clock_type = std::chrono::steady_clock;

// -- HTTP over a socket -------------------------------------------------------

/// A TCP connection to 127.0.0.1 (or -1 when it cannot connect).
class tcp_socket {
 public:
  explicit tcp_socket(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
      return;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~tcp_socket() { close(); }
  tcp_socket(const tcp_socket&) = delete;
  tcp_socket& operator=(const tcp_socket&) = delete;

  bool connected() const noexcept { return fd_ >= 0; }

  void close() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

  /// Closes with a reset (SO_LINGER 0) instead of a FIN.
  void reset() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }

  /// Sends all of `bytes`; false when the peer is gone.
  bool send_all(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      auto n =
        ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }

  /// Reads until the peer closes (or resets) the connection, `timeout`
  /// passes, or `enough` says what came is enough; `closed` says whether
  /// the peer closed.
  struct read_result {
    std::string bytes;
    bool closed = false;
  };
  read_result read_until_closed(
    std::chrono::milliseconds timeout,
    const std::function<bool(const std::string&)>& enough = {}) {
    read_result result;
    auto deadline = clock_type::now() + timeout;
    char buffer[16384];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - clock_type::now());
      if (left.count() <= 0)
        return result;
      pollfd p{fd_, POLLIN, 0};
      auto rc = ::poll(&p, 1, static_cast<int>(left.count()));
      if (rc < 0 && errno == EINTR)
        continue;
      if (rc <= 0)
        return result;
      auto n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        result.closed = true;
        return result;
      }
      result.bytes.append(buffer, static_cast<std::size_t>(n));
      if (enough && enough(result.bytes))
        return result;
    }
  }

 private:
  int fd_ = -1;
};

struct http_response {
  /// The status code; -1: no connection, or no complete response.
  int status = -1;
  /// Header names in lower case.
  std::map<std::string, std::string> headers;
  std::string body;
  std::string raw;

  std::string header(const std::string& lower_name) const {
    auto i = headers.find(lower_name);
    return i == headers.end() ? std::string{} : i->second;
  }
};

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

// Parses one response (status line, headers, a body by Content-Length,
// chunks, or up to the close; none to a HEAD). `status` stays -1 when it is
// not one, or not complete.
http_response parse_response(const std::string& raw, bool to_head = false) {
  http_response r;
  r.raw = raw;
  auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.compare(0, 5, "HTTP/") != 0)
    return r;
  std::istringstream head{raw.substr(0, head_end)};
  std::string line;
  std::getline(head, line);
  auto space = line.find(' ');
  if (space == std::string::npos)
    return r;
  int status = std::atoi(line.c_str() + space + 1);
  while (std::getline(head, line)) {
    auto colon = line.find(':');
    if (colon != std::string::npos)
      r.headers[lower(line.substr(0, colon))] = trim(line.substr(colon + 1));
  }
  auto rest = raw.substr(head_end + 4);
  if (to_head) {
    // No body.
  } else if (lower(r.header("transfer-encoding")) == "chunked") {
    std::size_t at = 0;
    for (;;) {
      auto eol = rest.find("\r\n", at);
      if (eol == std::string::npos)
        return r; // incomplete
      auto size = std::strtoul(rest.c_str() + at, nullptr, 16);
      at = eol + 2;
      if (size == 0)
        break;
      if (at + size > rest.size())
        return r;
      r.body += rest.substr(at, size);
      at += size + 2;
    }
  } else if (!r.header("content-length").empty()) {
    auto size = std::strtoul(r.header("content-length").c_str(), nullptr, 10);
    r.body = rest.substr(0, size);
    if (r.body.size() < size)
      return r;
  } else {
    r.body = rest;
  }
  r.status = status;
  return r;
}

/// Sends `request` as it is and reads the response up to the close.
http_response http_exchange(uint16_t port, const std::string& request,
                            std::chrono::milliseconds timeout = 10s) {
  tcp_socket s{port};
  if (!s.connected() || !s.send_all(request))
    return {};
  return parse_response(s.read_until_closed(timeout).bytes,
                        request.compare(0, 5, "HEAD ") == 0);
}

/// `method target` with "Connection: close".
http_response http_request(uint16_t port, const std::string& method,
                           const std::string& target,
                           std::chrono::milliseconds timeout = 10s) {
  auto request = method + " " + target +
                 " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                 "\r\nUser-Agent: warren-metrics-test\r\nConnection: close\r\n";
  if (method != "GET" && method != "HEAD")
    request += "Content-Length: 0\r\n";
  return http_exchange(port, request + "\r\n", timeout);
}

http_response http_get(uint16_t port, const std::string& target,
                       std::chrono::milliseconds timeout = 10s) {
  return http_request(port, "GET", target, timeout);
}

std::string url_encode(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// -- the Prometheus text format 0.0.4 -----------------------------------------

using label_set = std::map<std::string, std::string>;

struct sample {
  std::string name;
  label_set labels;
  double value = 0;
};

std::string describe(const sample& s) {
  std::string text = s.name + "{";
  for (const auto& [k, v] : s.labels)
    text += k + "=\"" + v + "\",";
  return text + "} " + std::to_string(s.value);
}

bool is_name_char(char c, bool first, bool colon_ok) {
  if (std::isalpha(static_cast<unsigned char>(c)) || c == '_')
    return true;
  if (c == ':' && colon_ok)
    return true;
  return !first && std::isdigit(static_cast<unsigned char>(c));
}

/// A scrape, parsed. The constructor fails the test on anything that is not
/// the text format 0.0.4: a line that does not parse, a sample without a
/// TYPE before it, a family whose lines are not together, a series twice.
class exposition {
 public:
  explicit exposition(const std::string& text) {
    std::set<std::string> done_families;
    std::set<std::string> series;
    std::string current;
    std::istringstream lines{text};
    std::string line;
    int number = 0;
    while (std::getline(lines, line)) {
      ++number;
      if (line.empty())
        continue;
      if (line[0] == '#') {
        comment(line, number);
        continue;
      }
      auto s = parse_sample(line, number);
      auto family = family_of(s.name);
      if (family.empty())
        FAIL("line " << number << ": sample " << s.name
                     << " has no # TYPE line before it: " << line);
      if (family != current) {
        if (done_families.count(family) != 0)
          FAIL("line " << number << ": the lines of family " << family
                       << " are not together");
        if (!current.empty())
          done_families.insert(current);
        current = family;
      }
      auto key = describe(sample{s.name, s.labels, 0});
      if (!series.insert(key).second)
        FAIL("line " << number << ": series twice: " << line);
      samples_.push_back(std::move(s));
    }
    if (!text.empty() && text.back() != '\n')
      FAIL("the exposition does not end with a line feed");
  }

  const std::vector<sample>& samples() const noexcept { return samples_; }

  std::string type_of(const std::string& family) const {
    auto i = types_.find(family);
    return i == types_.end() ? std::string{} : i->second;
  }

  /// The samples named `name` whose labels include `subset`.
  std::vector<const sample*> find(const std::string& name,
                                  const label_set& subset = {}) const {
    std::vector<const sample*> found;
    for (const auto& s : samples_) {
      if (s.name != name)
        continue;
      bool match = true;
      for (const auto& [k, v] : subset) {
        auto i = s.labels.find(k);
        match = match && i != s.labels.end() && i->second == v;
      }
      if (match)
        found.push_back(&s);
    }
    return found;
  }

  /// The value of the one sample `find` finds (fails the test otherwise).
  double value(const std::string& name, const label_set& subset = {}) const {
    auto found = find(name, subset);
    if (found.size() != 1) {
      std::string seen;
      for (const auto* s : find(name))
        seen += "\n  " + describe(*s);
      FAIL(found.size() << " samples of " << name
                        << " match the labels; all of them:" << seen);
    }
    return found.front()->value;
  }

  /// The sum over what `find` finds (0 when nothing matches).
  double sum(const std::string& name, const label_set& subset = {}) const {
    double total = 0;
    for (const auto* s : find(name, subset))
      total += s->value;
    return total;
  }

 private:
  void comment(const std::string& line, int number) {
    std::istringstream words{line};
    std::string hash, keyword, name, type;
    words >> hash >> keyword >> name;
    if (hash != "#" || (keyword != "TYPE" && keyword != "HELP"))
      return; // a plain comment
    if (name.empty())
      FAIL("line " << number << ": # " << keyword << " without a name");
    if (keyword == "HELP") {
      if (!helps_.insert(name).second)
        FAIL("line " << number << ": a second # HELP for " << name);
      return;
    }
    words >> type;
    static const std::set<std::string> types{"counter", "gauge", "histogram",
                                             "summary", "untyped"};
    if (types.count(type) == 0)
      FAIL("line " << number << ": unknown type: " << line);
    if (!types_.emplace(name, type).second)
      FAIL("line " << number << ": a second # TYPE for " << name);
  }

  // The family a sample belongs to: its name, or for a histogram (summary)
  // its name without _bucket, _sum or _count. "" when none was typed.
  std::string family_of(const std::string& name) const {
    if (types_.count(name) != 0)
      return name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string sfx{suffix};
      if (name.size() <= sfx.size() ||
          name.compare(name.size() - sfx.size(), sfx.size(), sfx) != 0)
        continue;
      auto base = name.substr(0, name.size() - sfx.size());
      auto t = type_of(base);
      if (t == "histogram" || (t == "summary" && sfx != "_bucket"))
        return base;
    }
    return {};
  }

  static sample parse_sample(const std::string& line, int number) {
    auto bad = [&](const char* what) {
      FAIL("line " << number << ": " << what << ": " << line);
    };
    sample s;
    std::size_t i = 0;
    while (i < line.size() && is_name_char(line[i], i == 0, true))
      ++i;
    if (i == 0)
      bad("no metric name");
    s.name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
      ++i;
      for (;;) {
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        auto start = i;
        while (i < line.size() && is_name_char(line[i], i == start, false))
          ++i;
        if (i == start)
          bad("a label without a name");
        auto key = line.substr(start, i - start);
        if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"')
          bad("a label without =\"");
        i += 2;
        std::string value;
        for (;;) {
          if (i >= line.size())
            bad("an unterminated label value");
          char c = line[i++];
          if (c == '"')
            break;
          if (c == '\\') {
            if (i >= line.size())
              bad("an unterminated escape");
            char e = line[i++];
            if (e == 'n')
              value += '\n';
            else if (e == '\\' || e == '"')
              value += e;
            else
              bad("an unknown escape in a label value");
          } else {
            value += c;
          }
        }
        if (!s.labels.emplace(key, value).second)
          bad("a label twice");
        if (i < line.size() && line[i] == ',')
          ++i;
        else if (i >= line.size() || line[i] != '}')
          bad("labels not separated by ','");
      }
    }
    if (i >= line.size() || (line[i] != ' ' && line[i] != '\t'))
      bad("no blank between the name and the value");
    std::istringstream rest{line.substr(i)};
    std::string value, timestamp, extra;
    rest >> value >> timestamp >> extra;
    if (value.empty() || !extra.empty())
      bad("not 'value [timestamp]'");
    char* end = nullptr;
    s.value = std::strtod(value.c_str(), &end);
    if (end != value.c_str() + value.size())
      bad("a value that is not a number");
    if (!timestamp.empty() &&
        timestamp.find_first_not_of("-0123456789") != std::string::npos)
      bad("a timestamp that is not an integer");
    return s;
  }

  std::map<std::string, std::string> types_;
  std::set<std::string> helps_;
  std::vector<sample> samples_;
};

/// Checks the buckets of histogram `base` with `labels`: ascending bounds
/// ending with +Inf, cumulative counts, +Inf equal to _count. Returns
/// _count.
double check_histogram(const exposition& m, const std::string& base,
                       const label_set& labels) {
  std::vector<std::pair<double, double>> buckets;
  for (const auto* s : m.find(base + "_bucket", labels)) {
    auto le = s->labels.find("le");
    REQUIRE(le != s->labels.end());
    buckets.emplace_back(std::strtod(le->second.c_str(), nullptr), s->value);
  }
  REQUIRE(buckets.size() >= 2);
  std::sort(buckets.begin(), buckets.end());
  CHECK(std::isinf(buckets.back().first));
  for (std::size_t i = 1; i < buckets.size(); ++i)
    CHECK(buckets[i - 1].second <= buckets[i].second);
  auto count = m.value(base + "_count", labels);
  CHECK(buckets.back().second == count);
  CHECK(m.value(base + "_sum", labels) >= 0);
  return count;
}

// -- a node with metrics ------------------------------------------------------

json::object metrics_node_config(const test::temp_dir& dir) {
  auto cfg = test::node_config(dir);
  cfg["metrics"] = json::object{{"listen", "127.0.0.1:0"}};
  return cfg;
}

/// A subscriber running test.faulty: "ok" succeeds, "fail" fails (no retry,
/// so dead-lettered), "slow" sleeps.
json::object faulty_actor(const std::string& name, int prefetch = 20) {
  return {{"name", name},
          {"kind", "subscriber"},
          {"handler", "test.faulty"},
          {"prefetch", prefetch}};
}

/// GET /metrics, checked (200, the 0.0.4 content type) and parsed.
exposition scrape(uint16_t port) {
  auto r = http_get(port, "/metrics");
  INFO(r.raw.substr(0, 2000));
  REQUIRE(r.status == 200);
  CHECK_THAT(r.header("content-type"),
             Catch::StartsWith("text/plain; version=0.0.4"));
  return exposition{r.body};
}

/// Scrapes every 100 ms until `done` holds (fails the test after `timeout`);
/// returns the last scrape.
exposition scrape_until(uint16_t port,
                        const std::function<bool(const exposition&)>& done,
                        std::chrono::milliseconds timeout = 30s) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    auto r = http_get(port, "/metrics");
    if (r.status == 200) {
      exposition m{r.body};
      if (done(m))
        return m;
      if (clock_type::now() >= deadline) {
        std::string seen;
        for (const auto& s : m.samples())
          if (s.name.rfind("warren_messages", 0) == 0)
            seen += "\n  " + describe(s);
        FAIL("the awaited metrics did not come within "
             << timeout.count() << " ms; the messages now:" << seen);
      }
    } else if (clock_type::now() >= deadline) {
      FAIL("GET /metrics failed: " << r.raw);
    }
    std::this_thread::sleep_for(100ms);
  }
}

std::vector<std::string> unique_ids(const std::string& prefix, int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i)
    ids.push_back(test::unique_name(prefix));
  return ids;
}

/// The connection label of `actor`'s consumer connection ("<connection
/// name> <actor>"), found among the warren_connection_up series.
std::string connection_of(const exposition& m, const std::string& actor) {
  std::string found;
  for (const auto* s : m.find("warren_connection_up")) {
    const auto& name = s->labels.at("connection");
    auto suffix = " " + actor;
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      found = name;
  }
  if (found.empty())
    FAIL("no warren_connection_up series names the connection of " << actor);
  return found;
}

double unix_now() {
  return std::chrono::duration<double>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// -- a private Prometheus -----------------------------------------------------

std::string prometheus_script() {
  return WARREN_SOURCE_DIR "/scripts/prometheus.sh";
}

/// A Prometheus of this test's own (scripts/prometheus.sh), stopped and its
/// directory removed however the test ends.
class prometheus_server {
 public:
  explicit prometheus_server(const std::string& target)
    : name_(test::unique_name("it-prom")) {
    auto r = test::run_command(
      {prometheus_script(), "start", name_, target, "1s"}, 60s);
    if (r.exit_code != 0) {
      stop();
      FAIL("scripts/prometheus.sh start failed (" << r.exit_code
                                                  << "): " << r.err);
    }
    static const std::regex url{R"(^http://127\.0\.0\.1:(\d+)\s*$)"};
    std::smatch m;
    auto out = r.out;
    if (!std::regex_match(out, m, url)) {
      stop();
      FAIL("scripts/prometheus.sh start printed no URL: " << r.out);
    }
    port_ = static_cast<uint16_t>(std::stoi(m[1].str()));
  }

  ~prometheus_server() { stop(); }
  prometheus_server(const prometheus_server&) = delete;
  prometheus_server& operator=(const prometheus_server&) = delete;

  uint16_t port() const noexcept { return port_; }

  /// The log, for failure messages.
  std::string log() const { return test::read_file(dir() + "/prometheus.log"); }

  /// GET /api/v1/<what>?<query>: the "data" member of a successful answer
  /// (fails the test on anything else).
  json::value api(const std::string& what, const std::string& query = {}) {
    auto r =
      http_get(port_, "/api/v1/" + what + (query.empty() ? "" : "?") + query);
    INFO("Prometheus answered: " << r.raw.substr(0, 2000));
    REQUIRE(r.status == 200);
    json::error_code ec;
    auto v = json::parse(r.body, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(v.at("status") == "success");
    return v.at("data");
  }

  /// The values of an instant query (at `time`, or now), one per series.
  std::vector<double> query(const std::string& promql,
                            std::optional<double> time = std::nullopt) {
    auto q = "query=" + url_encode(promql);
    if (time) {
      std::ostringstream t;
      t.precision(15);
      t << *time;
      q += "&time=" + t.str();
    }
    auto data = api("query", q);
    std::vector<double> values;
    for (const auto& series : data.at("result").as_array()) {
      const auto& text = series.at("value").as_array().at(1).as_string();
      values.push_back(std::strtod(text.c_str(), nullptr));
    }
    return values;
  }

  /// The one value of `promql`; NaN when the result is empty.
  double scalar(const std::string& promql,
                std::optional<double> time = std::nullopt) {
    auto values = query(promql, time);
    INFO(promql);
    REQUIRE(values.size() <= 1);
    return values.empty() ? std::numeric_limits<double>::quiet_NaN()
                          : values.front();
  }

 private:
  std::string dir() const {
    return WARREN_SOURCE_DIR "/.state/prometheus/" + name_;
  }

  void stop() {
    // Not run_command: this runs in a destructor, which must not fail.
    auto command = prometheus_script() + " stop " + name_ + " >/dev/null 2>&1";
    if (std::system(command.c_str()) != 0)
      WARN("scripts/prometheus.sh stop " << name_ << " failed");
    std::error_code ec;
    std::filesystem::remove_all(dir(), ec);
  }

  std::string name_;
  uint16_t port_ = 0;
};

} // namespace

TEST_CASE("/metrics counts what an actor received, handled, failed and "
          "dead-lettered, in the Prometheus text format",
          "[broker][metrics]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("metrics");
  auto cfg = metrics_node_config(dir);
  cfg["actors"] = json::array{faulty_actor(name, 20)};
  auto started = unix_now();
  test::node_process node{dir, cfg};
  auto port = node.metrics_port();
  label_set actor{{"actor", name}};

  // Before any message: every series there, at 0.
  auto m = scrape(port);
  CHECK(m.value("warren_messages_received_total", actor) == 0);
  CHECK(m.value("warren_messages_handled_total", actor) == 0);
  CHECK(m.sum("warren_messages_failed_total", actor) == 0);
  CHECK(m.value("warren_consumer_active", actor) == 1);

  constexpr int ok = 180;
  constexpr int failing = 10;
  constexpr int malformed = 10;
  constexpr int n = ok + failing + malformed;
  test::publish_bulk(
    bridges::actors_exchange, name, "ok", unique_ids("ok", ok), 100,
    [](std::size_t i) { return R"({"i":)" + std::to_string(i) + "}"; });
  test::publish_bulk(bridges::actors_exchange, name, "fail",
                     unique_ids("fail", failing), 100,
                     [](std::size_t) { return R"({"x":1})"; });
  test::publish_bulk(bridges::actors_exchange, name, "ok",
                     unique_ids("bad", malformed), 100,
                     [](std::size_t) { return "not json {"; });
  m = scrape_until(port, [&](const exposition& e) {
    return e.sum("warren_messages_handled_total", actor) +
               e.sum("warren_messages_failed_total", actor) >=
             n &&
           e.sum("warren_deliveries_in_flight", actor) == 0;
  });

  CHECK(m.type_of("warren_messages_received_total") == "counter");
  CHECK(m.type_of("warren_handler_duration_seconds") == "histogram");
  CHECK(m.type_of("warren_deliveries_in_flight") == "gauge");
  CHECK(m.value("warren_messages_received_total", actor) == n);
  CHECK(m.value("warren_messages_handled_total", actor) == ok);
  CHECK(m.sum("warren_messages_failed_total", actor) == failing + malformed);
  CHECK(m.value("warren_messages_failed_total",
                {{"actor", name}, {"reason", "handler_failed"}}) == failing);
  CHECK(m.value("warren_messages_failed_total",
                {{"actor", name}, {"reason", "malformed_body"}}) == malformed);
  CHECK(m.sum("warren_messages_dead_lettered_total", actor) ==
        failing + malformed);
  CHECK(m.value("warren_messages_dead_lettered_total",
                {{"actor", name}, {"reason", "handler_failed"}}) == failing);
  CHECK(m.value("warren_messages_dead_lettered_total",
                {{"actor", name}, {"reason", "malformed_body"}}) == malformed);
  CHECK(m.value("warren_messages_retried_total", actor) == 0);
  CHECK(m.value("warren_messages_duplicates_total", actor) == 0);
  CHECK(check_histogram(m, "warren_handler_duration_seconds", actor) == n);
  CHECK(m.value("warren_handler_duration_seconds_sum", actor) > 0);
  // publish_bulk sets the timestamp property: every message has a latency.
  CHECK(check_histogram(m, "warren_message_latency_seconds", actor) == n);
  CHECK(m.value("warren_deliveries_in_flight", actor) == 0);
  CHECK(m.value("warren_prefetch", actor) == 20);
  CHECK(m.value("warren_consumer_active", actor) == 1);
  CHECK(m.value("warren_actor_queue_info",
                {{"actor", name}, {"queue", name}}) == 1);

  // The actor's connection: up, and the dead letters it published confirmed.
  auto conn = connection_of(m, name);
  label_set which{{"connection", conn}};
  for (const auto* s : m.find("warren_connection_up"))
    CHECK(s->value == 1);
  CHECK(m.value("warren_connection_up", which) == 1);
  CHECK(m.value("warren_connection_reconnects_total", which) == 0);
  CHECK(m.value("warren_connection_blocked", which) == 0);
  CHECK(m.value("warren_published_total", which) == failing + malformed);
  CHECK(m.value("warren_publish_confirmed_total", which) ==
        failing + malformed);
  CHECK(m.value("warren_publish_nacked_total", which) == 0);
  CHECK(m.value("warren_publish_returned_total", which) == 0);
  CHECK(m.value("warren_publish_unconfirmed", which) == 0);
  CHECK(check_histogram(m, "warren_publish_confirm_seconds", which) ==
        failing + malformed);

  // The process.
  CHECK(m.value("process_cpu_seconds_total") >= 0); // in clock ticks: may be 0
  CHECK(m.value("process_resident_memory_bytes") > 1e6);
  CHECK(m.value("process_open_fds") > 3);
  CHECK(m.value("process_max_fds") >= m.value("process_open_fds"));
  CHECK(m.value("process_start_time_seconds") >= std::floor(started) - 2);
  CHECK(m.value("process_start_time_seconds") <= unix_now() + 1);
  CHECK(m.value("warren_process_cpu_cores") >= 1);
  CHECK(m.value("warren_process_memory_limit_bytes") > 1e6);
  auto build = m.find("warren_build_info");
  REQUIRE(build.size() == 1);
  CHECK(build.front()->value == 1);
  CHECK_FALSE(build.front()->labels.at("version").empty());

  // Every series names the node.
  for (const auto& s : m.samples()) {
    INFO(describe(s));
    CHECK(s.labels.count("node") == 1);
    CHECK(s.labels.at("node") == node.name());
  }

  // What the counters say is what the broker holds.
  auto dead =
    broker.wait_and_receive(dead_letter_queue_name(name), failing + malformed);
  std::map<std::string, int> codes;
  for (const auto& msg : dead)
    ++codes[test::header_string(msg, header::error_code)];
  CHECK(codes["handler_failed"] == failing);
  CHECK(codes["malformed_body"] == malformed);
}

TEST_CASE("/healthz answers while the node runs, /readyz says which actor is "
          "not connected while the broker has closed its connections, and "
          "counters stay monotonic across the reconnect",
          "[broker][metrics]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("metrics-ready");
  test::broker_user account;
  auto cfg = metrics_node_config(dir);
  // A reconnect 3 s after the loss: long enough to see "not ready".
  cfg["broker"] = json::object{
    {"uri", account.uri()},
    {"reconnect", json::object{{"min_ms", 3000}, {"max_ms", 3000}}}};
  cfg["actors"] = json::array{faulty_actor(name)};
  test::node_process node{dir, cfg};
  auto port = node.metrics_port();
  label_set actor{{"actor", name}};

  auto health = http_get(port, "/healthz");
  CHECK(health.status == 200);
  CHECK(trim(health.body) == "ok");
  auto ready = http_get(port, "/readyz");
  CHECK(ready.status == 200);
  CHECK(trim(ready.body) == "ready");

  constexpr int first = 20;
  test::publish_bulk(bridges::actors_exchange, name, "ok",
                     unique_ids("ready", first));
  auto before = scrape_until(port, [&](const exposition& e) {
    return e.value("warren_messages_handled_total", actor) >= first;
  });
  auto conn = connection_of(before, name);
  label_set which{{"connection", conn}};
  CHECK(before.value("warren_connection_reconnects_total", which) == 0);

  REQUIRE(test::broker_script("close-connections", {account.user}) == 0);
  http_response not_ready;
  REQUIRE(test::eventually(
    [&] {
      not_ready = http_get(port, "/readyz");
      return not_ready.status == 503;
    },
    10s));
  CHECK_THAT(not_ready.body, Catch::StartsWith("not ready: "));
  CHECK_THAT(not_ready.body, Catch::Contains("'" + name + "'"));
  CHECK_THAT(not_ready.body, Catch::Contains("not connected"));
  // Meanwhile the process is healthy and its metrics say what is down (if
  // it is still down after the scrape: the reconnect comes 3 s after).
  CHECK(http_get(port, "/healthz").status == 200);
  auto during = scrape(port);
  CHECK(during.value("warren_messages_received_total", actor) >=
        before.value("warren_messages_received_total", actor));
  if (http_get(port, "/readyz").status == 503) {
    CHECK(during.value("warren_connection_up", which) == 0);
    CHECK(during.value("warren_consumer_active", actor) == 0);
  } else {
    WARN("reconnected before the scrape could see the connection down");
  }

  REQUIRE(test::eventually(
    [&] { return http_get(port, "/readyz").status == 200; }, 20s));
  CHECK(trim(http_get(port, "/readyz").body) == "ready");

  constexpr int second = 10;
  test::publish_bulk(bridges::actors_exchange, name, "ok",
                     unique_ids("again", second));
  auto after = scrape_until(port, [&](const exposition& e) {
    return e.value("warren_messages_handled_total", actor) >= first + second;
  });
  for (const char* counter :
       {"warren_messages_received_total", "warren_messages_handled_total",
        "warren_published_total", "process_cpu_seconds_total"}) {
    INFO(counter);
    CHECK(after.sum(counter, {}) >= before.sum(counter, {}));
  }
  // Nothing was in flight when the connection closed: counted exactly once.
  CHECK(after.value("warren_messages_received_total", actor) == first + second);
  CHECK(after.value("warren_messages_handled_total", actor) == first + second);
  CHECK(check_histogram(after, "warren_handler_duration_seconds", actor) ==
        first + second);
  CHECK(after.value("warren_connection_reconnects_total", which) == 1);
  CHECK(after.value("warren_connection_up", which) == 1);
  CHECK(after.value("warren_consumer_active", actor) == 1);
  CHECK(node.err().find("connected again") != std::string::npos);
}

TEST_CASE("/readyz says the node is starting while the broker does not "
          "answer, and stopping while it finishes its work",
          "[broker][metrics]") {
  test::temp_dir dir;
  {
    // Nothing listens on port 1: the node keeps trying to connect.
    auto cfg = metrics_node_config(dir);
    cfg["broker"] = json::object{{"uri", "amqp://guest:guest@127.0.0.1:1/"}};
    cfg["actors"] = json::array{faulty_actor(test::unique_name("never"))};
    test::node_process node{dir, cfg, {}, test::node_process::until::started};
    REQUIRE(test::eventually(
      [&] {
        return node.err().find("metrics on http://") != std::string::npos;
      },
      10s));
    auto port = node.metrics_port();
    CHECK(http_get(port, "/healthz").status == 200);
    auto ready = http_get(port, "/readyz");
    CHECK(ready.status == 503);
    CHECK(trim(ready.body) == "not ready: the node is starting");
    auto m = scrape(port);
    for (const auto* s : m.find("warren_connection_up"))
      CHECK(s->value == 0);
    CHECK(m.value("warren_build_info") == 1);
    node.stop();
  }
  test::broker_scratch broker;
  auto name = broker.queue("metrics-stop");
  auto cfg = metrics_node_config(dir);
  cfg["actors"] = json::array{faulty_actor(name)};
  test::node_process node{dir, cfg};
  auto port = node.metrics_port();
  CHECK(http_get(port, "/readyz").status == 200);
  // A handler busy for 3 s holds the stop up that long.
  auto started = dir.file("started");
  REQUIRE(test::warren(
            {"send", "-u", test::broker_uri(), "--actor", name, "-t", "slow",
             json::serialize(json::object{{"started", started}, {"ms", 3000}})})
            .exit_code == 0);
  REQUIRE(
    test::eventually([&] { return std::filesystem::exists(started); }, 10s));
  REQUIRE(::kill(node.pid(), SIGINT) == 0);
  http_response stopping;
  CHECK(test::eventually(
    [&] {
      stopping = http_get(port, "/readyz", 1s);
      return stopping.status == 503;
    },
    2s));
  CHECK(trim(stopping.body) == "not ready: the node is stopping");
  CHECK(http_get(port, "/healthz", 1s).status == 200);
  CHECK(node.wait_for_exit(15s) == 0);
  // The slow message was finished and acked before the node exited.
  CHECK(broker.count(name) == 0);
}

TEST_CASE("the metrics endpoint answers wrong requests with 404, 405 and 414, "
          "survives slow and garbage clients, and the node keeps serving and "
          "handling messages",
          "[broker][metrics]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("metrics-bad");
  auto cfg = metrics_node_config(dir);
  cfg["actors"] = json::array{faulty_actor(name)};
  test::node_process node{dir, cfg};
  auto port = node.metrics_port();

  // A client that sends half a request line and stalls; the endpoint drops
  // it after its 5 s read timeout. A thread waits for that meanwhile.
  tcp_socket stalled{port};
  REQUIRE(stalled.connected());
  REQUIRE(stalled.send_all("GET /metr"));
  auto stalled_since = clock_type::now();
  tcp_socket::read_result dropped;
  auto dropped_at = stalled_since;
  std::thread stalled_reader{[&] {
    dropped = stalled.read_until_closed(15s);
    dropped_at = clock_type::now();
  }};
  struct joiner {
    std::thread& t;
    ~joiner() {
      if (t.joinable())
        t.join();
    }
  } join_reader{stalled_reader};
  {
    auto asked = clock_type::now();
    auto r = http_get(port, "/metrics", 5s);
    CHECK(r.status == 200);
    CHECK(clock_type::now() - asked < 2s);
  }

  {
    // ("/" is the node's status page.)
    for (const char* path : {"/nope", "/metrics/x", "/METRICS", "/healthz/",
                             "/metrics.json", "/../metrics"}) {
      INFO(path);
      CHECK(http_get(port, path).status == 404);
    }
    for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
      INFO(method);
      auto r = http_request(port, method, "/metrics");
      CHECK(r.status == 405);
      CHECK(r.header("allow") == "GET, HEAD");
    }
    auto head = http_request(port, "HEAD", "/metrics");
    CHECK(head.status == 200);
    CHECK(head.body.empty());
    // A 20 KiB request line.
    auto long_target = "/metrics?" + std::string(20 * 1024, 'a');
    CHECK(http_get(port, long_target).status == 414);
    // Query strings are no other path.
    CHECK(http_get(port, "/metrics?name[]=x").status == 200);
  }

  // Garbage: random bytes, bad request lines, a header that is too long,
  // bad headers; each gets a 4xx (or a 200: some still ask for /metrics
  // well enough) or the connection closed, at once.
  std::mt19937 random{12345};
  std::string noise(4096, '\0');
  for (auto& c : noise)
    c = static_cast<char>(random() & 0xff);
  for (const std::string& garbage :
       {noise + "\r\n\r\n", std::string{"\r\n\r\n"}, std::string{"GET\r\n\r\n"},
        std::string{"GET /metrics\r\n\r\n"},
        std::string{"GET /metrics HTTP/1.1\r\nX-Big: "} +
          std::string(64 * 1024, 'b') + "\r\n\r\n",
        std::string{"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n"},
        std::string{"GET /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n"},
        std::string{"GET /metrics HTTP/1.1\r\nContent-Length: "
                    "99999999999999999999\r\n\r\n"},
        std::string{"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                    "\r\nzz\r\n"}}) {
    INFO("sent: " << garbage.substr(0, 80));
    tcp_socket s{port};
    REQUIRE(s.connected());
    s.send_all(garbage); // the server may close before it has read it all
    auto asked = clock_type::now();
    auto answer = s.read_until_closed(7s, [](const std::string& bytes) {
      return parse_response(bytes).status != -1;
    });
    INFO("answered: " << answer.bytes.substr(0, 200));
    auto r = parse_response(answer.bytes);
    CHECK((answer.closed || r.status != -1));
    CHECK(clock_type::now() - asked < 2s);
    if (r.status != -1)
      CHECK((r.status == 200 || (r.status >= 400 && r.status < 500)));
  }
  // Clients that connect and leave: with a FIN, and with a reset.
  for (int i = 0; i < 5; ++i) {
    tcp_socket gone{port};
    REQUIRE(gone.connected());
    gone.close();
    tcp_socket reset{port};
    REQUIRE(reset.connected());
    reset.send_all("GET /metrics HTTP/1.1\r\n");
    reset.reset();
  }

  // The stalled client is dropped after the read timeout.
  stalled_reader.join();
  auto held = dropped_at - stalled_since;
  INFO("the stalled client was held "
       << std::chrono::duration_cast<std::chrono::milliseconds>(held).count()
       << " ms and got: " << dropped.bytes);
  CHECK(dropped.closed);
  CHECK(held >= 1500ms); // the read timeout is 2 s
  CHECK(held < 5s);

  // More stalled clients than cpp-httplib's default 8 threads: the
  // endpoint's own pool still has threads for a probe.
  {
    std::vector<std::unique_ptr<tcp_socket>> stalled;
    for (int i = 0; i < 12; ++i) {
      stalled.push_back(std::make_unique<tcp_socket>(port));
      REQUIRE(stalled.back()->connected());
      stalled.back()->send_all("GET /metr");
    }
    std::this_thread::sleep_for(200ms);
    auto asked = std::chrono::steady_clock::now();
    CHECK(http_get(port, "/healthz").status == 200);
    CHECK(std::chrono::steady_clock::now() - asked < 1s);
  }

  // The node still serves and still handles messages.
  CHECK(node.running());
  CHECK(http_get(port, "/healthz").status == 200);
  CHECK(http_get(port, "/readyz").status == 200);
  test::publish_bulk(bridges::actors_exchange, name, "ok",
                     unique_ids("after", 5));
  auto m = scrape_until(port, [&](const exposition& e) {
    return e.value("warren_messages_handled_total", {{"actor", name}}) >= 5;
  });
  CHECK(m.value("warren_messages_received_total", {{"actor", name}}) == 5);
  CHECK(node.running());
}

TEST_CASE("a metrics.listen address already in use stops `warren run` with "
          "an error naming the key and the address",
          "[broker][metrics]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("metrics-busy");
  // A port this test holds.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_it{fd};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  auto address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  auto cfg = test::node_config(dir);
  cfg["metrics"] = json::object{{"listen", address}};
  cfg["actors"] = json::array{faulty_actor(name)};
  auto path = dir.file("busy.json");
  test::write_file(path, json::serialize(cfg));
  auto r = test::warren({"run", path}, 30s);
  INFO(r.err);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::Contains("metrics.listen"));
  CHECK_THAT(r.err, Catch::Contains(address));
  CHECK(r.err.find("node '" + std::string{cfg["node"].as_string()} +
                   "' ready") == std::string::npos);

  // An address that is not host:port is refused before anything starts.
  cfg["metrics"] = json::object{{"listen", "127.0.0.1"}};
  test::write_file(path, json::serialize(cfg));
  auto checked = test::warren({"check", path});
  INFO(checked.err);
  CHECK(checked.exit_code != 0);
  CHECK_THAT(checked.err, Catch::Contains("$.metrics.listen"));
}

TEST_CASE("a real Prometheus scraping a node under a steady load sees every "
          "message handled, the rate sent and the handler's duration",
          "[broker][metrics][prometheus]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("metrics-load");
  auto cfg = metrics_node_config(dir);
  cfg["actors"] = json::array{faulty_actor(name, 50)};
  test::node_process node{dir, cfg};
  auto port = node.metrics_port();
  prometheus_server prometheus{"127.0.0.1:" + std::to_string(port)};

  // Prometheus applies new targets within about 5 s.
  REQUIRE(test::eventually(
    [&] {
      std::this_thread::sleep_for(200ms);
      return prometheus.scalar(R"(up{job="warren"})") == 1;
    },
    20s));

  // 50 messages a second for 20 s, each taking the handler 10 ms.
  constexpr int per_second = 50;
  constexpr int seconds = 20;
  constexpr int total = per_second * seconds;
  constexpr int handler_ms = 10;
  auto body = json::serialize(
    json::object{{"started", dir.file("started")}, {"ms", handler_ms}});
  auto load_start = clock_type::now();
  for (int i = 0; i < total; ++i) {
    std::this_thread::sleep_until(load_start + i * 1000ms / per_second);
    outgoing_message msg;
    msg.exchange = bridges::actors_exchange;
    msg.routing_key = name;
    msg.properties.type = "slow";
    msg.properties.message_id = test::unique_name("load");
    msg.properties.timestamp = static_cast<uint64_t>(std::time(nullptr));
    msg.body = body;
    broker.publish(msg);
  }
  auto load_end = unix_now();
  auto took = clock_type::now() - load_start;
  CHECK(took < std::chrono::seconds{seconds} + 2s); // the pace was kept

  INFO("Prometheus log:\n" << prometheus.log());

  // The node handled all of them, and Prometheus scraped the last count.
  label_set actor{{"actor", name}};
  scrape_until(port, [&](const exposition& e) {
    return e.value("warren_messages_handled_total", actor) >= total;
  });
  auto handled =
    "warren_messages_handled_total{job=\"warren\",actor=\"" + name + "\"}";
  double seen = 0;
  CHECK(test::eventually(
    [&] {
      std::this_thread::sleep_for(200ms);
      seen = prometheus.scalar(handled);
      return seen == total;
    },
    10s));
  CHECK(seen == total);

  // Inside the load: the window ends 2 s before it did (what was sent last
  // may still have been in the handler).
  auto at = load_end - 2;
  auto rate = prometheus.scalar("rate(" + handled + "[15s])", at);
  INFO("rate: " << rate);
  CHECK(rate >= per_second * 0.7);
  CHECK(rate <= per_second * 1.3);

  auto bucket =
    "warren_handler_duration_seconds_bucket{job=\"warren\",actor=\"" + name +
    "\"}";
  auto median =
    prometheus.scalar("histogram_quantile(0.5, rate(" + bucket + "[30s]))", at);
  INFO("median handler duration: " << median);
  CHECK(std::isfinite(median));
  // At least the handler's sleep; far from the 60 s top bucket.
  CHECK(median >= handler_ms / 1000.0);
  CHECK(median < 0.25);
  auto selector = "{job=\"warren\",actor=\"" + name + "\"}";
  auto mean =
    prometheus.scalar("rate(warren_handler_duration_seconds_sum" + selector +
                        "[30s]) / rate(warren_handler_duration_"
                        "seconds_count" +
                        selector + "[30s])",
                      at);
  INFO("mean handler duration: " << mean);
  CHECK(mean >= handler_ms / 1000.0);
  CHECK(mean < 0.25);

  // Every scrape parsed (an exposition Prometheus cannot read is a failed
  // scrape: up 0) and none was slow under the load.
  CHECK(prometheus.scalar(R"(min_over_time(up{job="warren"}[40s]))") == 1);
  auto slowest = prometheus.scalar(
    R"(max_over_time(scrape_duration_seconds{job="warren"}[40s]))");
  INFO("slowest scrape: " << slowest << " s");
  CHECK(slowest < 0.5);
  CHECK(prometheus.scalar(R"(process_cpu_seconds_total{job="warren"})") > 0);
  auto targets = prometheus.api("targets");
  for (const auto& t : targets.at("activeTargets").as_array()) {
    CHECK(t.at("health") == "up");
    CHECK(t.at("lastError") == "");
  }
}
