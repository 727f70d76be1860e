#include "warren/core/kill_point.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

namespace warren {

namespace {

struct kill_setting {
  std::string point;
  long count = 0;
  std::atomic<long> reached{0};

  kill_setting() {
    const char* value = std::getenv("WARREN_KILL_POINT");
    if (value == nullptr)
      return;
    std::string text{value};
    auto colon = text.find(':');
    point = text.substr(0, colon);
    count =
      colon == std::string::npos ? 1 : std::atol(text.c_str() + colon + 1);
  }
};

kill_setting& setting() {
  static kill_setting instance;
  return instance;
}

} // namespace

void kill_point(const char* name) {
  auto& s = setting();
  if (s.point.empty() || s.point != name)
    return;
  if (++s.reached == s.count)
    ::kill(::getpid(), SIGKILL);
}

} // namespace warren
