#include "saga/saga_definition.hpp"

#include "warren/config/reader.hpp"
#include "warren/core/errc.hpp"

#include <boost/json/object.hpp>
#include <set>

namespace warren::actors {

namespace {

constexpr std::size_t max_step_id = 64;
constexpr std::size_t max_saga_id = 128;
constexpr config::int_range durations{1, 7 * 24 * 3600 * 1000LL};
constexpr config::int_range retries{0, 1000};

void read_retry(config::object_reader& o, retry_rule& rule) {
  o.allow({"max", "backoff_ms", "max_backoff_ms", "final"});
  o.integer("max", retries, rule.max);
  o.integer("backoff_ms", durations, rule.backoff_ms);
  o.integer("max_backoff_ms", durations, rule.max_backoff_ms);
  if (const auto* codes = o.array("final")) {
    rule.final_codes.clear();
    for (std::size_t i = 0; i < codes->size(); ++i)
      if (auto code = o.reader().string(
            (*codes)[i], o.path_of("final") + "[" + std::to_string(i) + "]",
            config::text_rule::non_empty))
        rule.final_codes.push_back(*code);
  }
}

std::optional<saga_call> read_call(config::object_reader& step,
                                   std::string_view key) {
  auto o = step.object(key);
  if (!o)
    return std::nullopt;
  o->allow({"actor", "type", "body"});
  saga_call call;
  if (!o->require("actor") ||
      !o->string("actor", call.actor, config::text_rule::non_empty))
    return std::nullopt;
  if (!o->require("type") ||
      !o->string("type", call.type, config::text_rule::non_empty))
    return std::nullopt;
  if (const auto* body = o->find("body"))
    call.body = *body;
  return call;
}

boost::json::object encode_retry(const retry_rule& rule) {
  boost::json::array codes;
  for (const auto& code : rule.final_codes)
    codes.emplace_back(code);
  return {{"max", static_cast<int64_t>(rule.max)},
          {"backoff_ms", rule.backoff_ms},
          {"max_backoff_ms", rule.max_backoff_ms},
          {"final", std::move(codes)}};
}

boost::json::object encode_call(const saga_call& call) {
  boost::json::object out{{"actor", call.actor}, {"type", call.type}};
  if (!call.body.is_null())
    out["body"] = call.body;
  return out;
}

} // namespace

boost::json::value encode_saga_definition(const saga_definition& def) {
  boost::json::array steps;
  for (std::size_t i = 0; i < def.steps.size();) {
    boost::json::array group;
    auto g = def.steps[i].group;
    for (; i < def.steps.size() && def.steps[i].group == g; ++i) {
      const auto& step = def.steps[i];
      boost::json::object s{{"id", step.id},
                            {"action", encode_call(step.action)},
                            {"timeout_ms", step.timeout_ms},
                            {"retry", encode_retry(step.retry)}};
      if (step.deadline_ms > 0)
        s["deadline_ms"] = step.deadline_ms;
      if (step.compensation)
        s["compensation"] = encode_call(*step.compensation);
      group.push_back(std::move(s));
    }
    if (group.size() == 1)
      steps.push_back(std::move(group[0]));
    else
      steps.push_back(boost::json::object{{"parallel", std::move(group)}});
  }
  return boost::json::object{
    {"steps", std::move(steps)},
    {"compensation_retry", encode_retry(def.compensation_retry)},
    {"compensation_timeout_ms", def.compensation_timeout_ms},
    {"compensate_on_timeout", def.compensate_on_timeout}};
}

std::optional<saga_definition>
decode_saga_definition(const std::string& name, const boost::json::value& v,
                       std::string& why) {
  config::config_reader reader{"saga definition '" + name + "'"};
  auto o = reader.object(v, "$");
  auto def = o ? read_saga_definition(*o, name) : std::nullopt;
  if (!reader.ok())
    why = describe(reader.error());
  return reader.ok() ? def : std::nullopt;
}

bool valid_step_id(const std::string& id, std::string& why) {
  if (id.empty() || id.size() > max_step_id ||
      id.find('/') != std::string::npos) {
    why = "expected a step id of 1 to 64 bytes without '/'";
    return false;
  }
  return true;
}

bool valid_saga_id(const std::string& id, std::string& why) {
  if (id.empty() || id.size() > max_saga_id) {
    why = "expected a saga id of 1 to 128 bytes";
    return false;
  }
  return true;
}

namespace {

// One step at `path` (a member of `steps`, or of a parallel group), in
// group `group`; nullopt on an error (recorded in o's reader).
std::optional<saga_step_definition> read_step(config::object_reader& o,
                                              const boost::json::value& v,
                                              const std::string& path,
                                              std::size_t group,
                                              std::set<std::string>& ids) {
  auto step = o.reader().object(v, path);
  if (!step)
    return std::nullopt;
  step->allow(
    {"id", "action", "compensation", "timeout_ms", "deadline_ms", "retry"});
  saga_step_definition s;
  s.group = group;
  // A participant's refusal, or a command it cannot take, is its answer:
  // sending it again changes nothing (unless `final` says otherwise).
  s.retry.final_codes = {"refused", "validation_failed", "unknown_type"};
  if (!step->require("id") ||
      !step->string("id", s.id, config::text_rule::non_empty))
    return std::nullopt;
  std::string why;
  if (!valid_step_id(s.id, why)) {
    o.reader().fail(step->path_of("id"), why);
    return std::nullopt;
  }
  if (!ids.insert(s.id).second) {
    o.reader().fail(step->path_of("id"),
                    "the step id '" + s.id + "' is used by an earlier step");
    return std::nullopt;
  }
  if (!step->require("action"))
    return std::nullopt;
  auto action = read_call(*step, "action");
  if (!action)
    return std::nullopt;
  s.action = std::move(*action);
  if (step->find("compensation") != nullptr) {
    s.compensation = read_call(*step, "compensation");
    if (!s.compensation)
      return std::nullopt;
  }
  step->integer("timeout_ms", durations, s.timeout_ms);
  step->integer("deadline_ms", durations, s.deadline_ms);
  if (auto retry = step->object("retry"))
    read_retry(*retry, s.retry);
  return s;
}

} // namespace

std::optional<saga_definition> read_saga_definition(config::object_reader& o,
                                                    const std::string& name) {
  o.allow({"steps", "compensation_retry", "compensation_timeout_ms",
           "compensate_on_timeout"});
  saga_definition def;
  def.name = name;
  const auto* steps =
    o.require("steps") != nullptr ? o.array("steps") : nullptr;
  if (steps == nullptr)
    return std::nullopt;
  std::set<std::string> ids;
  for (std::size_t i = 0; i < steps->size(); ++i) {
    auto path = o.path_of("steps") + "[" + std::to_string(i) + "]";
    const auto* entry = (*steps)[i].if_object();
    const auto* parallel =
      entry != nullptr ? entry->if_contains("parallel") : nullptr;
    if (parallel == nullptr) {
      auto step = read_step(o, (*steps)[i], path, i, ids);
      if (!step)
        return std::nullopt;
      def.steps.push_back(std::move(*step));
      continue;
    }
    auto group = o.reader().object((*steps)[i], path);
    if (!group || !group->allow({"parallel"}))
      return std::nullopt;
    const auto* members = group->array("parallel");
    if (members == nullptr)
      return std::nullopt;
    if (members->size() < 2) {
      o.reader().fail(group->path_of("parallel"),
                      "expected at least 2 steps to run in parallel");
      return std::nullopt;
    }
    for (std::size_t k = 0; k < members->size(); ++k) {
      auto step = read_step(
        o, (*members)[k],
        group->path_of("parallel") + "[" + std::to_string(k) + "]", i, ids);
      if (!step)
        return std::nullopt;
      def.steps.push_back(std::move(*step));
    }
  }
  if (auto retry = o.object("compensation_retry"))
    read_retry(*retry, def.compensation_retry);
  o.integer("compensation_timeout_ms", durations, def.compensation_timeout_ms);
  o.boolean("compensate_on_timeout", def.compensate_on_timeout);
  if (!o.reader().ok())
    return std::nullopt;
  return def;
}

std::optional<seed_saga>
read_execute_saga(const boost::json::value& body,
                  const std::map<std::string, std::string>& routes,
                  std::string& why) {
  auto fail = [&](const std::string& path, const std::string& what) {
    why = path + ": " + what;
    return std::nullopt;
  };
  const auto* message = body.if_object();
  const auto* saga_v =
    message != nullptr ? message->if_contains("saga") : nullptr;
  const auto* saga = saga_v != nullptr ? saga_v->if_object() : nullptr;
  if (saga == nullptr)
    return fail("$.saga", "expected an object {\"saga_id\", \"steps\"}");
  auto text = [&](const boost::json::object& o, const char* key,
                  std::string& out) {
    const auto* v = o.if_contains(key);
    const auto* s = v != nullptr ? v->if_string() : nullptr;
    if (s == nullptr || s->empty())
      return false;
    out = std::string{*s};
    return true;
  };
  seed_saga result;
  if (!text(*saga, "saga_id", result.saga_id))
    return fail("$.saga.saga_id", "expected a non-empty string");
  if (!valid_saga_id(result.saga_id, why))
    return fail("$.saga.saga_id", why);
  const auto* steps_v = saga->if_contains("steps");
  const auto* steps = steps_v != nullptr ? steps_v->if_array() : nullptr;
  if (steps == nullptr)
    return fail("$.saga.steps", "expected an array of steps");
  result.definition.name = "execute_saga";
  std::set<std::string> ids;
  for (std::size_t i = 0; i < steps->size(); ++i) {
    auto path = "$.saga.steps[" + std::to_string(i) + "]";
    const auto* step = (*steps)[i].if_object();
    if (step == nullptr)
      return fail(path, "expected an object");
    saga_step_definition s;
    if (!text(*step, "step_id", s.id))
      return fail(path + ".step_id", "expected a non-empty string");
    if (!valid_step_id(s.id, why))
      return fail(path + ".step_id", why);
    if (!ids.insert(s.id).second)
      return fail(path + ".step_id",
                  "the step id '" + s.id + "' is used by an earlier step");
    auto call_of = [&](const char* name_key, const char* data_key,
                       saga_call& call) -> bool {
      if (!text(*step, name_key, call.type)) {
        why = path + "." + name_key + ": expected a non-empty string";
        return false;
      }
      auto route = routes.find(call.type);
      if (route == routes.end()) {
        why = path + "." + name_key + ": no route for '" + call.type +
              "' (the saga actor's options.execute_saga.routes)";
        return false;
      }
      call.actor = route->second;
      const auto* data = step->if_contains(data_key);
      call.body = data != nullptr ? *data : boost::json::object{};
      return true;
    };
    if (!call_of("action_name", "action_data", s.action))
      return std::nullopt;
    saga_call compensation;
    if (!call_of("compensate_name", "compensate_data", compensation))
      return std::nullopt;
    s.compensation = std::move(compensation);
    s.retry.max = 3;
    s.retry.backoff_ms = 2000;
    s.timeout_ms = 300000;
    if (const auto* m = step->if_contains("max_retries")) {
      const auto* n = m->if_int64();
      if (n == nullptr || *n < 0 || *n > 1000)
        return fail(path + ".max_retries", "expected an integer 0 to 1000");
      s.retry.max = static_cast<uint32_t>(*n);
    }
    if (const auto* t = step->if_contains("timeout")) {
      const auto* n = t->if_int64();
      if (n == nullptr || *n < 1 || *n > 7 * 24 * 3600)
        return fail(path + ".timeout", "expected seconds, 1 to 604800");
      s.timeout_ms = *n * 1000;
    }
    s.group = i;
    result.definition.steps.push_back(std::move(s));
  }
  return result;
}

} // namespace warren::actors
