#include "saga/saga_machine.hpp"

#include <algorithm>

namespace warren::actors {

const char* to_string(saga_status s) {
  switch (s) {
    case saga_status::pending:
      return "pending";
    case saga_status::running:
      return "running";
    case saga_status::completed:
      return "completed";
    case saga_status::failed:
      return "failed";
    case saga_status::compensating:
      return "compensating";
    case saga_status::compensated:
      return "compensated";
    case saga_status::stuck:
      break;
  }
  return "stuck";
}

const char* to_string(step_status s) {
  switch (s) {
    case step_status::waiting:
      return "waiting";
    case step_status::running:
      return "running";
    case step_status::completed:
      return "completed";
    case step_status::failed:
      return "failed";
    case step_status::compensating:
      return "compensating";
    case step_status::compensated:
      break;
  }
  return "compensated";
}

bool finished(const saga_instance& inst) {
  return inst.status == saga_status::completed ||
         inst.status == saga_status::compensated ||
         inst.status == saga_status::failed;
}

namespace {

// The delay before the n-th send again (n >= 1).
int64_t backoff(const retry_rule& rule, uint32_t n) {
  auto delay = rule.backoff_ms;
  for (uint32_t i = 1; i < n && delay < rule.max_backoff_ms; ++i)
    delay *= 2;
  return std::min(delay, rule.max_backoff_ms);
}

bool is_final(const retry_rule& rule, const std::string& code) {
  return std::find(rule.final_codes.begin(), rule.final_codes.end(), code) !=
         rule.final_codes.end();
}

// One decision on one instance: what it changes and what it asks for.
class decision {
 public:
  decision(const saga_definition& def, saga_instance& inst, int64_t now_ms)
    : def_(def), inst_(inst), now_ms_(now_ms) {}

  saga_effects take() { return std::move(out_); }

  saga_effects ignored() {
    out_.ignored = true;
    return take();
  }

  void event(const char* name, const std::string& step = {},
             const std::string& error = {}, bool retrying = false) {
    out_.events.push_back(
      {inst_.saga_id + "/ev/" + std::to_string(++inst_.events), name, step,
       error, retrying});
  }

  void cancel_timer() {
    if (!inst_.timer)
      return;
    // Set and cancelled in one decision: it never existed outside it.
    if (out_.set && out_.set->id == inst_.timer->id)
      out_.set.reset();
    else
      out_.cancelled = inst_.timer->id;
    inst_.timer.reset();
  }

  void set_timer(saga_timer::kind what, int64_t delay_ms) {
    cancel_timer();
    saga_timer timer{inst_.saga_id + "/t/" + std::to_string(++inst_.timers),
                     now_ms_ + delay_ms, what};
    inst_.timer = timer;
    out_.set = timer;
  }

  void send_action(std::size_t i) {
    const auto& def = def_.steps[i];
    auto& step = inst_.steps[i];
    step.status = step_status::running;
    if (++step.sends == 1)
      step.started_ms = now_ms_;
    auto key = inst_.saga_id + "/" + def.id + "/a";
    out_.commands.push_back({key + "/" + std::to_string(step.sends), key,
                             def.id, false, &def.action});
    auto wait = def.timeout_ms;
    if (def.deadline_ms > 0)
      wait = std::max<int64_t>(
        1, std::min(wait, step.started_ms + def.deadline_ms - now_ms_));
    set_timer(saga_timer::kind::timeout, wait);
  }

  void send_compensation(std::size_t i) {
    const auto& def = def_.steps[i];
    auto& step = inst_.steps[i];
    step.status = step_status::compensating;
    ++step.compensation_sends;
    auto key = inst_.saga_id + "/" + def.id + "/c";
    out_.commands.push_back(
      {key + "/" + std::to_string(step.compensation_sends), key, def.id, true,
       &*def.compensation});
    set_timer(saga_timer::kind::timeout, def_.compensation_timeout_ms);
  }

  // Runs step `i`, or ends the saga completed when there is none.
  void run_from(std::size_t i) {
    inst_.current = i;
    if (i < def_.steps.size()) {
      send_action(i);
      return;
    }
    cancel_timer();
    inst_.status = saga_status::completed;
    event("completed");
  }

  void action_done(const saga_reply& reply) {
    auto& step = inst_.steps[inst_.current];
    step.status = step_status::completed;
    step.result = reply.result;
    step.ended_ms = now_ms_;
    event("step_completed", def_.steps[inst_.current].id);
    run_from(inst_.current + 1);
  }

  void action_failed(const std::string& code, const std::string& error,
                     bool timed_out) {
    const auto& def = def_.steps[inst_.current];
    auto& step = inst_.steps[inst_.current];
    step.error = error;
    step.maybe_applied = step.maybe_applied || timed_out;
    auto delay = backoff(def.retry, step.sends);
    bool in_time = def.deadline_ms == 0 ||
                   now_ms_ + delay < step.started_ms + def.deadline_ms;
    if (!is_final(def.retry, code) && step.sends - 1 < def.retry.max &&
        in_time) {
      event("step_failed", def.id, error, true);
      set_timer(saga_timer::kind::backoff, delay);
      return;
    }
    if (!in_time)
      step.error += " (its deadline of " + std::to_string(def.deadline_ms) +
                    " ms leaves no time to try again)";
    step.status = step_status::failed;
    step.ended_ms = now_ms_;
    event("step_failed", def.id, error, false);
    compensate("step " + def.id + " failed: " + error);
  }

  // Whether step `i` needs its compensation run.
  bool to_undo(std::size_t i) const {
    const auto& step = inst_.steps[i];
    if (!def_.steps[i].compensation)
      return false;
    return step.status == step_status::completed ||
           (step.status == step_status::failed && step.maybe_applied &&
            def_.compensate_on_timeout);
  }

  // Compensates the steps that need it from `i` down, in reverse order.
  void undo_from(std::size_t i) {
    for (auto k = i + 1; k-- > 0;)
      if (to_undo(k)) {
        inst_.current = k;
        inst_.steps[k].budget_from = inst_.steps[k].compensation_sends;
        send_compensation(k);
        return;
      }
    cancel_timer();
    inst_.status = saga_status::compensated;
    event("compensated", {}, inst_.error);
  }

  void compensate(const std::string& why) {
    inst_.status = saga_status::compensating;
    inst_.error = why;
    event("compensating", {}, why);
    undo_from(inst_.current);
  }

  void compensation_done() {
    auto& step = inst_.steps[inst_.current];
    step.status = step_status::compensated;
    event("step_compensated", def_.steps[inst_.current].id);
    if (inst_.current == 0) {
      cancel_timer();
      inst_.status = saga_status::compensated;
      event("compensated", {}, inst_.error);
      return;
    }
    undo_from(inst_.current - 1);
  }

  void compensation_failed(const std::string& error) {
    const auto& def = def_.steps[inst_.current];
    auto& step = inst_.steps[inst_.current];
    step.error = error;
    const auto& rule = def_.compensation_retry;
    auto spent = step.compensation_sends - step.budget_from;
    if (spent - 1 < rule.max) {
      event("step_failed", def.id, "compensation: " + error, true);
      set_timer(saga_timer::kind::backoff, backoff(rule, spent));
      return;
    }
    cancel_timer();
    inst_.status = saga_status::stuck;
    inst_.error = "the compensation of step " + def.id +
                  " failed after its budget: " + error;
    event("stuck", def.id, inst_.error);
  }

 private:
  const saga_definition& def_;
  saga_instance& inst_;
  int64_t now_ms_;
  saga_effects out_;
};

// `<saga>/<step>/<a|c>/<n>` read back.
struct send_ref {
  std::size_t step = 0;
  bool compensation = false;
  uint32_t n = 0;
};

std::optional<send_ref> read_send_id(const saga_definition& def,
                                     const saga_instance& inst,
                                     const std::string& id) {
  auto prefix = inst.saga_id + "/";
  if (id.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  auto rest = id.substr(prefix.size());
  auto last = rest.rfind('/');
  if (last == std::string::npos || last < 2 || rest[last - 2] != '/')
    return std::nullopt;
  send_ref ref;
  auto phase = rest[last - 1];
  if (phase != 'a' && phase != 'c')
    return std::nullopt;
  ref.compensation = phase == 'c';
  try {
    ref.n = static_cast<uint32_t>(std::stoul(rest.substr(last + 1)));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  auto step_id = rest.substr(0, last - 2);
  for (std::size_t i = 0; i < def.steps.size(); ++i)
    if (def.steps[i].id == step_id) {
      ref.step = i;
      return ref;
    }
  return std::nullopt;
}

} // namespace

saga_effects start_saga(const saga_definition& def, saga_instance& inst,
                        int64_t now_ms) {
  decision d{def, inst, now_ms};
  if (inst.status != saga_status::pending)
    return d.ignored();
  inst.steps.assign(def.steps.size(), step_state{});
  inst.status = saga_status::running;
  d.event("started");
  d.run_from(0);
  return d.take();
}

saga_effects on_reply(const saga_definition& def, saga_instance& inst,
                      const saga_reply& reply, int64_t now_ms) {
  decision d{def, inst, now_ms};
  auto ref = read_send_id(def, inst, reply.send_id);
  if (!ref || ref->step != inst.current || inst.steps.empty())
    return d.ignored();
  auto& step = inst.steps[inst.current];
  // A success answers the step whichever of its sends it is for; a failure
  // only from the latest send while that send is out (not backing off).
  bool latest_out = inst.timer && inst.timer->what == saga_timer::kind::timeout;
  if (!ref->compensation && inst.status == saga_status::running &&
      step.status == step_status::running && ref->n <= step.sends) {
    if (reply.ok)
      d.action_done(reply);
    else if (ref->n == step.sends && latest_out)
      d.action_failed(reply.code, reply.error, false);
    else
      return d.ignored();
    return d.take();
  }
  if (ref->compensation && inst.status == saga_status::compensating &&
      step.status == step_status::compensating &&
      ref->n <= step.compensation_sends) {
    if (reply.ok)
      d.compensation_done();
    else if (ref->n == step.compensation_sends && latest_out)
      d.compensation_failed(reply.error);
    else
      return d.ignored();
    return d.take();
  }
  return d.ignored();
}

saga_effects on_timer(const saga_definition& def, saga_instance& inst,
                      const std::string& timer_id, int64_t now_ms) {
  decision d{def, inst, now_ms};
  if (!inst.timer || inst.timer->id != timer_id)
    return d.ignored();
  auto fired = *inst.timer;
  inst.timer.reset(); // It fired: nothing to cancel.
  bool timeout = fired.what == saga_timer::kind::timeout;
  if (inst.status == saga_status::running) {
    const auto& step = def.steps[inst.current];
    auto deadline = inst.steps[inst.current].started_ms + step.deadline_ms;
    if (timeout && step.deadline_ms > 0 && now_ms >= deadline)
      d.action_failed("timeout",
                      "no reply within the step's deadline of " +
                        std::to_string(step.deadline_ms) + " ms",
                      true);
    else if (timeout)
      d.action_failed(
        "timeout", "no reply within " + std::to_string(step.timeout_ms) + " ms",
        true);
    else
      d.send_action(inst.current);
    return d.take();
  }
  if (inst.status == saga_status::compensating) {
    if (timeout)
      d.compensation_failed("no reply within " +
                            std::to_string(def.compensation_timeout_ms) +
                            " ms");
    else
      d.send_compensation(inst.current);
    return d.take();
  }
  return d.ignored();
}

saga_effects resume_saga(const saga_definition& def, saga_instance& inst,
                         int64_t now_ms) {
  decision d{def, inst, now_ms};
  if (inst.status != saga_status::stuck)
    return d.ignored();
  inst.status = saga_status::compensating;
  auto& step = inst.steps[inst.current];
  step.budget_from = step.compensation_sends;
  d.event("resumed", def.steps[inst.current].id);
  d.send_compensation(inst.current);
  return d.take();
}

saga_effects abort_saga(const saga_definition& def, saga_instance& inst,
                        const std::string& why, int64_t now_ms) {
  decision d{def, inst, now_ms};
  if (inst.status == saga_status::running) {
    // Its action may have been applied: it is out, or backing off.
    auto& step = inst.steps[inst.current];
    step.status = step_status::failed;
    step.maybe_applied = step.sends > 0;
    d.compensate("aborted: " + why);
    return d.take();
  }
  if (inst.status == saga_status::stuck) {
    inst.status = saga_status::failed;
    inst.error = "aborted while stuck: " + why;
    d.cancel_timer();
    d.event("failed", {}, inst.error);
    return d.take();
  }
  return d.ignored();
}

} // namespace warren::actors
