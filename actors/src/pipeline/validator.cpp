#include "pipeline/validator.hpp"

#include "options.hpp"
#include "warren/metrics/registry.hpp"

namespace warren::actors {

namespace {

struct validator_options {
  validation_rules rules;
  stage_output output;
};

std::optional<validator_options> read_validator(config::object_reader& options,
                                                const std::string* config_dir) {
  options.allow(
    {"schemas", "soft_checks", "quality_field", "min_quality", "output"});
  auto rules = validation_rules::read(options, config_dir);
  auto output = stage_output::read(options, "output");
  if (!rules || !output || !options.reader().ok())
    return std::nullopt;
  return validator_options{std::move(*rules), std::move(*output)};
}

std::vector<double> quality_buckets() {
  return {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0};
}

} // namespace

void validator::check_options(config::object_reader& options) {
  read_validator(options, nullptr);
}

validator::validator(const actor_init& init)
  : actor(init), counters_(init, "validator") {
  auto read = read_options(init, [&](config::object_reader& options) {
    return read_validator(options, &init.config_dir);
  });
  rules_ = std::move(read->rules);
  output_ = std::move(read->output);
  no_schema_ = counters_.failed("no_schema");
  schema_failed_ = counters_.failed("schema");
  quality_failed_ = counters_.failed("quality");
  unwritable_ = counters_.failed("unwritable");
  output_failed_ = counters_.failed("output");
  if (init.metrics != nullptr) {
    quality_ = init.metrics->make_histogram(
      "warren_validator_quality_ratio",
      "Quality scores (share of soft checks passed) of the messages a "
      "validator scored",
      quality_buckets(), {{"actor", init.name}}, 1e6);
    recent_quality_ = init.metrics->make_gauge(
      "warren_data_quality_score",
      "Quality score of a validator's recent messages (share of soft checks "
      "passed, exponentially weighted over about the last 64)",
      {{"actor", init.name}});
    const auto& checks = rules_.soft_checks();
    for (std::size_t i = 0; i < checks.size(); ++i)
      check_failed_.push_back(init.metrics->make_counter(
        "warren_validator_soft_check_failed_total",
        "Messages that failed a validator's soft check, by actor and check",
        {{"actor", init.name}, {"check", checks[i].name}}));
  }
}

void validator::setup(handlers& on) {
  on.otherwise([this](context& ctx, const boost::json::value& body) {
    return handle(ctx, body);
  });
}

status validator::handle(context& ctx, const boost::json::value& body) {
  boost::json::value annotated = body;
  auto verdict = rules_.check(ctx.message().properties.type, annotated);
  if (verdict.quality) {
    quality_.observe(*verdict.quality);
    recent_ = recent_ < 0 ? *verdict.quality
                          : recent_ + (*verdict.quality - recent_) / 64.0;
    recent_quality_.set(recent_);
    for (auto i : verdict.failed_checks)
      if (i < check_failed_.size())
        check_failed_[i].inc();
  }
  using outcome = validation_rules::outcome;
  switch (verdict.result) {
    case outcome::passed:
      break;
    case outcome::no_schema:
      no_schema_.inc();
      return status::fail(errc::validation_failed, verdict.reason, true);
    case outcome::schema_violation:
      schema_failed_.inc();
      return status::fail(errc::validation_failed, verdict.reason, true);
    case outcome::low_quality:
      quality_failed_.inc();
      return status::fail(errc::validation_failed, verdict.reason, true);
    case outcome::unwritable_score:
      unwritable_.inc();
      return status::fail(errc::validation_failed, verdict.reason, true);
  }
  auto sent = output_.emit(ctx, std::move(annotated));
  if (!sent.is_ok()) {
    output_failed_.inc();
    return sent;
  }
  counters_.passed();
  return sent;
}

} // namespace warren::actors
