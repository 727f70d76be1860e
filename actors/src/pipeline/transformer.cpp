#include "pipeline/transformer.hpp"

#include "options.hpp"

namespace warren::actors {

namespace {

struct transformer_options {
  field_mapping mapping;
  stage_output output;
};

std::optional<transformer_options>
read_transformer(config::object_reader& options) {
  options.allow({"operations", "output"});
  auto mapping = field_mapping::read(options, "operations");
  auto output = stage_output::read(options, "output");
  if (!mapping || !output || !options.reader().ok())
    return std::nullopt;
  return transformer_options{std::move(*mapping), std::move(*output)};
}

} // namespace

void transformer::check_options(config::object_reader& options) {
  read_transformer(options);
}

transformer::transformer(const actor_init& init)
  : actor(init), counters_(init, "transformer") {
  auto read = read_options(init, read_transformer);
  mapping_ = std::move(read->mapping);
  output_ = std::move(read->output);
  mapping_failed_ = counters_.failed("mapping");
  output_failed_ = counters_.failed("output");
}

void transformer::setup(handlers& on) {
  on.otherwise([this](context& ctx, const boost::json::value& body) {
    return handle(ctx, body);
  });
}

status transformer::handle(context& ctx, const boost::json::value& body) {
  boost::json::value mapped = body;
  why_.clear();
  if (!mapping_.apply(mapped, why_)) {
    mapping_failed_.inc();
    return status::fail(errc::validation_failed, why_, true);
  }
  auto sent = output_.emit(ctx, std::move(mapped));
  if (!sent.is_ok()) {
    output_failed_.inc();
    return sent;
  }
  counters_.passed();
  return sent;
}

} // namespace warren::actors
