#pragma once

// Private to warren::actors: a JSON Schema (draft 7, as valijson 1.0 reads
// it) compiled once, and the violations of a message body. valijson stays
// inside json_schema.cpp. Pure logic.
//
// What valijson 1.0 supports: type, enum, const, required, properties,
// patternProperties, additionalProperties, propertyNames, dependencies,
// minProperties/maxProperties, items (one schema or a list),
// additionalItems, contains, minItems/maxItems, uniqueItems,
// minimum/maximum, exclusiveMinimum/exclusiveMaximum (numbers),
// multipleOf, minLength/maxLength, pattern (ECMAScript), format (date,
// time and date-time are checked on strings as RFC 3339 says, leap years
// included, by json_schema.cpp rather than by valijson, which would build a
// std::regex for each value; other formats are accepted), allOf,
// anyOf, oneOf, not, if/then/else, boolean schemas, and $ref to the
// schema's own parts (`#/definitions/...`, `#`). A remote $ref (another
// document) is refused when the schema is compiled.

#include <boost/json/value.hpp>
#include <memory>
#include <string>
#include <vector>

namespace warren::actors {

/// One way a body breaks a schema.
struct schema_violation {
  /// Where, as a JSON path into the body: "$", "$.temperature",
  /// "$.readings[2].value", "$[\"odd key\"]".
  std::string path;
  /// What, in valijson's words ("Missing required property 'device_id'.").
  std::string message;
};

class json_schema {
 public:
  /// Compiles `document` (an object or a boolean). Nullptr with `why` set
  /// when it is not a schema valijson accepts, names a remote $ref, or holds
  /// a `pattern` (or a `patternProperties` key) that is not an ECMAScript
  /// regular expression.
  static std::unique_ptr<json_schema>
  compile(const boost::json::value& document, std::string& why);

  ~json_schema();
  json_schema(const json_schema&) = delete;
  json_schema& operator=(const json_schema&) = delete;

  /// Checks `body`; appends every violation to `out` (the wrappers valijson
  /// adds above a nested violation, such as "Failed to validate against
  /// schema associated with property name 'x'", are left out: the nested
  /// one says more). True when there are none. Not thread-safe (valijson
  /// caches compiled patterns): one per actor instance.
  bool validate(const boost::json::value& body,
                std::vector<schema_violation>& out);

 private:
  struct impl;
  explicit json_schema(std::unique_ptr<impl> self);
  std::unique_ptr<impl> self_;
};

} // namespace warren::actors
