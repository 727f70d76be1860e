#include "pipeline/filter.hpp"

#include "options.hpp"
#include "warren/core/log.hpp"
#include "warren/metrics/registry.hpp"

namespace warren::actors {

std::optional<filter_rule> filter_rule::read(config::object_reader& options) {
  bool drop = options.find("drop_when") != nullptr;
  bool keep = options.find("keep_when") != nullptr;
  if (drop == keep) {
    options.reader().fail(options.path(),
                          "expected either \"drop_when\" or \"keep_when\" (a "
                          "predicate)");
    return std::nullopt;
  }
  auto test = predicate::read(options, drop ? "drop_when" : "keep_when");
  if (!test)
    return std::nullopt;
  return filter_rule{std::move(*test), drop};
}

std::string filter_rule::describe() const {
  return (drops_when_holds_ ? "drop_when " : "keep_when ") + test_.describe();
}

namespace {

struct filter_options {
  filter_rule rule;
  stage_output output;
};

std::optional<filter_options> read_filter(config::object_reader& options) {
  options.allow({"drop_when", "keep_when", "output"});
  auto rule = filter_rule::read(options);
  auto output = stage_output::read(options, "output");
  if (!rule || !output || !options.reader().ok())
    return std::nullopt;
  return filter_options{std::move(*rule), std::move(*output)};
}

} // namespace

void filter::check_options(config::object_reader& options) {
  read_filter(options);
}

filter::filter(const actor_init& init)
  : actor(init), counters_(init, "filter") {
  auto read = read_options(init, read_filter);
  rule_ = std::move(read->rule);
  rule_text_ = rule_->describe();
  output_ = std::move(read->output);
  output_failed_ = counters_.failed("output");
  if (init.metrics != nullptr)
    dropped_ = init.metrics->make_counter(
      "warren_filter_dropped_total",
      "Messages a filter dropped (acked without sending them on), by actor",
      {{"actor", init.name}});
}

void filter::setup(handlers& on) {
  on.otherwise([this](context& ctx, const boost::json::value& body) {
    return handle(ctx, body);
  });
}

status filter::handle(context& ctx, const boost::json::value& body) {
  if (!rule_->keeps(body)) {
    dropped_.inc();
    const auto& msg = ctx.message();
    log::debug(log::scope{ctx.actor_name(), msg.properties.message_id},
               "filter dropped message '{}' ({})", msg.properties.message_id,
               rule_text_);
    return status::ok();
  }
  auto sent = output_.emit(ctx, body);
  if (!sent.is_ok()) {
    output_failed_.inc();
    return sent;
  }
  counters_.passed();
  return sent;
}

} // namespace warren::actors
