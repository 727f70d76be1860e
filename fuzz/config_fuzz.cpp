// libFuzzer target: bytes as the text of a node config file, through the
// config library's reader (`warren::config::parse_config`, the text entry
// point `load_config` itself uses after reading the file). Any input must
// give a config or an error naming the source, never a crash.
//
// The reader is pure except for `password_file` (read relative to the
// config's folder) and two environment variables; the folder is an empty
// one of this process and WARREN_BROKER_URI is unset, so a run depends on
// its input alone.

#include "warren/config/node_config.hpp"
#include "warren/core/errc.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace {

std::string base_dir;

void remove_base_dir() {
  std::error_code ec;
  std::filesystem::remove_all(base_dir, ec);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ::unsetenv("WARREN_BROKER_URI");
  auto dir = std::filesystem::temp_directory_path() /
             ("warren-fuzz-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  base_dir = dir.string();
  std::atexit(remove_base_dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text{reinterpret_cast<const char*>(data), size};
  auto cfg = warren::config::parse_config(text, "fuzz.json", base_dir);
  if (!cfg) {
    // Every error starts with its source (README: file, path, problem).
    if (warren::describe(cfg.error()).rfind("fuzz.json", 0) != 0)
      __builtin_trap();
  }
  return 0;
}
