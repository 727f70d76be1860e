#pragma once

// Private to warren::actors: a saga's state machine, pure (no I/O, no
// clock: the time comes in). The saga actor feeds it what happens (a start,
// a participant's reply, a timer firing, an operator's resume or abort) and
// carries out what it decides (commands to send, timers to set or cancel,
// lifecycle events to publish), in one unit of work with the instance's
// new state, so a decision is made and acted on exactly once.
//
// Steps run in groups: a group of one step is a step in sequence; the steps
// of a parallel group are sent together, and the group is done when all of
// them completed. After a group, the next one runs, or the one a branch
// (C++ definitions) names. The states of the seed (pending, running,
// completed, failed, compensating, compensated) plus stuck:
//
//   pending      --start------------------------------> running (group 1)
//   pending      --start, no steps--------------------> completed
//   running      --a group's last reply ok------------> running (next group)
//                                                       or completed
//   running      --failure/timeout, retries left------> running (that step
//                                                       backs off, then is
//                                                       sent again)
//   running      --failure final, retries spent, abort-> compensating, or
//                                                       compensated when
//                                                       nothing needs undoing
//   compensating --reply ok, more to undo-------------> compensating
//   compensating --reply ok, nothing left-------------> compensated
//   compensating --failure/timeout, budget left-------> compensating (backoff)
//   compensating --budget spent-----------------------> stuck
//   stuck        --resume-----------------------------> compensating (budget
//                                                       anew)
//   stuck        --abort------------------------------> failed
//
// When a step of a parallel group fails for good, its siblings are sent
// nothing more; those whose action is out are waited for (their reply or
// their timeout), so that what they did is known before anything is
// undone. Then completed steps are compensated one at a time in reverse
// step order; a step whose action timed out may have been applied, and is
// compensated too unless `compensate_on_timeout` is false. Steps without a
// compensation, and steps never run (a branch skipped them), are skipped.
// A reply to a send no longer waited for, a timer no longer set, and
// anything after the end are ignored (`saga_effects::ignored`): a late
// timeout never acts on a finished step.
//
// Identity: every send of a command has an id of its own,
// `<saga>/<step>/a/<n>` (action) or `<saga>/<step>/c/<n>` (compensation),
// so the replies to two sends are two messages; the participant applies a
// step at most once by its key `<saga>/<step>/a` (or `/c`), the same for
// every send. Lifecycle events are `<saga>/ev/<n>`, timers `<saga>/t/<n>`:
// the same decisions after a crash give the same ids.

#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <map>
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
  /// Consecutive steps with the same group run in parallel; groups count
  /// from 0 in step order.
  std::size_t group = 0;
};

struct saga_instance;

/// What runs after a group completed (C++ definitions branch with it).
struct saga_next {
  enum class kind : uint8_t {
    /// The next group in order (the default).
    next,
    /// The group whose first step is `step`: a later one.
    step,
    /// Nothing more: the saga completes.
    finish,
    /// The saga fails with `error`: what completed is compensated.
    fail,
  };
  kind what = kind::next;
  std::string step;
  std::string error;
};

/// Decides what runs after a group, from the saga as it is (each completed
/// step's result) and the data it started with.
using saga_branch = std::function<saga_next(const saga_instance&,
                                            const boost::json::value& data)>;

struct saga_definition {
  std::string name;
  std::vector<saga_step_definition> steps;
  /// By group: what runs after it (none: the next group).
  std::map<std::size_t, saga_branch> branches;
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

/// A step's timer: its send's timeout, or its backoff.
struct saga_timer {
  enum class kind : uint8_t { timeout, backoff };
  std::string id;
  int64_t due_ms = 0;
  kind what = kind::timeout;
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
  /// Its send's timeout, or its backoff, while it has one.
  std::optional<saga_timer> timer;
};

struct saga_instance {
  std::string saga_id;
  saga_status status = saga_status::pending;
  /// The group being run (running), or whose outcome undoing waits for.
  std::size_t current = 0;
  /// The step being compensated (compensating, stuck).
  std::size_t undo = 0;
  std::vector<step_state> steps;
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

/// What a decision asks for, in this order: cancel timers, send the
/// commands, set timers, publish the events.
struct saga_effects {
  std::vector<saga_command> commands;
  std::vector<saga_timer> set;
  std::vector<std::string> cancelled;
  std::vector<lifecycle_event> events;
  /// The input did not apply (a late reply, a stale timer, a finished saga).
  bool ignored = false;
};

/// Starts `inst` (status pending, `saga_id` set) on `def`.
saga_effects start_saga(const saga_definition& def, saga_instance& inst,
                        int64_t now_ms);

/// `data` (what the saga started with) is for the definition's branches;
/// null when it has none.
saga_effects on_reply(const saga_definition& def, saga_instance& inst,
                      const saga_reply& reply, int64_t now_ms,
                      const boost::json::value* data = nullptr);

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

/// The saga's timer due first, if it has any.
std::optional<saga_timer> next_timer(const saga_instance& inst);

/// The number of groups of `def` (its last step's group + 1).
std::size_t group_count(const saga_definition& def);

/// Why `def`'s groups are not consecutive runs numbered 0, 1, 2 ... in
/// step order; empty when they are.
std::string check_groups(const saga_definition& def);

} // namespace warren::actors
