// The seeds' order system as warren kinds (examples/orders/README.md):
//
//   orders.order        an event-sourced order aggregate (one stream per
//                       order_id): create_order, confirm_order, cancel_order
//   orders.inventory    stock per sku (stateful): reserve_inventory,
//                       release_inventory
//   orders.payment      charges per customer (stateful): charge_payment
//                       (refused above 10,000, as in the seed),
//                       refund_payment
//   orders.notification a service that says the order is placed
//
// Every participant of the order saga applies a step at most once: the
// saga sends each step's action (and compensation) with the header
// x-warren-saga-key, the same for every send of it, and the participants
// remember the keys they applied in their state.

#include "warren/actors/aggregate.hpp"
#include "warren/core/envelope.hpp"
#include "warren/runtime/actor.hpp"
#include "warren/runtime/registry.hpp"
#include "warren/runtime/stateful.hpp"

#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <map>
#include <string>

namespace {

using boost::json::object;
using boost::json::value;
using warren::context;
using warren::status;

// The key every send of a saga step carries; empty outside a saga.
std::string saga_key(const context& ctx) {
  const auto* key =
    warren::find_field(ctx.message().properties.headers, "x-warren-saga-key");
  return key != nullptr && std::holds_alternative<std::string>(*key)
           ? std::get<std::string>(*key)
           : std::string{};
}

// A compensation's key names its action's: `<saga>/<step>/c` undoes
// `<saga>/<step>/a`.
std::string action_key_of(std::string compensation_key) {
  if (compensation_key.size() > 2)
    compensation_key.back() = 'a';
  return compensation_key;
}

// -- the order aggregate ------------------------------------------------------

struct order {
  std::string status; // "", created, confirmed, cancelled
  std::string customer;
  std::string sku;
  int64_t quantity = 0;
  double total = 0;
};
BOOST_DESCRIBE_STRUCT(order, (), (status, customer, sku, quantity, total))

struct place {
  std::string order_id;
  std::string customer;
  std::string sku;
  int64_t quantity = 0;
  double total = 0;
};
BOOST_DESCRIBE_STRUCT(place, (), (order_id, customer, sku, quantity, total))

class order_aggregate : public warren::aggregate<order> {
 public:
  using aggregate::aggregate;

  void setup(warren::aggregate_handlers<order>& on) override {
    on.command<place>("create_order", [](const order& o, const place& p) {
      // Sent again by its saga: already done.
      if (!o.status.empty())
        return warren::decision::accept({}, object{{"status", o.status}});
      if (p.quantity <= 0 || p.total <= 0)
        return warren::decision::reject("invalid_order",
                                        "quantity and total must be > 0");
      return warren::decision::accept(
        {{"OrderCreated", boost::json::value_from(p)}},
        object{{"status", "created"}});
    });
    on.command<place>("confirm_order", [](const order& o, const place& p) {
      if (o.status == "confirmed")
        return warren::decision::accept({}, object{{"status", o.status}});
      if (o.status != "created")
        return warren::decision::reject(
          "refused", "order " + p.order_id + " is " +
                       (o.status.empty() ? "unknown" : o.status));
      return warren::decision::accept(
        {{"OrderConfirmed", object{{"order_id", p.order_id}}}},
        object{{"status", "confirmed"}});
    });
    on.command<place>("cancel_order", [](const order& o, const place& p) {
      if (o.status != "created")
        return warren::decision::accept({}, object{{"status", o.status}});
      return warren::decision::accept(
        {{"OrderCancelled", object{{"order_id", p.order_id}}}},
        object{{"status", "cancelled"}});
    });
  }

  void evolve(order& o, const warren::recorded_event& e) const override {
    if (e.type == "OrderCreated") {
      const auto& d = e.data.as_object();
      o.status = "created";
      o.customer = std::string{d.at("customer").as_string()};
      o.sku = std::string{d.at("sku").as_string()};
      o.quantity = d.at("quantity").to_number<int64_t>();
      o.total = d.at("total").to_number<double>();
    } else if (e.type == "OrderConfirmed") {
      o.status = "confirmed";
    } else if (e.type == "OrderCancelled") {
      o.status = "cancelled";
    }
  }
};

// -- inventory
// ------------------------------------------------------------------

struct stock {
  // -1 until the sku is first used: then options.stock[sku] (default 0).
  int64_t available = -1;
  // Saga action key -> quantity reserved by it.
  std::map<std::string, int64_t> reserved;
};
BOOST_DESCRIBE_STRUCT(stock, (), (available, reserved))

class inventory : public warren::stateful_actor<stock> {
 public:
  using stateful_actor::stateful_actor;

  void setup_state(warren::state_handlers<stock>& on) override {
    on.message<place>(
      "reserve_inventory", [this](context& ctx, stock& s, const place& p) {
        start(s, p.sku);
        auto key = saga_key(ctx);
        if (s.reserved.count(key) == 0) {
          if (p.quantity > s.available) {
            ctx.reply_json(
              object{{"success", false},
                     {"code", "out_of_stock"},
                     {"error", "only " + std::to_string(s.available) + " of " +
                                 p.sku + " left"}});
            return;
          }
          s.available -= p.quantity;
          s.reserved[key] = p.quantity;
        }
        ctx.reply_json(
          object{{"reserved", p.quantity}, {"available", s.available}});
      });
    on.message<place>(
      "release_inventory", [this](context& ctx, stock& s, const place& p) {
        start(s, p.sku);
        auto reserved = s.reserved.find(action_key_of(saga_key(ctx)));
        if (reserved != s.reserved.end()) {
          s.available += reserved->second;
          s.reserved.erase(reserved);
        }
        ctx.reply_json(object{{"available", s.available}});
      });
  }

 private:
  void start(stock& s, const std::string& sku) const {
    if (s.available >= 0)
      return;
    s.available = 0;
    if (const auto* initial = options().if_contains("stock"))
      if (const auto* n = initial->as_object().if_contains(sku))
        s.available = n->to_number<int64_t>();
  }
};

// -- payment
// --------------------------------------------------------------------

struct account {
  // Saga action key -> amount charged by it.
  std::map<std::string, double> charges;
  double charged = 0;
};
BOOST_DESCRIBE_STRUCT(account, (), (charges, charged))

class payment : public warren::stateful_actor<account> {
 public:
  using stateful_actor::stateful_actor;

  void setup_state(warren::state_handlers<account>& on) override {
    on.message<place>(
      "charge_payment", [](context& ctx, account& a, const place& p) {
        // The seed's rule: payments above 10,000 are refused.
        if (p.total > 10000) {
          ctx.reply_error("refused", "payments above 10,000 are refused");
          return;
        }
        auto key = saga_key(ctx);
        if (a.charges.count(key) == 0) {
          a.charges[key] = p.total;
          a.charged += p.total;
        }
        ctx.reply_json(object{{"charged", p.total}});
      });
    on.message<place>(
      "refund_payment", [](context& ctx, account& a, const place&) {
        auto charge = a.charges.find(action_key_of(saga_key(ctx)));
        double refunded = 0;
        if (charge != a.charges.end()) {
          refunded = charge->second;
          a.charged -= charge->second;
          a.charges.erase(charge);
        }
        ctx.reply_json(object{{"refunded", refunded}});
      });
  }
};

// -- notification
// -----------------------------------------------------------------

class notification : public warren::actor {
 public:
  using actor::actor;

  void setup(warren::handlers& on) override {
    on.message<place>("notify", [](context& ctx, const place& p) {
      ctx.reply_json(object{{"notified", p.customer},
                            {"text", "order " + p.order_id + " is placed"}});
    });
  }
};

} // namespace

WARREN_PLUGIN(registry) {
  registry.add_kind<order_aggregate>("orders.order");
  registry.add_kind<inventory>("orders.inventory");
  registry.add_kind<payment>("orders.payment");
  registry.add_kind<notification>("orders.notification");
}
