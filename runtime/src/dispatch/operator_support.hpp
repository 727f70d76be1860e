#pragma once

// Private to warren::runtime: what the stateful dispatcher needs to run a
// stream operator (warren/runtime/stream_operator.hpp) besides what it does
// for every stateful kind: the operator's rows and its processing-time
// output, written into the unit of work being built.

#include "warren/runtime/store/checkpoint_store.hpp"
#include "warren/runtime/store/unit_of_work.hpp"
#include "warren/runtime/stream_operator.hpp"

#include <string>

namespace warren::detail {

/// The name prefix of an operator's rows: none, or "s<i>/" for the owner
/// of shard i of a sharded actor, whose rows (a window's watermark) must not
/// mix with the other shards' in the same file.
std::string row_prefix(const actor_init& init);

class unit_rows : public operator_rows {
 public:
  unit_rows(runtime::unit_of_work& work, const std::string& prefix)
    : work_(work), prefix_(prefix) {}
  void put(std::string name, std::string data) override;
  void erase(std::string name) override;
  void execute(sql_group group) override;

 private:
  runtime::unit_of_work& work_;
  const std::string& prefix_;
};

/// The checkpoint store as the operator reads it; `setup` only while it
/// opens.
class store_reader : public operator_store {
 public:
  explicit store_reader(runtime::checkpoint_store& store) : store_(store) {}
  caf::error query(const std::string& sql, const std::vector<sql_value>& params,
                   const sql_row_handler& on_row) override;
  caf::error setup(const std::string& sql,
                   const std::vector<sql_value>& params) override;
  /// After `open`: `setup` is refused.
  void opened() noexcept { opened_ = true; }

 private:
  runtime::checkpoint_store& store_;
  bool opened_ = false;
};

/// Messages a tick publishes join the unit's outbox with the ids the
/// operator gave them (a tick has no cause to derive ids from).
class unit_output : public operator_output {
 public:
  unit_output(runtime::unit_of_work& work, const std::string& actor)
    : work_(work), actor_(actor) {}
  void publish_json(const std::string& exchange, const std::string& routing_key,
                    std::string type, boost::json::value body,
                    publish_options opts) override;
  /// Messages published so far.
  std::size_t published() const noexcept { return published_; }

 private:
  runtime::unit_of_work& work_;
  const std::string& actor_;
  std::size_t published_ = 0;
};

} // namespace warren::detail
