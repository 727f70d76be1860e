#include "pipeline/predicate.hpp"

#include <array>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstdint>

namespace warren::actors {

namespace {

// A config nesting deeper than this is a mistake, and evaluation recurses.
constexpr int max_depth = 32;

// In the order of predicate::op.
constexpr std::array<std::string_view, 10> op_names = {
  "exists", "eq", "ne", "lt", "le", "gt", "ge", "in", "matches", "type"};

constexpr std::array<std::string_view, 7> type_names = {
  "string", "number", "integer", "boolean", "object", "array", "null"};

std::string op_list() {
  std::string list;
  for (auto name : op_names)
    list += (list.empty() ? "" : ", ") + std::string{name};
  return list;
}

bool is_number(const boost::json::value& v) {
  return v.is_int64() || v.is_uint64() || v.is_double();
}

// -1, 0 or 1; both must be numbers. Exact for any pair of integers.
int compare_numbers(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_int64() && b.is_int64())
    return a.get_int64() < b.get_int64() ? -1 : a.get_int64() > b.get_int64();
  if (a.is_uint64() && b.is_uint64())
    return a.get_uint64() < b.get_uint64() ? -1
                                           : a.get_uint64() > b.get_uint64();
  if (a.is_int64() && b.is_uint64())
    return a.get_int64() < 0
             ? -1
             : compare_numbers(
                 boost::json::value(static_cast<uint64_t>(a.get_int64())), b);
  if (a.is_uint64() && b.is_int64())
    return -compare_numbers(b, a);
  auto x = a.to_number<double>();
  auto y = b.to_number<double>();
  return x < y ? -1 : x > y;
}

bool is_integral(const boost::json::value& v) {
  if (v.is_int64() || v.is_uint64())
    return true;
  if (!v.is_double())
    return false;
  double d = v.get_double();
  return std::isfinite(d) && std::trunc(d) == d;
}

} // namespace

bool predicate::same_value(const boost::json::value& a,
                           const boost::json::value& b) {
  if (is_number(a) && is_number(b))
    return compare_numbers(a, b) == 0;
  if (a.kind() != b.kind())
    return false;
  if (const auto* arr = a.if_array()) {
    const auto& other = b.get_array();
    if (arr->size() != other.size())
      return false;
    for (std::size_t i = 0; i < arr->size(); ++i)
      if (!same_value((*arr)[i], other[i]))
        return false;
    return true;
  }
  if (const auto* obj = a.if_object()) {
    const auto& other = b.get_object();
    if (obj->size() != other.size())
      return false;
    for (const auto& member : *obj) {
      const auto* match = other.if_contains(member.key());
      if (match == nullptr || !same_value(member.value(), *match))
        return false;
    }
    return true;
  }
  return a == b;
}

std::optional<predicate>
predicate::read(config::config_reader& reader, const boost::json::value& v,
                const std::string& path,
                std::initializer_list<std::string_view> extra_keys) {
  predicate result;
  if (!read_node(reader, v, path, extra_keys, result.root_, 0))
    return std::nullopt;
  return result;
}

std::optional<predicate> predicate::read(config::object_reader& options,
                                         std::string_view key) {
  const auto* v = options.require(key);
  if (v == nullptr)
    return std::nullopt;
  return read(options.reader(), *v, options.path_of(key));
}

bool predicate::read_node(config::config_reader& reader,
                          const boost::json::value& v, const std::string& path,
                          std::initializer_list<std::string_view> extra_keys,
                          node& out, int depth) {
  static const std::string expected =
    "a predicate (an object with \"field\" and tests such as \"eq\", or "
    "one of \"all\", \"any\", \"not\")";
  if (depth > max_depth) {
    reader.fail(path, "predicates nest deeper than " +
                        std::to_string(max_depth) + " levels");
    return false;
  }
  if (!v.is_object()) {
    reader.fail_expected(path, expected, v);
    return false;
  }
  config::object_reader obj{reader, v.get_object(), path};
  auto is_extra = [&](std::string_view key) {
    for (auto extra : extra_keys)
      if (key == extra)
        return true;
    return false;
  };
  // A combinator is the object's one key besides the caller's own.
  for (auto [name, how] :
       {std::pair{"all", combinator::all}, std::pair{"any", combinator::any},
        std::pair{"not", combinator::negate}}) {
    const auto* operand = obj.find(name);
    if (operand == nullptr)
      continue;
    for (const auto& member : obj.json()) {
      std::string_view key{member.key().data(), member.key().size()};
      if (key != name && !is_extra(key)) {
        reader.fail(obj.path_of(key),
                    "unexpected key beside \"" + std::string{name} +
                      "\" (a combinator stands alone; put field tests "
                      "inside it)");
        return false;
      }
    }
    out.how = how;
    auto inner_path = obj.path_of(name);
    if (how == combinator::negate) {
      out.children.emplace_back();
      return read_node(reader, *operand, inner_path, {}, out.children.back(),
                       depth + 1);
    }
    const auto* list = reader.array(*operand, inner_path);
    if (list == nullptr)
      return false;
    out.children.resize(list->size());
    for (std::size_t i = 0; i < list->size(); ++i)
      if (!read_node(reader, (*list)[i],
                     inner_path + "[" + std::to_string(i) + "]", {},
                     out.children[i], depth + 1))
        return false;
    return true;
  }
  out.how = combinator::leaf;
  const auto* field = obj.find("field");
  if (field == nullptr) {
    reader.fail(path, "expected " + expected +
                        ", found an object without "
                        "\"field\"");
    return false;
  }
  std::string text;
  if (!obj.string("field", text, config::text_rule::non_empty))
    return false;
  out.field = field_path::parse(text);
  if (!out.field) {
    reader.fail(obj.path_of("field"),
                "expected a field path such as \"device_id\" or "
                "\"location.city\" (no empty segments), found \"" +
                  text + "\"");
    return false;
  }
  for (const auto& member : obj.json()) {
    std::string_view key{member.key().data(), member.key().size()};
    if (key == "field" || is_extra(key))
      continue;
    test t;
    if (!read_test(reader, key, member.value(), obj.path_of(key), t))
      return false;
    out.tests.push_back(std::move(t));
  }
  if (out.tests.empty()) {
    reader.fail(path, "the test on \"" + text +
                        "\" has no operator (expected at least one of: " +
                        op_list() + ")");
    return false;
  }
  return true;
}

bool predicate::read_test(config::config_reader& reader, std::string_view key,
                          const boost::json::value& operand,
                          const std::string& path, test& out) {
  std::size_t code = op_names.size();
  for (std::size_t i = 0; i < op_names.size(); ++i)
    if (op_names[i] == key)
      code = i;
  if (code == op_names.size()) {
    reader.fail(
      path, "unknown key (expected \"field\" or a test: " + op_list() + ")");
    return false;
  }
  out.what = static_cast<op>(code);
  out.operand = operand;
  switch (out.what) {
    case op::exists:
      return reader.boolean(operand, path).has_value();
    case op::eq:
    case op::ne:
      return true;
    case op::lt:
    case op::le:
    case op::gt:
    case op::ge:
      if (is_number(operand) || operand.is_string())
        return true;
      reader.fail_expected(path, "a number or a string", operand);
      return false;
    case op::in:
      return reader.array(operand, path) != nullptr;
    case op::matches: {
      auto text = reader.string(operand, path);
      if (!text)
        return false;
      try {
        out.pattern = std::make_shared<const std::regex>(
          *text, std::regex::ECMAScript | std::regex::optimize);
      } catch (const std::regex_error& e) {
        reader.fail(path, "expected an ECMAScript regular expression, found "
                          "\"" +
                            *text + "\" (" + e.what() + ")");
        return false;
      }
      return true;
    }
    case op::type: {
      auto index = reader.choice(
        operand, path,
        {"string", "number", "integer", "boolean", "object", "array", "null"});
      if (!index)
        return false;
      out.type = static_cast<json_type>(*index);
      return true;
    }
  }
  return false;
}

bool predicate::holds(const boost::json::value& body) const {
  return eval(root_, body);
}

bool predicate::eval(const node& n, const boost::json::value& body) {
  switch (n.how) {
    case combinator::all:
      for (const auto& child : n.children)
        if (!eval(child, body))
          return false;
      return true;
    case combinator::any:
      for (const auto& child : n.children)
        if (eval(child, body))
          return true;
      return false;
    case combinator::negate:
      return !eval(n.children.front(), body);
    case combinator::leaf:
      break;
  }
  const auto* value = n.field->find(body);
  for (const auto& t : n.tests)
    if (!eval(t, value))
      return false;
  return true;
}

bool predicate::eval(const test& t, const boost::json::value* value) {
  if (t.what == op::exists) {
    bool present = value != nullptr && !value->is_null();
    return present == t.operand.get_bool();
  }
  if (value == nullptr)
    return false;
  auto ordered = [&](auto accept) {
    if (is_number(*value) && is_number(t.operand))
      return accept(compare_numbers(*value, t.operand));
    if (value->is_string() && t.operand.is_string())
      return accept(value->get_string().compare(t.operand.get_string()));
    return false;
  };
  switch (t.what) {
    case op::exists:
      return false; // handled above
    case op::eq:
      return same_value(*value, t.operand);
    case op::ne:
      return !same_value(*value, t.operand);
    case op::lt:
      return ordered([](int c) { return c < 0; });
    case op::le:
      return ordered([](int c) { return c <= 0; });
    case op::gt:
      return ordered([](int c) { return c > 0; });
    case op::ge:
      return ordered([](int c) { return c >= 0; });
    case op::in:
      for (const auto& candidate : t.operand.get_array())
        if (same_value(*value, candidate))
          return true;
      return false;
    case op::matches: {
      const auto* text = value->if_string();
      return text != nullptr &&
             std::regex_search(text->begin(), text->end(), *t.pattern);
    }
    case op::type:
      switch (t.type) {
        case json_type::string:
          return value->is_string();
        case json_type::number:
          return is_number(*value);
        case json_type::integer:
          return is_integral(*value);
        case json_type::boolean:
          return value->is_bool();
        case json_type::object:
          return value->is_object();
        case json_type::array:
          return value->is_array();
        case json_type::null:
          return value->is_null();
      }
      return false;
  }
  return false;
}

std::string predicate::describe() const {
  std::string out;
  describe(root_, out);
  return out;
}

void predicate::describe(const node& n, std::string& out) {
  if (n.how != combinator::leaf) {
    out += n.how == combinator::all   ? "all("
           : n.how == combinator::any ? "any("
                                      : "not(";
    for (std::size_t i = 0; i < n.children.size(); ++i) {
      if (i > 0)
        out += ", ";
      describe(n.children[i], out);
    }
    out += ')';
    return;
  }
  out += n.field->text();
  for (std::size_t i = 0; i < n.tests.size(); ++i) {
    const auto& t = n.tests[i];
    out += i == 0 ? " " : ", ";
    out += op_names[static_cast<std::size_t>(t.what)];
    out += ' ';
    if (t.what == op::type)
      out += type_names[static_cast<std::size_t>(t.type)];
    else
      out += boost::json::serialize(t.operand);
  }
}

} // namespace warren::actors
