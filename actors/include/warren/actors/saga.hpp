#pragma once

/// Sagas defined in C++: what a `saga` actor's config `definitions` say,
/// plus branches, functions that choose what runs after a group of steps
/// from the saga's data and its completed steps' results.
///
/// ~~~
/// WARREN_PLUGIN(registry) {
///   warren::saga_spec order{"order"};
///   order.step({"create", {"orders", "create_order"}, {{"orders",
///   "cancel_order"}}})
///     .step({"reserve", {"inventory", "reserve"}, {{"inventory", "release"}}})
///     .step({"charge", {"payment", "charge"}, {{"payment", "refund"}}})
///     .branch_after("create", [](const warren::saga_view& saga) {
///       // Digital goods need no stock.
///       return saga.data().at("digital").as_bool()
///                ? warren::saga_choice::go_to("charge")
///                : warren::saga_choice::next();
///     });
///   warren::add_saga_kind(registry, "shop.sagas", {order});
/// }
/// ~~~
///
/// `add_saga_kind` registers a kind that is the built-in `saga` kind (same
/// options, requests, tables, guarantees: README.md, "Sagas") with these
/// definitions besides its config's. A saga stores its definition's
/// config form when it starts; a C++ definition's branches are code, so a
/// saga in flight takes the branches of the code that runs it now.
/// Branches may only go forward (to the first step of a later group):
/// compensation undoes completed steps in reverse step order.

#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace warren {

class registry;

/// A command a step sends: to `actor` (by name, through `warren.actors`),
/// of message type `type`, with `body` (null: the saga's data).
struct saga_command_spec {
  std::string actor;
  std::string type;
  boost::json::value body;
};

/// One step (README.md, "Sagas"; the defaults are the config's).
struct saga_step_spec {
  std::string id;
  saga_command_spec action;
  std::optional<saga_command_spec> compensation;
  /// Per send.
  std::chrono::milliseconds timeout{30000};
  /// Overall, from the first send; zero: none.
  std::chrono::milliseconds deadline{0};
  /// Sends after the first.
  uint32_t retries = 3;
  std::chrono::milliseconds backoff{1000};
  std::chrono::milliseconds max_backoff{60000};
  /// Error codes never retried.
  std::vector<std::string> final_codes{"refused", "validation_failed",
                                       "unknown_type"};
};

/// What a branch sees of its saga.
class saga_view {
 public:
  virtual ~saga_view();
  virtual const std::string& saga_id() const = 0;
  /// What the saga started with.
  virtual const boost::json::value& data() const = 0;
  /// The result (the participant's reply) of step `step_id` if it
  /// completed, else nullptr.
  virtual const boost::json::value*
  result(const std::string& step_id) const = 0;
};

/// What a branch chooses.
class saga_choice {
 public:
  enum class kind : uint8_t { next, go_to, finish, fail };

  /// The next group, in order.
  static saga_choice next() { return saga_choice{kind::next, {}}; }
  /// The group whose first step is `step_id`: a later one, or the saga
  /// fails saying so.
  static saga_choice go_to(std::string step_id) {
    return saga_choice{kind::go_to, std::move(step_id)};
  }
  /// Nothing more: the saga completes.
  static saga_choice finish() { return saga_choice{kind::finish, {}}; }
  /// The saga fails (`why` in its error): what completed is compensated.
  static saga_choice fail(std::string why) {
    return saga_choice{kind::fail, std::move(why)};
  }

  kind what() const noexcept { return what_; }
  /// The step (go_to) or the reason (fail).
  const std::string& text() const noexcept { return text_; }

 private:
  saga_choice(kind what, std::string text)
    : what_(what), text_(std::move(text)) {}
  kind what_;
  std::string text_;
};

using saga_branch_fn = std::function<saga_choice(const saga_view&)>;

/// A saga definition.
class saga_spec {
 public:
  explicit saga_spec(std::string name) : name_(std::move(name)) {}

  /// A step, run after the ones before it.
  saga_spec& step(saga_step_spec s) {
    groups_.push_back({std::move(s)});
    return *this;
  }

  /// Steps sent together; the saga goes on when all of them completed.
  saga_spec& parallel(std::vector<saga_step_spec> steps) {
    groups_.push_back(std::move(steps));
    return *this;
  }

  /// After the group of step `step_id` completes, `fn` chooses what runs.
  saga_spec& branch_after(std::string step_id, saga_branch_fn fn) {
    branches_.emplace_back(std::move(step_id), std::move(fn));
    return *this;
  }

  /// How often a compensation is tried before the saga is stuck.
  saga_spec& compensation_retry(
    uint32_t retries, std::chrono::milliseconds backoff,
    std::chrono::milliseconds max_backoff = std::chrono::milliseconds{60000}) {
    compensation_retries_ = retries;
    compensation_backoff_ = backoff;
    compensation_max_backoff_ = max_backoff;
    return *this;
  }

  saga_spec& compensation_timeout(std::chrono::milliseconds timeout) {
    compensation_timeout_ = timeout;
    return *this;
  }

  /// Whether a step whose action timed out is compensated (default true).
  saga_spec& compensate_on_timeout(bool yes) {
    compensate_on_timeout_ = yes;
    return *this;
  }

  const std::string& name() const noexcept { return name_; }
  const std::vector<std::vector<saga_step_spec>>& groups() const noexcept {
    return groups_;
  }
  const std::vector<std::pair<std::string, saga_branch_fn>>&
  branches() const noexcept {
    return branches_;
  }
  uint32_t compensation_retries() const noexcept {
    return compensation_retries_;
  }
  std::chrono::milliseconds compensation_backoff() const noexcept {
    return compensation_backoff_;
  }
  std::chrono::milliseconds compensation_max_backoff() const noexcept {
    return compensation_max_backoff_;
  }
  std::chrono::milliseconds compensation_timeout() const noexcept {
    return compensation_timeout_;
  }
  bool compensate_on_timeout() const noexcept { return compensate_on_timeout_; }

 private:
  std::string name_;
  std::vector<std::vector<saga_step_spec>> groups_;
  std::vector<std::pair<std::string, saga_branch_fn>> branches_;
  uint32_t compensation_retries_ = 5;
  std::chrono::milliseconds compensation_backoff_{1000};
  std::chrono::milliseconds compensation_max_backoff_{60000};
  std::chrono::milliseconds compensation_timeout_{30000};
  bool compensate_on_timeout_ = true;
};

/// Registers `kind`: the `saga` kind with `specs` as definitions besides
/// the config's. Throws std::invalid_argument naming what is wrong (a bad
/// or repeated step id, an empty group, a branch after an unknown step,
/// two definitions of one name); a config definition of the same name as
/// one of these fails the actor's start.
void add_saga_kind(registry& kinds, std::string kind,
                   std::vector<saga_spec> specs);

} // namespace warren
