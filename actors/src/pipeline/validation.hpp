#pragma once

// Private to warren::actors: what the validator kind decides about one
// message, apart from the actor (validator.hpp): the JSON Schema of its
// type (json_schema.hpp), then the quality score of its soft checks
// (quality.hpp), written into the body. Pure logic.
//
// Options it reads (the validator's, see docs/pipeline.md):
//   "schemas": {"<type>": schema, "*": schema}  schema: an object or a
//              boolean inline, or a string: the path of a JSON file
//   "soft_checks": [...], "quality_field": "quality", "min_quality": 0.8

#include "pipeline/field_path.hpp"
#include "pipeline/json_schema.hpp"
#include "pipeline/quality.hpp"
#include "warren/config/reader.hpp"

#include <boost/json/value.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace warren::actors {

class validation_rules {
 public:
  /// At most this many violations are written into a dead letter's reason
  /// (then "and N more"): a header has to fit in an AMQP frame.
  static constexpr std::size_t max_listed_violations = 100;

  /// Largest schema file read.
  static constexpr std::size_t max_schema_file_bytes = 4 * 1024 * 1024;

  /// Reads and compiles the rules. Schema files are read (relative paths
  /// against `config_dir`) only when `config_dir` is given: `warren check`
  /// compiles inline schemas and checks that file names are strings.
  /// Records errors in the reader (a bad schema names its JSON path and,
  /// for a file, the file); nullopt then.
  static std::optional<validation_rules> read(config::object_reader& options,
                                              const std::string* config_dir);

  enum class outcome {
    /// Valid, and good enough: send it on.
    passed,
    /// No schema for its type and no "*" schema.
    no_schema,
    /// The schema of its type rejects it.
    schema_violation,
    /// Its quality is below `min_quality`.
    low_quality,
    /// The score cannot be written into it (the body is not an object, or
    /// the field's way is blocked by a non-object).
    unwritable_score,
  };

  struct verdict {
    outcome result = outcome::passed;
    /// The score, when there are soft checks.
    std::optional<double> quality;
    /// Indexes of the failed soft checks.
    std::vector<std::size_t> failed_checks;
    /// For anything but `passed`: the dead letter's reason, with every
    /// violation's JSON path, or the failed soft checks.
    std::string reason;
  };

  /// Checks a message of type `type` (empty: none) and, when there are soft
  /// checks, writes the score into `body` at the quality field.
  verdict check(const std::string& type, boost::json::value& body);

  const quality_checks& soft_checks() const noexcept { return soft_checks_; }

 private:
  json_schema* schema_for(const std::string& type);

  // A map: a handful of types, and std::map's nodes keep schemas in place.
  std::map<std::string, std::shared_ptr<json_schema>> schemas_;
  bool has_schemas_ = false;
  quality_checks soft_checks_;
  std::optional<field_path> quality_field_;
  double min_quality_ = 0;
  std::vector<schema_violation> violations_; // reused per message
};

} // namespace warren::actors
