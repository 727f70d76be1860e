#include "cluster/shard_owner.hpp"

#include "warren/core/kill_point.hpp"
#include "warren/core/log.hpp"
#include "warren/core/shard.hpp"

#include <algorithm>
#include <atomic>
#include <deque>

namespace warren::runtime::cluster {

namespace {

// How long an owner waits for the broker's confirm of one of its records,
// and then for its reader to judge it, before it gives the shard up.
constexpr std::chrono::milliseconds confirm_timeout{10000};
constexpr std::chrono::milliseconds verdict_timeout{15000};
// Past this wait for a confirmed record, the reader is asked to read the
// stream again from its position (a stream consumer that stopped getting
// records after a leader change comes back this way).
constexpr std::chrono::milliseconds reread_after{1000};
// How often it looks meanwhile, at most.
constexpr std::chrono::milliseconds poll_max{5};
// How often an owner asks whether to hand its shard over, and how long a
// handover waits for the work in hand.
constexpr std::chrono::milliseconds rebalance_check{1000};
constexpr std::chrono::milliseconds handover_drain{10000};

// Claims of this process, numbered so a node finds its own claim again.
std::atomic<uint64_t> claims_made{0};

// What the owner and its committer share.
struct owner_core {
  shard_identity id;
  std::string stream;
  std::shared_ptr<changelog_state> state;
  std::unique_ptr<checkpoint_store> store;
  // The epoch this node holds the shard in (-1: not taken over yet), the
  // last batch it counted in it, and where that batch is in the stream.
  int64_t epoch = -1;
  uint64_t sequence = 0;
  int64_t last_accepted = -1;
  int64_t last_flushed = -1;
  // The last accepted batch that sent messages: a batch that sent none
  // owes nothing, and needs no `flushed`.
  int64_t last_owing = -1;
  // Messages earlier owners owed are being sent again: no `flushed` may
  // cover them before their confirms (a flushed record lets every node
  // forget what it covers).
  bool resending = false;
  // Outbox rows of a shard owner are not in the file: their ids (for the
  // relay's bookkeeping) are made up, below zero.
  int64_t next_outbox_id = -1;
  std::chrono::steady_clock::time_point last_flush_sent{};

  changelog_record record(record_kind kind) const {
    changelog_record r;
    r.kind = kind;
    r.shard = id.shard;
    r.shards = id.shards;
    r.node = id.node;
    r.incarnation = id.incarnation;
    r.published_ms = now_ms();
    return r;
  }
};

using outcome_callback = std::function<void(record_outcome)>;

// Publishes `record` and calls `then` once this node's reader judged it
// (the read-back). A publish the broker does not confirm is tried again; no
// verdict in time ends the consumer.
void publish_and_wait(bridges::consumer_host& host,
                      const std::shared_ptr<owner_core>& core,
                      const changelog_record& record, outcome_callback then);

// Polls for the verdict on record `id`, confirmed at `confirmed`.
void wait_for_verdict(bridges::consumer_host& host,
                      const std::shared_ptr<owner_core>& core, std::string id,
                      std::chrono::steady_clock::time_point confirmed,
                      std::chrono::milliseconds pause, bool reread_asked,
                      outcome_callback then) {
  if (auto outcome = core->state->take(id)) {
    then(*outcome);
    return;
  }
  auto waited = std::chrono::steady_clock::now() - confirmed;
  if (waited > verdict_timeout) {
    core->state->forget(id);
    host.fail("the changelog " + core->stream + " did not show record " + id +
              " within " + std::to_string(verdict_timeout.count()) + " ms");
    return;
  }
  if (!reread_asked && waited > reread_after) {
    core->state->request_reread();
    reread_asked = true;
  }
  auto next = std::min(pause * 2, poll_max);
  host.after(pause, [&host, core, id = std::move(id), confirmed, next,
                     reread_asked, then = std::move(then)]() mutable {
    wait_for_verdict(host, core, std::move(id), confirmed, next, reread_asked,
                     std::move(then));
  });
}

void publish_and_wait(bridges::consumer_host& host,
                      const std::shared_ptr<owner_core>& core,
                      const changelog_record& record, outcome_callback then) {
  auto msg = to_message(record, core->stream);
  auto id = msg.properties.message_id;
  core->state->expect(id);
  // A confirm that never comes (the stream's leader went with the publish
  // in flight) must not hold the shard forever.
  auto answered = std::make_shared<bool>(false);
  host.after(confirm_timeout, [&host, core, id, answered] {
    if (!*answered)
      host.fail("the changelog " + core->stream + " did not confirm record " +
                id + " within " + std::to_string(confirm_timeout.count()) +
                " ms");
  });
  host.publish(
    std::move(msg), [&host, core, record, id, answered,
                     then = std::move(then)](const caf::error& err) mutable {
      *answered = true;
      if (err) {
        core->state->forget(id);
        log::warning(log::scope{core->id.actor},
                     "shard {}: publishing {} to {} failed ({}); trying again",
                     core->id.shard, id, core->stream, describe(err));
        host.after(std::chrono::milliseconds{500},
                   [&host, core, record, then = std::move(then)]() mutable {
                     publish_and_wait(host, core, record, std::move(then));
                   });
        return;
      }
      kill_point("before_readback");
      wait_for_verdict(host, core, id, std::chrono::steady_clock::now(),
                       std::chrono::milliseconds{1}, false, std::move(then));
    });
}

void send_flushed(bridges::consumer_host& host,
                  const std::shared_ptr<owner_core>& core, int64_t upto) {
  auto flushed = core->record(record_kind::flushed);
  flushed.upto = upto;
  core->last_flushed = std::max(core->last_flushed, upto);
  core->last_flush_sent = std::chrono::steady_clock::now();
  // Not waited for: a flush lost only makes a later takeover send copies.
  host.publish(to_message(flushed, core->stream), [](const caf::error&) {});
}

// Units of work through the changelog (see shard_owner.hpp).
class shard_committer : public warren::detail::unit_committer {
 public:
  explicit shard_committer(std::shared_ptr<owner_core> core)
    : core_(std::move(core)) {}

  // Every message of the batches accepted so far left: the standbys may
  // forget them (at most once a second).
  void idle(bridges::consumer_host& host, std::size_t unconfirmed) override {
    if (unconfirmed == 0 && !core_->resending &&
        core_->last_owing > core_->last_flushed &&
        std::chrono::steady_clock::now() - core_->last_flush_sent >
          std::chrono::seconds{1})
      send_flushed(host, core_, core_->last_accepted);
  }

  void commit(bridges::consumer_host& host, unit_of_work& work,
              std::function<void(caf::error)> then) override {
    auto changes = core_->store->capture_changeset(work);
    if (!changes) {
      then(changes.error());
      return;
    }
    auto batch = core_->record(record_kind::batch);
    batch.epoch = core_->epoch;
    batch.sequence = core_->sequence + 1;
    batch.changeset = std::move(*changes);
    for (const auto& row : work.outbox())
      batch.outbox.push_back(row.message);
    auto core = core_;
    publish_and_wait(
      host, core_, batch,
      [&host, &work, core, sequence = batch.sequence,
       then = std::move(then)](record_outcome outcome) {
        if (outcome.outcome != verdict::accepted) {
          auto view = core->state->shard(core->id.shard);
          host.fail("shard " + std::to_string(core->id.shard) + " of '" +
                    core->id.actor + "': its batch " +
                    std::to_string(sequence) + " of epoch " +
                    std::to_string(core->epoch) + " was " +
                    to_string(outcome.outcome) + " (the shard's epoch is " +
                    std::to_string(view.epoch) + ", claimed by " + view.node +
                    "): this node gives the shard up");
          return;
        }
        core->sequence = sequence;
        core->last_accepted = outcome.offset;
        if (!work.outbox().empty())
          core->last_owing = outcome.offset;
        for (auto& row : work.outbox()) {
          row.id = core->next_outbox_id--;
          row.actor = core->id.actor;
        }
        kill_point("after_acceptance");
        then(caf::none);
      });
  }

 private:
  std::shared_ptr<owner_core> core_;
};

class shard_owner : public bridges::delivery_handler {
 public:
  shard_owner(shard_identity id, std::shared_ptr<changelog_state> state,
              store_settings store, dispatcher_factory make_dispatcher,
              std::shared_ptr<rebalancer> rebalance)
    : core_(std::make_shared<owner_core>()), settings_(std::move(store)),
      make_dispatcher_(std::move(make_dispatcher)),
      rebalance_(std::move(rebalance)) {
    core_->stream = changelog_name(id.actor);
    core_->id = std::move(id);
    core_->state = std::move(state);
  }

  ~shard_owner() override {
    // Its consumer ended: whatever the reason, this node works on the shard
    // no more.
    if (core_->epoch >= 0) {
      core_->state->status().released(core_->id.shard);
      if (rebalance_)
        rebalance_->released(core_->id.shard);
    }
  }

  caf::error start(bridges::consumer_host&) override {
    auto store = checkpoint_store::open(settings_);
    if (!store)
      return store.error();
    core_->store = std::move(*store);
    return caf::none;
  }

  void handle(bridges::consumer_host& host, bridges::delivery msg,
              std::function<void(bridges::settlement)> done) override {
    if (claiming_ && msg->channel_generation != generation_) {
      // The consumer lost its channel and consumes again: the broker may
      // have given the shard to another node meanwhile. Ownership is only
      // ever taken by a claim, so start over as a standby.
      host.fail("shard " + std::to_string(core_->id.shard) + " of '" +
                core_->id.actor +
                "': its channel was opened again; it takes the shard over "
                "anew");
      return;
    }
    if (msg->properties.type == shard_probe_type) {
      // Only a cue: a live owner lets it go, a standby the broker made
      // active takes the shard over.
      done(bridges::settlement::ack());
      if (inner_ || claiming_)
        return;
      generation_ = msg->channel_generation;
      if (!leave_to_placement(host))
        take_over(host);
      return;
    }
    if (inner_ && !handing_over_) {
      inner_->handle(host, std::move(msg), std::move(done));
      return;
    }
    generation_ = msg->channel_generation;
    // Held until taken over, or, handing over, until the consumer closes
    // and they go back to the broker.
    held_.push_back({std::move(msg), std::move(done)});
    if (!claiming_ && !inner_ && !leave_to_placement(host))
      take_over(host);
  }

  void idle(bridges::consumer_host& host) override {
    if (inner_)
      inner_->idle(host);
    else if (!claiming_ && !probe_armed_)
      arm_probe(host);
  }

  void acked(uint64_t generation, uint64_t tag, bool multiple) override {
    if (inner_)
      inner_->acked(generation, tag, multiple);
  }

  void connection_lost(bridges::consumer_host& host) override {
    // The broker gives the shard's queue to another node's consumer as
    // soon as this connection is gone: an owner (or a claimant) that stayed
    // one would announce a shard it no longer owns for as long as no
    // delivery told it so (a standby gets none). Ownership is only ever
    // taken by a claim, so start over as a standby now; what was in flight
    // is the next owner's, like after a kill.
    if (claiming_)
      host.fail("shard " + std::to_string(core_->id.shard) + " of '" +
                core_->id.actor +
                "': its consumer lost its connection; it gives the shard up "
                "and comes back as a standby");
  }

 private:
  struct held_delivery {
    bridges::delivery msg;
    std::function<void(bridges::settlement)> done;
  };

  // A standby the broker made active: whether it leaves the shard to the
  // node placement gives it to (the consumer is ending then).
  bool leave_to_placement(bridges::consumer_host& host) {
    if (!rebalance_)
      return false;
    auto view = core_->state->shard(core_->id.shard);
    auto to = rebalance_->yield_to(core_->id.shard, view.node, view.epoch);
    if (to.empty())
      return false;
    host.release("shard " + std::to_string(core_->id.shard) +
                 " is placed on node " + to + ": left to it");
    return true;
  }

  // Every `rebalance_check`, an owner asks whether to hand its shard over.
  void arm_rebalance_check(bridges::consumer_host& host) {
    if (!rebalance_)
      return;
    host.after(rebalance_check, [this, &host] {
      auto to = rebalance_->hand_over_to(core_->id.shard,
                                         std::chrono::steady_clock::now());
      if (to.empty()) {
        arm_rebalance_check(host);
        return;
      }
      log::info(log::scope{core_->id.actor},
                "shard {}: handing it over to node {} (placement)",
                core_->id.shard, to);
      handing_over_ = true;
      handover_to_ = std::move(to);
      finish_handover(host, std::chrono::steady_clock::now());
    });
  }

  // Closes the consumer once every delivery the dispatcher has is settled
  // (the held ones are still working: they go back to the broker), or
  // after `handover_drain` at the latest (what is not settled then goes
  // back too; the next owner's inbox drops what an accepted batch applied).
  void finish_handover(bridges::consumer_host& host,
                       std::chrono::steady_clock::time_point started) {
    if (host.working() <= held_.size() ||
        std::chrono::steady_clock::now() - started > handover_drain) {
      host.release("shard " + std::to_string(core_->id.shard) +
                   " handed over to node " + handover_to_);
      return;
    }
    host.after(std::chrono::milliseconds{5},
               [this, &host, started] { finish_handover(host, started); });
  }

  void arm_probe(bridges::consumer_host& host) {
    probe_armed_ = true;
    host.after(probe_interval(core_->id.shards), [this, &host] {
      probe_armed_ = false;
      if (inner_ || claiming_)
        return;
      outgoing_message probe;
      probe.routing_key = shard_name(core_->id.actor, core_->id.shard);
      probe.properties.type = shard_probe_type;
      probe.properties.delivery_mode = 1;
      // Probes nobody takes (no consumer at all) do not pile up.
      probe.properties.expiration =
        std::to_string(probe_interval(core_->id.shards).count() * 5);
      // Lost or refused, the next one follows.
      host.publish(std::move(probe), [](const caf::error&) {});
    });
  }

  void take_over(bridges::consumer_host& host) {
    claiming_ = true;
    const auto& id = core_->id;
    log::info(log::scope{id.actor}, "shard {}: taking it over", id.shard);
    auto count = core_->record(record_kind::shards);
    count.sequence = ++claims_made;
    publish_and_wait(host, core_, count, [this, &host](record_outcome outcome) {
      if (outcome.outcome != verdict::shards_set) {
        host.fail("'" + core_->id.actor + "' is configured with " +
                  std::to_string(core_->id.shards) + " shards, its changelog " +
                  core_->stream + " with " +
                  std::to_string(core_->state->shards()) +
                  " (the count of an actor's shards cannot change)");
        return;
      }
      claim(host);
    });
  }

  void claim(bridges::consumer_host& host) {
    auto claim = core_->record(record_kind::claim);
    claim.sequence = ++claims_made;
    publish_and_wait(host, core_, claim, [this, &host](record_outcome outcome) {
      if (outcome.outcome != verdict::claimed) {
        host.fail("shard " + std::to_string(core_->id.shard) + " of '" +
                  core_->id.actor + "': its claim was " +
                  to_string(outcome.outcome));
        return;
      }
      kill_point("during_takeover");
      core_->epoch = outcome.offset;
      core_->sequence = 0;
      log::info(log::scope{core_->id.actor}, "shard {}: taken over in epoch {}",
                core_->id.shard, core_->epoch);
      core_->state->status().owned(core_->id.shard, core_->epoch);
      if (rebalance_)
        rebalance_->took_over(core_->id.shard,
                              std::chrono::steady_clock::now());
      if (resend_owed(host)) {
        start_dispatcher(host);
        arm_rebalance_check(host);
      }
    });
  }

  // What the earlier owners' accepted batches sent and no `flushed` says
  // left: sent again (the ids are the batches'; downstream drops copies).
  // False when it gave the shard up (the host failed).
  bool resend_owed(bridges::consumer_host& host) {
    struct owed_message {
      int64_t offset;
      std::string text;
    };
    std::vector<owed_message> owed;
    auto err = core_->store->read_sql(
      "SELECT offset, message FROM local_changelog_outbox WHERE actor = ?1 "
      "AND shard = ?2 ORDER BY offset, n",
      {core_->id.actor, int64_t{core_->id.shard}},
      [&](const sql_row& row) -> caf::error {
        owed.push_back({row.integer(0), std::string{row.text(1)}});
        return caf::none;
      });
    if (err) {
      // Unsent, they must stay owed: the next owner sends them.
      host.fail("shard " + std::to_string(core_->id.shard) + " of '" +
                core_->id.actor +
                "': reading the messages it owes: " + describe(err));
      return false;
    }
    if (owed.empty())
      return true;
    auto upto = owed.back().offset;
    // A row that cannot be decoded can never be sent: it is reported and
    // left out (flushed with the rest).
    std::vector<outgoing_message> messages;
    for (auto& o : owed) {
      auto msg = decode_outgoing(o.text);
      if (!msg) {
        log::error(log::scope{core_->id.actor},
                   "shard {}: an owed message at offset {} cannot be "
                   "decoded: {}",
                   core_->id.shard, o.offset, describe(msg.error()));
        continue;
      }
      messages.push_back(std::move(*msg));
    }
    log::info(log::scope{core_->id.actor},
              "shard {}: sending {} messages earlier owners owed",
              core_->id.shard, messages.size());
    if (messages.empty()) {
      send_flushed(host, core_, upto);
      return true;
    }
    core_->resending = true;
    auto left = std::make_shared<std::size_t>(messages.size());
    auto failed = std::make_shared<bool>(false);
    for (auto& msg : messages) {
      auto core = core_;
      host.publish(std::move(msg),
                   [&host, core, left, failed, upto](const caf::error& e) {
                     if (e)
                       *failed = true;
                     if (--*left > 0)
                       return;
                     if (*failed) {
                       // Still owed (nothing flushed them): the next owner
                       // sends them again.
                       host.fail("shard " + std::to_string(core->id.shard) +
                                 " of '" + core->id.actor +
                                 "': a message earlier owners owed was not "
                                 "confirmed; it gives the shard up");
                       return;
                     }
                     core->resending = false;
                     send_flushed(host, core, upto);
                   });
    }
    return true;
  }

  void start_dispatcher(bridges::consumer_host& host) {
    auto inner = make_dispatcher_(std::make_shared<shard_committer>(core_));
    if (!inner) {
      host.fail(describe(inner.error()));
      return;
    }
    inner_ = std::move(*inner);
    if (auto err = inner_->start(host)) {
      host.fail(describe(err));
      return;
    }
    auto held = std::move(held_);
    held_.clear();
    for (auto& h : held)
      inner_->handle(host, std::move(h.msg), std::move(h.done));
  }

  std::shared_ptr<owner_core> core_;
  store_settings settings_;
  dispatcher_factory make_dispatcher_;
  std::shared_ptr<rebalancer> rebalance_;
  std::shared_ptr<bridges::delivery_handler> inner_;
  std::deque<held_delivery> held_;
  bool claiming_ = false;
  bool handing_over_ = false;
  std::string handover_to_;
  bool probe_armed_ = false;
  // The channel generation the shard was taken over on.
  uint64_t generation_ = 0;
};

} // namespace

std::chrono::milliseconds probe_interval(uint32_t shards) {
  return std::chrono::milliseconds{std::max<int64_t>(1000, 50LL * shards)};
}

std::string changelog_name(const std::string& actor) {
  return actor + ".log";
}

std::shared_ptr<bridges::delivery_handler>
make_shard_owner(shard_identity id, std::shared_ptr<changelog_state> state,
                 store_settings store, dispatcher_factory make_dispatcher,
                 std::shared_ptr<rebalancer> rebalance) {
  return std::make_shared<shard_owner>(
    std::move(id), std::move(state), std::move(store),
    std::move(make_dispatcher), std::move(rebalance));
}

} // namespace warren::runtime::cluster
