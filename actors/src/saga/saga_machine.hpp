#pragma once

// Private to warren::actors: a saga's state machine, pure (no I/O, no
// clock: the time comes in). The saga actor feeds it what happens (a start,
// a participant's reply, a timer firing, an operator's resume or abort) and
// carries out what it decides (commands to send, the one timer to set or
// cancel, lifecycle events to publish), in one unit of work with the
// instance's new state, so a decision is made and acted on exactly once.
//
// The states of the seed (pending, running, completed, failed,
// compensating, compensated) plus stuck:
//
//   pending      --start------------------------------> running (first action)
//   pending      --start, no steps--------------------> completed
//   running      --reply ok, more steps---------------> running (next action)
//   running      --reply ok, last step----------------> completed
//   running      --failure/timeout, retries left------> running (backoff, then
//                                                        the action again)
//   running      --failure final, retries spent, abort-> compensating, or
//                                                        compensated when
//                                                        nothing needs undoing
//   compensating --reply ok, more to undo-------------> compensating
//   compensating --reply ok, nothing left-------------> compensated
//   compensating --failure/timeout, budget left-------> compensating (backoff)
//   compensating --budget spent-----------------------> stuck
//   stuck        --resume-----------------------------> compensating (budget
//                                                        anew)
//   stuck        --abort------------------------------> failed
//
// Completed steps are compensated in reverse order; a step whose action
// timed out may have been applied, and is compensated too unless
// `compensate_on_timeout` is false. Steps without a compensation are
// skipped. A reply to a send that is not the current step's current phase,
// a timer that is not the one set, and anything after the end are ignored
// (`saga_effects::ignored`): a late timeout never acts on a finished step.
//
// Identity: every send of a command has an id of its own,
// `<saga>/<step>/a/<n>` (action) or `<saga>/<step>/c/<n>` (compensation),
// so the replies to two sends are two messages; the participant applies a
// step at most once by its key `<saga>/<step>/a` (or `/c`), the same for
// every send. Lifecycle events are `<saga>/ev/<n>`, timers `<saga>/t/<n>`:
// the same decisions after a crash give the same ids.

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace warren::actors {

/// How often a failed or timed-out command is sent again.
struct retry_rule {
  /// Sends after the first.
  uint32_t max = 3;
  /// Before the n-th send again: backoff_ms * 2^(n-1), at most max_backoff_ms.
  int64_t backoff_ms = 1000;
  int64_t max_backoff_ms = 60000;
  /// Error codes that are final whatever `max` says.
  std::vector<std::string> final_codes;
};

/// A command a step sends: to an actor by name, of a type, with a body.
struct saga_call {
  std::string actor;
  std::string type;
  boost::json::value body;
};

struct saga_step_definition {
  std::string id;
  saga_call action;
  std::optional<saga_call> compensation;
  /// Per send; the step counts as failed (maybe applied) when it passes.
  int64_t timeout_ms = 30000;
  /// Overall, from its first send: past it no send is made again and the
  /// last one is waited for only until then. 0: none (retries times
  /// timeouts bound it).
  int64_t deadline_ms = 0;
  retry_rule retry;
};

struct saga_definition {
  std::string name;
  std::vector<saga_step_definition> steps;
  /// Compensations are retried until this budget is spent; then the saga
  /// is stuck.
  retry_rule compensation_retry{5, 1000, 60000, {}};
  int64_t compensation_timeout_ms = 30000;
  bool compensate_on_timeout = true;
};

enum class saga_status : uint8_t {
  pending,
  running,
  completed,
  failed,
  compensating,
  compensated,
  stuck,
};

enum class step_status : uint8_t {
  waiting,
  running,
  completed,
  /// Its action failed for good, or timed out (`maybe_applied`).
  failed,
  compensating,
  compensated,
};

const char* to_string(saga_status s);
const char* to_string(step_status s);

struct step_state {
  step_status status = step_status::waiting;
  /// Sends of the action, and of the compensation (they only grow).
  uint32_t sends = 0;
  uint32_t compensation_sends = 0;
  /// Compensation sends when the current budget began (a resume renews it).
  uint32_t budget_from = 0;
  /// Its action timed out: it may have been applied.
  bool maybe_applied = false;
  boost::json::value result;
  std::string error;
  /// When its action was first sent and when the step ended (completed or
  /// failed for good); 0 until then.
  int64_t started_ms = 0;
  int64_t ended_ms = 0;
};

/// The one timer a saga has at a time: a send's timeout or a backoff.
struct saga_timer {
  enum class kind : uint8_t { timeout, backoff };
  std::string id;
  int64_t due_ms = 0;
  kind what = kind::timeout;
};

struct saga_instance {
  std::string saga_id;
  saga_status status = saga_status::pending;
  /// The step being run or compensated.
  std::size_t current = 0;
  std::vector<step_state> steps;
  std::optional<saga_timer> timer;
  /// Ids given so far (events, timers).
  uint64_t events = 0;
  uint64_t timers = 0;
  /// Why it is compensating, compensated, stuck or failed.
  std::string error;
};

/// A participant's answer to a command.
struct saga_reply {
  /// The id of the send it answers.
  std::string send_id;
  bool ok = false;
  boost::json::value result;
  /// When not ok: the error code (warren.error's, or "refused") and text.
  std::string code;
  std::string error;
};

/// A command to send.
struct saga_command {
  /// `<saga>/<step>/a/<n>` or `/c/<n>`: message id and correlation id.
  std::string id;
  /// `<saga>/<step>/a` or `/c`: the participant applies it at most once.
  std::string key;
  std::string step;
  bool compensation = false;
  const saga_call* call = nullptr;
};

struct lifecycle_event {
  /// `<saga>/ev/<n>`.
  std::string id;
  /// "started", "step_completed", "step_failed", "compensating",
  /// "step_compensated", "compensated", "completed", "stuck", "resumed",
  /// "failed".
  std::string name;
  std::string step;
  std::string error;
  /// step_failed: whether the step is tried again.
  bool retrying = false;
};

/// What a decision asks for, in this order: cancel the old timer, send the
/// commands, set the new timer, publish the events.
struct saga_effects {
  std::vector<saga_command> commands;
  std::optional<saga_timer> set;
  std::optional<std::string> cancelled;
  std::vector<lifecycle_event> events;
  /// The input did not apply (a late reply, a stale timer, a finished saga).
  bool ignored = false;
};

/// Starts `inst` (status pending, `saga_id` set) on `def`.
saga_effects start_saga(const saga_definition& def, saga_instance& inst,
                        int64_t now_ms);

saga_effects on_reply(const saga_definition& def, saga_instance& inst,
                      const saga_reply& reply, int64_t now_ms);

saga_effects on_timer(const saga_definition& def, saga_instance& inst,
                      const std::string& timer_id, int64_t now_ms);

/// An operator's hand: a stuck saga tries its compensation again with a new
/// budget. Ignored in any other status.
saga_effects resume_saga(const saga_definition& def, saga_instance& inst,
                         int64_t now_ms);

/// An operator's hand: a running saga is compensated (reason `why`); a
/// stuck one ends failed (the operator accepts what is left). Ignored
/// otherwise.
saga_effects abort_saga(const saga_definition& def, saga_instance& inst,
                        const std::string& why, int64_t now_ms);

/// Whether the saga has ended (completed, compensated, failed).
bool finished(const saga_instance& inst);

} // namespace warren::actors
