#include "warren/core/kill_point.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unistd.h>

namespace warren {

namespace {

// One point of the environment: `<point>:<n>[:<ms>]`.
struct fault_setting {
  std::string point;
  long count = 0;
  long pause_ms = 0;
  std::atomic<long> reached{0};

  explicit fault_setting(const char* variable) {
    const char* value = std::getenv(variable);
    if (value == nullptr)
      return;
    std::string text{value};
    auto colon = text.find(':');
    point = text.substr(0, colon);
    count =
      colon == std::string::npos ? 1 : std::atol(text.c_str() + colon + 1);
    auto second =
      colon == std::string::npos ? colon : text.find(':', colon + 1);
    if (second != std::string::npos)
      pause_ms = std::atol(text.c_str() + second + 1);
  }

  // Whether this is the n-th time `name` is reached.
  bool hit(const char* name) {
    return !point.empty() && point == name && ++reached == count;
  }
};

fault_setting& kill_setting() {
  static fault_setting instance{"WARREN_KILL_POINT"};
  return instance;
}

fault_setting& pause_setting() {
  static fault_setting instance{"WARREN_PAUSE_POINT"};
  return instance;
}

} // namespace

void kill_point(const char* name) {
  if (kill_setting().hit(name))
    ::kill(::getpid(), SIGKILL);
  auto& pause = pause_setting();
  if (pause.hit(name)) {
    std::fprintf(stderr, "warren: paused at %s\n", name);
    std::fflush(stderr);
    std::this_thread::sleep_for(std::chrono::milliseconds{pause.pause_ms});
  }
}

} // namespace warren
