#include "warren/config/reader.hpp"

#include "json.hpp"
#include "warren/core/errc.hpp"

namespace json = boost::json;

namespace warren::config {

using detail::element_path;
using detail::member_path;
using detail::render_value;

std::string describe_range(int_range range) {
  if (range.max == std::numeric_limits<int64_t>::max())
    return "an integer of at least " + std::to_string(range.min);
  return "an integer from " + std::to_string(range.min) + " to " +
         std::to_string(range.max);
}

// -- config_reader ------------------------------------------------------------

config_reader::config_reader(std::string source) : source_(std::move(source)) {}

void config_reader::fail(const std::string& path, const std::string& message) {
  if (ok())
    error_ =
      make_error(errc::invalid_config, source_ + ": " + path + ": " + message);
}

void config_reader::fail_expected(const std::string& path,
                                  std::string_view expected,
                                  const json::value& found) {
  fail(path,
       "expected " + std::string{expected} + ", found " + render_value(found));
}

std::optional<object_reader> config_reader::object(const json::value& v,
                                                   const std::string& path) {
  if (!ok())
    return std::nullopt;
  if (!v.is_object()) {
    fail_expected(path, "an object", v);
    return std::nullopt;
  }
  return object_reader{*this, v.get_object(), path};
}

const json::array* config_reader::array(const json::value& v,
                                        const std::string& path) {
  if (!ok())
    return nullptr;
  if (!v.is_array()) {
    fail_expected(path, "an array", v);
    return nullptr;
  }
  return &v.get_array();
}

std::optional<std::string> config_reader::string(const json::value& v,
                                                 const std::string& path,
                                                 text_rule rule) {
  if (!ok())
    return std::nullopt;
  if (rule == text_rule::non_empty &&
      (!v.is_string() || v.get_string().empty())) {
    fail_expected(path, "a non-empty string", v);
    return std::nullopt;
  }
  if (!v.is_string()) {
    fail_expected(path, "a string", v);
    return std::nullopt;
  }
  return std::string{v.get_string()};
}

std::optional<int64_t> config_reader::integer(const json::value& v,
                                              const std::string& path,
                                              int_range range) {
  if (!ok())
    return std::nullopt;
  // uint64 only holds values above INT64_MAX, which no range admits.
  if (v.is_int64() && v.get_int64() >= range.min && v.get_int64() <= range.max)
    return v.get_int64();
  fail_expected(path, describe_range(range), v);
  return std::nullopt;
}

std::optional<bool> config_reader::boolean(const json::value& v,
                                           const std::string& path) {
  if (!ok())
    return std::nullopt;
  if (!v.is_bool()) {
    fail_expected(path, "true or false", v);
    return std::nullopt;
  }
  return v.get_bool();
}

std::optional<std::size_t>
config_reader::choice(const json::value& v, const std::string& path,
                      std::initializer_list<std::string_view> choices) {
  if (!ok())
    return std::nullopt;
  std::size_t index = 0;
  if (v.is_string()) {
    std::string_view text{v.get_string().data(), v.get_string().size()};
    for (auto candidate : choices) {
      if (text == candidate)
        return index;
      ++index;
    }
  }
  std::string expected = "one of";
  const char* sep = " ";
  for (auto candidate : choices) {
    expected += sep;
    expected += '"';
    expected += candidate;
    expected += '"';
    sep = ", ";
  }
  fail_expected(path, expected, v);
  return std::nullopt;
}

// -- object_reader ------------------------------------------------------------

object_reader::object_reader(config_reader& reader, const json::object& obj,
                             std::string path)
  : reader_(&reader), obj_(&obj), path_(std::move(path)) {}

std::string object_reader::path_of(std::string_view key) const {
  return member_path(path_, key);
}

bool object_reader::allow(std::initializer_list<std::string_view> keys) {
  if (!reader_->ok())
    return false;
  for (const auto& member : *obj_) {
    std::string_view key{member.key().data(), member.key().size()};
    bool known = false;
    for (auto candidate : keys)
      known = known || key == candidate;
    if (known)
      continue;
    std::string expected;
    for (auto candidate : keys) {
      if (!expected.empty())
        expected += ", ";
      expected += candidate;
    }
    reader_->fail(path_of(key),
                  expected.empty()
                    ? std::string{"unknown key (expected no keys here)"}
                    : "unknown key (expected one of: " + expected + ")");
    return false;
  }
  return true;
}

const json::value* object_reader::find(std::string_view key) const {
  if (!reader_->ok())
    return nullptr;
  return obj_->if_contains(json::string_view{key.data(), key.size()});
}

const json::value* object_reader::require(std::string_view key) {
  auto result = find(key);
  if (!result)
    reader_->fail(path_of(key), "required key is missing");
  return result;
}

bool object_reader::string(std::string_view key, std::string& out,
                           text_rule rule) {
  auto v = find(key);
  if (!v)
    return false;
  auto text = reader_->string(*v, path_of(key), rule);
  if (!text)
    return false;
  out = std::move(*text);
  return true;
}

bool object_reader::string(std::string_view key,
                           std::optional<std::string>& out, text_rule rule) {
  std::string text;
  if (!string(key, text, rule))
    return false;
  out = std::move(text);
  return true;
}

bool object_reader::boolean(std::string_view key, bool& out) {
  auto v = find(key);
  if (!v)
    return false;
  auto flag = reader_->boolean(*v, path_of(key));
  if (!flag)
    return false;
  out = *flag;
  return true;
}

bool object_reader::integer(std::string_view key, int_range range,
                            std::optional<int64_t>& out) {
  auto v = find(key);
  if (!v)
    return false;
  auto value = reader_->integer(*v, path_of(key), range);
  if (!value)
    return false;
  out = *value;
  return true;
}

bool object_reader::millis(std::string_view key, int_range range,
                           std::chrono::milliseconds& out) {
  std::optional<int64_t> value;
  if (!integer(key, range, value))
    return false;
  out = std::chrono::milliseconds{*value};
  return true;
}

std::optional<std::size_t>
object_reader::choice(std::string_view key,
                      std::initializer_list<std::string_view> choices) {
  auto v = find(key);
  if (!v)
    return std::nullopt;
  return reader_->choice(*v, path_of(key), choices);
}

std::optional<object_reader> object_reader::object(std::string_view key) {
  auto v = find(key);
  if (!v)
    return std::nullopt;
  return reader_->object(*v, path_of(key));
}

const json::array* object_reader::array(std::string_view key) {
  auto v = find(key);
  if (!v)
    return nullptr;
  return reader_->array(*v, path_of(key));
}

} // namespace warren::config
