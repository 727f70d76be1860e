#include "top.hpp"

#include "commands.hpp"
#include "top_model.hpp"
#include "warren/core/errc.hpp"
#include "warren/metrics/http_get.hpp"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <future>
#include <iostream>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <thread>
#include <unistd.h>

namespace warren::cli {

using metrics::http_get;
using metrics::http_target;
using metrics::parse_http_url;

namespace {

using clock = std::chrono::steady_clock;

// -- the terminal -------------------------------------------------------------

// Puts the terminal in the state a full-screen program needs, and gives it
// back as it was: keys arrive one by one and unechoed (non-canonical mode;
// Ctrl-C still raises SIGINT), the frame is drawn on the alternate screen
// (the shell's screen comes back untouched on exit), the cursor is hidden.
class terminal_session {
 public:
  terminal_session() {
    raw_ =
      ::isatty(STDIN_FILENO) == 1 && ::tcgetattr(STDIN_FILENO, &saved_) == 0;
    if (raw_) {
      auto changed = saved_;
      changed.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
      changed.c_cc[VMIN] = 1;
      changed.c_cc[VTIME] = 0;
      ::tcsetattr(STDIN_FILENO, TCSANOW, &changed);
    }
    write_all("\x1b[?1049h\x1b[?25l");
  }

  ~terminal_session() {
    write_all("\x1b[?25h\x1b[?1049l");
    if (raw_)
      ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }

  terminal_session(const terminal_session&) = delete;
  terminal_session& operator=(const terminal_session&) = delete;

  /// Draws `lines` over the previous frame, clipped to the window.
  void draw(const std::vector<std::string>& lines) {
    auto rows = window_rows();
    std::string out = "\x1b[H";
    for (std::size_t i = 0; i < lines.size() && i < rows; ++i) {
      if (i > 0)
        out += "\r\n";
      out += lines[i] + "\x1b[K";
    }
    out += "\x1b[J";
    write_all(out);
  }

  /// The columns to fit a frame into: 80, or fewer in a narrow window.
  static std::size_t width() {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
      return std::min<std::size_t>(top_model::screen_width, ws.ws_col);
    return top_model::screen_width;
  }

 private:
  static std::size_t window_rows() {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0)
      return ws.ws_row;
    return 10000;
  }

  static void write_all(const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
      auto n = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      done += static_cast<std::size_t>(n);
    }
  }

  bool raw_ = false;
  termios saved_{};
};

// -- signals ------------------------------------------------------------------

// SIGINT and SIGTERM, turned into a readable pipe (the self-pipe trick) so
// the loop that polls the keyboard wakes for them, whichever thread the
// kernel chose to deliver them to. The old handlers come back on
// destruction.
class stop_signals {
 public:
  stop_signals() {
    if (::pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) != 0)
      pipe_[0] = pipe_[1] = -1;
    write_end_ = pipe_[1];
    struct sigaction sa {};
    sa.sa_handler = [](int) {
      if (write_end_ >= 0) {
        char byte = 1;
        [[maybe_unused]] auto n = ::write(write_end_, &byte, 1);
      }
    };
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }

  ~stop_signals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    write_end_ = -1;
    for (int fd : pipe_)
      if (fd >= 0)
        ::close(fd);
  }

  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;

  /// Readable once a signal came.
  int fd() const noexcept { return pipe_[0]; }

 private:
  static inline volatile std::sig_atomic_t write_end_ = -1;
  int pipe_[2] = {-1, -1};
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// Waits until `deadline` for `q` on stdin or a stop signal: true to quit.
bool quit_requested(const stop_signals& signals, bool& keyboard_open,
                    clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock::now());
    if (left.count() <= 0)
      return false;
    pollfd fds[2] = {{signals.fd(), POLLIN, 0},
                     {keyboard_open ? STDIN_FILENO : -1, POLLIN, 0}};
    auto n = ::poll(fds, 2, static_cast<int>(left.count()) + 1);
    if (n < 0 && errno != EINTR)
      return false;
    if (n <= 0)
      continue;
    if (fds[0].revents != 0)
      return true;
    if (fds[1].revents != 0) {
      char keys[64];
      auto got = ::read(STDIN_FILENO, keys, sizeof(keys));
      if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
        keyboard_open = false; // end of input: only signals stop us now
        continue;
      }
      for (ssize_t i = 0; i < got; ++i)
        if (keys[i] == 'q' || keys[i] == 'Q')
          return true;
    }
  }
}

// -- scraping -----------------------------------------------------------------

struct endpoint {
  std::string source;
  http_target target;
};

double seconds_now() {
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

top_model::scrape scrape_one(const endpoint& e) {
  top_model::scrape out;
  out.source = e.source;
  auto body = http_get(e.target);
  out.taken_at = seconds_now();
  if (!body) {
    out.failure = "unreachable: " + describe(body.error());
    return out;
  }
  auto samples = top_model::parse_exposition(*body);
  if (!samples) {
    out.failure = "unreadable: " + describe(samples.error());
    return out;
  }
  out.samples = std::move(*samples);
  return out;
}

// Scrapes every endpoint at once, so one that does not answer delays the
// frame by the HTTP timeout, not by that times the endpoints.
std::vector<top_model::scrape>
scrape_all(const std::vector<endpoint>& endpoints) {
  std::vector<std::future<top_model::scrape>> pending;
  for (const auto& e : endpoints)
    pending.push_back(std::async(std::launch::async, scrape_one, e));
  std::vector<top_model::scrape> out;
  for (auto& p : pending)
    out.push_back(p.get());
  return out;
}

std::vector<top_model::node_view>
views_of(const std::vector<top_model::scrape>* before,
         const std::vector<top_model::scrape>& now) {
  std::vector<top_model::node_view> out;
  for (std::size_t i = 0; i < now.size(); ++i) {
    auto nodes = top_model::compare(before ? &(*before)[i] : nullptr, now[i]);
    out.insert(out.end(), nodes.begin(), nodes.end());
  }
  return out;
}

std::string interval_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%gs", seconds);
  return buf;
}

std::string clock_text() {
  auto now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  char buf[16];
  std::strftime(buf, sizeof(buf), "%H:%M:%S", &local);
  return buf;
}

std::chrono::milliseconds interval_of(const top_options& opts) {
  return std::chrono::milliseconds{std::llround(opts.interval_seconds * 1000)};
}

int print_once(const std::vector<endpoint>& endpoints,
               const top_options& opts) {
  auto first = scrape_all(endpoints);
  std::this_thread::sleep_for(interval_of(opts));
  auto second = scrape_all(endpoints);
  auto title = "warren top  over " + interval_text(opts.interval_seconds);
  for (const auto& line : top_model::render(title, views_of(&first, second)))
    std::cout << line << '\n';
  std::cout.flush();
  for (const auto& s : second)
    if (!s.failure.empty())
      return exit_failure;
  return exit_ok;
}

int run_dashboard(const std::vector<endpoint>& endpoints,
                  const top_options& opts) {
  stop_signals signals;
  terminal_session terminal;
  auto interval = interval_of(opts);
  auto title = [&] {
    return "warren top  every " + interval_text(opts.interval_seconds) + "  " +
           clock_text() + "  (q quits)";
  };
  bool keyboard_open = true;
  auto next = clock::now();
  std::vector<top_model::scrape> before;
  for (;;) {
    auto now = scrape_all(endpoints);
    auto views = views_of(before.empty() ? nullptr : &before, now);
    terminal.draw(top_model::render(title(), views, terminal_session::width()));
    before = std::move(now);
    next += interval;
    if (next < clock::now())
      next = clock::now(); // slow scrapes: no burst to catch up
    if (quit_requested(signals, keyboard_open, next))
      return exit_ok;
  }
}

} // namespace

int top(const top_options& opts) {
  std::vector<endpoint> endpoints;
  for (const auto& url : opts.urls) {
    auto target = parse_http_url(url, "/metrics");
    if (!target) {
      std::cerr << "warren top: " << describe(target.error()) << "\n";
      return exit_usage;
    }
    endpoints.push_back({url, std::move(*target)});
  }
  if (!(opts.interval_seconds > 0)) {
    std::cerr << "warren top: --interval must be more than 0 seconds\n";
    return exit_usage;
  }
  return opts.once ? print_once(endpoints, opts)
                   : run_dashboard(endpoints, opts);
}

} // namespace warren::cli
