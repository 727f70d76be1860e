#include "window.hpp"

#include "commands.hpp"
#include "warren/actors/window_replay.hpp"
#include "warren/config/node_config.hpp"
#include "warren/core/errc.hpp"

#include <fstream>
#include <iostream>

namespace warren::cli {

int window_replay(const window_options& opts) {
  auto cfg = config::load_config(opts.config_file);
  if (!cfg)
    return report("window replay", cfg.error());
  const config::actor_spec* found = nullptr;
  for (const auto& actor : cfg->actors)
    if (actor.name == opts.actor)
      found = &actor;
  if (found == nullptr || found->kind != "window") {
    std::cerr << "warren window replay: " << opts.config_file
              << " has no window actor '" << opts.actor << "'\n";
    return exit_usage;
  }
  std::ifstream file;
  std::istream* events = &std::cin;
  if (opts.events != "-") {
    file.open(opts.events);
    if (!file) {
      std::cerr << "warren window replay: cannot read '" << opts.events
                << "'\n";
      return exit_usage;
    }
    events = &file;
  }
  auto summary = actors::replay_window(found->name, found->options, *events,
                                       std::cout, std::cerr);
  if (!summary)
    return report("window replay", summary.error());
  std::cerr << "warren window replay: " << summary->lines << " events, "
            << summary->accepted << " accepted, " << summary->late << " late, "
            << summary->rejected << " rejected; " << summary->results
            << " results, " << summary->updates << " updates\n";
  return summary->rejected > 0 ? exit_usage : exit_ok;
}

} // namespace warren::cli
