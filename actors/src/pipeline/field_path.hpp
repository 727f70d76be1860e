#pragma once

// Private to warren::actors: fields of a message body named by a dotted
// path ("device_id", "location.city", "readings.0.value"), as every pipeline
// stage and the window kind name them in their options. A path segment that
// is all digits indexes an array; any other segment names an object key (a
// key that contains a dot cannot be named). Pure logic.

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace warren::actors {

class field_path {
 public:
  /// Nullopt when `text` is empty or has an empty segment ("a..b", ".a").
  static std::optional<field_path> parse(std::string_view text);

  /// The value at this path, or nullptr when any segment is missing.
  const boost::json::value* find(const boost::json::value& root) const;
  boost::json::value* find(boost::json::value& root) const;

  /// The value at this path, creating the objects on the way (a null on
  /// the way becomes an object; any other non-object is replaced by one
  /// only when `replace` is true). Nullptr when the way is blocked by a
  /// non-object and `replace` is false, or when `root` is not an object.
  boost::json::value* make(boost::json::value& root,
                           bool replace = false) const;

  /// Removes the value at this path (the other keys of its object keep
  /// their order); false when it was not there.
  bool erase(boost::json::value& root) const;

  const std::string& text() const noexcept { return text_; }
  const std::vector<std::string>& segments() const noexcept {
    return segments_;
  }

 private:
  std::string text_;
  std::vector<std::string> segments_;
};

} // namespace warren::actors
