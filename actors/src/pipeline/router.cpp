#include "pipeline/router.hpp"

#include "options.hpp"
#include "warren/metrics/registry.hpp"

namespace warren::actors {

namespace {

std::optional<routing_table> read_router(config::object_reader& options) {
  options.allow({"mode", "routes", "otherwise"});
  return routing_table::read(options);
}

} // namespace

void router::check_options(config::object_reader& options) {
  read_router(options);
}

router::router(const actor_init& init)
  : actor(init), counters_(init, "router") {
  table_ = std::move(*read_options(init, read_router));
  unroutable_ = counters_.failed("unroutable");
  output_failed_ = counters_.failed("output");
  if (init.metrics == nullptr) {
    routed_.resize(table_.routes().size());
    return;
  }
  auto routed = [&](const std::string& route) {
    return init.metrics->make_counter(
      "warren_router_routed_total",
      "Messages a router sent to a route, by actor and route",
      {{"actor", init.name}, {"route", route}});
  };
  for (const auto& route : table_.routes())
    routed_.push_back(routed(route.name));
  if (table_.otherwise())
    routed_otherwise_ = routed("otherwise");
}

void router::setup(handlers& on) {
  on.otherwise([this](context& ctx, const boost::json::value& body) {
    return handle(ctx, body);
  });
}

status router::handle(context& ctx, const boost::json::value& body) {
  table_.select(body, matched_);
  if (matched_.empty()) {
    if (!table_.otherwise()) {
      unroutable_.inc();
      return status::fail(errc::unroutable,
                          "no route takes the message and the router has no "
                          "\"otherwise\" output",
                          true);
    }
    auto sent = table_.otherwise()->emit(ctx, body);
    if (!sent.is_ok()) {
      output_failed_.inc();
      return sent;
    }
    routed_otherwise_.inc();
    counters_.passed();
    return sent;
  }
  for (auto i : matched_) {
    const auto& route = table_.routes()[i];
    auto sent = route.output.emit(ctx, body);
    if (!sent.is_ok()) {
      output_failed_.inc();
      return status::fail(sent.code(),
                          "route \"" + route.name + "\": " + sent.reason(),
                          sent.permanent());
    }
    routed_[i].inc();
  }
  counters_.passed();
  return status::ok();
}

} // namespace warren::actors
