#pragma once

// Private to warren::actors: conditions on the fields of a message body, as
// a router's `when`, a filter's `drop_when`/`keep_when` and a validator's
// soft checks write them. Pure logic.
//
//   {"field": "temperature", "gt": 30}           a test on one field
//   {"field": "t", "ge": -40, "le": 125}         several tests: all must hold
//   {"all": [p, ...]}  {"any": [p, ...]}  {"not": p}
//
// Tests: `exists` (true: the field is there and not null; false: it is
// missing or null), `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `in` (an array of
// values), `matches` (an ECMAScript regular expression, searched anywhere in
// the string: anchor it with ^...$ for a whole match) and `type` ("string",
// "number", "integer", "boolean", "object", "array", "null").
//
// Defined outcomes, never errors: a missing field fails every test except
// `exists: false`; a null field is a value (`eq: null` holds) that only
// `exists` treats as missing. Numbers compare as numbers whatever their JSON
// form (1 == 1.0); strings order by their bytes (so ISO timestamps in one
// format order in time); `lt`/`le`/`gt`/`ge` between a number and a
// string, or on booleans, arrays, objects or null, are false; `eq` between
// different types is false and `ne` true. `matches` on a non-string is
// false. `{"all": []}` holds, `{"any": []}` does not.

#include "pipeline/field_path.hpp"
#include "warren/config/reader.hpp"

#include <boost/json/value.hpp>
#include <initializer_list>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace warren::actors {

class predicate {
 public:
  /// Reads the predicate at `v` (`path` names it in errors). `extra_keys`
  /// are keys the caller reads itself from the same object (a soft check's
  /// "name"). Records the first error in `reader`; nullopt then.
  static std::optional<predicate>
  read(config::config_reader& reader, const boost::json::value& v,
       const std::string& path,
       std::initializer_list<std::string_view> extra_keys = {});

  /// Reads the predicate under `key` of `options` (required).
  static std::optional<predicate> read(config::object_reader& options,
                                       std::string_view key);

  /// Whether `body` satisfies the predicate.
  bool holds(const boost::json::value& body) const;

  /// The predicate in words, for logs and default names:
  /// "temperature gt 30", "all(a exists, not(b eq \"x\"))".
  std::string describe() const;

  /// JSON equality with numbers compared as numbers (1 == 1.0).
  static bool same_value(const boost::json::value& a,
                         const boost::json::value& b);

 private:
  enum class op : uint8_t {
    exists,
    eq,
    ne,
    lt,
    le,
    gt,
    ge,
    in,
    matches,
    type,
  };

  enum class json_type : uint8_t {
    string,
    number,
    integer,
    boolean,
    object,
    array,
    null,
  };

  struct test {
    op what;
    boost::json::value operand;
    /// For `matches`: compiled once.
    std::shared_ptr<const std::regex> pattern;
    json_type type = json_type::null;
  };

  enum class combinator : uint8_t { leaf, all, any, negate };

  struct node {
    combinator how = combinator::leaf;
    std::optional<field_path> field;
    std::vector<test> tests;
    std::vector<node> children;
  };

  static bool read_node(config::config_reader& reader,
                        const boost::json::value& v, const std::string& path,
                        std::initializer_list<std::string_view> extra_keys,
                        node& out, int depth);
  static bool read_test(config::config_reader& reader, std::string_view key,
                        const boost::json::value& operand,
                        const std::string& path, test& out);
  static bool eval(const node& n, const boost::json::value& body);
  static bool eval(const test& t, const boost::json::value* value);
  static void describe(const node& n, std::string& out);

  node root_;
};

} // namespace warren::actors
