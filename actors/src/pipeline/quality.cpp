#include "pipeline/quality.hpp"

namespace warren::actors {

std::optional<quality_checks>
quality_checks::read(config::object_reader& options, std::string_view key) {
  quality_checks result;
  if (options.find(key) == nullptr)
    return result;
  const auto* list = options.array(key);
  if (list == nullptr)
    return std::nullopt;
  auto& reader = options.reader();
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto path = options.path_of(key) + "[" + std::to_string(i) + "]";
    const auto& item = (*list)[i];
    auto check = predicate::read(reader, item, path, {"name"});
    if (!check)
      return std::nullopt;
    soft_check entry{check->describe(), std::move(*check)};
    config::object_reader obj{reader, item.get_object(), path};
    obj.string("name", entry.name, config::text_rule::non_empty);
    if (!reader.ok())
      return std::nullopt;
    result.checks_.push_back(std::move(entry));
  }
  return result;
}

double quality_checks::score(const boost::json::value& body,
                             std::vector<std::size_t>& failed) const {
  if (checks_.empty())
    return 1.0;
  std::size_t passed = 0;
  for (std::size_t i = 0; i < checks_.size(); ++i) {
    if (checks_[i].check.holds(body))
      ++passed;
    else
      failed.push_back(i);
  }
  return static_cast<double>(passed) / static_cast<double>(checks_.size());
}

} // namespace warren::actors
