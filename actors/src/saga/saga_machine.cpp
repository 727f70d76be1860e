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

std::optional<saga_timer> next_timer(const saga_instance& inst) {
  std::optional<saga_timer> first;
  for (const auto& step : inst.steps)
    if (step.timer && (!first || step.timer->due_ms < first->due_ms))
      first = step.timer;
  return first;
}

std::size_t group_count(const saga_definition& def) {
  return def.steps.empty() ? 0 : def.steps.back().group + 1;
}

std::string check_groups(const saga_definition& def) {
  std::size_t expected = 0;
  for (std::size_t i = 0; i < def.steps.size(); ++i) {
    auto g = def.steps[i].group;
    // The same group as the step before, or the next one.
    if (g != expected && !(i > 0 && g == expected + 1))
      return "step " + def.steps[i].id + " is in group " + std::to_string(g) +
             ": groups are numbered 0, 1, 2 ... in step order";
    expected = g;
  }
  return {};
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
  decision(const saga_definition& def, saga_instance& inst, int64_t now_ms,
           const boost::json::value* data = nullptr)
    : def_(def), inst_(inst), now_ms_(now_ms), data_(data) {}

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

  // The steps of the current group: [first, last).
  std::pair<std::size_t, std::size_t> group_steps(std::size_t g) const {
    std::size_t first = 0;
    while (first < def_.steps.size() && def_.steps[first].group < g)
      ++first;
    auto last = first;
    while (last < def_.steps.size() && def_.steps[last].group == g)
      ++last;
    return {first, last};
  }

  void cancel_timer(std::size_t i) {
    auto& timer = inst_.steps[i].timer;
    if (!timer)
      return;
    // Set and cancelled in one decision: it never existed outside it.
    auto set =
      std::find_if(out_.set.begin(), out_.set.end(),
                   [&](const saga_timer& t) { return t.id == timer->id; });
    if (set != out_.set.end())
      out_.set.erase(set);
    else
      out_.cancelled.push_back(timer->id);
    timer.reset();
  }

  void set_timer(std::size_t i, saga_timer::kind what, int64_t delay_ms) {
    cancel_timer(i);
    saga_timer timer{inst_.saga_id + "/t/" + std::to_string(++inst_.timers),
                     now_ms_ + delay_ms, what};
    inst_.steps[i].timer = timer;
    out_.set.push_back(timer);
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
    set_timer(i, saga_timer::kind::timeout, wait);
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
    set_timer(i, saga_timer::kind::timeout, def_.compensation_timeout_ms);
  }

  // Runs group `g`, or ends the saga completed when there is none.
  void run_group(std::size_t g) {
    inst_.current = g;
    if (g >= group_count(def_)) {
      inst_.status = saga_status::completed;
      event("completed");
      return;
    }
    auto [first, last] = group_steps(g);
    for (auto i = first; i < last; ++i)
      send_action(i);
  }

  // After group `current` completed: the next one, or the branch's choice.
  void after_group() {
    auto branch = def_.branches.find(inst_.current);
    saga_next next;
    static const boost::json::value none;
    if (branch != def_.branches.end() && branch->second)
      next = branch->second(inst_, data_ != nullptr ? *data_ : none);
    switch (next.what) {
      case saga_next::kind::next:
        run_group(inst_.current + 1);
        return;
      case saga_next::kind::finish:
        run_group(group_count(def_));
        return;
      case saga_next::kind::fail:
        compensate("step " +
                   def_.steps[group_steps(inst_.current).second - 1].id +
                   " decided to fail: " + next.error);
        return;
      case saga_next::kind::step:
        break;
    }
    for (std::size_t i = 0; i < def_.steps.size(); ++i)
      if (def_.steps[i].id == next.step) {
        auto g = def_.steps[i].group;
        if (g > inst_.current && group_steps(g).first == i) {
          run_group(g);
          return;
        }
        break;
      }
    compensate("after group " + std::to_string(inst_.current) +
               ", the branch chose '" + next.step +
               "', which is not the first step of a later group");
  }

  void action_done(std::size_t i, const saga_reply& reply) {
    cancel_timer(i);
    auto& step = inst_.steps[i];
    step.status = step_status::completed;
    step.result = reply.result;
    step.ended_ms = now_ms_;
    event("step_completed", def_.steps[i].id);
    if (inst_.status == saga_status::compensating) {
      undo_when_settled();
      return;
    }
    auto [first, last] = group_steps(inst_.current);
    for (auto k = first; k < last; ++k)
      if (inst_.steps[k].status != step_status::completed)
        return;
    after_group();
  }

  void action_failed(std::size_t i, const std::string& code,
                     const std::string& error, bool timed_out) {
    const auto& def = def_.steps[i];
    auto& step = inst_.steps[i];
    step.error = error;
    step.maybe_applied = step.maybe_applied || timed_out;
    auto delay = backoff(def.retry, step.sends);
    bool in_time = def.deadline_ms == 0 ||
                   now_ms_ + delay < step.started_ms + def.deadline_ms;
    if (inst_.status == saga_status::running && !is_final(def.retry, code) &&
        step.sends - 1 < def.retry.max && in_time) {
      event("step_failed", def.id, error, true);
      set_timer(i, saga_timer::kind::backoff, delay);
      return;
    }
    if (!in_time)
      step.error += " (its deadline of " + std::to_string(def.deadline_ms) +
                    " ms leaves no time to try again)";
    cancel_timer(i);
    step.status = step_status::failed;
    step.ended_ms = now_ms_;
    event("step_failed", def.id, step.error, false);
    if (inst_.status == saga_status::running)
      compensate("step " + def.id + " failed: " + step.error);
    else
      undo_when_settled();
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
        inst_.undo = k;
        inst_.steps[k].budget_from = inst_.steps[k].compensation_sends;
        send_compensation(k);
        return;
      }
    inst_.status = saga_status::compensated;
    event("compensated", {}, inst_.error);
  }

  // Undoing starts once no action of the current group is out.
  void undo_when_settled() {
    auto [first, last] = group_steps(inst_.current);
    for (auto k = first; k < last; ++k)
      if (inst_.steps[k].status == step_status::running)
        return;
    if (last == 0) {
      inst_.status = saga_status::compensated;
      event("compensated", {}, inst_.error);
      return;
    }
    undo_from(last - 1);
  }

  // The saga fails: its group's steps that back off are sent nothing more;
  // those whose action is out are waited for.
  void compensate(const std::string& why) {
    inst_.status = saga_status::compensating;
    inst_.error = why;
    event("compensating", {}, why);
    auto [first, last] = group_steps(inst_.current);
    for (auto k = first; k < last; ++k) {
      auto& step = inst_.steps[k];
      if (step.status == step_status::running && step.timer &&
          step.timer->what == saga_timer::kind::backoff) {
        cancel_timer(k);
        step.status = step_status::failed;
        step.ended_ms = now_ms_;
      }
    }
    undo_when_settled();
  }

  void compensation_done(std::size_t i) {
    cancel_timer(i);
    inst_.steps[i].status = step_status::compensated;
    event("step_compensated", def_.steps[i].id);
    if (i == 0) {
      inst_.status = saga_status::compensated;
      event("compensated", {}, inst_.error);
      return;
    }
    undo_from(i - 1);
  }

  void compensation_failed(std::size_t i, const std::string& error) {
    const auto& def = def_.steps[i];
    auto& step = inst_.steps[i];
    step.error = error;
    const auto& rule = def_.compensation_retry;
    auto spent = step.compensation_sends - step.budget_from;
    if (spent - 1 < rule.max) {
      event("step_failed", def.id, "compensation: " + error, true);
      set_timer(i, saga_timer::kind::backoff, backoff(rule, spent));
      return;
    }
    cancel_timer(i);
    inst_.status = saga_status::stuck;
    inst_.error = "the compensation of step " + def.id +
                  " failed after its budget: " + error;
    event("stuck", def.id, inst_.error);
  }

  // Every step's timer cancelled (the saga ends, or an operator steps in).
  void cancel_all() {
    for (std::size_t k = 0; k < inst_.steps.size(); ++k)
      cancel_timer(k);
  }

 private:
  const saga_definition& def_;
  saga_instance& inst_;
  int64_t now_ms_;
  const boost::json::value* data_;
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
  d.run_group(0);
  return d.take();
}

saga_effects on_reply(const saga_definition& def, saga_instance& inst,
                      const saga_reply& reply, int64_t now_ms,
                      const boost::json::value* data) {
  decision d{def, inst, now_ms, data};
  auto ref = read_send_id(def, inst, reply.send_id);
  if (!ref || inst.steps.size() != def.steps.size())
    return d.ignored();
  auto i = ref->step;
  auto& step = inst.steps[i];
  // A failure counts only from the latest send while it is out (not while
  // the step backs off); a success answers the step whichever send it is
  // for.
  bool latest_out = step.timer && step.timer->what == saga_timer::kind::timeout;
  bool in_group = def.steps[i].group == inst.current;
  bool waiting_action = (inst.status == saga_status::running ||
                         inst.status == saga_status::compensating) &&
                        in_group && step.status == step_status::running;
  if (!ref->compensation && waiting_action && ref->n <= step.sends) {
    if (reply.ok)
      d.action_done(i, reply);
    else if (ref->n == step.sends && latest_out)
      d.action_failed(i, reply.code, reply.error, false);
    else
      return d.ignored();
    return d.take();
  }
  if (ref->compensation && inst.status == saga_status::compensating &&
      i == inst.undo && step.status == step_status::compensating &&
      ref->n <= step.compensation_sends) {
    if (reply.ok)
      d.compensation_done(i);
    else if (ref->n == step.compensation_sends && latest_out)
      d.compensation_failed(i, reply.error);
    else
      return d.ignored();
    return d.take();
  }
  return d.ignored();
}

saga_effects on_timer(const saga_definition& def, saga_instance& inst,
                      const std::string& timer_id, int64_t now_ms) {
  decision d{def, inst, now_ms};
  if (finished(inst) || inst.steps.size() != def.steps.size())
    return d.ignored();
  std::size_t i = 0;
  while (i < inst.steps.size() &&
         !(inst.steps[i].timer && inst.steps[i].timer->id == timer_id))
    ++i;
  if (i == inst.steps.size())
    return d.ignored();
  auto& step = inst.steps[i];
  auto fired = *step.timer;
  step.timer.reset(); // It fired: nothing to cancel.
  bool timeout = fired.what == saga_timer::kind::timeout;
  const auto& sdef = def.steps[i];
  if (step.status == step_status::running) {
    auto deadline = step.started_ms + sdef.deadline_ms;
    if (!timeout)
      d.send_action(i);
    else if (sdef.deadline_ms > 0 && now_ms >= deadline)
      d.action_failed(i, "timeout",
                      "no reply within the step's deadline of " +
                        std::to_string(sdef.deadline_ms) + " ms",
                      true);
    else
      d.action_failed(
        i, "timeout",
        "no reply within " + std::to_string(sdef.timeout_ms) + " ms", true);
    return d.take();
  }
  if (step.status == step_status::compensating) {
    if (timeout)
      d.compensation_failed(i, "no reply within " +
                                 std::to_string(def.compensation_timeout_ms) +
                                 " ms");
    else
      d.send_compensation(i);
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
  auto& step = inst.steps[inst.undo];
  step.budget_from = step.compensation_sends;
  d.event("resumed", def.steps[inst.undo].id);
  d.send_compensation(inst.undo);
  return d.take();
}

saga_effects abort_saga(const saga_definition& def, saga_instance& inst,
                        const std::string& why, int64_t now_ms) {
  decision d{def, inst, now_ms};
  if (inst.status == saga_status::running) {
    // The group's actions may have been applied: out, or backing off.
    for (std::size_t i = 0; i < def.steps.size(); ++i) {
      auto& step = inst.steps[i];
      if (def.steps[i].group != inst.current ||
          step.status != step_status::running)
        continue;
      d.cancel_timer(i);
      step.status = step_status::failed;
      step.maybe_applied = step.sends > 0;
      step.ended_ms = now_ms;
    }
    d.compensate("aborted: " + why);
    return d.take();
  }
  if (inst.status == saga_status::stuck) {
    inst.status = saga_status::failed;
    inst.error = "aborted while stuck: " + why;
    d.cancel_all();
    d.event("failed", {}, inst.error);
    return d.take();
  }
  return d.ignored();
}

} // namespace warren::actors
