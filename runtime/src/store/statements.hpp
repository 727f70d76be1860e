#pragma once

// Private to warren::runtime: the checkpoint store's prepared statements.

#include "store/sqlite.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <memory>
#include <unordered_map>

namespace warren::runtime {

struct checkpoint_store::statements {
  detail::statement load;
  detail::statement seen;
  detail::statement seen_in_range;
  detail::statement upsert_state;
  detail::statement insert_inbox;
  detail::statement insert_outbox;
  detail::statement delete_outbox;
  detail::statement insert_anonymous;
  detail::statement delete_anonymous;
  detail::statement load_rows;
  detail::statement put_row;
  detail::statement erase_row;
  detail::statement begin;
  detail::statement commit;
  detail::statement rollback;
  // The SQL of stream operators (sql.hpp), prepared once per text.
  std::unordered_map<std::string, std::unique_ptr<detail::statement>> by_text;

  caf::error prepare(sqlite3* db, const std::string& path) {
    std::pair<detail::statement*, const char*> all[] = {
      {&load, "SELECT version, state FROM actor_state WHERE actor = ?1 AND "
              "key = ?2"},
      {&seen, "SELECT 1 FROM inbox WHERE actor = ?1 AND message_id = ?2"},
      {&seen_in_range, "SELECT message_id FROM inbox WHERE actor = ?1 AND "
                       "message_id >= ?2 AND message_id < ?3 ORDER BY "
                       "message_id"},
      {&upsert_state,
       "INSERT INTO actor_state (actor, key, version, state) VALUES (?1, ?2, "
       "?3, ?4) ON CONFLICT (actor, key) DO UPDATE SET version = "
       "excluded.version, state = excluded.state"},
      {&insert_inbox, "INSERT OR IGNORE INTO inbox (actor, message_id, "
                      "received_ms) VALUES (?1, ?2, ?3)"},
      {&insert_outbox, "INSERT INTO outbox (actor, message) VALUES (?1, ?2)"},
      {&delete_outbox, "DELETE FROM outbox WHERE id = ?1"},
      {&insert_anonymous,
       "INSERT OR IGNORE INTO anonymous_unacked (actor, message_id, "
       "content_key, applied_ms) VALUES (?1, ?2, ?3, ?4)"},
      {&delete_anonymous, "DELETE FROM anonymous_unacked WHERE actor = ?1 "
                          "AND message_id = ?2"},
      {&load_rows,
       "SELECT name, data FROM operator_rows WHERE actor = ?1 AND name >= "
       "?2 AND name < ?3 ORDER BY name"},
      {&put_row, "INSERT INTO operator_rows (actor, name, data) VALUES (?1, "
                 "?2, ?3) ON CONFLICT (actor, name) DO UPDATE SET data = "
                 "excluded.data"},
      {&erase_row, "DELETE FROM operator_rows WHERE actor = ?1 AND name = ?2"},
      {&begin, "BEGIN IMMEDIATE"},
      {&commit, "COMMIT"},
      {&rollback, "ROLLBACK"},
    };
    for (auto& [stmt, sql] : all)
      if (auto err = stmt->prepare(db, path, sql))
        return err;
    return caf::none;
  }
};

} // namespace warren::runtime
