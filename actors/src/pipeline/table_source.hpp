#pragma once

// Private to warren::actors: where an enricher's reference table comes
// from (a JSON, CSV or SQLite file) and how it is kept current.
//
// The first load happens at start, on the starting thread, so a table that
// cannot be read fails the start with its reason (or, with `if_missing`
// "empty", a missing file starts an empty table). After that a watcher
// thread of its own checks the file every `reload_check` (its inode, size
// and modification time, and for SQLite those of its `-wal` file) and, when
// they changed, loads the new table there, off the consumer threads, and
// publishes it as a new immutable snapshot. Handlers never wait for a load:
// they keep using the snapshot they have until the next message sees a
// newer one (one atomic load per message).
//
// A reload that fails (unreadable, malformed, over max_rows, the file gone)
// keeps the last good table, logs an error and counts it
// (`warren_enricher_table_reload_errors_total`); it is tried again when the
// file changes again. A file that changes while it is being read is read
// again at the next check, so a writer that rewrites a file in place is
// never half-read twice in a row; writing a new file and renaming it over
// the old one is still the way to replace a table.
//
// The instances of one actor in a node share one watcher and one snapshot.

#include "pipeline/reference_table.hpp"
#include "warren/metrics/cells.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace warren::metrics {
class registry;
} // namespace warren::metrics

namespace warren::actors {

/// `options.table` of an enricher.
struct table_source_spec {
  enum class file_format : uint8_t { json, csv, sqlite };

  std::string path;
  file_format format = file_format::json;
  table_shape shape;
  /// SQLite: the table or the query.
  sqlite_select select;
  /// How often the file is checked for changes; 0: never reloaded.
  std::chrono::milliseconds reload_check{1000};
  /// A JSON or CSV file larger than this is a load error.
  std::size_t max_bytes = 256u << 20;
  /// A missing file at start: false fails the start, true starts empty.
  bool empty_if_missing = false;

  /// "csv table /data/devices.csv" for log lines and errors.
  std::string describe() const;
  /// Everything that makes two specs load the same table, as one string.
  std::string identity() const;
};

/// What identifies a version of a file: (inode, size, mtime) of the file
/// and, for SQLite, of its `-wal` file. `exists` is false when the file is
/// not there.
struct file_fingerprint {
  bool exists = false;
  uint64_t inode = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t wal_inode = 0;
  uint64_t wal_size = 0;
  int64_t wal_mtime_ns = 0;

  static file_fingerprint of(const table_source_spec& spec);

  bool operator==(const file_fingerprint& other) const noexcept;
  bool operator!=(const file_fingerprint& other) const noexcept {
    return !(*this == other);
  }
};

/// Loads the table `spec` names, now. A missing file is an error whose text
/// starts with "cannot read" (see `table_result`).
table_result load_table(const table_source_spec& spec);

/// The metrics of a table source (no-ops when metrics are off).
struct table_metrics {
  metrics::counter reloads;
  metrics::counter reload_errors;
  metrics::gauge rows;

  static table_metrics make(metrics::registry* reg, const std::string& actor);
};

/// Holds the current snapshot of a table and reloads it on a thread of its
/// own. Thread-safe.
class table_watcher {
 public:
  /// The watcher of `spec` for `actor`: the one its other instances use
  /// when there is one, or a new one after a first load. Throws
  /// std::invalid_argument (a failed start) when the first load fails.
  static std::shared_ptr<table_watcher> open(const std::string& actor,
                                             const table_source_spec& spec,
                                             metrics::registry* metrics);

  /// Stops and joins the watcher thread (waits for a load in progress).
  ~table_watcher();

  table_watcher(const table_watcher&) = delete;
  table_watcher& operator=(const table_watcher&) = delete;

  /// Bumped each time a new snapshot is published.
  uint64_t generation() const noexcept {
    return generation_.load(std::memory_order_acquire);
  }

  /// The current snapshot.
  std::shared_ptr<const reference_table> snapshot() const;

  /// Checks the file now, and reloads if it changed (what the watcher
  /// thread does every `reload_check`). For tests.
  void check_now();

  table_watcher(std::string actor, table_source_spec spec,
                metrics::registry* metrics);

 private:
  void first_load();
  void run();
  void publish(std::shared_ptr<const reference_table> table);

  std::string actor_;
  table_source_spec spec_;
  table_metrics metrics_;
  file_fingerprint seen_;
  // `seen_` was modified so recently that a change within the same clock
  // tick would not show: read it again at the next check.
  bool racy_ = false;

  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const reference_table> snapshot_;
  std::atomic<uint64_t> generation_{0};

  std::mutex check_mutex_; // one check at a time (thread or check_now)
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

/// A consumer thread's view of a watcher: refreshes its snapshot only when
/// the generation moved, so the message path takes no lock.
class table_view {
 public:
  explicit table_view(std::shared_ptr<table_watcher> watcher)
    : watcher_(std::move(watcher)) {
    refresh();
  }

  /// The newest snapshot (refreshed when the watcher published one).
  const reference_table& current() {
    if (watcher_->generation() != generation_)
      refresh();
    return *table_;
  }

 private:
  void refresh() {
    generation_ = watcher_->generation();
    table_ = watcher_->snapshot();
  }

  std::shared_ptr<table_watcher> watcher_;
  std::shared_ptr<const reference_table> table_;
  uint64_t generation_ = 0;
};

} // namespace warren::actors
