#pragma once

// Private to warren::actors: all of the saga kind's SQL. One table of
// sagas and one of definitions per file; each saga actor's rows carry its
// name. A definition is stored once per content (`hash`: content_hash of
// its JSON) and sagas refer to it.

namespace warren::actors::saga_sql {

constexpr const char* create_sagas =
  "CREATE TABLE IF NOT EXISTS warren_sagas (actor TEXT NOT NULL, saga_id "
  "TEXT NOT NULL, definition TEXT NOT NULL, def_hash TEXT NOT NULL, status "
  "TEXT NOT NULL, data TEXT NOT NULL, instance TEXT NOT NULL, created_ms "
  "INTEGER NOT NULL, updated_ms INTEGER NOT NULL, due_ms INTEGER, PRIMARY "
  "KEY (actor, saga_id))";
// `saga list --status stuck`, the restore of the active ones, the pruning
// of the finished ones: all by status.
constexpr const char* create_by_status =
  "CREATE INDEX IF NOT EXISTS warren_sagas_by_status ON warren_sagas "
  "(actor, status, updated_ms)";
constexpr const char* create_definitions =
  "CREATE TABLE IF NOT EXISTS warren_saga_definitions (actor TEXT NOT NULL, "
  "hash TEXT NOT NULL, name TEXT NOT NULL, definition TEXT NOT NULL, "
  "PRIMARY KEY (actor, hash))";

constexpr const char* insert_definition =
  "INSERT OR IGNORE INTO warren_saga_definitions (actor, hash, name, "
  "definition) VALUES (?1, ?2, ?3, ?4)";
// `data` never changes after the start: an update leaves it alone.
constexpr const char* upsert_saga =
  "INSERT INTO warren_sagas (actor, saga_id, definition, def_hash, status, "
  "data, instance, created_ms, updated_ms, due_ms) VALUES (?1, ?2, ?3, ?4, "
  "?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (actor, saga_id) DO UPDATE SET "
  "status = excluded.status, instance = excluded.instance, updated_ms = "
  "excluded.updated_ms, due_ms = excluded.due_ms";
constexpr const char* prune_finished =
  "DELETE FROM warren_sagas WHERE actor = ?1 AND status IN ('completed', "
  "'compensated', 'failed') AND updated_ms < ?2";
constexpr const char* prune_definitions =
  "DELETE FROM warren_saga_definitions WHERE actor = ?1 AND hash NOT IN "
  "(SELECT def_hash FROM warren_sagas WHERE actor = ?1)";

// What a restart brings back into memory: the sagas not ended.
constexpr const char* select_active_definitions =
  "SELECT hash, name, definition FROM warren_saga_definitions WHERE actor = "
  "?1 AND hash IN (SELECT def_hash FROM warren_sagas WHERE actor = ?1 AND "
  "status IN ('running', 'compensating', 'stuck'))";
constexpr const char* select_active =
  "SELECT saga_id, def_hash, data, instance, created_ms, status, due_ms FROM "
  "warren_sagas WHERE actor = ?1 AND status IN ('running', 'compensating', "
  "'stuck')";
constexpr const char* select_status =
  "SELECT status FROM warren_sagas WHERE actor = ?1 AND saga_id = ?2";

constexpr const char* select_list =
  "SELECT saga_id, definition, status, created_ms, updated_ms, due_ms FROM "
  "warren_sagas WHERE actor = ?1 ORDER BY updated_ms DESC, saga_id LIMIT ?2";
constexpr const char* select_list_by_status =
  "SELECT saga_id, definition, status, created_ms, updated_ms, due_ms FROM "
  "warren_sagas WHERE actor = ?1 AND status = ?3 ORDER BY updated_ms DESC, "
  "saga_id LIMIT ?2";
constexpr const char* select_one =
  "SELECT s.saga_id, s.definition, s.status, s.created_ms, s.updated_ms, "
  "s.due_ms, s.data, s.instance, d.definition FROM warren_sagas s LEFT JOIN "
  "warren_saga_definitions d ON d.actor = s.actor AND d.hash = s.def_hash "
  "WHERE s.actor = ?1 AND s.saga_id = ?2";

} // namespace warren::actors::saga_sql
