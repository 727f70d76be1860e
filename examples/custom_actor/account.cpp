// A stateful custom actor: bank accounts whose balances survive restarts and
// crashes, changed effectively once per message.
//
//   warren send --actor accounts -t deposit '{"account": "alice", "amount":
//   30}' warren call accounts -t balance '{"account": "alice"}'   #
//   {"balance":30} warren state show -c node.json accounts alice
//
// The key of each message is its "account" field (option key_field in
// node.json), so every account has a state of its own. A deposit also sends
// a "deposited" event to the `ledger` actor; it leaves only after the
// deposit is committed, with an id derived from the deposit's, so a
// redelivered deposit is neither applied nor announced twice.

#include <boost/describe/class.hpp>
#include <warren/runtime/registry.hpp>
#include <warren/runtime/stateful.hpp>

namespace bank {

struct account_state {
  int64_t balance = 0;
};
BOOST_DESCRIBE_STRUCT(account_state, (), (balance))

struct movement {
  std::string account;
  int64_t amount = 0;
};
BOOST_DESCRIBE_STRUCT(movement, (), (account, amount))

struct balance_reply {
  int64_t balance = 0;
};
BOOST_DESCRIBE_STRUCT(balance_reply, (), (balance))

class account : public warren::stateful_actor<account_state> {
 public:
  using stateful_actor::stateful_actor;

  void setup_state(warren::state_handlers<account_state>& on) override {
    on.message<movement>(
      "deposit", [](warren::context& ctx, account_state& s, const movement& m) {
        if (m.amount <= 0)
          return warren::status::fail("a deposit must be positive", true);
        s.balance += m.amount;
        ctx.send("ledger", "deposited", m);
        return warren::status::ok();
      });
    on.message<movement>(
      "withdraw", [](warren::context&, account_state& s, const movement& m) {
        if (m.amount <= 0 || m.amount > s.balance)
          return warren::status::fail("insufficient funds", true);
        s.balance -= m.amount;
        return warren::status::ok();
      });
    on.json("balance", [](warren::context& ctx, account_state& s,
                          const boost::json::value&) {
      ctx.reply(balance_reply{s.balance}, "balance");
    });
  }
};

} // namespace bank

void register_bank(warren::registry& kinds) {
  kinds.add_kind<bank::account>("bank.account");
}
