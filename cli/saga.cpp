#include "saga.hpp"

#include "state.hpp"
#include "warren/actors/saga_records.hpp"
#include "warren/core/errc.hpp"

#include <boost/json/serialize.hpp>
#include <iostream>

namespace warren::cli {

namespace {

actors::saga_sql_reader reader_of(runtime::checkpoint_store& db) {
  return [&db](const std::string& sql, const std::vector<sql_value>& params,
               const sql_row_handler& on_row) {
    return db.read_sql(sql, params, on_row);
  };
}

// A file no saga actor ever wrote has no saga tables.
int report_read(const char* command, const caf::error& err) {
  auto text = describe(err);
  if (text.find("no such table") != std::string::npos) {
    std::cerr << "warren " << command
              << ": no saga actor has written to this file\n";
    return exit_failure;
  }
  return report(command, err);
}

} // namespace

int saga_list(const saga_options& opts) {
  auto store = open_node_store(opts.config_file, opts.db_file);
  if (!store)
    return report("saga list", store.error());
  auto sagas =
    actors::list_sagas(reader_of(**store), opts.actor, opts.status, opts.limit);
  if (!sagas)
    return report_read("saga list", sagas.error());
  for (const auto& s : *sagas) {
    std::cout << s.saga_id << " status=" << s.status
              << " definition=" << s.definition
              << " updated_ms=" << s.updated_ms;
    if (s.due_ms)
      std::cout << " timer_due_ms=" << *s.due_ms;
    std::cout << "\n";
  }
  return exit_ok;
}

int saga_show(const saga_options& opts) {
  auto store = open_node_store(opts.config_file, opts.db_file);
  if (!store)
    return report("saga show", store.error());
  auto found = actors::find_saga(reader_of(**store), opts.actor, opts.saga_id);
  if (!found)
    return report_read("saga show", found.error());
  if (!*found) {
    std::cerr << "warren saga show: actor '" << opts.actor << "' has no saga '"
              << opts.saga_id << "'\n";
    return exit_failure;
  }
  std::cout << boost::json::serialize(actors::describe_saga(**found)) << "\n";
  return exit_ok;
}

int saga_control(const saga_options& opts, bool resume) {
  boost::json::object body{{"saga_id", opts.saga_id}};
  if (!resume && !opts.reason.empty())
    body["reason"] = opts.reason;
  call_options call_opts;
  call_opts.broker = opts.broker;
  call_opts.service = opts.actor;
  call_opts.type = resume ? "saga.resume" : "saga.abort";
  call_opts.timeout_ms = opts.timeout_ms;
  call_opts.body = boost::json::serialize(body);
  return call(call_opts);
}

} // namespace warren::cli
