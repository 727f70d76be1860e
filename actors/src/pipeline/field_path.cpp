#include "pipeline/field_path.hpp"

#include <charconv>

namespace warren::actors {

namespace {

std::optional<std::size_t> index_of(const std::string& segment) {
  std::size_t index = 0;
  auto* end = segment.data() + segment.size();
  auto [ptr, ec] = std::from_chars(segment.data(), end, index);
  if (ec != std::errc{} || ptr != end)
    return std::nullopt;
  return index;
}

template<class Value>
Value* step(Value* at, const std::string& segment) {
  if (auto* obj = at->if_object()) {
    auto i = obj->find(segment);
    return i == obj->end() ? nullptr : &i->value();
  }
  if (auto* arr = at->if_array()) {
    auto index = index_of(segment);
    if (!index || *index >= arr->size())
      return nullptr;
    return &(*arr)[*index];
  }
  return nullptr;
}

} // namespace

std::optional<field_path> field_path::parse(std::string_view text) {
  if (text.empty())
    return std::nullopt;
  field_path path;
  path.text_ = std::string{text};
  std::size_t start = 0;
  while (true) {
    auto dot = text.find('.', start);
    auto segment =
      text.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                       : dot - start);
    if (segment.empty())
      return std::nullopt;
    path.segments_.emplace_back(segment);
    if (dot == std::string_view::npos)
      break;
    start = dot + 1;
  }
  return path;
}

const boost::json::value*
field_path::find(const boost::json::value& root) const {
  const auto* at = &root;
  for (const auto& segment : segments_)
    if ((at = step(at, segment)) == nullptr)
      return nullptr;
  return at;
}

boost::json::value* field_path::find(boost::json::value& root) const {
  auto* at = &root;
  for (const auto& segment : segments_)
    if ((at = step(at, segment)) == nullptr)
      return nullptr;
  return at;
}

boost::json::value* field_path::make(boost::json::value& root,
                                     bool replace) const {
  if (!root.is_object())
    return nullptr;
  auto* at = &root;
  for (const auto& segment : segments_) {
    // A null on the way (or one just made by the step before) is no value
    // to keep: it becomes the object the path goes through.
    if (at->is_null()) {
      at->emplace_object();
    } else if (!at->is_object()) {
      if (!replace)
        return nullptr;
      at->emplace_object();
    }
    at = &at->as_object()[segment];
  }
  return at;
}

bool field_path::erase(boost::json::value& root) const {
  auto* at = &root;
  for (std::size_t i = 0; i + 1 < segments_.size(); ++i)
    if ((at = step(at, segments_[i])) == nullptr)
      return false;
  // stable_erase: the other keys keep their order (erase would move the
  // last one into the gap).
  if (auto* obj = at->if_object())
    return obj->stable_erase(segments_.back()) > 0;
  if (auto* arr = at->if_array()) {
    auto index = index_of(segments_.back());
    if (!index || *index >= arr->size())
      return false;
    arr->erase(arr->begin() + static_cast<std::ptrdiff_t>(*index));
    return true;
  }
  return false;
}

} // namespace warren::actors
