#include "saga/saga_codec.hpp"

#include <boost/json/object.hpp>

namespace warren::actors {

namespace {

// 2: a timer per step, and the step being undone; 1 (read only): one timer
// per saga, `current` the step being run or undone.
constexpr int64_t codec_version = 2;

template<class Enum>
std::optional<Enum> enum_of(const boost::json::value* v, Enum last) {
  const auto* s = v != nullptr ? v->if_string() : nullptr;
  if (s == nullptr)
    return std::nullopt;
  for (int i = 0; i <= static_cast<int>(last); ++i)
    if (*s == to_string(static_cast<Enum>(i)))
      return static_cast<Enum>(i);
  return std::nullopt;
}

// Reads an integer member into `out`; false when missing or not one.
template<class Int>
bool integer(const boost::json::object& o, const char* key, Int& out) {
  const auto* v = o.if_contains(key);
  if (v == nullptr)
    return false;
  if (const auto* n = v->if_int64(); n != nullptr && *n >= 0) {
    out = static_cast<Int>(*n);
    return true;
  }
  if (const auto* u = v->if_uint64()) {
    out = static_cast<Int>(*u);
    return true;
  }
  return false;
}

std::string text(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  const auto* s = v != nullptr ? v->if_string() : nullptr;
  return s != nullptr ? std::string{*s} : std::string{};
}

boost::json::object encode_timer(const saga_timer& timer) {
  return {
    {"id", timer.id},
    {"due_ms", timer.due_ms},
    {"kind", timer.what == saga_timer::kind::timeout ? "timeout" : "backoff"}};
}

std::optional<saga_timer> decode_timer(const boost::json::value& v) {
  const auto* to = v.if_object();
  saga_timer timer;
  if (to == nullptr || !integer(*to, "due_ms", timer.due_ms))
    return std::nullopt;
  timer.id = text(*to, "id");
  auto kind = text(*to, "kind");
  if (timer.id.empty() || (kind != "timeout" && kind != "backoff"))
    return std::nullopt;
  timer.what =
    kind == "timeout" ? saga_timer::kind::timeout : saga_timer::kind::backoff;
  return timer;
}

} // namespace

boost::json::value encode_instance(const saga_instance& inst) {
  boost::json::array steps;
  for (const auto& s : inst.steps) {
    boost::json::object step{{"status", to_string(s.status)},
                             {"sends", s.sends},
                             {"compensation_sends", s.compensation_sends},
                             {"budget_from", s.budget_from},
                             {"maybe_applied", s.maybe_applied},
                             {"result", s.result},
                             {"error", s.error},
                             {"started_ms", s.started_ms},
                             {"ended_ms", s.ended_ms}};
    if (s.timer)
      step["timer"] = encode_timer(*s.timer);
    steps.push_back(std::move(step));
  }
  boost::json::object out{{"v", codec_version},
                          {"saga_id", inst.saga_id},
                          {"status", to_string(inst.status)},
                          {"current", inst.current},
                          {"undo", inst.undo},
                          {"steps", std::move(steps)},
                          {"events", inst.events},
                          {"timers", inst.timers},
                          {"error", inst.error}};
  return out;
}

std::optional<saga_instance> decode_instance(const boost::json::value& v,
                                             std::string& why) {
  auto fail = [&](const std::string& what) {
    why = "a saga instance: " + what;
    return std::nullopt;
  };
  const auto* o = v.if_object();
  if (o == nullptr)
    return fail("not a JSON object");
  int64_t version = 0;
  if (!integer(*o, "v", version) || version < 1 || version > codec_version)
    return fail("version " + std::to_string(version) +
                ", this build reads 1 to " + std::to_string(codec_version));
  saga_instance inst;
  inst.saga_id = text(*o, "saga_id");
  if (inst.saga_id.empty())
    return fail("no saga_id");
  auto status = enum_of(o->if_contains("status"), saga_status::stuck);
  if (!status)
    return fail("unknown status");
  inst.status = *status;
  if (!integer(*o, "current", inst.current) ||
      !integer(*o, "events", inst.events) ||
      !integer(*o, "timers", inst.timers))
    return fail("current, events and timers must be counts");
  inst.error = text(*o, "error");
  const auto* steps = o->if_contains("steps");
  if (steps == nullptr || !steps->is_array())
    return fail("no steps");
  for (const auto& sv : steps->get_array()) {
    const auto* so = sv.if_object();
    if (so == nullptr)
      return fail("a step is not an object");
    step_state s;
    auto st = enum_of(so->if_contains("status"), step_status::compensated);
    if (!st || !integer(*so, "sends", s.sends) ||
        !integer(*so, "compensation_sends", s.compensation_sends) ||
        !integer(*so, "budget_from", s.budget_from))
      return fail("a step's status or counts cannot be read");
    s.status = *st;
    if (const auto* m = so->if_contains("maybe_applied"))
      s.maybe_applied = m->is_bool() && m->get_bool();
    if (const auto* r = so->if_contains("result"))
      s.result = *r;
    s.error = text(*so, "error");
    if (const auto* t = so->if_contains("timer")) {
      s.timer = decode_timer(*t);
      if (!s.timer)
        return fail("a step's timer cannot be read");
    }
    // Absent in rows written before they were kept.
    integer(*so, "started_ms", s.started_ms);
    integer(*so, "ended_ms", s.ended_ms);
    inst.steps.push_back(std::move(s));
  }
  if (version == 1) {
    // One step at a time: the current step is the one being undone too,
    // and the saga's one timer is its.
    inst.undo = inst.current;
    if (const auto* t = o->if_contains("timer")) {
      auto timer = decode_timer(*t);
      if (!timer || inst.current >= inst.steps.size())
        return fail("a timer cannot be read");
      inst.steps[inst.current].timer = timer;
    }
  } else if (!integer(*o, "undo", inst.undo)) {
    return fail("undo must be a count");
  }
  if (inst.current > inst.steps.size() ||
      (!inst.steps.empty() && inst.undo >= inst.steps.size()))
    return fail("current or undo step out of range");
  return inst;
}

} // namespace warren::actors
