#include "store/store_observer.hpp"

#include <sys/stat.h>

namespace warren::runtime {

namespace {

// File sizes are read at most this often (a stat each).
constexpr std::chrono::seconds size_interval{5};

double file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<double>(st.st_size) : 0;
}

} // namespace

store_observer::store_observer(metrics::store_metrics metrics,
                               std::string database_path)
  : metrics_(std::move(metrics)), path_(std::move(database_path)) {
  // Nothing else to do.
}

void store_observer::opened(int64_t inbox_rows) {
  inbox_rows_ = inbox_rows;
  metrics_.inbox_rows.set(static_cast<double>(inbox_rows_));
  refresh_file_sizes();
}

void store_observer::committed(std::chrono::steady_clock::duration took,
                               std::size_t messages, std::size_t inbox_added) {
  if (!enabled())
    return;
  metrics_.commit_seconds.observe(std::chrono::duration<double>(took).count());
  if (messages > 0)
    metrics_.commit_messages.observe(static_cast<double>(messages));
  metrics_.failing.set(0);
  inbox_rows_ += static_cast<int64_t>(inbox_added);
  metrics_.inbox_rows.set(static_cast<double>(inbox_rows_));
  if (std::chrono::steady_clock::now() - sizes_read_ >= size_interval)
    refresh_file_sizes();
}

void store_observer::commit_failed() {
  metrics_.commit_errors.inc();
  metrics_.failing.set(1);
}

void store_observer::pruned(std::size_t rows) {
  inbox_rows_ = std::max<int64_t>(0, inbox_rows_ - static_cast<int64_t>(rows));
  metrics_.inbox_rows.set(static_cast<double>(inbox_rows_));
}

void store_observer::outbox(std::size_t pending,
                            uint64_t dead_lettered_so_far) {
  if (!enabled())
    return;
  metrics_.outbox_pending.set(static_cast<double>(pending));
  if (dead_lettered_so_far > dead_lettered_reported_) {
    metrics_.outbox_dead_lettered.inc(
      static_cast<double>(dead_lettered_so_far - dead_lettered_reported_));
    dead_lettered_reported_ = dead_lettered_so_far;
  }
}

void store_observer::refresh_file_sizes() {
  if (!enabled())
    return;
  sizes_read_ = std::chrono::steady_clock::now();
  metrics_.database_bytes.set(file_size(path_));
  metrics_.wal_bytes.set(file_size(path_ + "-wal"));
}

} // namespace warren::runtime
