#pragma once

/// Typed, path-aware reading of config JSON: what the node config's
/// sections are read with, and what an actor kind's options validator gets
/// (see `kind_traits::check_options` in warren/runtime/registry.hpp):
///
/// ~~~
/// [](warren::config::object_reader& options) {
///   options.allow({"path", "limit"});
///   options.require("path");
///   std::string path;
///   options.string("path", path, warren::config::text_rule::non_empty);
///   int64_t limit = 10;
///   options.integer("limit", {1, 1000}, limit);
/// }
/// ~~~
///
/// The reader keeps the first error and ignores everything after it (like a
/// stream's fail bit), so a section reads its keys straight through and the
/// caller checks once. Every error sentence is
/// `<source>: <json path>: <message>`, most often
/// `expected <what>, found <rendered value>`.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <caf/error.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace warren::config {

/// An inclusive range of accepted integers.
struct int_range {
  int64_t min = 0;
  int64_t max = std::numeric_limits<int64_t>::max();
};

/// Which strings a key accepts.
enum class text_rule {
  any,
  non_empty,
};

class object_reader;

class config_reader {
 public:
  explicit config_reader(std::string source);

  bool ok() const noexcept { return !error_; }

  /// The first error recorded, or no error.
  const caf::error& error() const noexcept { return error_; }

  /// Records `<source>: <path>: <message>` unless an error is recorded.
  void fail(const std::string& path, const std::string& message);

  /// Records `expected <expected>, found <rendered found>`.
  void fail_expected(const std::string& path, std::string_view expected,
                     const boost::json::value& found);

  /// `v` as an object to read key by key; nullopt (and an error) otherwise.
  std::optional<object_reader> object(const boost::json::value& v,
                                      const std::string& path);

  const boost::json::array* array(const boost::json::value& v,
                                  const std::string& path);

  std::optional<std::string> string(const boost::json::value& v,
                                    const std::string& path,
                                    text_rule rule = text_rule::any);

  /// Accepts JSON integers only: 5.0 is a double and an error.
  std::optional<int64_t> integer(const boost::json::value& v,
                                 const std::string& path, int_range range);

  /// Accepts true and false only, not 0 and 1.
  std::optional<bool> boolean(const boost::json::value& v,
                              const std::string& path);

  /// The index of the string in `choices` that `v` equals.
  std::optional<std::size_t>
  choice(const boost::json::value& v, const std::string& path,
         std::initializer_list<std::string_view> choices);

 private:
  std::string source_;
  caf::error error_;
};

/// One JSON object at a known path. Setters leave `out` (the documented
/// default) alone when the key is absent and return whether they assigned.
class object_reader {
 public:
  object_reader(config_reader& reader, const boost::json::object& obj,
                std::string path);

  const std::string& path() const noexcept { return path_; }

  std::string path_of(std::string_view key) const;

  const boost::json::object& json() const noexcept { return *obj_; }

  config_reader& reader() const noexcept { return *reader_; }

  /// Fails on the first key not in `keys`, listing the accepted ones.
  bool allow(std::initializer_list<std::string_view> keys);

  /// The value of `key`, or nullptr when absent.
  const boost::json::value* find(std::string_view key) const;

  /// The value of `key`; when absent fails with "required key is missing".
  const boost::json::value* require(std::string_view key);

  bool string(std::string_view key, std::string& out,
              text_rule rule = text_rule::any);

  bool string(std::string_view key, std::optional<std::string>& out,
              text_rule rule = text_rule::any);

  bool boolean(std::string_view key, bool& out);

  bool integer(std::string_view key, int_range range,
               std::optional<int64_t>& out);

  template<class Integer>
  bool integer(std::string_view key, int_range range, Integer& out) {
    std::optional<int64_t> value;
    if (!integer(key, range, value))
      return false;
    // The range was chosen so the value fits `Integer`.
    out = static_cast<Integer>(*value);
    return true;
  }

  bool millis(std::string_view key, int_range range,
              std::chrono::milliseconds& out);

  std::optional<std::size_t>
  choice(std::string_view key, std::initializer_list<std::string_view> choices);

  /// The nested object under `key`; nullopt when absent or not an object.
  std::optional<object_reader> object(std::string_view key);

  /// The array under `key`; nullptr when absent or not an array.
  const boost::json::array* array(std::string_view key);

 private:
  config_reader* reader_;
  const boost::json::object* obj_;
  std::string path_;
};

/// "an integer from 1 to 255" or "an integer of at least 0".
std::string describe_range(int_range range);

} // namespace warren::config
