#include "pipeline/validation.hpp"

#include "pipeline/stage_common.hpp"

#include <boost/json/parse.hpp>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace warren::actors {

namespace {

// The text of a JSON file, or nullopt and `why`.
std::optional<boost::json::value> load_schema_file(const std::string& file,
                                                   std::string& why) {
  std::ifstream in{file, std::ios::binary};
  if (!in) {
    why = "cannot read the schema file " + file + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::string text;
  char buffer[64 * 1024];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > validation_rules::max_schema_file_bytes) {
      why = "the schema file " + file + " is larger than " +
            std::to_string(validation_rules::max_schema_file_bytes) + " bytes";
      return std::nullopt;
    }
  }
  boost::system::error_code ec;
  auto doc = boost::json::parse(text, ec);
  if (ec) {
    why = "the schema file " + file + " is not JSON: " + ec.message();
    return std::nullopt;
  }
  return doc;
}

std::string format_score(double score) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", score);
  return text;
}

} // namespace

std::optional<validation_rules>
validation_rules::read(config::object_reader& options,
                       const std::string* config_dir) {
  validation_rules rules;
  auto& reader = options.reader();
  if (options.find("schemas") != nullptr) {
    auto schemas = options.object("schemas");
    if (!schemas)
      return std::nullopt;
    rules.has_schemas_ = true;
    if (schemas->json().empty()) {
      reader.fail(schemas->path(), "expected at least one message type with "
                                   "its schema (\"*\" for every type)");
      return std::nullopt;
    }
    for (const auto& member : schemas->json()) {
      std::string type{member.key()};
      auto path = schemas->path_of(type);
      const auto& value = member.value();
      std::string why;
      std::unique_ptr<json_schema> compiled;
      if (value.is_string()) {
        if (value.get_string().empty()) {
          reader.fail_expected(path,
                               "a schema (an object or a boolean) or "
                               "the path of a schema file",
                               value);
          return std::nullopt;
        }
        if (config_dir == nullptr)
          continue; // files are read when the actor starts
        auto file = resolve_path(*config_dir, std::string{value.get_string()});
        auto doc = load_schema_file(file, why);
        if (doc) {
          compiled = json_schema::compile(*doc, why);
          if (!compiled)
            why = "the schema file " + file + " is not a schema: " + why;
        }
      } else if (value.is_object() || value.is_bool()) {
        compiled = json_schema::compile(value, why);
        if (!compiled)
          why = "not a JSON Schema (draft 7): " + why;
      } else {
        reader.fail_expected(path,
                             "a schema (an object or a boolean) or the "
                             "path of a schema file",
                             value);
        return std::nullopt;
      }
      if (!compiled) {
        reader.fail(path, why);
        return std::nullopt;
      }
      rules.schemas_[type] = std::move(compiled);
    }
  }
  auto checks = quality_checks::read(options, "soft_checks");
  if (!checks)
    return std::nullopt;
  rules.soft_checks_ = std::move(*checks);
  std::string quality_field = "quality";
  options.string("quality_field", quality_field);
  if (!quality_field.empty()) {
    rules.quality_field_ = field_path::parse(quality_field);
    if (!rules.quality_field_) {
      reader.fail(options.path_of("quality_field"),
                  "expected a field path such as \"quality\" or "
                  "\"meta.quality\", or \"\" to leave the score out, found "
                  "\"" +
                    quality_field + "\"");
      return std::nullopt;
    }
  }
  read_number(options, "min_quality", 0, 1, rules.min_quality_);
  if (rules.min_quality_ > 0 && rules.soft_checks_.empty())
    reader.fail(options.path_of("min_quality"),
                "a minimum quality needs \"soft_checks\" to score");
  if (!reader.ok())
    return std::nullopt;
  return rules;
}

json_schema* validation_rules::schema_for(const std::string& type) {
  auto i = schemas_.find(type);
  if (i == schemas_.end())
    i = schemas_.find("*");
  return i == schemas_.end() ? nullptr : i->second.get();
}

validation_rules::verdict validation_rules::check(const std::string& type,
                                                  boost::json::value& body) {
  verdict v;
  auto type_name = type.empty() ? std::string{"(none)"} : "'" + type + "'";
  if (has_schemas_) {
    auto* schema = schema_for(type);
    if (schema == nullptr) {
      v.result = outcome::no_schema;
      v.reason =
        "no schema for message type " + type_name + " (and no \"*\" schema)";
      return v;
    }
    violations_.clear();
    if (!schema->validate(body, violations_)) {
      v.result = outcome::schema_violation;
      auto n = violations_.size();
      v.reason = "schema violation" + std::string{n == 1 ? "" : "s"} +
                 " (message type " + type_name + ", " + std::to_string(n) +
                 "): ";
      for (std::size_t i = 0; i < n && i < max_listed_violations; ++i) {
        if (i > 0)
          v.reason += "; ";
        v.reason += violations_[i].path + ": " + violations_[i].message;
      }
      if (n > max_listed_violations)
        v.reason +=
          "; and " + std::to_string(n - max_listed_violations) + " more";
      return v;
    }
  }
  if (soft_checks_.empty())
    return v;
  auto score = soft_checks_.score(body, v.failed_checks);
  v.quality = score;
  auto failed_list = [&] {
    std::string list;
    for (auto i : v.failed_checks)
      list += (list.empty() ? "" : "; ") + soft_checks_[i].name;
    return list;
  };
  if (score < min_quality_) {
    v.result = outcome::low_quality;
    v.reason = "quality " + format_score(score) + " is below min_quality " +
               format_score(min_quality_) + " (" +
               std::to_string(soft_checks_.size() - v.failed_checks.size()) +
               " of " + std::to_string(soft_checks_.size()) +
               " soft checks passed); failed: " + failed_list();
    return v;
  }
  if (quality_field_) {
    auto* slot = quality_field_->make(body);
    if (slot == nullptr) {
      v.result = outcome::unwritable_score;
      v.reason = "cannot write the quality score at '" +
                 quality_field_->text() +
                 (body.is_object() ? "': a field on the way is not an object"
                                   : "': the body is not a JSON object");
      return v;
    }
    *slot = score;
  }
  return v;
}

} // namespace warren::actors
