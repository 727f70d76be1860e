// valijson reports errors by printing and calling abort() unless this is
// set; with it, a bad schema is an exception we turn into a config error.
#define VALIJSON_USE_EXCEPTIONS 1

#include "pipeline/json_schema.hpp"

#include "pipeline/timestamp.hpp"

#include <boost/json/serialize.hpp>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <regex>
#include <string_view>
#include <valijson/adapters/boost_json_adapter.hpp>
#include <valijson/constraint_builder.hpp>
#include <valijson/constraints/concrete_constraints.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace warren::actors {

namespace {

// Keys whose values are data, not schemas: a "pattern" inside them is not a
// regular expression, a "format" not a format.
bool holds_data(std::string_view key) {
  return key == "enum" || key == "const" || key == "default" ||
         key == "examples";
}

// Keys whose members are names (of properties, patterns, definitions,
// dependencies), each with a schema: a property named "format" is no keyword.
bool holds_names(std::string_view key) {
  return key == "properties" || key == "patternProperties" ||
         key == "definitions" || key == "dependencies";
}

// Calls `visit(schema, where)` on each object in `node` that sits where a
// schema may (`node` itself included), `where` being its JSON Pointer
// ("#/properties/a"), before it walks into the object's members. Stops at the
// first `visit` that returns false, and returns false then.
template<class Visit>
bool for_each_schema(boost::json::value& node, const std::string& where,
                     const Visit& visit) {
  if (auto* arr = node.if_array()) {
    for (std::size_t i = 0; i < arr->size(); ++i)
      if (!for_each_schema((*arr)[i], where + "/" + std::to_string(i), visit))
        return false;
    return true;
  }
  auto* obj = node.if_object();
  if (obj == nullptr)
    return true;
  if (!visit(*obj, where))
    return false;
  for (auto& member : *obj) {
    auto at = where + "/" + std::string{member.key()};
    if (holds_data(member.key()))
      continue;
    auto* names =
      holds_names(member.key()) ? member.value().if_object() : nullptr;
    if (names == nullptr) {
      if (!for_each_schema(member.value(), at, visit))
        return false;
      continue;
    }
    for (auto& named : *names)
      if (!for_each_schema(named.value(), at + "/" + std::string{named.key()},
                           visit))
        return false;
  }
  return true;
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
bool check_patterns(const boost::json::object& schema, const std::string& where,
                    std::string& why) {
  const auto* pattern = schema.if_contains("pattern");
  if (pattern != nullptr && pattern->is_string() &&
      !compiles(std::string{pattern->get_string()}, where + "/pattern", why))
    return false;
  const auto* keys = schema.if_contains("patternProperties");
  if (keys != nullptr && keys->is_object())
    for (const auto& p : keys->get_object())
      if (!compiles(std::string{p.key()}, where + "/patternProperties", why))
        return false;
  return true;
}

// The formats of RFC 3339 that valijson 1.0 checks, each with a std::regex
// it builds anew for every value. Ours, under a keyword of our own, are read
// by hand instead.
enum class rfc3339 : uint8_t {
  date,
  time,
  date_time,
  /// Any other text (a schema that wrote our keyword itself): accepted, as
  /// valijson accepts the formats it does not know.
  other,
};

constexpr const char* private_format = "x-warren-format";

rfc3339 rfc3339_kind(std::string_view format) {
  if (format == "date")
    return rfc3339::date;
  if (format == "time")
    return rfc3339::time;
  if (format == "date-time")
    return rfc3339::date_time;
  return rfc3339::other;
}

// Moves a date, time or date-time "format" of `schema` to our keyword, so
// valijson builds no FormatConstraint for it.
void hide_rfc3339_format(boost::json::object& schema) {
  const auto* format = schema.if_contains("format");
  if (format == nullptr || !format->is_string() ||
      rfc3339_kind(format->get_string()) == rfc3339::other)
    return;
  boost::json::value kind = *format;
  schema.erase("format");
  schema[private_format] = std::move(kind);
}

// Reads RFC 3339 (section 5.6) left to right, without allocating.
class rfc3339_reader {
 public:
  explicit rfc3339_reader(std::string_view text) : text_(text) {
    // Reads from the start.
  }

  /// `YYYY-MM-DD`, a day the month has (February 29 in leap years only).
  bool full_date() {
    unsigned year = 0;
    unsigned month = 0;
    unsigned day = 0;
    if (!number(4, 9999, year) || !take('-') || !number(2, 12, month) ||
        month == 0 || !take('-') || !number(2, 31, day) || day == 0)
      return false;
    // The first of the next month is later than the day: the month has it.
    auto next_year = month == 12 ? year + 1 : year;
    auto next_month = month == 12 ? 1 : month + 1;
    return days_from_civil(year, month, day) <
           days_from_civil(next_year, next_month, 1);
  }

  /// `HH:MM:SS[.frac]` and `Z` or `+HH:MM` or `-HH:MM`; second 60 is a leap
  /// second (at any minute, as valijson has it), `z` is `Z`.
  bool full_time() {
    unsigned ignored = 0;
    if (!number(2, 23, ignored) || !take(':') || !number(2, 59, ignored) ||
        !take(':') || !number(2, 60, ignored))
      return false;
    if (take('.') && !fraction())
      return false;
    if (take('Z') || take('z'))
      return true;
    return (take('+') || take('-')) && number(2, 23, ignored) && take(':') &&
           number(2, 59, ignored);
  }

  /// Takes `c` when it is next.
  bool take(char c) {
    if (pos_ == text_.size() || text_[pos_] != c)
      return false;
    ++pos_;
    return true;
  }

  bool at_end() const { return pos_ == text_.size(); }

 private:
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  // Exactly `width` digits, at most `max`.
  bool number(std::size_t width, unsigned max, unsigned& out) {
    if (text_.size() - pos_ < width)
      return false;
    out = 0;
    for (auto end = pos_ + width; pos_ < end; ++pos_) {
      if (!is_digit(text_[pos_]))
        return false;
      out = out * 10 + static_cast<unsigned>(text_[pos_] - '0');
    }
    return out <= max;
  }

  // One digit or more.
  bool fraction() {
    auto start = pos_;
    while (pos_ < text_.size() && is_digit(text_[pos_]))
      ++pos_;
    return pos_ > start;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

bool conforms(rfc3339 kind, std::string_view text) {
  rfc3339_reader in{text};
  switch (kind) {
    case rfc3339::date:
      return in.full_date() && in.at_end();
    case rfc3339::time:
      return in.full_time() && in.at_end();
    case rfc3339::date_time:
      return in.full_date() && (in.take('T') || in.take('t')) &&
             in.full_time() && in.at_end();
    case rfc3339::other:
      break;
  }
  return true;
}

// valijson's words for each.
const char* violation(rfc3339 kind) {
  switch (kind) {
    case rfc3339::date:
      return "String should be a valid date";
    case rfc3339::time:
      return "String should be a valid time";
    default:
      return "String should be a valid date-time";
  }
}

// Our keyword's check, as valijson runs a custom constraint: the same
// context (so json_path finds the value) and valijson's messages.
class rfc3339_format final : public valijson::constraints::PolyConstraint {
 public:
  explicit rfc3339_format(rfc3339 kind) : kind_(kind) {
    // Which format.
  }

  bool validate(const valijson::adapters::Adapter& target,
                const std::vector<std::string>& context,
                valijson::ValidationResults* results) const override {
    // The adapter only copies a string out: into one buffer per thread, which
    // stops allocating once it is long enough.
    thread_local std::string text;
    // A format constrains strings only (JSON Schema, unlike valijson 1.0).
    if (!target.getString(text) || conforms(kind_, text))
      return true;
    if (results != nullptr)
      results->pushError(context, violation(kind_));
    return false;
  }

 private:
  valijson::constraints::Constraint* cloneInto(void* memory) const override {
    return new (memory) rfc3339_format(*this);
  }

  std::size_t sizeOf() const override { return sizeof(rfc3339_format); }

  rfc3339 kind_;
};

class rfc3339_format_builder final : public valijson::ConstraintBuilder {
 public:
  valijson::constraints::Constraint*
  make(const valijson::adapters::Adapter& value) const override {
    std::string format;
    return new rfc3339_format(value.getString(format) ? rfc3339_kind(format)
                                                      : rfc3339::other);
  }
};

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
std::string json_path(const std::vector<std::string>& context,
                      const boost::json::value& body) {
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
  return path;
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
  auto self = std::make_unique<impl>();
  self->document = document;
  auto prepare = [&why](boost::json::object& schema, const std::string& where) {
    hide_rfc3339_format(schema);
    return check_patterns(schema, where, why);
  };
  if (!for_each_schema(self->document, "#", prepare))
    return nullptr;
  try {
    valijson::SchemaParser parser{valijson::SchemaParser::kDraft7};
    // The parser owns a builder once it has taken it.
    auto builder = std::make_unique<rfc3339_format_builder>();
    parser.addConstraintBuilder(private_format, builder.get());
    builder.release();
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
    auto path = json_path(error.context, body);
    bool wrapper = is_wrapper(error.description);
    precise = precise || !wrapper;
    errors.push_back({std::move(path), &error.description, wrapper});
  }
  for (auto& error : errors) {
    // Wrappers only when nothing more precise was said (below them, a
    // `false` subschema, which says nothing itself).
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
