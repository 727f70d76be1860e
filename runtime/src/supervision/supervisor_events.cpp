// How a child ended, and what a supervisor writes to the log about it.

#include "warren/core/log.hpp"
#include "warren/runtime/supervision/supervisor.hpp"

#include <caf/error.hpp>
#include <caf/exit_reason.hpp>

namespace warren::runtime {

exit_kind classify_exit(const caf::error& reason) noexcept {
  if (!reason || reason == caf::exit_reason::normal)
    return exit_kind::normal;
  if (reason == caf::exit_reason::user_shutdown)
    return exit_kind::shutdown;
  if (code_of(reason) == errc::released)
    return exit_kind::released;
  return exit_kind::abnormal;
}

const char* to_string(exit_kind how) noexcept {
  switch (how) {
    case exit_kind::normal:
      return "normal";
    case exit_kind::shutdown:
      return "shutdown";
    case exit_kind::abnormal:
      return "abnormal";
    case exit_kind::released:
      return "released";
  }
  return "unknown";
}

void log_event(const supervisor_event& ev) {
  const auto& id = ev.child;
  const auto& sup = ev.supervisor;
  using kind = supervisor_event::kind;
  switch (ev.what) {
    case kind::exited:
      log::emit(
        ev.how == exit_kind::abnormal ? log::level::warning : log::level::info,
        log::scope{}, "supervisor '{}': child '{}' exited ({}{}{})", sup, id,
        to_string(ev.how), ev.reason.empty() ? "" : ": ", ev.reason);
      break;
    case kind::restart_scheduled:
      log::info("supervisor '{}': restarting after child '{}' in {} ms", sup,
                id, ev.delay.count());
      break;
    case kind::start_failed:
      log::error("supervisor '{}': child '{}' failed to start: {}", sup, id,
                 ev.reason);
      break;
    case kind::removed:
      log::info("supervisor '{}': temporary child '{}' removed", sup, id);
      break;
    case kind::gave_up:
      log::error("supervisor '{}': giving up: {}", sup, ev.reason);
      break;
    case kind::started:
    case kind::stopped:
      log::debug("supervisor '{}': child '{}' {}", sup, id,
                 ev.what == kind::started ? "started" : "stopped");
      break;
  }
}

} // namespace warren::runtime
