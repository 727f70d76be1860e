#include "projection_support.hpp"

#include "warren/core/shard.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <cctype>

namespace warren::test {

namespace {

// Balances per account (rows keyed by stream: each in one shard), and
// counts per event type (rows every shard has one of: queries sum them).
// clang-format off
const char* balances_text = R"json({
  "source": {"store": "@STORE@", "shards": 0, "live": true, "page": 40, "poll_ms": 200},
  "tables": {
    "accounts": "CREATE TABLE {accounts} (account TEXT NOT NULL PRIMARY KEY, total INTEGER NOT NULL, deposits INTEGER NOT NULL)",
    "per_type": "CREATE TABLE {per_type} (type TEXT NOT NULL PRIMARY KEY, n INTEGER NOT NULL)"},
  "indexes": ["CREATE INDEX {index} ON {accounts} (total)"],
  "on": {"Deposited": [
    {"sql": "INSERT INTO {accounts} VALUES (:s, :amount, 1) ON CONFLICT (account) DO UPDATE SET total = total + excluded.total, deposits = deposits + 1",
     "params": {"s": "stream", "amount": "data.amount"}},
    {"sql": "INSERT INTO {per_type} VALUES (:t, 1) ON CONFLICT (type) DO UPDATE SET n = n + 1",
     "params": {"t": "type"}}]},
  "queries": {
    "balances": {"sql": "SELECT account, total, deposits FROM {accounts} ORDER BY account"},
    "by_account": {"sql": "SELECT total FROM {accounts} WHERE account = :a"},
    "per_type": {"sql": "WITH t AS (SELECT type, n FROM {per_type}) SELECT type, sum(n) AS n FROM t GROUP BY type"}}})json";
// clang-format on

} // namespace

boost::json::value balances_options(const std::string& store, uint32_t shards) {
  auto options = boost::json::parse(balances_text);
  auto& source = options.at("source").as_object();
  source["store"] = store;
  source["shards"] = shards;
  return options;
}

balances balances_of(const boost::json::value& rows) {
  balances out;
  for (const auto& row : rows.as_array())
    out[std::string{row.at("account").as_string()}] = {
      row.at("total").as_int64(), row.at("deposits").as_int64()};
  return out;
}

file_model model_in(const temp_dir& dir, const std::string& proj,
                    uint32_t shards) {
  file_model out;
  auto file = open_store(dir);
  for (uint32_t i = 0; i < shards; ++i) {
    auto shard = shard_name(proj, i);
    REQUIRE_FALSE(file->read_sql(
      "SELECT generation FROM warren_projection_state WHERE actor = ?1",
      {shard}, [&](const sql_row& row) -> caf::error {
        out.generations[i] = row.integer(0);
        return caf::none;
      }));
    REQUIRE_FALSE(
      file->read_sql("SELECT name FROM warren_schema WHERE actor = ?1", {shard},
                     [&](const sql_row& row) -> caf::error {
                       out.catalog.insert(std::string{row.text(0)});
                       return caf::none;
                     }));
    if (out.generations.count(i) == 0)
      continue;
    std::string table;
    auto suffix = "_g" + std::to_string(out.generations[i]) + "_accounts";
    for (const auto& name : out.catalog)
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) ==
            0 &&
          name.find(std::to_string(i) + suffix) != std::string::npos)
        table = name;
    REQUIRE_FALSE(table.empty());
    REQUIRE_FALSE(
      file->read_sql("SELECT account, total, deposits FROM " + table, {},
                     [&](const sql_row& row) -> caf::error {
                       auto account = std::string{row.text(0)};
                       // Each account lives in its stream's shard only.
                       CHECK(shard_of(account, shards) == i);
                       out.rows[account] = {row.integer(1), row.integer(2)};
                       return caf::none;
                     }));
  }
  // The objects of the projection's shards: named p_<actor>_s<i>_...
  std::string prefix = "p_";
  for (char c : proj)
    prefix += std::isalnum(static_cast<unsigned char>(c)) != 0
                ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
                : '_';
  prefix += "_s";
  REQUIRE_FALSE(file->read_sql(
    "SELECT name FROM sqlite_master WHERE substr(name, 1, length(?1)) = ?1",
    {prefix}, [&](const sql_row& row) -> caf::error {
      out.objects.insert(std::string{row.text(0)});
      return caf::none;
    }));
  return out;
}

} // namespace warren::test
