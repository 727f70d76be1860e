// A custom-actor plugin built OUT OF TREE against the installed warren
// package (find_package(warren)), and loaded by the stock `warren run`.
//
//   cmake --install build --prefix /tmp/warren
//   cmake -S examples/custom_actor -B examples/custom_actor/build
//   -DCMAKE_PREFIX_PATH=/tmp/warren cmake --build examples/custom_actor/build
//   /tmp/warren/bin/warren run examples/custom_actor/node.json &
//   /tmp/warren/bin/warren call doubler -t double '{"x": 21}'      #
//   {"result":42}
//
// Two kinds:
//   calc.arith    typed request-response: "add" and "div" on {"a", "b"};
//                 division by zero is a permanent failure (error reply +
//                 dead letter).
//   calc.doubler  "double" {"x"}: calls the arith service (a call with a
//                 continuation; it never blocks) and replies with its result.
//   bank.account  a stateful actor (account.cpp): balances in SQLite.

#include <boost/describe/class.hpp>
#include <warren/runtime/registry.hpp>

namespace calc {

struct operands {
  double a = 0;
  double b = 0;
};
BOOST_DESCRIBE_STRUCT(operands, (), (a, b))

struct result {
  double result = 0;
};
BOOST_DESCRIBE_STRUCT(result, (), (result))

struct double_request {
  double x = 0;
};
BOOST_DESCRIBE_STRUCT(double_request, (), (x))

class arith : public warren::actor {
 public:
  using warren::actor::actor;

  void setup(warren::handlers& on) override {
    on.message<operands>("add", [](warren::context& ctx, const operands& op) {
      ctx.reply(result{op.a + op.b}, "result");
    });
    on.message<operands>("div", [](warren::context& ctx, const operands& op) {
      if (op.b == 0)
        return warren::status::fail("division by zero", true);
      ctx.reply(result{op.a / op.b}, "result");
      return warren::status::ok();
    });
  }
};

class doubler : public warren::actor {
 public:
  using warren::actor::actor;

  void setup(warren::handlers& on) override {
    on.message<double_request>("double", [this](warren::context& ctx,
                                                const double_request& req) {
      ctx.call(arith_service(), "add", operands{req.x, req.x},
               [](warren::context& ctx, warren::call_result reply) {
                 if (!reply) {
                   ctx.fail(warren::status::fail(
                     "arith call failed: " + warren::describe(reply.error())));
                   return;
                 }
                 ctx.reply_json(*reply, "result");
               });
    });
  }

 private:
  // The service to call, from the actor's options (default "arith").
  std::string arith_service() const {
    if (const auto* s = options().if_contains("arith"))
      if (s->is_string())
        return std::string{s->as_string()};
    return "arith";
  }
};

} // namespace calc

// The stateful example, in account.cpp.
void register_bank(warren::registry& kinds);

WARREN_PLUGIN(kinds) {
  kinds.add_kind<calc::arith>("calc.arith");
  kinds.add_kind<calc::doubler>("calc.doubler");
  register_bank(kinds);
}
