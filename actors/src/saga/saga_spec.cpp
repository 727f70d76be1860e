#include "saga/saga_spec.hpp"

#include "saga/saga_actor.hpp"
#include "saga/saga_definition.hpp"
#include "warren/runtime/registry.hpp"

#include <set>
#include <stdexcept>

namespace warren {

saga_view::~saga_view() = default;

} // namespace warren

namespace warren::actors {

namespace {

// A saga as a branch sees it.
class instance_view : public saga_view {
 public:
  instance_view(const saga_instance& inst, const boost::json::value& data,
                const std::vector<std::string>& step_ids)
    : inst_(inst), data_(data), step_ids_(step_ids) {}

  const std::string& saga_id() const override { return inst_.saga_id; }

  const boost::json::value& data() const override { return data_; }

  const boost::json::value* result(const std::string& step_id) const override {
    for (std::size_t i = 0; i < step_ids_.size() && i < inst_.steps.size(); ++i)
      if (step_ids_[i] == step_id)
        return inst_.steps[i].status == step_status::completed ||
                   inst_.steps[i].status == step_status::compensating ||
                   inst_.steps[i].status == step_status::compensated
                 ? &inst_.steps[i].result
                 : nullptr;
    return nullptr;
  }

 private:
  const saga_instance& inst_;
  const boost::json::value& data_;
  const std::vector<std::string>& step_ids_;
};

saga_call call_of(const saga_command_spec& spec) {
  return {spec.actor, spec.type, spec.body};
}

saga_branch wrap(saga_branch_fn fn, std::vector<std::string> step_ids) {
  return [fn = std::move(fn), ids = std::move(step_ids)](
           const saga_instance& inst, const boost::json::value& data) {
    instance_view view{inst, data, ids};
    auto choice = fn(view);
    switch (choice.what()) {
      case saga_choice::kind::next:
        return saga_next{saga_next::kind::next, {}, {}};
      case saga_choice::kind::go_to:
        return saga_next{saga_next::kind::step, choice.text(), {}};
      case saga_choice::kind::finish:
        return saga_next{saga_next::kind::finish, {}, {}};
      case saga_choice::kind::fail:
        break;
    }
    return saga_next{saga_next::kind::fail, {}, choice.text()};
  };
}

[[noreturn]] void refuse(const std::string& saga, const std::string& why) {
  throw std::invalid_argument("saga definition '" + saga + "': " + why);
}

saga_definition definition_of(const saga_spec& spec) {
  saga_definition def;
  def.name = spec.name();
  if (def.name.empty() || def.name.size() > 128)
    refuse(def.name, "a name is 1 to 128 bytes");
  std::set<std::string> ids;
  std::vector<std::string> step_ids;
  for (std::size_t g = 0; g < spec.groups().size(); ++g) {
    const auto& group = spec.groups()[g];
    if (group.empty())
      refuse(def.name, "group " + std::to_string(g) + " has no steps");
    for (const auto& step : group) {
      std::string why;
      if (!valid_step_id(step.id, why))
        refuse(def.name, "step '" + step.id + "': " + why);
      if (!ids.insert(step.id).second)
        refuse(def.name, "step id '" + step.id + "' is used twice");
      if (step.action.actor.empty() || step.action.type.empty())
        refuse(def.name, "step '" + step.id +
                           "': an action needs an actor "
                           "and a type");
      saga_step_definition s;
      s.id = step.id;
      s.group = g;
      s.action = call_of(step.action);
      if (step.compensation)
        s.compensation = call_of(*step.compensation);
      s.timeout_ms = step.timeout.count();
      s.deadline_ms = step.deadline.count();
      s.retry = {step.retries, step.backoff.count(), step.max_backoff.count(),
                 step.final_codes};
      if (s.timeout_ms < 1 || s.retry.backoff_ms < 1 || s.deadline_ms < 0)
        refuse(def.name, "step '" + step.id +
                           "': timeouts and backoffs are "
                           "positive");
      def.steps.push_back(std::move(s));
      step_ids.push_back(step.id);
    }
  }
  for (const auto& [after, fn] : spec.branches()) {
    auto it = std::find(step_ids.begin(), step_ids.end(), after);
    if (it == step_ids.end())
      refuse(def.name, "a branch after '" + after + "', which is no step");
    auto group =
      def.steps[static_cast<std::size_t>(it - step_ids.begin())].group;
    if (def.branches.count(group) > 0)
      refuse(def.name, "two branches after the group of '" + after + "'");
    def.branches[group] = wrap(fn, step_ids);
  }
  def.compensation_retry = {spec.compensation_retries(),
                            spec.compensation_backoff().count(),
                            spec.compensation_max_backoff().count(),
                            {}};
  def.compensation_timeout_ms = spec.compensation_timeout().count();
  def.compensate_on_timeout = spec.compensate_on_timeout();
  return def;
}

} // namespace

std::vector<saga_definition>
definitions_of(const std::vector<saga_spec>& specs) {
  std::vector<saga_definition> out;
  std::set<std::string> names;
  for (const auto& spec : specs) {
    if (!names.insert(spec.name()).second)
      refuse(spec.name(), "defined twice");
    out.push_back(definition_of(spec));
  }
  return out;
}

} // namespace warren::actors

namespace warren {

void add_saga_kind(registry& kinds, std::string kind,
                   std::vector<saga_spec> specs) {
  auto defs = std::make_shared<const std::vector<actors::saga_definition>>(
    actors::definitions_of(specs));
  kind_traits traits;
  traits.check_options = [](config::object_reader& options) {
    actors::saga_actor::check_options(options);
  };
  kinds.add_stateful_kind(
    std::move(kind),
    [defs](const actor_init& init) {
      return std::unique_ptr<stateful_base>{
        new actors::saga_actor(init, *defs)};
    },
    std::move(traits));
}

} // namespace warren
