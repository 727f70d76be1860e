#include "pipeline/routing.hpp"

namespace warren::actors {

std::optional<routing_table>
routing_table::read(config::object_reader& options) {
  routing_table table;
  auto& reader = options.reader();
  if (auto mode = options.choice("mode", {"first", "all"}))
    table.all_ = *mode == 1;
  const auto* list =
    options.require("routes") ? options.array("routes") : nullptr;
  if (list == nullptr)
    return std::nullopt;
  if (list->empty() || list->size() > max_routes) {
    reader.fail(options.path_of("routes"),
                "expected 1 to " + std::to_string(max_routes) +
                  " routes, found " + std::to_string(list->size()));
    return std::nullopt;
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto path = options.path_of("routes") + "[" + std::to_string(i) + "]";
    auto entry = reader.object((*list)[i], path);
    if (!entry)
      return std::nullopt;
    entry->allow({"name", "when", "output"});
    std::string name = std::to_string(i);
    entry->string("name", name, config::text_rule::non_empty);
    for (const auto& earlier : table.routes_)
      if (earlier.name == name && entry->find("name") != nullptr) {
        reader.fail(entry->path_of("name"),
                    "route name \"" + name + "\" is used twice");
        return std::nullopt;
      }
    auto when = predicate::read(*entry, "when");
    auto output = stage_output::read(*entry, "output");
    if (!when || !output || !reader.ok())
      return std::nullopt;
    table.routes_.push_back(
      {std::move(name), std::move(*when), std::move(*output)});
  }
  if (options.find("otherwise") != nullptr) {
    table.otherwise_ = stage_output::read(options, "otherwise");
    if (!table.otherwise_)
      return std::nullopt;
  }
  if (!reader.ok())
    return std::nullopt;
  return table;
}

void routing_table::select(const boost::json::value& body,
                           std::vector<std::size_t>& out) const {
  out.clear();
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (!routes_[i].when.holds(body))
      continue;
    out.push_back(i);
    if (!all_)
      return;
  }
}

} // namespace warren::actors
