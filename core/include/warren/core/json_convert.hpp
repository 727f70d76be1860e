#pragma once

/// Reading a message body, a command or a stored state into a C++ type the
/// way a tolerant reader does (README.md, "Typed messages"). Boost.JSON
/// 1.81's `try_value_to` of a described struct wants exactly its members:
/// a body with one more field (a client a version ahead) or one less (a
/// stored state from before a member was added) does not convert, and says
/// only "array size does not match target size". Here, for described
/// structs, at any depth (inside `std::optional`, sequences and maps keyed
/// by strings too):
///
///   - a member missing from the object keeps the value a default-constructed
///     struct gives it (its default member initializer);
///   - a field the struct does not describe is ignored;
///   - `null` or a missing member makes a `std::optional` member empty;
///   - a value of the wrong kind fails, naming where (a JSON pointer) and
///     what was expected and found.
///
/// Everything else (numbers, strings, enums, a user's own `tag_invoke`
/// conversion, which takes precedence) converts as `try_value_to` does.

#include <boost/describe/members.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_to.hpp>
#include <boost/mp11/algorithm.hpp>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace warren {

/// "an object", "a string", "null", ...: what `v` is, for an error message.
const char* json_kind_of(const boost::json::value& v) noexcept;

namespace json_convert_detail {

template<class T>
using user_value_to = decltype(tag_invoke(
  boost::json::value_to_tag<T>(), std::declval<const boost::json::value&>()));
template<class T>
using user_try_value_to =
  decltype(tag_invoke(boost::json::try_value_to_tag<T>(),
                      std::declval<const boost::json::value&>()));

template<class T>
constexpr bool has_user_conversion =
  boost::mp11::mp_valid<user_value_to, T>::value ||
  boost::mp11::mp_valid<user_try_value_to, T>::value;

template<class T>
constexpr bool is_described_struct =
  std::is_class_v<T>&& boost::describe::has_describe_members<T>::value &&
  !has_user_conversion<T>;

template<class T>
struct optional_of : std::false_type {};
template<class T>
struct optional_of<std::optional<T>> : std::true_type {};

template<class T>
struct sequence_of : std::false_type {};
template<class T, class A>
struct sequence_of<std::vector<T, A>> : std::true_type {};
template<class T, class A>
struct sequence_of<std::deque<T, A>> : std::true_type {};
template<class T, class A>
struct sequence_of<std::list<T, A>> : std::true_type {};

template<class T>
struct string_map_of : std::false_type {};
template<class T, class C, class A>
struct string_map_of<std::map<std::string, T, C, A>> : std::true_type {};
template<class T, class H, class E, class A>
struct string_map_of<std::unordered_map<std::string, T, H, E, A>>
  : std::true_type {};

/// Appends `name` to a JSON pointer, escaped (RFC 6901).
void append_to_pointer(std::string& pointer, std::string_view name);

/// "<path or the whole value>: <what>".
std::string mismatch(const std::string& path, const std::string& what);

/// Sets `error` when `v` is not of `kind` (an object or an array).
bool is_kind(const boost::json::value& v, boost::json::kind kind,
             const std::string& path, std::string& error);

template<class T>
bool convert(const boost::json::value& v, T& out, std::string& path,
             std::string& error);

/// Converts `v`, the member or item `name` of the value at `path`.
template<class T>
bool convert_at(const boost::json::value& v, std::string_view name, T& out,
                std::string& path, std::string& error) {
  auto depth = path.size();
  append_to_pointer(path, name);
  if (!convert(v, out, path, error))
    return false; // the path stays where it failed
  path.resize(depth);
  return true;
}

template<class T>
bool convert(const boost::json::value& v, T& out, std::string& path,
             std::string& error) {
  if constexpr (optional_of<T>::value) {
    if (v.is_null()) {
      out.reset();
      return true;
    }
    typename T::value_type inner{};
    if (!convert(v, inner, path, error))
      return false;
    out = std::move(inner);
    return true;
  } else if constexpr (is_described_struct<T>) {
    if (!is_kind(v, boost::json::kind::object, path, error))
      return false;
    const auto& obj = v.get_object();
    using members =
      boost::describe::describe_members<T, boost::describe::mod_public |
                                             boost::describe::mod_inherited>;
    bool ok = true;
    boost::mp11::mp_for_each<members>([&](auto member) {
      if (!ok)
        return;
      if (auto found = obj.find(member.name); found != obj.end())
        ok = convert_at(found->value(), member.name, out.*member.pointer, path,
                        error);
      // else it keeps its default
    });
    return ok;
  } else if constexpr (sequence_of<T>::value) {
    if (!is_kind(v, boost::json::kind::array, path, error))
      return false;
    out.clear(); // what a failure leaves is never used
    std::size_t i = 0;
    for (const auto& item : v.get_array()) {
      typename T::value_type converted{};
      if (!convert_at(item, std::to_string(i++), converted, path, error))
        return false;
      out.push_back(std::move(converted));
    }
    return true;
  } else if constexpr (string_map_of<T>::value) {
    if (!is_kind(v, boost::json::kind::object, path, error))
      return false;
    out.clear();
    for (const auto& field : v.get_object()) {
      typename T::mapped_type converted{};
      if (!convert_at(field.value(), field.key(), converted, path, error))
        return false;
      out.emplace(std::string{field.key()}, std::move(converted));
    }
    return true;
  } else {
    auto converted = boost::json::try_value_to<T>(v);
    if (!converted) {
      error = mismatch(path, converted.error().message() + " (found " +
                               json_kind_of(v) + ")");
      return false;
    }
    out = std::move(*converted);
    return true;
  }
}

} // namespace json_convert_detail

/// `v` as a `T` by the rules above; empty with `error` set when it does not
/// convert. `T` must be default-constructible.
template<class T>
std::optional<T> json_to(const boost::json::value& v, std::string& error) {
  T out{};
  std::string path;
  if (!json_convert_detail::convert(v, out, path, error))
    return std::nullopt;
  return out;
}

} // namespace warren
