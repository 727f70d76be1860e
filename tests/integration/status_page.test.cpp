// The live status page at / of a node's metrics endpoint: the files it is
// made of are served from memory (GET and HEAD only), and in a real browser
// (Debian's chromium, headless) the page shows what /metrics counts, with
// positive rates, quantiles and charts that are drawn.
//
// The browser is driven over the DevTools protocol on a pipe
// (--remote-debugging-pipe: JSON messages ending in a NUL byte, commands on
// the child's fd 3, answers on its fd 4), not with --dump-dom and
// --virtual-time-budget: under virtual time the page's clock runs ahead of
// the real one (30 virtual seconds pass in about 2 real ones), so it would
// divide counts by the wrong durations and plot seconds that never were.
// Here the page runs in real time and the test reads its DOM and takes its
// screenshot in the same browser, at moments it chooses.

#include "support.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <regex>
#include <sstream>
#include <string>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace warren;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

using clock_type = std::chrono::steady_clock;
using wall_clock = std::chrono::system_clock;

/// Where Debian's libjs-chart.js puts the file the build embeds.
constexpr const char* debian_chart_js =
  "/usr/share/javascript/chart.js/chart.min.js";

// -- HTTP
// -----------------------------------------------------------------------

struct http_response {
  /// -1: no connection, or no complete response.
  int status = -1;
  /// Header names in lower case.
  std::map<std::string, std::string> headers;
  std::string body;

  std::string header(const std::string& lower_name) const {
    auto i = headers.find(lower_name);
    return i == headers.end() ? std::string{} : i->second;
  }
};

/// `method path` to 127.0.0.1:`port` with "Connection: close"; the body is
/// what follows the headers up to the close.
http_response http_request(uint16_t port, const std::string& method,
                           const std::string& path) {
  http_response r;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return r;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string raw;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    auto request = method + " " + path +
                   " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    if (method != "GET" && method != "HEAD")
      request += "Content-Length: 0\r\n";
    request += "\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[65536];
      for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 10000) <= 0)
          break;
        auto n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR)
          continue;
        if (n <= 0)
          break;
        raw.append(buffer, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.compare(0, 9, "HTTP/1.1 ") != 0)
    return r;
  std::istringstream head{raw.substr(0, head_end)};
  std::string line;
  std::getline(head, line);
  while (std::getline(head, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    auto name = line.substr(0, colon);
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    value.erase(value.find_last_not_of(" \r") + 1);
    r.headers[name] = value;
  }
  r.body = raw.substr(head_end + 4);
  r.status = std::atoi(raw.c_str() + 9);
  return r;
}

/// The sum of the samples of metric `name` with label actor="`actor`" in a
/// scrape (the text format; our label values need no escapes); -1 when
/// there is none.
double sum_of(const std::string& exposition, const std::string& name,
              const std::string& actor) {
  std::istringstream in{exposition};
  auto label = "actor=\"" + actor + "\"";
  double total = -1;
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, name.size() + 1, name + "{") != 0 ||
        line.find(label) == std::string::npos)
      continue;
    auto close = line.rfind('}');
    total = (total < 0 ? 0 : total) + std::stod(line.substr(close + 1));
  }
  return total;
}

/// The value of the one sample of `name` (no label but node), or -1.
double value_of(const std::string& exposition, const std::string& name) {
  std::istringstream in{exposition};
  for (std::string line; std::getline(in, line);)
    if (line.compare(0, name.size() + 1, name + "{") == 0)
      return std::stod(line.substr(line.rfind('}') + 1));
  return -1;
}

std::string scrape(uint16_t port) {
  auto r = http_request(port, "GET", "/metrics");
  REQUIRE(r.status == 200);
  return r.body;
}

// -- the node
// -------------------------------------------------------------------

/// A node with metrics on 127.0.0.1:0 and one test.faulty subscriber `name`
/// ("ok" succeeds, "fail" is dead-lettered at once).
json::object status_node_config(const test::temp_dir& dir,
                                const std::string& name) {
  auto cfg = test::node_config(dir);
  cfg["metrics"] = json::object{{"listen", "127.0.0.1:0"}};
  cfg["actors"] = json::array{json::object{{"name", name},
                                           {"kind", "subscriber"},
                                           {"handler", "test.faulty"},
                                           {"prefetch", 20}}};
  return cfg;
}

/// Publishes `per_second` messages a second to `queue` on a thread of its
/// own (with its own connection), every `fail_every`th of type "fail", the
/// others "ok", and remembers when each was confirmed.
class steady_load {
 public:
  steady_load(std::string queue, int per_second, int fail_every)
    : queue_(std::move(queue)), period_(1000ms / per_second),
      fail_every_(fail_every) {
    auto client = bridges::blocking_client::connect(test::broker_settings());
    REQUIRE(client);
    client_ = std::move(*client);
    thread_ = std::thread{[this] {
      run();
    }};
  }

  ~steady_load() { stop(); }

  void stop() {
    stopping_ = true;
    if (thread_.joinable())
      thread_.join();
  }

  std::size_t sent() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return sent_at_.size();
  }

  std::size_t failing_sent() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return failing_;
  }

  /// Messages confirmed at or after `since`.
  std::size_t sent_since(wall_clock::time_point since) const {
    std::lock_guard<std::mutex> guard{mutex_};
    std::size_t n = 0;
    for (auto t : sent_at_)
      n += t >= since ? 1 : 0;
    return n;
  }

  /// The first publish error, if any (Catch2 asserts on one thread only).
  std::string error() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return error_;
  }

 private:
  void run() {
    auto next = clock_type::now();
    for (std::size_t i = 1; !stopping_; ++i) {
      outgoing_message msg;
      msg.routing_key = queue_;
      msg.mandatory = true;
      bool failing = i % static_cast<std::size_t>(fail_every_) == 0;
      msg.properties.type = failing ? "fail" : "ok";
      msg.properties.message_id = make_message_id();
      msg.properties.timestamp = static_cast<uint64_t>(std::time(nullptr));
      msg.body = R"({"seq":)" + std::to_string(i) + "}";
      auto err = client_->publish(msg, 10s);
      {
        std::lock_guard<std::mutex> guard{mutex_};
        if (err) {
          if (error_.empty())
            error_ = describe(err);
          return;
        }
        sent_at_.push_back(wall_clock::now());
        failing_ += failing ? 1 : 0;
      }
      next += period_;
      std::this_thread::sleep_until(next);
    }
  }

  std::string queue_;
  std::chrono::milliseconds period_;
  int fail_every_;
  std::unique_ptr<bridges::blocking_client> client_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<wall_clock::time_point> sent_at_;
  std::size_t failing_ = 0;
  std::string error_;
  std::thread thread_;
};

// -- the browser
// ------------------------------------------------------------------

/// The first `name` on $PATH that can be run, or "".
std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs{path != nullptr ? path : "/usr/bin:/bin"};
  for (std::string dir; std::getline(dirs, dir, ':');) {
    auto candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return {};
}

std::string base64_decode(const std::string& text) {
  static const std::string alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    auto at = alphabet.find(c);
    if (at == std::string::npos)
      continue; // '=' padding
    bits = (bits << 6) | static_cast<uint32_t>(at);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  return out;
}

/// Headless chromium showing one page, driven over the DevTools protocol on
/// a pipe. Every failure fails the test with chromium's stderr.
class headless_browser {
 public:
  headless_browser(const test::temp_dir& dir, const std::string& url)
    : err_path_(dir.file("chromium.err")) {
    auto program = find_program("chromium");
    if (program.empty())
      FAIL("chromium is not installed (scripts/setup.sh installs it)");
    // A write to the pipe of a browser that died must fail the test, not
    // end it with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    std::vector<std::string> argv{program,
                                  "--headless=new",
                                  "--no-sandbox",
                                  "--disable-gpu",
                                  "--disable-dev-shm-usage",
                                  "--no-first-run",
                                  "--disable-extensions",
                                  "--disable-background-networking",
                                  "--hide-scrollbars",
                                  "--remote-debugging-pipe",
                                  "--window-size=1280,900",
                                  "--user-data-dir=" + dir.file("chromium"),
                                  url};
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    int commands[2];
    int answers[2];
    REQUIRE(::pipe2(commands, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(answers, O_CLOEXEC) == 0);
    // Above 4, so that dup2 onto 3 and 4 below never meets itself (dup2 of
    // a descriptor onto itself would keep its close-on-exec flag).
    int child_in = ::fcntl(commands[0], F_DUPFD_CLOEXEC, 10);
    int child_out = ::fcntl(answers[1], F_DUPFD_CLOEXEC, 10);
    int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    int err_fd =
      ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(child_in >= 0);
    REQUIRE(child_out >= 0);
    REQUIRE(null_fd >= 0);
    REQUIRE(err_fd >= 0);
    sigset_t none;
    sigemptyset(&none);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGPIPE, SIG_DFL);
      // Its own process group: the browser's helper processes end with it.
      ::setpgid(0, 0);
      ::dup2(null_fd, 0);
      ::dup2(null_fd, 1);
      ::dup2(err_fd, 2);
      ::dup2(child_in, 3);
      ::dup2(child_out, 4);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    for (int fd :
         {commands[0], answers[1], child_in, child_out, null_fd, err_fd})
      ::close(fd);
    to_browser_ = commands[1];
    from_browser_ = answers[0];
    REQUIRE(pid_ > 0);
    attach(url);
  }

  ~headless_browser() {
    if (to_browser_ >= 0) {
      json::object close{{"id", ++last_id_}, {"method", "Browser.close"}};
      auto text = json::serialize(close);
      [[maybe_unused]] auto n =
        ::write(to_browser_, text.c_str(), text.size() + 1);
      ::close(to_browser_);
    }
    if (from_browser_ >= 0)
      ::close(from_browser_);
    auto deadline = clock_type::now() + 10s;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (clock_type::now() >= deadline) {
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
  }

  headless_browser(const headless_browser&) = delete;
  headless_browser& operator=(const headless_browser&) = delete;

  /// The result of a command to the page (`Runtime.evaluate`, ...).
  json::value call(const std::string& method, json::object params = {}) {
    return send(method, std::move(params), session_);
  }

  /// The value of a JavaScript expression in the page.
  json::value evaluate(const std::string& expression) {
    auto r = call("Runtime.evaluate",
                  {{"expression", expression}, {"returnByValue", true}});
    INFO(json::serialize(r));
    REQUIRE_FALSE(r.as_object().contains("exceptionDetails"));
    const auto& result = r.at("result").as_object();
    return result.contains("value") ? result.at("value") : json::value{};
  }

  /// A PNG of the viewport.
  std::string screenshot() {
    auto r = call("Page.captureScreenshot", {{"format", "png"}});
    return base64_decode(std::string{r.at("data").as_string()});
  }

  std::string err() const { return test::read_file(err_path_); }

 private:
  // Attaches to the page chromium opened with `url`, at 1280x900 CSS
  // pixels, one image pixel each.
  void attach(const std::string& url) {
    std::string target;
    auto deadline = clock_type::now() + 20s;
    while (target.empty()) {
      auto r = send("Target.getTargets", {}, {});
      for (const auto& info : r.at("targetInfos").as_array())
        if (info.at("type").as_string() == "page")
          target = std::string{info.at("targetId").as_string()};
      if (target.empty()) {
        INFO("no page for " << url << "; chromium's stderr:\n" << err());
        REQUIRE(clock_type::now() < deadline);
        std::this_thread::sleep_for(100ms);
      }
    }
    auto attached = send("Target.attachToTarget",
                         {{"targetId", target}, {"flatten", true}}, {});
    session_ = std::string{attached.at("sessionId").as_string()};
    call("Emulation.setDeviceMetricsOverride", {{"width", 1280},
                                                {"height", 900},
                                                {"deviceScaleFactor", 1},
                                                {"mobile", false}});
  }

  json::value send(const std::string& method, json::object params,
                   const std::string& session) {
    json::object message{
      {"id", ++last_id_}, {"method", method}, {"params", std::move(params)}};
    if (!session.empty())
      message["sessionId"] = session;
    auto text = json::serialize(message);
    text.push_back('\0');
    INFO("DevTools " << method << "; chromium's stderr:\n" << err());
    for (std::size_t done = 0; done < text.size();) {
      auto n = ::write(to_browser_, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      REQUIRE(n > 0);
      done += static_cast<std::size_t>(n);
    }
    // Answers come in order with events in between; skip the events.
    auto deadline = clock_type::now() + 30s;
    for (;;) {
      auto end = buffer_.find('\0');
      if (end != std::string::npos) {
        auto answer = json::parse(buffer_.substr(0, end));
        buffer_.erase(0, end + 1);
        const auto& obj = answer.as_object();
        if (obj.contains("id") &&
            obj.at("id").to_number<int64_t>() == last_id_) {
          INFO(json::serialize(answer));
          REQUIRE_FALSE(obj.contains("error"));
          return obj.at("result");
        }
        continue;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - clock_type::now());
      REQUIRE(left.count() > 0);
      pollfd p{from_browser_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        continue;
      char chunk[65536];
      auto n = ::read(from_browser_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      REQUIRE(n > 0); // 0: chromium closed the pipe (it ended)
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  std::string err_path_;
  pid_t pid_ = -1;
  int to_browser_ = -1;
  int from_browser_ = -1;
  int64_t last_id_ = 0;
  std::string buffer_;
  std::string session_;
};

/// What the page has written into its DOM (see metrics/assets/status.js);
/// null while the page is not there yet (chromium shows about:blank first).
constexpr const char* read_dom =
  R"(document.getElementById('node-connections') === null ? 'null'
: JSON.stringify({
  status: document.body.dataset.status,
  scrapes: Number(document.body.dataset.scrapes),
  scraped_at: Number(document.body.dataset.scrapedAt),
  node: document.body.dataset.node,
  actors: [...document.querySelectorAll('#actors tr[data-actor]')]
            .map(row => Object.assign({}, row.dataset)),
  supervisors: [...document.querySelectorAll('#supervisors tr[data-supervisor]')]
                 .map(row => Object.assign({}, row.dataset)),
  connections: Object.assign({},
    document.getElementById('node-connections').dataset),
  cpu: Object.assign({}, document.getElementById('node-cpu').dataset),
  memory: Object.assign({}, document.getElementById('node-memory').dataset),
  charts: Object.fromEntries([...document.querySelectorAll('canvas')].map(
    c => [c.id, {points: Number(c.dataset.points || 0),
                 rect: c.getBoundingClientRect().toJSON()}])),
  queue_chart_empty: !document.getElementById('chart-queue-empty').hidden,
}))";

json::value dom_of(headless_browser& browser) {
  return json::parse(browser.evaluate(read_dom).as_string());
}

/// A data attribute of the DOM as a number (the page writes plain numbers).
double number(const json::value& attributes, const char* key) {
  const auto* value = attributes.as_object().if_contains(key);
  INFO("data attribute " << key << " in " << json::serialize(attributes));
  REQUIRE(value != nullptr);
  return std::stod(std::string{value->as_string()});
}

/// The row of `actor` in the page's actor table.
json::value row_of(const json::value& dom, const std::string& actor) {
  for (const auto& row : dom.at("actors").as_array())
    if (row.at("actor").as_string() == actor)
      return row;
  FAIL("no row for actor " << actor << " in " << json::serialize(dom));
  return {};
}

// Decodes a PNG (8-bit RGB or RGBA, not interlaced) with python3's zlib and
// prints the number of distinct colours, then for each rectangle "x,y,w,h"
// given the pixels in it that are coloured (not a grey: the charts' lines
// are, their grids, axes and labels are not).
constexpr const char* png_stats = R"(
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat = 8, b''
while pos < len(data):
    size, kind = struct.unpack('>I4s', data[pos:pos + 8])
    chunk = data[pos + 8:pos + 8 + size]
    pos += 12 + size
    if kind == b'IHDR':
        w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', chunk)
    elif kind == b'IDAT':
        idat += chunk
assert depth == 8 and ctype in (2, 6) and interlace == 0, 'unexpected PNG'
bpp = 3 if ctype == 2 else 4
stride = w * bpp
raw = zlib.decompress(idat)
rows, prev = [], bytearray(stride)
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if f == 2:
        line = bytearray((a + b) & 255 for a, b in zip(line, prev))
    elif f in (1, 3, 4):
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            else:
                c = prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else
                                      b if pb <= pc else c)) & 255
    rows.append(line)
    prev = line
def pixel(x, y):
    return tuple(rows[y][x * bpp:x * bpp + 3])
print(len({pixel(x, y) for y in range(0, h, 2) for x in range(0, w, 2)}))
for rect in sys.argv[2:]:
    x0, y0, rw, rh = (int(float(v)) for v in rect.split(','))
    n = 0
    for y in range(max(0, y0), min(h, y0 + rh)):
        for x in range(max(0, x0), min(w, x0 + rw)):
            r, g, b = pixel(x, y)
            n += max(r, g, b) - min(r, g, b) > 60
    print(n)
)";

std::string rect_arg(const json::value& chart) {
  const auto& r = chart.at("rect");
  std::ostringstream out;
  out << r.at("x").to_number<double>() << "," << r.at("y").to_number<double>()
      << "," << r.at("width").to_number<double>() << ","
      << r.at("height").to_number<double>();
  return out.str();
}

} // namespace

TEST_CASE("a node serves its status page and Chart.js from memory at / of "
          "its metrics endpoint, to GET and HEAD only",
          "[broker][status_page]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("status");
  test::node_process node{dir, status_node_config(dir, name)};
  auto port = node.metrics_port();

  // The page and its script: the files of metrics/assets, byte for byte.
  auto page = http_request(port, "GET", "/");
  REQUIRE(page.status == 200);
  CHECK(page.header("content-type") == "text/html; charset=utf-8");
  CHECK(page.header("cache-control") == "no-cache");
  CHECK_THAT(page.header("content-security-policy"),
             Catch::StartsWith("default-src 'self'"));
  CHECK(page.body == test::read_file(std::string{WARREN_SOURCE_DIR} +
                                     "/metrics/assets/status.html"));
  auto script = http_request(port, "GET", "/status.js");
  REQUIRE(script.status == 200);
  CHECK(script.header("content-type") == "text/javascript; charset=utf-8");
  CHECK(script.body == test::read_file(std::string{WARREN_SOURCE_DIR} +
                                       "/metrics/assets/status.js"));
  CHECK(http_request(port, "GET", "/?from=bookmark").status == 200);

  // Chart.js: Debian's file, embedded at build time, cached for an hour.
  auto chart = http_request(port, "GET", "/chart.js");
  REQUIRE(chart.status == 200);
  CHECK(chart.header("cache-control") == "max-age=3600");
  CHECK(chart.header("content-type") == "text/javascript; charset=utf-8");
  CHECK_THAT(chart.body, Catch::StartsWith("/*!\n * Chart.js v3.9"));
  CHECK(chart.body == test::read_file(debian_chart_js));
  auto head = http_request(port, "HEAD", "/chart.js");
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == std::to_string(chart.body.size()));
  CHECK(head.body.empty());

  // Other methods: 405 with Allow; other paths (the routes are regular
  // expressions: a dot must not match any character): 404.
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{
         {"POST", "/"}, {"PUT", "/chart.js"}, {"DELETE", "/status.js"}}) {
    auto r = http_request(port, method, path);
    INFO(method << " " << path);
    CHECK(r.status == 405);
    CHECK(r.header("allow") == "GET, HEAD");
  }
  for (const auto* path : {"/chartXjs", "/chart.jsx", "/status-js",
                           "/index.html", "/status.js/", "//"}) {
    INFO(path);
    CHECK(http_request(port, "GET", path).status == 404);
  }
  CHECK(node.stop() == 0);
}

TEST_CASE("the status page in a headless browser shows what /metrics "
          "counts, with positive rates and charts that are drawn",
          "[broker][status_page]") {
  test::temp_dir dir;
  test::broker_scratch broker;
  auto name = broker.queue("status");
  test::node_process node{dir, status_node_config(dir, name)};
  auto port = node.metrics_port();

  // 20 messages a second, one in ten failing, for the whole test (~60 s).
  steady_load load{name, 20, 10};
  std::this_thread::sleep_for(3s);
  headless_browser browser{dir,
                           "http://127.0.0.1:" + std::to_string(port) + "/"};

  // 25 scrapes: 48 s of history, enough for 20 points in each chart.
  json::value dom;
  auto deadline = clock_type::now() + 70s;
  for (;;) {
    dom = dom_of(browser);
    if (!dom.is_null() && dom.at("scrapes").to_number<double>() >= 25)
      break;
    INFO(json::serialize(dom) << "\nchromium's stderr:\n" << browser.err());
    REQUIRE(clock_type::now() < deadline);
    std::this_thread::sleep_for(500ms);
  }
  // The page's figures and a scrape right after them.
  dom = dom_of(browser);
  auto read_at = wall_clock::now();
  auto exposition = scrape(port);
  INFO("page: " << json::serialize(dom) << "\n/metrics:\n" << exposition);
  REQUIRE(load.error().empty());
  CHECK(dom.at("status").as_string() == "ok");
  CHECK(dom.at("node").as_string() == node.name());

  // Counters: the page's are from its last scrape (at most 2 s ago), ours
  // from now; they differ by no more than what was sent in between (and
  // for a second before, as a handler settles a little after its send).
  auto row = row_of(dom, name);
  CHECK(row.at("queue").as_string() == name);
  wall_clock::time_point page_scraped{std::chrono::milliseconds{
    static_cast<int64_t>(dom.at("scraped_at").to_number<double>())}};
  CHECK(read_at - page_scraped < 2500ms);
  auto in_between = static_cast<double>(load.sent_since(page_scraped - 1s));
  for (const auto& [key, metric] :
       std::vector<std::pair<const char*, std::string>>{
         {"handledTotal", "warren_messages_handled_total"},
         {"receivedTotal", "warren_messages_received_total"},
         {"failedTotal", "warren_messages_failed_total"}}) {
    auto shown = number(row, key);
    auto now = sum_of(exposition, metric, name);
    INFO(key << ": page " << shown << ", /metrics " << now
             << ", sent in between " << in_between);
    CHECK(shown > 0);
    CHECK(now >= shown);
    CHECK(now - shown <= in_between);
  }
  // Rates and ratios: about 18 handled and 2 failed of 20 a second.
  CHECK(number(row, "handledRate") > 5);
  CHECK(number(row, "handledRate") < 40);
  CHECK(number(row, "errorRatio") > 0);
  CHECK(number(row, "errorRatio") < 0.5);
  auto p50 = number(row, "p50Seconds");
  auto p99 = number(row, "p99Seconds");
  CHECK(p50 > 0);
  CHECK(p50 <= p99);
  CHECK(p99 < 5);
  CHECK(number(row, "prefetch") == 20);
  CHECK(number(row, "inFlight") >= 0);
  CHECK(number(row, "inFlight") <= 20);
  // Queue depth only when the node exports it; restarts are counted per
  // supervisor, and an actor has its own only when a series names it.
  auto has = [&](const char* metric) {
    return exposition.find(std::string{"\n"} + metric + "{") !=
           std::string::npos;
  };
  CHECK(row.as_object().contains("queueDepth") == has("warren_queue_messages"));
  CHECK(row.as_object().contains("restarts") ==
        (sum_of(exposition, "warren_supervisor_restarts_total", name) >= 0));
  static const std::regex restarts_line{
    R"re(warren_supervisor_restarts_total\{.*supervisor="([^"]*)".*\} (\S+))re"};
  std::istringstream lines{exposition};
  std::size_t supervisors = 0;
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (!std::regex_match(line, m, restarts_line))
      continue;
    ++supervisors;
    bool shown = false;
    for (const auto& s : dom.at("supervisors").as_array())
      if (s.at("supervisor").as_string() == m[1].str()) {
        shown = true;
        CHECK(number(s, "restarts") == std::stod(m[2].str()));
      }
    CHECK(shown);
  }
  CHECK(dom.at("supervisors").as_array().size() == supervisors);

  // The node: its connections, CPU and memory.
  CHECK(number(dom.at("connections"), "up") >= 1);
  CHECK(number(dom.at("connections"), "up") ==
        number(dom.at("connections"), "total"));
  CHECK(number(dom.at("cpu"), "cpuCoresUsed") >= 0);
  CHECK(number(dom.at("cpu"), "cpuCores") ==
        value_of(exposition, "warren_process_cpu_cores"));
  auto resident = number(dom.at("memory"), "residentBytes");
  auto resident_now = value_of(exposition, "process_resident_memory_bytes");
  CHECK(resident > 1e6);
  CHECK(resident > resident_now / 2);
  CHECK(resident < resident_now * 2);

  // The charts have points, and pixels of their lines' colours.
  const auto& charts = dom.at("charts");
  CHECK(charts.at("chart-rate").at("points").to_number<double>() > 10);
  CHECK(charts.at("chart-p99").at("points").to_number<double>() > 10);
  if (has("warren_queue_messages"))
    CHECK(charts.at("chart-queue").at("points").to_number<double>() > 10);
  else
    CHECK(dom.at("queue_chart_empty").as_bool());
  auto png = dir.file("status-page.png");
  test::write_file(png, browser.screenshot());
  auto stats = test::run_command({"/usr/bin/python3", "-c", png_stats, png,
                                  rect_arg(charts.at("chart-rate")),
                                  rect_arg(charts.at("chart-p99"))});
  INFO("python3: " << stats.err);
  REQUIRE(stats.exit_code == 0);
  std::istringstream counts{stats.out};
  long distinct = 0;
  long rate_pixels = 0;
  long p99_pixels = 0;
  counts >> distinct >> rate_pixels >> p99_pixels;
  INFO("colours " << distinct << ", coloured pixels in the rate chart "
                  << rate_pixels << ", in the p99 chart " << p99_pixels);
  CHECK(distinct > 50);
  // A line across the chart (about 300 px wide) and its legend's swatch;
  // an empty chart has the swatch only (about 100 px).
  CHECK(rate_pixels > 300);
  CHECK(p99_pixels > 300);

  // Once the load stops and everything sent is settled, the page's next
  // scrapes show exactly what /metrics counts.
  load.stop();
  auto sent = static_cast<double>(load.sent());
  std::string settled;
  REQUIRE(test::eventually(
    [&] {
      settled = scrape(port);
      return sum_of(settled, "warren_messages_handled_total", name) +
               sum_of(settled, "warren_messages_failed_total", name) ==
             sent;
    },
    20s));
  // Prometheus scrapes the node on its own clock (slower on a loaded
  // machine), and the page reads Prometheus: within a few of the page's
  // scrapes it catches up with the settled counts.
  test::eventually(
    [&] {
      dom = dom_of(browser);
      row = row_of(dom, name);
      return number(row, "handledTotal") ==
               sum_of(settled, "warren_messages_handled_total", name) &&
             number(row, "failedTotal") ==
               sum_of(settled, "warren_messages_failed_total", name) &&
             number(row, "receivedTotal") == sent;
    },
    30s);
  CHECK(number(row, "handledTotal") ==
        sum_of(settled, "warren_messages_handled_total", name));
  CHECK(number(row, "failedTotal") ==
        sum_of(settled, "warren_messages_failed_total", name));
  CHECK(number(row, "failedTotal") == static_cast<double>(load.failing_sent()));
  CHECK(number(row, "receivedTotal") == sent);
}
