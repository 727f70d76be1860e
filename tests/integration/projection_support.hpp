#pragma once

// A sharded projection the tests share (tests/integration/
// sharded_projection.test.cpp, cluster_eventstore.test.cpp): balances of
// deposit streams, and what a node's file holds of it.

#include "support.hpp"

#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <ostream>
#include <set>
#include <string>

namespace warren::test {

/// The `options` of a projection `balances` of event store `store` (both
/// of `shards` shards, live): table `accounts` (account = stream, total,
/// deposits), keyed by stream; table `per_type` (a count per event type,
/// one row per shard: its query sums them); queries `balances`,
/// `by_account` {a} and `per_type`.
boost::json::value balances_options(const std::string& store, uint32_t shards);

struct balance {
  int64_t total = 0;
  int64_t deposits = 0;
  bool operator==(const balance& o) const {
    return total == o.total && deposits == o.deposits;
  }
  friend std::ostream& operator<<(std::ostream& out, const balance& b) {
    return out << b.total << "/" << b.deposits;
  }
};
using balances = std::map<std::string, balance>;

/// A node's file: each shard's current generation, the model in it, and
/// the objects of the projection's shards in sqlite_master and in the
/// catalog `warren_schema`.
struct file_model {
  std::map<uint32_t, int64_t> generations;
  balances rows;
  std::set<std::string> objects;
  std::set<std::string> catalog;
};

/// What `dir`'s node file holds of sharded projection `proj` (checks that
/// each account is in its stream's shard).
file_model model_in(const temp_dir& dir, const std::string& proj,
                    uint32_t shards);

/// Balances from a `balances` query's rows.
balances balances_of(const boost::json::value& rows);

} // namespace warren::test
