#include "warren/actors/saga_records.hpp"

#include "saga/saga_sql.hpp"
#include "warren/core/json_read.hpp"

#include <boost/json/array.hpp>

namespace warren::actors {

namespace {

// The columns every listing starts with.
saga_record summary_of(const sql_row& row) {
  saga_record r;
  r.saga_id = std::string{row.text(0)};
  r.definition = std::string{row.text(1)};
  r.status = std::string{row.text(2)};
  r.created_ms = row.integer(3);
  r.updated_ms = row.integer(4);
  if (!row.is_null(5))
    r.due_ms = row.integer(5);
  return r;
}

boost::json::value json_of(std::string_view text) {
  boost::json::error_code ec;
  auto v = read_json(text, ec);
  return ec ? boost::json::value{} : v;
}

const boost::json::value* member(const boost::json::value& v, const char* key) {
  const auto* o = v.if_object();
  return o != nullptr ? o->if_contains(key) : nullptr;
}

} // namespace

caf::expected<std::vector<saga_record>> list_sagas(const saga_sql_reader& read,
                                                   const std::string& actor,
                                                   const std::string& status,
                                                   int64_t limit) {
  std::vector<saga_record> out;
  std::vector<sql_value> params{actor, limit};
  if (!status.empty())
    params.emplace_back(status);
  auto err = read(status.empty() ? saga_sql::select_list
                                 : saga_sql::select_list_by_status,
                  params, [&](const sql_row& row) {
                    out.push_back(summary_of(row));
                    return caf::error{};
                  });
  if (err)
    return err;
  return out;
}

caf::expected<std::optional<saga_record>>
find_saga(const saga_sql_reader& read, const std::string& actor,
          const std::string& saga_id) {
  std::optional<saga_record> out;
  auto err =
    read(saga_sql::select_one, {actor, saga_id}, [&](const sql_row& row) {
      out = summary_of(row);
      out->data = json_of(row.text(6));
      out->instance = json_of(row.text(7));
      out->steps_definition = json_of(row.text(8));
      return caf::error{};
    });
  if (err)
    return err;
  return out;
}

boost::json::object describe_saga(const saga_record& record) {
  boost::json::object out{{"saga_id", record.saga_id},
                          {"definition", record.definition},
                          {"status", record.status},
                          {"created_ms", record.created_ms},
                          {"updated_ms", record.updated_ms}};
  out["due_ms"] = record.due_ms ? boost::json::value(*record.due_ms)
                                : boost::json::value(nullptr);
  const auto* error = member(record.instance, "error");
  out["error"] = error != nullptr ? *error : "";
  out["data"] = record.data;
  // The instance knows each step's state by position, the definition its
  // id and what it calls.
  const auto* states = member(record.instance, "steps");
  const auto* defs = member(record.steps_definition, "steps");
  boost::json::array steps;
  if (states != nullptr && states->is_array())
    for (std::size_t i = 0; i < states->get_array().size(); ++i) {
      auto step = states->get_array()[i].is_object()
                    ? states->get_array()[i].get_object()
                    : boost::json::object{};
      step.erase("budget_from");
      if (defs != nullptr && defs->is_array() && i < defs->get_array().size()) {
        if (const auto* id = member(defs->get_array()[i], "id"))
          step["id"] = *id;
        if (const auto* action = member(defs->get_array()[i], "action"))
          step["action"] = *action;
      }
      steps.push_back(std::move(step));
    }
  out["steps"] = std::move(steps);
  return out;
}

} // namespace warren::actors
