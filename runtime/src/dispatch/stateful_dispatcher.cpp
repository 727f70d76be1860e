// The stateful dispatcher: runs a stateful actor instance's handlers in its
// consumer's thread, with effectively-once state (see stateful.hpp).
//
// Per delivery: admission; de-duplication (its id in the unit of work being
// built, or in the store's inbox; for an id-less message, the redelivery of
// one applied and not yet acked, anonymous_ledger.hpp: acked without running
// the handler); the
// handler on a copy of its key's state; on success the new state, the inbox
// record and the outbox rows (stable ids) join the unit of work. The unit
// commits in one transaction (group commit: by count, by time, or when the
// consumer goes quiet); only then are its deliveries answered (acked) and
// its outbox rows handed to the outbox relay. A commit that fails is retried
// with backoff while nothing of the batch is acked; the deliveries stay
// unacked in the broker meanwhile (prefetch bounds them).
//
// A stream operator (stream_operator.hpp) takes the same path with its own
// state: `apply` changes its memory in place instead of a handler changing a
// copy of a key's JSON state, `checkpoint` writes its rows into each unit of
// work, `restore` rebuilds it from them at start, its ticks commit in a unit
// of their own, and while it is not `accepting` deliveries wait unapplied.
//
// An operator also takes batched envelopes whole (`whole_batches`): the
// entries are applied one after the other with one context, without an
// envelope, a scope or an inbox record each. The entries without an id of
// their own share one inbox record, `<batch id>#*`, when they all succeed;
// otherwise each applied one is recorded alone (`<batch id>#<index>`, as
// the batch splitter's entries are), so that only the failed ones are
// applied when the batch comes back. One range read of the inbox finds
// both. Entries with ids of their own are checked and recorded one by one.
// A whole batch joins one unit of work (never split over two commits).

#include "dispatch/admission.hpp"
#include "dispatch/anonymous_ledger.hpp"
#include "dispatch/batch_settlement.hpp"
#include "dispatch/dispatchers.hpp"
#include "dispatch/operator_support.hpp"
#include "dispatch/settle.hpp"
#include "outbox/relay.hpp"
#include "store/store_observer.hpp"
#include "warren/core/json_read.hpp"
#include "warren/core/kill_point.hpp"
#include "warren/core/log.hpp"
#include "warren/core/text.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <deque>
#include <limits>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace warren::detail {

namespace {

// Commits between inbox prunings.
constexpr uint64_t prune_every = 1000;
// Confirmed outbox rows are deleted with the next batch; when no batch comes
// they get a transaction of their own after this long.
constexpr std::chrono::milliseconds cleanup_delay{1000};

class stateful_dispatcher : public bridges::delivery_handler,
                            public whole_batches {
 public:
  stateful_dispatcher(std::shared_ptr<stateful_base> user,
                      dispatch_services services, stateful_settings settings)
    : user_(std::move(user)),
      operator_(dynamic_cast<stream_operator*>(user_.get())),
      row_prefix_(row_prefix(user_->init())), settings_(std::move(settings)),
      instance_(std::make_shared<instance_scope>()), work_(user_->name()),
      relay_(user_->name(), services.node_name, settings_.dispatch.queue),
      anonymous_(settings_.anonymous_window, settings_.max_anonymous),
      observer_(settings_.metrics, settings_.store.path) {
    instance_->services = std::move(services);
    instance_->settings = settings_.dispatch;
    instance_->user = user_.get();
    instance_->stateful = true;
    instance_->again = [this](bridges::consumer_host& host,
                              bridges::delivery msg,
                              std::function<void(bridges::settlement)> done) {
      run(host, std::move(msg), std::move(done));
    };
    user_->setup_json_state(table_);
  }

  ~stateful_dispatcher() override {
    // Outbox rows the broker confirmed leave the outbox now rather than be
    // published again by the next instance. The batch being built is not
    // committed: its deliveries were not acked and come back. (A shard
    // owner's outbox is not in the file.)
    if (!store_ || settings_.committer ||
        (!relay_.has_confirmed() && !has_forgotten()))
      return;
    runtime::unit_of_work deletes{user_->name()};
    deletes.relayed(relay_.take_confirmed());
    deletes.forget_anonymous(work_.take_forgotten_anonymous());
    if (auto err = store_->commit(deletes))
      log::warning(log::scope{user_->name()},
                   "deleting confirmed outbox rows: {}", describe(err));
  }

  // On the consumer's own thread, before it connects: the store may block.
  caf::error start(bridges::consumer_host&) override {
    auto store = runtime::checkpoint_store::open(settings_.store);
    if (!store)
      return store.error();
    store_ = std::move(*store);
    // What a previous instance committed but did not see confirmed goes out
    // before anything new.
    auto pending = store_->pending_outbox(
      user_->name(), std::numeric_limits<std::size_t>::max());
    if (!pending)
      return pending.error();
    relay_.restore(std::move(*pending));
    // Id-less messages applied but not seen acked: their redeliveries are
    // expected.
    auto unacked = store_->unacked_anonymous(user_->name());
    if (!unacked)
      return unacked.error();
    anonymous_.restore(std::move(*unacked), anonymous_ledger::clock::now());
    if (operator_ != nullptr) {
      reader_ = std::make_unique<store_reader>(*store_);
      if (auto err = operator_->open(*reader_))
        return err;
      reader_->opened();
      auto rows = store_->load_rows(user_->name(), row_prefix_);
      if (!rows)
        return rows.error();
      for (auto& row : *rows)
        row.first.erase(0, row_prefix_.size());
      if (auto err = operator_->restore(std::move(*rows)))
        return err;
    }
    if (observer_.enabled()) {
      auto inbox = store_->inbox_size(user_->name());
      observer_.opened(inbox ? *inbox : 0);
    }
    observer_.outbox(relay_.unconfirmed(), relay_.dead_lettered());
    return caf::none;
  }

  void handle(bridges::consumer_host& host, bridges::delivery msg,
              std::function<void(bridges::settlement)> done) override {
    kill_point("after_receive");
    relay(host);
    anonymous_.seen(msg->channel_generation, anonymous_ledger::clock::now());
    if (auto rejected = admit(*msg, instance_->admission())) {
      done(to_settlement(*rejected, *msg, user_->name(),
                         instance_->services.node_name));
      return;
    }
    if (operator_ != nullptr) {
      arm_tick(host);
      if (operator_->is_query(*msg)) {
        answer_query(host, std::move(msg), std::move(done));
        return;
      }
    }
    // In arrival order: once one waits, the ones behind it wait too.
    if (!held_.empty() || !accepting()) {
      held_.push_back({std::move(msg), std::move(done), {}, nullptr});
      return;
    }
    run(host, std::move(msg), std::move(done));
  }

  void idle(bridges::consumer_host& host) override {
    if (operator_ != nullptr)
      arm_tick(host);
    relay(host);
    observer_.outbox(relay_.unconfirmed(), relay_.dead_lettered());
    if (settings_.committer)
      settings_.committer->idle(host, relay_.unconfirmed());
    expire_anonymous();
    if (work_.messages() > 0) {
      commit(host);
    } else if ((relay_.has_confirmed() || has_forgotten()) && !cleanup_armed_) {
      cleanup_armed_ = true;
      host.after(cleanup_delay, [this, &host] {
        cleanup_armed_ = false;
        if (work_.messages() == 0)
          commit(host);
      });
    }
  }

  void acked(uint64_t generation, uint64_t tag, bool multiple) override {
    if (anonymous_.empty())
      return;
    std::vector<std::string> forgotten;
    anonymous_.acked(generation, tag, multiple, forgotten);
    if (!forgotten.empty())
      work_.forget_anonymous(std::move(forgotten));
  }

  bool takes_whole(const envelope& batch,
                   const std::vector<batch_entry_ref>& entries) override {
    // The entries of an id-less batch are recognised by their content, one
    // by one; a batch id so long that its entries' ids are hashed has no
    // common prefix to find them by.
    return operator_ != nullptr && !batch.anonymous &&
           entry_ids_share_prefix(batch.properties.message_id, entries.size());
  }

  void take_batch(bridges::consumer_host& host, const bridges::delivery& batch,
                  const std::vector<batch_entry_ref>& entries,
                  std::shared_ptr<batch_settlement> settle) override {
    kill_point("after_receive");
    relay(host);
    anonymous_.seen(batch->channel_generation, anonymous_ledger::clock::now());
    arm_tick(host);
    if (!held_.empty() || !accepting()) {
      held_.push_back({batch, nullptr, entries, std::move(settle)});
      return;
    }
    apply_batch(host, batch, entries, std::move(settle));
  }

 private:
  // Whether a delivery may be applied now: not while a unit is out with
  // the committer, nor while the operator says wait.
  bool accepting() const {
    return !committing_ && (operator_ == nullptr || operator_->accepting());
  }

  void drain_held(bridges::consumer_host& host) {
    while (!held_.empty() && accepting()) {
      auto next = std::move(held_.front());
      held_.pop_front();
      if (next.batch)
        apply_batch(host, next.msg, next.entries, std::move(next.batch));
      else
        run(host, std::move(next.msg), std::move(next.done));
    }
  }

  struct cached_state {
    boost::json::value state;
    int64_t version = 0;
  };

  // The stages after admission (an immediate retry starts here).
  void run(bridges::consumer_host& host, bridges::delivery msg,
           std::function<void(bridges::settlement)> done) {
    auto scope = open_scope(instance_, host, std::move(msg), std::move(done));
    if (!scope || is_duplicate(scope))
      return;
    const auto& env = scope->message();
    if (operator_ != nullptr) {
      scope->on_success = [this, &host](const scope_ptr& s) {
        stage_message(host, s);
      };
      run_in_context(scope,
                     [&](context& ctx) { return operator_->apply(ctx, env); });
      finish_if_done(scope);
      return;
    }
    auto found = user_->key_of(env);
    if (!found) {
      scope->failure =
        status::fail(errc::validation_failed, describe(found.error()), true);
      finish_if_done(scope);
      return;
    }
    auto key = std::move(*found);
    auto loaded = state_of(key);
    if (loaded.store_down) {
      run_later(host, scope);
      return;
    }
    auto* current = loaded.state;
    if (current == nullptr) {
      // This key's row alone: its messages fail (through the retry policy,
      // backing off); the other keys go on.
      scope->failure = status::fail(errc::store_failed, loaded.why, false);
      scope->back_off = true;
      finish_if_done(scope);
      return;
    }
    const auto* handler = table_.find(env.properties.type);
    if (handler == nullptr) {
      scope->failure = unknown_type(env);
      finish_if_done(scope);
      return;
    }
    // The handler works on a copy: a failure leaves the state untouched.
    auto next = std::make_shared<boost::json::value>(current->state);
    scope->on_success = [this, &host, key, next](const scope_ptr& s) {
      stage(host, s, key, std::move(*next));
    };
    run_in_context(
      scope, [&](context& ctx) { return (*handler)(ctx, *next, env.body); });
    // A NaN could not be stored as JSON and read back (strings that are not
    // UTF-8 can: states are read back byte for byte).
    if (auto what = unwritable_json(*next, false);
        what && scope->failure.is_ok())
      scope->failure = status::fail(
        errc::validation_failed,
        "the new state of key '" + key + "' would hold " + *what, true);
    finish_if_done(scope);
  }

  // A query: applied and answered at once, outside the unit of work (no
  // de-duplication, no inbox record, its replies published directly).
  void answer_query(bridges::consumer_host& host, bridges::delivery msg,
                    std::function<void(bridges::settlement)> done) {
    auto scope = open_scope(instance_, host, std::move(msg), std::move(done));
    if (!scope)
      return;
    scope->query = true;
    const auto& env = scope->message();
    run_in_context(scope,
                   [&](context& ctx) { return operator_->apply(ctx, env); });
    flush_effects(scope);
    finish_if_done(scope);
  }

  // The de-duplication stage: a message already applied is acked (with its
  // batch, when it is in the one being built) without running the handler.
  bool is_duplicate(const scope_ptr& scope) {
    const auto& env = scope->message();
    if (env.anonymous)
      return is_repeated_anonymous(scope);
    const auto& id = env.properties.message_id;
    if (work_.contains(id)) {
      waiting_.push_back(
        [scope] { answer(scope, outcome::already_applied()); });
      return true;
    }
    auto seen = store_->seen(user_->name(), id);
    if (!seen) {
      report_store_error(seen.error());
      run_later(*scope->host, scope);
      return true;
    }
    if (*seen)
      answer(scope, outcome::already_applied());
    return *seen;
  }

  // An id-less message is a duplicate only as the broker's redelivery of
  // one applied and given back unacked (anonymous_ledger.hpp).
  bool is_repeated_anonymous(const scope_ptr& scope) {
    const auto& env = scope->message();
    if (!env.redelivered ||
        !anonymous_.repeats(content_key(env), env.channel_generation,
                            env.delivery_tag))
      return false;
    log::debug(log::scope{user_->name()},
               "dropping the redelivery of an id-less message already "
               "applied");
    // What it repeats may be in the batch being built: answer with it.
    if (work_.messages() > 0)
      waiting_.push_back(
        [scope] { answer(scope, outcome::already_applied()); });
    else
      answer(scope, outcome::already_applied());
    return true;
  }

  void expire_anonymous() {
    if (anonymous_.empty())
      return;
    std::vector<std::string> forgotten;
    anonymous_.expire(anonymous_ledger::clock::now(), forgotten);
    if (!forgotten.empty())
      work_.forget_anonymous(std::move(forgotten));
  }

  bool has_forgotten() const { return !work_.forgotten_anonymous().empty(); }

  // The store cannot be read at all: the delivery runs again once it can,
  // after the store's backoff (as a failed commit does), holding its
  // prefetch slot meanwhile; nothing is acked or requeued in a loop.
  void run_later(bridges::consumer_host& host, const scope_ptr& scope) {
    scope->answered = true; // This scope ends; the delivery gets a new one.
    host.after(store_backoff(),
               [this, &host, msg = scope->msg, done = std::move(scope->done)] {
                 run(host, msg, done);
               });
  }

  // How long to wait before the store is tried again (doubling up to 5 s).
  std::chrono::milliseconds store_backoff() {
    auto delay = commit_backoff_;
    commit_backoff_ =
      std::min(commit_backoff_ * 2, std::chrono::milliseconds{5000});
    return delay;
  }

  // Messages applied in the unit being built (a batch's record stands for
  // many).
  std::size_t unit_messages() const { return work_.messages() + grouped_; }

  // An entry of a batch taken whole that failed: it goes through the retry
  // policy as a message of its own.
  struct failed_entry {
    std::size_t index;
    status why;
    outcome::lifecycle next;
  };

  // What became of each entry of a batch taken whole.
  enum class entry_mark : char { fresh, applied_before, applied_now };

  // The inbox record of a batch whose entries without ids all succeeded.
  static std::string whole_batch_record(const std::string& batch_id) {
    return batch_id + "#*";
  }

  // Which entries of `batch` were applied already: in the unit being
  // built or in the store. False when the store cannot be read.
  bool find_applied(const envelope& batch,
                    const std::vector<batch_entry_ref>& entries,
                    std::vector<entry_mark>& marks) {
    const auto& batch_id = batch.properties.message_id;
    marks.assign(entries.size(), entry_mark::fresh);
    const auto record = whole_batch_record(batch_id);
    std::vector<std::string> stored;
    bool whole = work_.contains(record);
    if (!whole) {
      auto found = store_->applied_in_batch(user_->name(), batch_id);
      if (!found) {
        report_store_error(found.error());
        return false;
      }
      stored = std::move(*found);
      whole = std::binary_search(stored.begin(), stored.end(), record);
    }
    bool in_unit = partly_applied_.count(batch_id) > 0;
    std::string id;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto& entry = entries[i];
      if (entry.id.empty()) {
        if (whole) {
          marks[i] = entry_mark::applied_before;
          continue;
        }
        if (stored.empty() && !in_unit)
          continue;
        id = batch_entry_id(batch_id, i);
        if (std::binary_search(stored.begin(), stored.end(), id) ||
            (in_unit && work_.contains(id)))
          marks[i] = entry_mark::applied_before;
        continue;
      }
      id.assign(entry.id);
      if (work_.contains(id)) {
        marks[i] = entry_mark::applied_before;
        continue;
      }
      auto seen = store_->seen(user_->name(), id);
      if (!seen) {
        report_store_error(seen.error());
        return false;
      }
      if (*seen)
        marks[i] = entry_mark::applied_before;
    }
    return true;
  }

  // A batch taken whole (see the top of the file).
  void apply_batch(bridges::consumer_host& host, const bridges::delivery& batch,
                   const std::vector<batch_entry_ref>& entries,
                   std::shared_ptr<batch_settlement> settle) {
    if (instance_->ended) {
      settle->group_requeued("the actor has ended", errc::actor_failed,
                             outcome::lifecycle::carry_on);
      return;
    }
    std::vector<entry_mark> marks;
    if (!find_applied(*batch, entries, marks)) {
      // As a single delivery would: again after the store's backoff,
      // holding its prefetch slot meanwhile.
      host.after(store_backoff(), [this, &host, batch, entries, settle] {
        apply_batch(host, batch, entries, settle);
      });
      return;
    }
    const auto& batch_id = batch->properties.message_id;
    // One envelope for every entry: its id, type and body change in turn
    // (the body is swapped in from the batch and back).
    auto entry = std::make_shared<envelope>();
    entry->properties = entry_properties(*batch);
    take_delivery_of(*entry, *batch);
    auto scope = open_scope(instance_, host, entry, nullptr);
    std::vector<failed_entry> failed;
    std::size_t done = 0;
    std::size_t duplicates = 0;
    std::size_t derived_done = 0;
    std::size_t taken = 0;
    for (; taken < entries.size(); ++taken) {
      const auto& ref = entries[taken];
      if (marks[taken] == entry_mark::applied_before) {
        ++duplicates;
        continue;
      }
      auto& props = entry->properties;
      if (ref.id.empty())
        props.message_id.assign(batch_id).append(1, '#').append(
          std::to_string(taken));
      else
        props.message_id.assign(ref.id);
      if (ref.type.empty())
        props.type.assign(batch->properties.type);
      else
        props.type.assign(ref.type);
      // The batch is this delivery's alone: its entry's body is lent to the
      // envelope, not copied.
      auto& body = const_cast<boost::json::value&>(*ref.body);
      entry->body.swap(body);
      scope->failure = status::ok();
      scope->made = 0;
      run_in_context(
        scope, [&](context& ctx) { return operator_->apply(ctx, *entry); });
      entry->body.swap(body);
      if (scope->failure.is_ok()) {
        marks[taken] = entry_mark::applied_now;
        ++done;
        if (ref.id.empty())
          ++derived_done;
        else
          work_.applied(props.message_id);
        for (auto& msg : scope->effects)
          work_.send(std::move(msg));
      } else {
        failed.push_back({taken, std::move(scope->failure), scope->next});
      }
      scope->effects.clear();
      if (scope->next != outcome::lifecycle::carry_on) {
        // ctx.stop() or an actor_failure: nothing after this entry runs.
        instance_->ended = true;
        ++taken;
        break;
      }
    }
    // The inbox records of the entries without ids of their own.
    bool every_derived = taken == entries.size();
    for (const auto& f : failed)
      every_derived = every_derived && !entries[f.index].id.empty();
    if (derived_done > 0 && every_derived) {
      work_.applied(whole_batch_record(batch_id));
      grouped_ += derived_done - 1;
    } else if (derived_done > 0) {
      for (std::size_t i = 0; i < taken; ++i)
        if (marks[i] == entry_mark::applied_now && entries[i].id.empty())
          work_.applied(batch_entry_id(batch_id, i));
      partly_applied_.insert(batch_id);
    }
    if (taken < entries.size()) {
      settle->expect_part();
      settle->group_requeued("the actor has ended", errc::actor_failed,
                             outcome::lifecycle::carry_on);
    }
    // Failed entries go through the retry policy only now that the others'
    // records are in the unit: an immediate retry that commits it commits
    // them too.
    const auto shared =
      failed.empty() ? message_properties{} : entry_properties(*batch);
    for (auto& f : failed) {
      settle->expect_part();
      auto single = entry_envelope(*batch, shared, entries[f.index], f.index);
      auto one = std::make_shared<message_scope>();
      one->instance = instance_;
      one->host = &host;
      one->msg = std::move(single);
      one->done = [settle](bridges::settlement s) {
        settle->entry_settled(std::move(s));
      };
      one->failure = std::move(f.why);
      one->next = f.next;
      finish_if_done(one);
    }
    auto next = scope->next;
    if (done == 0 && work_.messages() == 0) {
      settle->group_done(0, duplicates, next);
      return;
    }
    waiting_.push_back([settle, done, duplicates, next] {
      settle->group_done(done, duplicates, next);
    });
    staged(host);
  }

  struct loaded_state {
    cached_state* state = nullptr;
    /// The database could not be read (retry the delivery later).
    bool store_down = false;
    /// Why `state` is null when the store is up: the key's row is damaged.
    std::string why;
  };

  // The state of `key`, from the cache or the database.
  loaded_state state_of(const std::string& key) {
    if (auto i = cache_.find(key); i != cache_.end())
      return {&i->second, false, {}};
    auto stored = store_->load(user_->name(), key);
    if (!stored) {
      report_store_error(stored.error());
      return {nullptr, true, {}};
    }
    cached_state entry;
    if (*stored) {
      boost::json::error_code ec;
      // Strings a handler put in its state are stored as they are, also
      // when they are not UTF-8: read them back the same way.
      boost::json::parse_options bytes_as_they_are;
      bytes_as_they_are.allow_invalid_utf8 = true;
      entry.state = read_json((*stored)->state, ec, bytes_as_they_are);
      if (ec) {
        loaded_state damaged;
        damaged.why = "the stored state of key '" + key +
                      "' cannot be read: not JSON (" + ec.message() + ")";
        log::error(log::scope{user_->name()}, "{}", damaged.why);
        return damaged;
      }
      entry.version = (*stored)->version;
    } else {
      entry.state = user_->initial_state();
    }
    return {&cache_.emplace(key, std::move(entry)).first->second, false, {}};
  }

  // A message applied: its new state, inbox record and outbox rows join the
  // unit of work; it is answered when the unit commits.
  void stage(bridges::consumer_host& host, const scope_ptr& scope,
             const std::string& key, boost::json::value state) {
    auto& entry = cache_[key];
    if (entry.state != state) {
      // A handler that only read the state writes nothing.
      entry.state = std::move(state);
      ++entry.version;
      dirty_.insert(key);
    }
    stage_message(host, scope);
  }

  // The message's inbox record and outbox rows join the unit of work (its
  // state is in it already); it is answered when the unit commits.
  void stage_message(bridges::consumer_host& host, const scope_ptr& scope) {
    const auto& env = scope->message();
    const auto& id = env.properties.message_id;
    if (env.anonymous) {
      auto content = content_key(env);
      anonymous_.applied(id, content, env.channel_generation, env.delivery_tag);
      work_.applied_anonymous(id, std::move(content));
    } else {
      work_.applied(id);
    }
    // Their ids are stable (`make_outgoing`): a message applied again after
    // a crash sends the same ids.
    for (auto& msg : scope->effects)
      work_.send(std::move(msg));
    scope->effects.clear();
    // After ctx.stop() no later message runs on this instance; the stop
    // itself takes effect when this message's batch is committed.
    if (scope->next != outcome::lifecycle::carry_on)
      instance_->ended = true;
    waiting_.push_back([scope] { answer(scope, outcome::done()); });
    staged(host);
  }

  // Messages joined the unit of work: commit it when full, or arm the
  // timer that commits it.
  void staged(bridges::consumer_host& host) {
    kill_point("after_state_write");
    if (unit_messages() >= settings_.commit.max_batch) {
      commit(host);
    } else if (!timer_armed_) {
      timer_armed_ = true;
      host.after(settings_.commit.max_delay, [this, &host] {
        timer_armed_ = false;
        commit(host);
      });
    }
  }

  void commit(bridges::consumer_host& host) {
    if (committing_ || retry_armed_ ||
        (work_.messages() == 0 && work_.outbox().empty() && !ticked_ &&
         !relay_.has_confirmed() && !has_forgotten()))
      return;
    if (relay_.full() && work_.messages() > 0) {
      // Back-pressure: try again once confirms have come in.
      retry_later(host, std::chrono::milliseconds{10});
      return;
    }
    for (const auto& key : dirty_) {
      const auto& entry = cache_[key];
      work_.put_state(runtime::stored_state{
        key, entry.version, boost::json::serialize(entry.state)});
    }
    if (operator_ != nullptr) {
      unit_rows rows{work_, row_prefix_};
      operator_->checkpoint(rows);
    }
    work_.relayed(relay_.take_confirmed());
    auto began = std::chrono::steady_clock::now();
    if (settings_.committer) {
      committing_ = true;
      settings_.committer->commit(host, work_,
                                  [this, &host, began](const caf::error& err) {
                                    committing_ = false;
                                    finish_commit(host, err, began);
                                    drain_held(host);
                                  });
      return;
    }
    finish_commit(host, store_->commit(work_), began);
  }

  void finish_commit(bridges::consumer_host& host, const caf::error& err,
                     std::chrono::steady_clock::time_point began) {
    if (err) {
      observer_.commit_failed();
      // Nothing of the batch is acked; try again, and meanwhile the
      // deliveries wait unacked (prefetch bounds how many).
      relay_.keep_confirmed(work_.take_relayed());
      work_.clear_states();
      report_store_error(err);
      retry_later(host, commit_backoff_);
      commit_backoff_ =
        std::min(commit_backoff_ * 2, std::chrono::milliseconds{5000});
      return;
    }
    kill_point("after_commit");
    observer_.committed(std::chrono::steady_clock::now() - began,
                        unit_messages(), work_.inbox().size());
    committed(host);
  }

  void committed(bridges::consumer_host& host) {
    if (store_failing_) {
      log::info(log::scope{user_->name()}, "the checkpoint store works again");
      store_failing_ = false;
    }
    commit_backoff_ = std::chrono::milliseconds{100};
    ticked_ = false;
    relay_.committed(work_.take_outbox());
    if (operator_ != nullptr)
      operator_->committed(work_.skipped());
    work_.clear();
    grouped_ = 0;
    partly_applied_.clear();
    dirty_.clear();
    auto answers = std::move(waiting_);
    waiting_.clear();
    relay(host);
    observer_.outbox(relay_.unconfirmed(), relay_.dead_lettered());
    for (auto& answer_one : answers)
      answer_one();
    if (++commits_ % prune_every == 0)
      prune();
    if (cache_.size() > settings_.max_cached_states)
      cache_.clear();
  }

  void retry_later(bridges::consumer_host& host,
                   std::chrono::milliseconds delay) {
    retry_armed_ = true;
    host.after(delay, [this, &host] {
      retry_armed_ = false;
      commit(host);
    });
  }

  // Processing-time work of a stream operator, every tick_interval from the
  // first delivery or idle call on.
  void arm_tick(bridges::consumer_host& host) {
    auto interval = operator_->tick_interval();
    if (tick_armed_ || (interval.count() <= 0 && held_.empty()))
      return;
    tick_armed_ = true;
    if (interval.count() <= 0)
      interval = std::chrono::milliseconds{100};
    host.after(interval, [this, &host] {
      tick_armed_ = false;
      tick(host);
      arm_tick(host);
    });
  }

  void tick(bridges::consumer_host& host) {
    // The unit out with the committer is the one a tick would add to.
    if (instance_->ended || committing_)
      return;
    if (operator_->tick_interval().count() > 0) {
      unit_output out{work_, user_->name()};
      operator_->tick(out, runtime::now_ms());
      // What it changed joins the unit now; a tick that changed nothing
      // costs no transaction.
      auto rows_before = work_.rows().size() + work_.groups().size();
      unit_rows rows{work_, row_prefix_};
      operator_->checkpoint(rows);
      if (out.published() > 0 ||
          work_.rows().size() + work_.groups().size() > rows_before) {
        ticked_ = true;
        commit(host);
      }
    }
    drain_held(host);
  }

  void relay(bridges::consumer_host& host) {
    relay_.relay([&host](const outgoing_message& msg,
                         outbox_relay::confirm_callback done) {
      host.publish(msg, std::move(done));
    });
  }

  void prune() {
    auto before = runtime::now_ms() -
                  static_cast<int64_t>(settings_.inbox_retention.count());
    if (auto pruned = store_->prune_inbox(user_->name(), before); !pruned)
      log::warning(log::scope{user_->name()}, "pruning the inbox: {}",
                   describe(pruned.error()));
    else
      observer_.pruned(*pruned);
  }

  void report_store_error(const caf::error& err) {
    if (!store_failing_)
      log::error(log::scope{user_->name()},
                 "the checkpoint store failed, nothing is acked until it "
                 "works again: {}",
                 describe(err));
    store_failing_ = true;
  }

  std::shared_ptr<stateful_base> user_;
  // Set when the actor is a stream operator.
  stream_operator* operator_ = nullptr;
  // Before the operator's row names (row_prefix).
  std::string row_prefix_;
  stateful_settings settings_;
  std::shared_ptr<instance_scope> instance_;
  std::unique_ptr<runtime::checkpoint_store> store_;
  // The store as an operator reads it (operators only).
  std::unique_ptr<store_reader> reader_;
  json_state_handlers table_;
  std::unordered_map<std::string, cached_state> cache_;
  // The unit of work being built, the keys it changes, and the answers of
  // its messages (given once it commits).
  runtime::unit_of_work work_;
  std::set<std::string> dirty_;
  // Entries whose inbox record is their batch's, beyond the record itself
  // (which counts as one message of the unit).
  std::size_t grouped_ = 0;
  // Batches with entries recorded one by one in the unit being built.
  std::unordered_set<std::string> partly_applied_;
  std::vector<std::function<void()>> waiting_;
  outbox_relay relay_;
  anonymous_ledger anonymous_;
  runtime::store_observer observer_;
  struct held_delivery {
    bridges::delivery msg;
    std::function<void(bridges::settlement)> done;
    // A batch taken whole: its entries and its settlement.
    std::vector<batch_entry_ref> entries;
    std::shared_ptr<batch_settlement> batch;
  };
  // Deliveries waiting while the operator is not accepting or a unit is out
  // with the committer (prefetch bounds them).
  std::deque<held_delivery> held_;
  bool tick_armed_ = false;
  // A tick ran since the last commit: commit even without messages.
  bool ticked_ = false;
  bool timer_armed_ = false;
  bool retry_armed_ = false;
  bool cleanup_armed_ = false;
  // A unit is out with the committer (deliveries wait in held_).
  bool committing_ = false;
  bool store_failing_ = false;
  std::chrono::milliseconds commit_backoff_{100};
  uint64_t commits_ = 0;
};

} // namespace

void unit_committer::idle(bridges::consumer_host&, std::size_t) {}

std::shared_ptr<bridges::delivery_handler>
make_stateful_dispatcher(std::shared_ptr<stateful_base> user,
                         dispatch_services services,
                         stateful_settings settings) {
  return std::make_shared<stateful_dispatcher>(
    std::move(user), std::move(services), std::move(settings));
}

} // namespace warren::detail
