#include "profiling.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace warren::bench {

namespace {

// utime + stime of a /proc stat line, seconds; `name` gets the command.
double cpu_of_stat(const std::string& text, std::string* name) {
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos)
    return 0;
  if (name != nullptr)
    *name = text.substr(open + 1, close - open - 1);
  std::istringstream rest{text.substr(close + 2)};
  std::string field;
  double utime = 0, stime = 0;
  // Fields 3..15 of stat; utime and stime are 14 and 15.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14)
      utime = std::stod(field);
    if (i == 15)
      stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, {}};
}

} // namespace

bool profiling() {
  const char* env = std::getenv("WARREN_BENCH_PROFILE");
  return env != nullptr && *env != '\0' && std::string{env} != "0";
}

std::map<std::string, std::pair<std::string, double>> thread_cpu() {
  std::map<std::string, std::pair<std::string, double>> out;
  for (const auto& task :
       std::filesystem::directory_iterator{"/proc/self/task"}) {
    std::string name;
    auto cpu = cpu_of_stat(read_text(task.path() / "stat"), &name);
    out[task.path().filename().string()] = {name, cpu};
  }
  return out;
}

double broker_cpu() {
  const char* pid = std::getenv("WARREN_BENCH_BROKER_PID");
  if (pid == nullptr || *pid == '\0')
    return -1;
  auto text = read_text(std::string{"/proc/"} + pid + "/stat");
  return text.empty() ? -1 : cpu_of_stat(text, nullptr);
}

void report_cpu(
  const std::map<std::string, std::pair<std::string, double>>& before,
  double wall) {
  for (const auto& [tid, after] : thread_cpu()) {
    auto i = before.find(tid);
    double used = after.second - (i == before.end() ? 0.0 : i->second.second);
    if (used >= 0.05)
      std::cerr << "  profile: thread " << tid << " (" << after.first << ") "
                << used << " s CPU of " << wall << " s\n";
  }
}

double scraped(const std::string& text, const std::string& name) {
  double total = 0;
  std::istringstream lines{text};
  std::string line;
  while (std::getline(lines, line))
    if (line.rfind(name, 0) == 0 &&
        (line[name.size()] == '{' || line[name.size()] == ' '))
      total += std::stod(line.substr(line.rfind(' ') + 1));
  return total;
}

} // namespace warren::bench
