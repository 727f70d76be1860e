#include "saga/saga_codec.hpp"

#include <boost/json/object.hpp>

namespace warren::actors {

namespace {

constexpr int64_t codec_version = 1;

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

} // namespace

boost::json::value encode_instance(const saga_instance& inst) {
  boost::json::array steps;
  for (const auto& s : inst.steps)
    steps.push_back(
      boost::json::object{{"status", to_string(s.status)},
                          {"sends", s.sends},
                          {"compensation_sends", s.compensation_sends},
                          {"budget_from", s.budget_from},
                          {"maybe_applied", s.maybe_applied},
                          {"result", s.result},
                          {"error", s.error},
                          {"started_ms", s.started_ms},
                          {"ended_ms", s.ended_ms}});
  boost::json::object out{{"v", codec_version},
                          {"saga_id", inst.saga_id},
                          {"status", to_string(inst.status)},
                          {"current", inst.current},
                          {"steps", std::move(steps)},
                          {"events", inst.events},
                          {"timers", inst.timers},
                          {"error", inst.error}};
  if (inst.timer)
    out["timer"] = boost::json::object{
      {"id", inst.timer->id},
      {"due_ms", inst.timer->due_ms},
      {"kind",
       inst.timer->what == saga_timer::kind::timeout ? "timeout" : "backoff"}};
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
  if (!integer(*o, "v", version) || version != codec_version)
    return fail("version " + std::to_string(version) + ", this build reads " +
                std::to_string(codec_version));
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
    // Absent in rows written before they were kept.
    integer(*so, "started_ms", s.started_ms);
    integer(*so, "ended_ms", s.ended_ms);
    inst.steps.push_back(std::move(s));
  }
  if (inst.current > inst.steps.size())
    return fail("current step out of range");
  if (const auto* t = o->if_contains("timer")) {
    const auto* to = t->if_object();
    saga_timer timer;
    if (to == nullptr || !integer(*to, "due_ms", timer.due_ms))
      return fail("a timer cannot be read");
    timer.id = text(*to, "id");
    auto kind = text(*to, "kind");
    if (timer.id.empty() || (kind != "timeout" && kind != "backoff"))
      return fail("a timer cannot be read");
    timer.what =
      kind == "timeout" ? saga_timer::kind::timeout : saga_timer::kind::backoff;
    inst.timer = timer;
  }
  return inst;
}

} // namespace warren::actors
