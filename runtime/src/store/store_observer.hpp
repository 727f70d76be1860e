#pragma once

// Private to warren::runtime: what one stateful actor's store shows in its
// metrics (metrics::store_metrics). The dispatcher tells it of commits,
// failed commits and prunes; it keeps the inbox row count from one count
// at start plus what commits add and prunes remove (no COUNT(*) per
// commit), and reads the database and WAL file sizes at most every few
// seconds. With metrics off every call does nothing but a branch.

#include "warren/metrics/sets.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace warren::runtime {

class store_observer {
 public:
  store_observer() = default;
  store_observer(metrics::store_metrics metrics, std::string database_path);

  bool enabled() const noexcept {
    return static_cast<bool>(metrics_.commit_errors);
  }

  /// The store opened with `inbox_rows` ids remembered.
  void opened(int64_t inbox_rows);

  /// A commit of `messages` messages (`inbox_added` new ids) that took
  /// `took`.
  void committed(std::chrono::steady_clock::duration took, std::size_t messages,
                 std::size_t inbox_added);

  void commit_failed();

  void pruned(std::size_t rows);

  /// The outbox now: rows not yet confirmed, and the relay's dead-lettered
  /// rows so far (the counter grows by the difference).
  void outbox(std::size_t pending, uint64_t dead_lettered_so_far);

 private:
  void refresh_file_sizes();

  metrics::store_metrics metrics_;
  std::string path_;
  int64_t inbox_rows_ = 0;
  uint64_t dead_lettered_reported_ = 0;
  std::chrono::steady_clock::time_point sizes_read_{};
};

} // namespace warren::runtime
