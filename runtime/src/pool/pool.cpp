#include "pool/pool.hpp"

#include "pool/worker_activity.hpp"
#include "warren/bridges/client.hpp"
#include "warren/core/log.hpp"
#include "warren/metrics/registry.hpp"

#include <caf/all.hpp>

namespace warren {

pool_policy::~pool_policy() = default;

} // namespace warren

namespace warren::runtime::detail {

namespace {

using clock = std::chrono::steady_clock;

// The manager's own messages.
using pool_start_atom = caf::atom_constant<caf::atom("poolstart")>;
using pool_tick_atom = caf::atom_constant<caf::atom("pooltick")>;

using pool_manager_actor =
  caf::typed_actor<caf::reacts_to<supervisor_event>,
                   caf::reacts_to<pool_start_atom, caf::actor>,
                   caf::reacts_to<pool_tick_atom>>;

// What every start of a worker needs; shared by the starters the workers'
// supervisor keeps, which may outlive the manager.
struct worker_template {
  std::shared_ptr<const instance_context> ctx;
  // The pool's actor spec with the handler as its kind and options.worker
  // as its options.
  config::actor_spec spec;
};

struct pool_setup {
  std::shared_ptr<const worker_template> worker;
  child_spec worker_spec;
  std::shared_ptr<pool_policy> policy;
  // The tree's observer, told every event of the workers' supervisor.
  supervisor_observer forward;
};

// The pool's metrics (label `actor`); no-ops when metrics are off.
struct pool_metrics {
  metrics::gauge workers;
  metrics::gauge busy;
  metrics::gauge queue_ready;
  metrics::counter scaled_up;
  metrics::counter scaled_down;
};

pool_metrics make_pool_metrics(metrics::registry* reg,
                               const std::string& actor) {
  pool_metrics m;
  if (reg == nullptr)
    return m;
  metrics::labels who{{"actor", actor}};
  m.workers = reg->make_gauge(
    "warren_pool_workers",
    "Workers of a worker pool in this node (starting or running; not those "
    "draining away).",
    who);
  m.busy = reg->make_gauge(
    "warren_pool_busy_workers",
    "Workers of a worker pool holding a delivery, at its last check.", who);
  m.queue_ready = reg->make_gauge(
    "warren_pool_queue_messages",
    "Messages ready in a worker pool's queue, as its manager last read them.",
    who);
  auto up = who;
  up["direction"] = "up";
  auto down = who;
  down["direction"] = "down";
  const char* help = "Scaling decisions by load of a worker pool.";
  m.scaled_up = reg->make_counter("warren_pool_scale_total", help, up);
  m.scaled_down = reg->make_counter("warren_pool_scale_total", help, down);
  return m;
}

// Reads the queue, decides, and adds or removes workers (see pool.hpp).
class pool_manager : public pool_manager_actor::base {
 public:
  pool_manager(caf::actor_config& cfg, pool_setup setup)
    : pool_manager_actor::base(cfg), setup_(std::move(setup)),
      name_(setup_.worker->spec.name), queue_(setup_.worker->spec.queue),
      slots_(setup_.policy->max_workers()),
      metrics_(make_pool_metrics(setup_.worker->ctx->metrics, name_)) {
    for (auto& s : slots_)
      s.activity = std::make_shared<worker_activity>();
    broker_ = setup_.worker->ctx->cfg->broker;
    broker_.connection_name += " pool " + name_;
  }

  behavior_type make_behavior() override {
    return {
      [this](supervisor_event& ev) { on_event(std::move(ev)); },
      [this](pool_start_atom, caf::actor& workers) {
        workers_ = std::move(workers);
        tick();
      },
      [this](pool_tick_atom) { tick(); },
    };
  }

  void on_exit() override {
    // The connection closes with the actor, not when its last handle goes.
    client_.reset();
  }

 private:
  enum class phase : uint8_t { free, starting, running, draining };

  struct slot {
    phase ph = phase::free;
    std::shared_ptr<worker_activity> activity;
  };

  std::string id_of(std::size_t k) const {
    return name_ + "[" + std::to_string(k) + "]";
  }

  static bool counts(phase ph) {
    return ph == phase::starting || ph == phase::running;
  }

  // -- checks ---------------------------------------------------------------

  void tick() {
    pool_view view;
    view.now = clock::now();
    uint32_t busy = 0;
    for (std::size_t k = 0; k < slots_.size(); ++k) {
      if (!counts(slots_[k].ph))
        continue;
      const auto& a = *slots_[k].activity;
      pool_worker_view w;
      w.slot = static_cast<uint32_t>(k);
      w.in_hand = a.in_hand.load(std::memory_order_relaxed);
      w.handled = a.handled.load(std::memory_order_relaxed);
      if (w.in_hand == 0) {
        auto last = clock::time_point{std::chrono::nanoseconds{
          a.last_settled_ns.load(std::memory_order_relaxed)}};
        w.idle_for = std::chrono::duration_cast<std::chrono::milliseconds>(
          view.now - last);
      } else {
        ++busy;
      }
      view.workers.push_back(w);
    }
    // Below the minimum the queue does not matter (and at the start the
    // workers go first, before a connect that may take a while).
    if (view.workers.size() >= setup_.policy->min_workers())
      read_queue(view);
    metrics_.busy.set(busy);
    auto d = setup_.policy->decide(view);
    apply(d, view, busy);
    delayed_send(this, setup_.policy->check_interval(), pool_tick_atom::value);
  }

  // One passive declare on the manager's own connection, made again at the
  // next check after a failure.
  void read_queue(pool_view& view) {
    if (!client_) {
      auto client = bridges::blocking_client::connect(broker_);
      if (!client) {
        queue_unreadable(describe(client.error()));
        return;
      }
      client_ = std::move(*client);
    }
    auto counts = client_->queue_counts(queue_);
    if (!counts) {
      client_.reset();
      queue_unreadable(describe(counts.error()));
      return;
    }
    if (unreadable_)
      log::info(log::scope{name_}, "pool: reading queue '{}' again", queue_);
    unreadable_ = false;
    view.queue_known = true;
    view.queue_ready = counts->first;
    view.queue_consumers = counts->second;
    metrics_.queue_ready.set(counts->first);
  }

  void queue_unreadable(const std::string& why) {
    if (!unreadable_)
      log::warning(log::scope{name_},
                   "pool: cannot read queue '{}' ({}); no scaling by load "
                   "until it can",
                   queue_, why);
    unreadable_ = true;
  }

  // -- decisions --------------------------------------------------------------

  void apply(const pool_decision& d, const pool_view& view, uint32_t busy) {
    using action = pool_decision::action;
    auto workers = static_cast<uint32_t>(view.workers.size());
    // The inputs of every decision, for its log line.
    auto inputs = [&] {
      return fmt::format("ready {}, consumers {}, workers {}, busy {}",
                         view.queue_known ? std::to_string(view.queue_ready)
                                          : std::string{"unknown"},
                         view.queue_known ? std::to_string(view.queue_consumers)
                                          : std::string{"unknown"},
                         workers, busy);
    };
    if (d.what == action::hold) {
      if (d.reason != last_hold_)
        log::emit(d.notable ? log::level::info : log::level::debug,
                  log::scope{name_}, "pool: holding at {} worker(s): {} ({})",
                  workers, d.reason, inputs());
      last_hold_ = d.reason;
      return;
    }
    last_hold_.clear();
    if (d.what == action::add) {
      auto room = setup_.policy->max_workers() -
                  std::min(workers, setup_.policy->max_workers());
      auto n = std::min(d.count, room);
      if (n == 0) {
        log::warning(log::scope{name_},
                     "pool: the policy asked for {} more worker(s) at "
                     "max_workers; ignored",
                     d.count);
        return;
      }
      log::info(log::scope{name_},
                "pool: scaling up from {} to {} worker(s): {} ({})", workers,
                workers + n, d.reason, inputs());
      // Refilling up to min_workers (at the start, or after workers left)
      // is not a decision by load.
      if (workers >= setup_.policy->min_workers())
        metrics_.scaled_up.inc();
      for (std::size_t k = 0; k < slots_.size() && n > 0; ++k)
        if (slots_[k].ph == phase::free) {
          start_worker(k);
          --n;
        }
      update_workers();
      return;
    }
    if (d.slot >= slots_.size() || !counts(slots_[d.slot].ph)) {
      log::warning(log::scope{name_},
                   "pool: the policy asked to remove worker {}, which is not "
                   "running; ignored",
                   d.slot);
      return;
    }
    log::info(log::scope{name_},
              "pool: scaling down from {} to {} worker(s): draining {}: {} "
              "({})",
              workers, workers - 1, id_of(d.slot), d.reason, inputs());
    metrics_.scaled_down.inc();
    stop_worker(d.slot);
    update_workers();
  }

  void update_workers() {
    auto n = std::count_if(slots_.begin(), slots_.end(),
                           [](const slot& s) { return counts(s.ph); });
    metrics_.workers.set(static_cast<double>(n));
  }

  // -- workers ----------------------------------------------------------------

  void start_worker(std::size_t k) {
    slots_[k].ph = phase::starting;
    // Not what the slot's last worker did (its starter resets it again).
    slots_[k].activity->restart(clock::now());
    supervised_child child;
    child.spec = setup_.worker_spec;
    child.spec.id = id_of(k);
    // Runs in the workers' supervisor, at this start and every restart.
    child.start = [tpl = setup_.worker, activity = slots_[k].activity,
                   i = static_cast<uint32_t>(k), id = child.spec.id] {
      activity->restart(clock::now());
      return start_instance(
        tpl->ctx, tpl->spec, i, id,
        [activity](std::shared_ptr<bridges::delivery_handler> inner) {
          return count_activity(std::move(inner), activity);
        });
    };
    request(workers_, caf::infinite, add_child_atom::value, std::move(child))
      .then(
        [this, k](caf::ok_atom) {
          if (slots_[k].ph == phase::starting)
            slots_[k].ph = phase::running;
        },
        [this, k](caf::error& err) {
          if (slots_[k].ph != phase::starting)
            return;
          slots_[k].ph = phase::free;
          update_workers();
          if (code_of(err) != errc::shutting_down)
            log::warning(log::scope{name_}, "pool: worker {} did not start: {}",
                         id_of(k), describe(err));
        });
  }

  // Drains worker `k`: its consumer cancels, settles what it holds, acks
  // and closes (what stays unacked goes back to the broker), then ends; its
  // supervisor does not restart it.
  void stop_worker(std::size_t k) {
    slots_[k].ph = phase::draining;
    auto id = id_of(k);
    // Readiness waits no more for a consumer that stops consuming now.
    if (setup_.worker->ctx->untrack)
      setup_.worker->ctx->untrack(id);
    request(workers_, caf::infinite, remove_child_atom::value, id)
      .then(
        [this, k](caf::ok_atom) {
          slots_[k].ph = phase::free;
          log::info(log::scope{name_}, "pool: worker {} drained and ended",
                    id_of(k));
        },
        [this, k](caf::error& err) {
          slots_[k].ph = phase::free;
          if (code_of(err) != errc::not_found &&
              code_of(err) != errc::shutting_down)
            log::warning(log::scope{name_}, "pool: removing worker {}: {}",
                         id_of(k), describe(err));
        });
  }

  void on_event(supervisor_event ev) {
    // A worker that left its supervisor on its own (a temporary one that
    // failed, a transient one that ended normally) frees its slot; the next
    // check refills up to min_workers.
    if (ev.what == supervisor_event::kind::removed)
      for (std::size_t k = 0; k < slots_.size(); ++k)
        if (counts(slots_[k].ph) && ev.child == id_of(k)) {
          slots_[k].ph = phase::free;
          if (setup_.worker->ctx->untrack)
            setup_.worker->ctx->untrack(ev.child);
          log::info(log::scope{name_}, "pool: worker {} left the pool",
                    ev.child);
          update_workers();
        }
    if (setup_.forward)
      send(setup_.forward, std::move(ev));
  }

  pool_setup setup_;
  std::string name_;
  std::string queue_;
  std::vector<slot> slots_;
  pool_metrics metrics_;
  caf::actor workers_;
  bridges::broker_settings broker_;
  std::unique_ptr<bridges::blocking_client> client_;
  // The queue could not be read at the last check (logged once).
  bool unreadable_ = false;
  // The reason of the last hold, so a hold is logged when it changes only.
  std::string last_hold_;
};

} // namespace

child_starter pool_starter(const std::shared_ptr<const instance_context>& ctx,
                           const config::actor_spec& actor,
                           const child_spec& spec,
                           const config::supervisor_config& parent,
                           const supervisor_options& options) {
  return [ctx, actor = &actor, spec, intensity = parent.intensity,
          backoff = parent.backoff, options]() -> caf::expected<child_members> {
    const auto* kind = ctx->kinds->describe(actor->kind);
    if (kind == nullptr || !kind->make_pool)
      return make_error(errc::unknown_kind,
                        "no pool kind '" + actor->kind + "'");
    auto init = init_of(*ctx, *actor, 0);
    // Throws on bad options: a failed start, which the supervisor reports.
    std::shared_ptr<pool_policy> policy = kind->make_pool(init);
    auto worker = std::make_shared<worker_template>();
    worker->ctx = ctx;
    worker->spec = *actor;
    worker->spec.kind = actor->handler;
    worker->spec.handler.clear();
    worker->spec.options = {};
    if (const auto* opts = actor->options.if_contains(pool_worker_options_key);
        opts != nullptr && opts->is_object())
      worker->spec.options = opts->get_object();
    worker->spec.instances = policy->max_workers();
    pool_setup setup;
    setup.worker = std::move(worker);
    setup.worker_spec = spec;
    setup.policy = std::move(policy);
    setup.forward = options.observer;
    // Detached: it blocks on its own connection (connect, passive declare).
    auto manager =
      ctx->sys->spawn<pool_manager, caf::detached>(std::move(setup));
    supervisor_spec workers;
    workers.id = actor->name + ".workers";
    workers.strategy = restart_strategy::one_for_one;
    workers.intensity = intensity;
    workers.backoff = backoff;
    auto observed = options;
    observed.observer = caf::actor_cast<supervisor_observer>(manager);
    auto sup = spawn_supervisor(*ctx->sys, std::move(workers), observed);
    caf::anon_send(manager, pool_start_atom::value, sup);
    return child_members{caf::actor_cast<caf::actor>(manager), sup};
  };
}

} // namespace warren::runtime::detail
