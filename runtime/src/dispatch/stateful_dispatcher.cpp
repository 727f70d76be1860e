#include "dispatch/stateful_dispatcher.hpp"

#include "dispatch/message_scope.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/kill_point.hpp"
#include "warren/core/log.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace warren::detail {

namespace {

using warren::kill_point;

// Outbox rows committed but not yet confirmed, at most: past it, batches
// wait to commit (their deliveries stay unacked, bounded by the prefetch)
// until confirms catch up.
constexpr std::size_t max_unconfirmed_rows = 10000;
// Commits between inbox prunings.
constexpr uint64_t prune_every = 1000;
// Confirmed outbox rows are deleted with the next batch; when no batch comes
// they get a transaction of their own after this long.
constexpr std::chrono::milliseconds cleanup_delay{1000};

class stateful_dispatcher : public bridges::delivery_handler {
 public:
  stateful_dispatcher(std::shared_ptr<stateful_base> user,
                      dispatch_services services, stateful_settings settings,
                      std::unique_ptr<runtime::checkpoint_store> store)
    : user_(std::move(user)), settings_(std::move(settings)),
      store_(std::move(store)) {
    instance_.services =
      std::make_shared<dispatch_services>(std::move(services));
    instance_.settings =
      std::make_shared<dispatch_settings>(settings_.dispatch);
    instance_.user = user_.get();
    instance_.stateful = true;
    user_->setup_json_state(table_);
    batch_.actor = user_->name();
    // What a previous instance committed but did not see confirmed goes out
    // before anything new.
    auto pending = store_->pending_outbox(
      user_->name(), std::numeric_limits<std::size_t>::max());
    if (!pending)
      throw std::runtime_error(describe(pending.error()));
    for (auto& row : *pending) {
      unconfirmed_.emplace(row.id, std::move(row.message));
      to_publish_.push_back(row.id);
    }
  }

  ~stateful_dispatcher() override {
    // Outbox rows the broker confirmed leave the outbox now rather than be
    // published again by the next instance. The batch being built is not
    // committed: its deliveries were not acked and come back.
    if (confirmed_.empty())
      return;
    runtime::commit_batch deletes;
    deletes.actor = user_->name();
    deletes.published = std::move(confirmed_);
    if (auto err = store_->commit(deletes))
      log::warning(log::scope{user_->name()},
                   "deleting confirmed outbox rows: {}", describe(err));
  }

  void handle(bridges::consumer_host& host, const caf::message& delivery,
              std::function<void(outcome)> done) override {
    kill_point("after_receive");
    relay(host);
    auto scope = open_scope(instance_, *this, host, delivery, std::move(done));
    if (!scope)
      return;
    const auto& env = scope->message();
    const auto& id = env.properties.message_id;
    if (batch_ids_.count(id) != 0) {
      // A copy of a message in the batch: acked with it.
      waiting_.push_back([scope] { answer(scope, outcome::done()); });
      return;
    }
    auto seen = store_->seen(user_->name(), id);
    if (!seen) {
      report_store_error(host, seen.error());
      answer(scope, outcome::retry(errc::store_failed, describe(seen.error())));
      return;
    }
    if (*seen) {
      ++duplicates_;
      answer(scope, outcome::done());
      return;
    }
    auto key = user_->key_of(env);
    auto* current = state_of(key);
    if (current == nullptr) {
      answer(scope,
             outcome::retry(errc::store_failed,
                            "cannot read the state of key '" + key + "'"));
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
    finish_if_done(scope);
  }

  void idle(bridges::consumer_host& host) override {
    relay(host);
    if (!batch_ids_.empty()) {
      commit(host);
    } else if (!confirmed_.empty() && !cleanup_armed_) {
      cleanup_armed_ = true;
      host.after(cleanup_delay, [this, &host] {
        cleanup_armed_ = false;
        if (batch_ids_.empty())
          commit(host);
      });
    }
  }

 private:
  struct cached_state {
    boost::json::value state;
    int64_t version = 0;
  };

  // The state of `key`, from the cache or the database (nullptr on error).
  cached_state* state_of(const std::string& key) {
    auto i = cache_.find(key);
    if (i != cache_.end())
      return &i->second;
    auto stored = store_->load(user_->name(), key);
    if (!stored) {
      log::error(log::scope{user_->name()}, "{}", describe(stored.error()));
      return nullptr;
    }
    cached_state entry;
    if (*stored) {
      boost::json::error_code ec;
      entry.state = boost::json::parse((*stored)->state, ec);
      if (ec) {
        log::error(log::scope{user_->name()},
                   "the stored state of '{}' is not JSON", key);
        return nullptr;
      }
      entry.version = (*stored)->version;
    } else {
      entry.state = user_->initial_state();
    }
    return &cache_.emplace(key, std::move(entry)).first->second;
  }

  // A message applied: its new state, inbox record and outbox rows join the
  // batch; it is answered when the batch commits.
  void stage(bridges::consumer_host& host, const scope_ptr& scope,
             const std::string& key, boost::json::value state) {
    const auto& id = scope->message().properties.message_id;
    auto& entry = cache_[key];
    if (entry.state != state) {
      // A handler that only read the state writes nothing.
      entry.state = std::move(state);
      ++entry.version;
      dirty_.insert(key);
    }
    batch_.inbox.push_back(id);
    batch_ids_.insert(id);
    // Stable ids: a message applied again after a crash sends the same ids.
    std::size_t n = 0;
    for (auto& msg : scope->outbox) {
      msg.properties.message_id =
        id + "/" + user_->name() + "/" + std::to_string(n++);
      batch_.outbox.push_back(runtime::outbox_row{0, user_->name(), msg});
    }
    scope->outbox.clear();
    // After ctx.stop() no later message runs on this instance; the stop
    // itself takes effect when this message's batch is committed.
    if (scope->next != outcome::lifecycle::carry_on)
      *instance_.ended = true;
    waiting_.push_back([scope] { answer(scope, outcome::done()); });
    kill_point("after_state_write");
    if (batch_ids_.size() >= settings_.commit.max_batch) {
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
    if (retry_armed_ || (batch_ids_.empty() && confirmed_.empty()))
      return;
    if (unconfirmed_.size() >= max_unconfirmed_rows && !batch_ids_.empty()) {
      // Back-pressure: try again once confirms have come in.
      retry_armed_ = true;
      host.after(std::chrono::milliseconds{10}, [this, &host] {
        retry_armed_ = false;
        commit(host);
      });
      return;
    }
    for (const auto& key : dirty_) {
      const auto& entry = cache_[key];
      batch_.states.push_back(runtime::stored_state{
        key, entry.version, boost::json::serialize(entry.state)});
    }
    batch_.published = confirmed_;
    auto err = store_->commit(batch_);
    batch_.states.clear();
    batch_.published.clear();
    if (err) {
      // Nothing of the batch is acked; try again, and meanwhile the
      // deliveries wait unacked (prefetch bounds how many).
      report_store_error(host, err);
      retry_armed_ = true;
      host.after(commit_backoff_, [this, &host] {
        retry_armed_ = false;
        commit(host);
      });
      commit_backoff_ =
        std::min(commit_backoff_ * 2, std::chrono::milliseconds{5000});
      return;
    }
    kill_point("after_commit");
    if (store_failing_) {
      log::info(log::scope{user_->name()}, "the checkpoint store works again");
      store_failing_ = false;
    }
    commit_backoff_ = std::chrono::milliseconds{100};
    confirmed_.clear();
    for (auto& row : batch_.outbox) {
      unconfirmed_.emplace(row.id, std::move(row.message));
      to_publish_.push_back(row.id);
    }
    batch_.outbox.clear();
    batch_.inbox.clear();
    batch_ids_.clear();
    dirty_.clear();
    auto answers = std::move(waiting_);
    waiting_.clear();
    relay(host);
    for (auto& answer_one : answers)
      answer_one();
    if (++commits_ % prune_every == 0)
      prune();
    if (cache_.size() > settings_.max_cached_states)
      cache_.clear();
  }

  // Publishes the committed outbox rows waiting to go out (new ones, and
  // ones whose publish was lost with the connection).
  void relay(bridges::consumer_host& host) {
    auto rows = std::move(to_publish_);
    to_publish_.clear();
    for (auto id : rows) {
      auto i = unconfirmed_.find(id);
      if (i == unconfirmed_.end())
        continue;
      host.publish(i->second, [this, &host, id](const caf::error& err) {
        on_confirm(host, id, err);
      });
      kill_point("during_publish");
    }
  }

  void on_confirm(bridges::consumer_host& host, int64_t row,
                  const caf::error& err) {
    auto i = unconfirmed_.find(row);
    if (i == unconfirmed_.end())
      return;
    if (!err) {
      unconfirmed_.erase(i);
      confirmed_.push_back(row);
      return;
    }
    if (code_of(err) == errc::connection_lost) {
      // Published again once the consumer is connected again.
      to_publish_.push_back(row);
      if (!relay_armed_) {
        relay_armed_ = true;
        host.after(std::chrono::milliseconds{500}, [this, &host] {
          relay_armed_ = false;
          relay(host);
        });
      }
      return;
    }
    // Unroutable or nacked: it cannot reach its route, so it goes to the
    // actor's dead-letter queue with the reason (and leaves the outbox once
    // that copy is confirmed).
    auto letter = i->second;
    log::warning(log::scope{user_->name(), letter.properties.message_id},
                 "outbox message {} to '{}' / '{}' dead-lettered: {}",
                 letter.properties.message_id, letter.exchange,
                 letter.routing_key, describe(err));
    auto& h = letter.properties.headers;
    warren::set_field(h, warren::header::error, describe(err));
    warren::set_field(h, warren::header::error_code,
                      std::string{to_string(code_of(err))});
    warren::set_field(h, warren::header::actor, user_->name());
    warren::set_field(h, warren::header::original_exchange, letter.exchange);
    warren::set_field(h, warren::header::original_routing_key,
                      letter.routing_key);
    letter.exchange = "";
    letter.routing_key =
      warren::dead_letter_queue_name(settings_.dispatch.queue);
    letter.mandatory = true;
    i->second = std::move(letter);
    to_publish_.push_back(row);
    relay(host);
  }

  void prune() {
    auto before = runtime::now_ms() -
                  static_cast<int64_t>(settings_.inbox_retention.count());
    if (auto pruned = store_->prune_inbox(user_->name(), before); !pruned)
      log::warning(log::scope{user_->name()}, "pruning the inbox: {}",
                   describe(pruned.error()));
  }

  void report_store_error(bridges::consumer_host&, const caf::error& err) {
    if (!store_failing_)
      log::error(log::scope{user_->name()},
                 "the checkpoint store failed, nothing is acked until it "
                 "works again: {}",
                 describe(err));
    store_failing_ = true;
  }

  std::shared_ptr<stateful_base> user_;
  instance_scope instance_;
  stateful_settings settings_;
  std::unique_ptr<runtime::checkpoint_store> store_;
  json_state_handlers table_;
  std::unordered_map<std::string, cached_state> cache_;
  // The batch being built.
  runtime::commit_batch batch_;
  std::unordered_set<std::string> batch_ids_;
  std::set<std::string> dirty_;
  std::vector<std::function<void()>> waiting_;
  bool timer_armed_ = false;
  bool retry_armed_ = false;
  bool relay_armed_ = false;
  bool cleanup_armed_ = false;
  bool store_failing_ = false;
  std::chrono::milliseconds commit_backoff_{100};
  uint64_t commits_ = 0;
  uint64_t duplicates_ = 0;
  // Committed outbox rows not yet confirmed, by row id, and those of them
  // to publish (again); the others are published, awaiting their confirm.
  std::map<int64_t, warren::outgoing_message> unconfirmed_;
  std::vector<int64_t> to_publish_;
  // Confirmed rows, deleted with the next commit.
  std::vector<int64_t> confirmed_;
};

} // namespace

std::shared_ptr<bridges::delivery_handler>
make_stateful_dispatcher(std::shared_ptr<stateful_base> user,
                         dispatch_services services, stateful_settings settings,
                         std::unique_ptr<runtime::checkpoint_store> store) {
  return std::make_shared<stateful_dispatcher>(
    std::move(user), std::move(services), std::move(settings),
    std::move(store));
}

} // namespace warren::detail
