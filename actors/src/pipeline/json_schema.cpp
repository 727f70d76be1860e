// valijson reports errors by printing and calling abort() unless this is
// set; with it, a bad schema is an exception we turn into a config error.
#define VALIJSON_USE_EXCEPTIONS 1

#include "pipeline/json_schema.hpp"

#include <boost/json/serialize.hpp>
#include <cctype>
#include <cstdlib>
#include <regex>
#include <string_view>
#include <valijson/adapters/boost_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace warren::actors {

namespace {

// Keys whose values are data, not schemas: a "pattern" inside them is not a
// regular expression.
bool holds_data(std::string_view key) {
  return key == "enum" || key == "const" || key == "default" ||
         key == "examples";
}

bool compiles(const std::string& pattern, const std::string& at,
              std::string& why) {
  try {
    std::regex compiled{pattern, std::regex::ECMAScript};
    return true;
  } catch (const std::regex_error& e) {
    why = at + ": \"" + pattern +
          "\" is not an ECMAScript regular expression (" + e.what() + ")";
    return false;
  }
}

// valijson compiles patterns when it first validates against them, and a
// bad one throws then: check them all now, so a bad schema fails the start.
bool check_patterns(const boost::json::value& node, const std::string& where,
                    std::string& why) {
  if (const auto* arr = node.if_array()) {
    for (std::size_t i = 0; i < arr->size(); ++i)
      if (!check_patterns((*arr)[i], where + "/" + std::to_string(i), why))
        return false;
    return true;
  }
  const auto* obj = node.if_object();
  if (obj == nullptr)
    return true;
  for (const auto& member : *obj) {
    std::string key{member.key()};
    auto at = where + "/" + key;
    if (holds_data(key))
      continue;
    if (key == "pattern" && member.value().is_string()) {
      if (!compiles(std::string{member.value().get_string()}, at, why))
        return false;
      continue;
    }
    if (key == "patternProperties" && member.value().is_object())
      for (const auto& p : member.value().get_object())
        if (!compiles(std::string{p.key()}, at, why))
          return false;
    if (!check_patterns(member.value(), at, why))
      return false;
  }
  return true;
}

bool is_identifier(std::string_view key) {
  if (key.empty() || std::isdigit(static_cast<unsigned char>(key[0])))
    return false;
  for (char c : key)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
      return false;
  return true;
}

// valijson's context is "<root>", then "[name]" or "[index]" per step; the
// body itself tells an array index from an object key that looks like one.
// `value` is set to the value at the path (nullptr when not found).
std::string json_path(const std::vector<std::string>& context,
                      const boost::json::value& body,
                      const boost::json::value*& value) {
  std::string path = "$";
  const boost::json::value* at = &body;
  for (std::size_t i = 1; i < context.size(); ++i) {
    std::string_view inner{context[i]};
    if (inner.size() >= 2 && inner.front() == '[' && inner.back() == ']')
      inner = inner.substr(1, inner.size() - 2);
    if (at != nullptr && at->is_array()) {
      path += "[" + std::string{inner} + "]";
      auto index = std::strtoul(std::string{inner}.c_str(), nullptr, 10);
      at = index < at->get_array().size() ? &at->get_array()[index] : nullptr;
      continue;
    }
    if (is_identifier(inner))
      path += "." + std::string{inner};
    else
      path += "[" + boost::json::serialize(boost::json::string(inner)) + "]";
    const auto* obj = at != nullptr ? at->if_object() : nullptr;
    at = obj != nullptr ? obj->if_contains(inner) : nullptr;
  }
  value = at;
  return path;
}

// valijson 1.0 checks `format` on numbers too (as their text), where JSON
// Schema says a format constrains strings only.
bool format_on_non_string(const std::string& message,
                          const boost::json::value* value) {
  constexpr std::string_view format_error = "String should be a valid";
  return value != nullptr && !value->is_string() &&
         std::string_view{message}.substr(0, format_error.size()) ==
           format_error;
}

// The wrappers valijson puts above a nested error.
bool is_wrapper(const std::string& message) {
  static constexpr std::string_view wrappers[] = {
    "Failed to validate against schema associated with property name",
    "Failed to validate against schema associated with pattern",
    "Failed to validate item #",
    "Failed to validate against child schema #",
    "Failed to validate against additional properties schema",
  };
  for (auto w : wrappers)
    if (std::string_view{message}.substr(0, w.size()) == w)
      return true;
  return false;
}

} // namespace

struct json_schema::impl {
  boost::json::value document;
  valijson::Schema schema;
  valijson::Validator validator;
};

json_schema::json_schema(std::unique_ptr<impl> self) : self_(std::move(self)) {
  // Only compile makes one.
}

json_schema::~json_schema() = default;

std::unique_ptr<json_schema>
json_schema::compile(const boost::json::value& document, std::string& why) {
  if (!document.is_object() && !document.is_bool()) {
    why = "a schema is an object or a boolean";
    return nullptr;
  }
  if (!check_patterns(document, "#", why))
    return nullptr;
  auto self = std::make_unique<impl>();
  self->document = document;
  try {
    valijson::SchemaParser parser{valijson::SchemaParser::kDraft7};
    valijson::adapters::BoostJsonAdapter adapter{self->document};
    parser.populateSchema(adapter, self->schema);
  } catch (const std::exception& e) {
    why = e.what();
    return nullptr;
  }
  return std::unique_ptr<json_schema>{new json_schema(std::move(self))};
}

bool json_schema::validate(const boost::json::value& body,
                           std::vector<schema_violation>& out) {
  valijson::ValidationResults results;
  valijson::adapters::BoostJsonAdapter target{body};
  bool valid = false;
  try {
    valid = self_->validator.validate(self_->schema, target, &results);
  } catch (const std::exception& e) {
    // Patterns were checked at compile time; anything else valijson throws
    // is still a verdict on this body, not a reason to retry it.
    out.push_back({"$", std::string{"the schema check failed: "} + e.what()});
    return false;
  }
  if (valid)
    return true;
  auto first = out.size();
  struct found {
    std::string path;
    const std::string* message;
    bool wrapper;
  };
  std::vector<found> errors;
  bool precise = false;
  for (const auto& error : results) {
    const boost::json::value* value = nullptr;
    auto path = json_path(error.context, body, value);
    if (format_on_non_string(error.description, value))
      continue;
    bool wrapper = is_wrapper(error.description);
    precise = precise || !wrapper;
    errors.push_back({std::move(path), &error.description, wrapper});
  }
  // Only wrappers left: a `false` subschema (which says nothing itself), or
  // nothing but format errors on non-strings, which are no errors at all.
  if (!precise && errors.size() < results.numErrors())
    return true;
  for (auto& error : errors) {
    // Wrappers only when nothing more precise was said.
    if (precise && error.wrapper)
      continue;
    bool seen = false;
    for (auto i = first; i < out.size() && !seen; ++i)
      seen = out[i].path == error.path && out[i].message == *error.message;
    if (!seen)
      out.push_back({std::move(error.path), *error.message});
  }
  if (out.size() == first)
    out.push_back({"$", "the body does not match the schema"});
  return false;
}

} // namespace warren::actors
