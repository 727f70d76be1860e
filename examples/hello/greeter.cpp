// The hello example's plugin: a typed request-response actor.
//
// Run it (from the repository root, after scripts/setup.sh):
//   build/cli/warren run examples/hello/node.json
//   build/cli/warren call greeter -t greet '{"name": "world"}'
// or everything at once, broker included: scripts/demo.sh

#include <boost/describe/class.hpp>
#include <string>
#include <warren/runtime/registry.hpp>

namespace hello {

/// Request: {"name": "world"}
struct greet {
  std::string name;
};
BOOST_DESCRIBE_STRUCT(greet, (), (name))

/// Reply: {"text": "hello, world", "greeter": "greeter", "count": 1}
struct greeting {
  std::string text;
  std::string greeter;
  int64_t count = 0;
};
BOOST_DESCRIBE_STRUCT(greeting, (), (text, greeter, count))

/// Greets by name. An empty name is the caller's mistake: a permanent
/// failure, answered with an error reply and dead-lettered.
class greeter : public warren::actor {
 public:
  explicit greeter(const warren::actor_init& init) : warren::actor(init) {
    if (const auto* p = init.options.if_contains("greeting"))
      if (p->is_string())
        salutation_ = std::string{p->as_string()};
  }

  void setup(warren::handlers& on) override {
    on.message<greet>("greet", [this](warren::context& ctx, const greet& g) {
      if (g.name.empty())
        return warren::status::fail("name must not be empty", true);
      ctx.reply(greeting{salutation_ + ", " + g.name, name(), ++count_},
                "greeting");
      return warren::status::ok();
    });
  }

 private:
  std::string salutation_ = "hello";
  int64_t count_ = 0;
};

} // namespace hello

WARREN_PLUGIN(kinds) {
  kinds.add_kind<hello::greeter>("hello.greeter");
}
