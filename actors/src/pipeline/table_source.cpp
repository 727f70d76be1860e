#include "pipeline/table_source.hpp"

#include "warren/core/log.hpp"
#include "warren/metrics/registry.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <stdexcept>
#include <sys/stat.h>

namespace warren::actors {

namespace {

const char* format_name(table_source_spec::file_format f) {
  switch (f) {
    case table_source_spec::file_format::json:
      return "json";
    case table_source_spec::file_format::csv:
      return "csv";
    case table_source_spec::file_format::sqlite:
      return "sqlite";
  }
  return "?";
}

bool stat_file(const std::string& path, uint64_t& inode, uint64_t& size,
               int64_t& mtime_ns) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return false;
  inode = static_cast<uint64_t>(st.st_ino);
  size = static_cast<uint64_t>(st.st_size);
  mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
             st.st_mtim.tv_nsec;
  return true;
}

// Reads a whole file of at most `max_bytes`.
bool read_text(const std::string& path, std::size_t max_bytes,
               std::string& text, std::string& error) {
  struct closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, closer> file{std::fopen(path.c_str(), "rb")};
  if (!file) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  text.clear();
  char buffer[65536];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) {
    if (text.size() + n > max_bytes) {
      error =
        path + " is larger than max_bytes (" + std::to_string(max_bytes) + ")";
      return false;
    }
    text.append(buffer, n);
  }
  if (std::ferror(file.get()) != 0) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

// File times come from a coarse clock (a few ms; a second on some file
// systems), so a file rewritten within the same tick as the version we
// read keeps its fingerprint. A version modified this recently is read
// again at the next check even when its fingerprint did not change (git's
// "racily clean" entries).
constexpr int64_t racy_window_ns = 1'000'000'000;

bool recently_modified(const file_fingerprint& fp) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  auto now_ns = static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
  return now_ns - std::max(fp.mtime_ns, fp.wal_mtime_ns) < racy_window_ns;
}

} // namespace

std::string table_source_spec::describe() const {
  return std::string{format_name(format)} + " table " + path;
}

std::string table_source_spec::identity() const {
  // Fields joined by a character no path, name or query needs.
  std::string id;
  for (const auto& part :
       {std::string{format_name(format)}, path, shape.key_column,
        std::to_string(shape.max_rows),
        std::string{shape.csv_numbers ? "n" : "s"}, select.table, select.query,
        std::to_string(reload_check.count()), std::to_string(max_bytes),
        std::string{empty_if_missing ? "e" : "f"}}) {
    id += part;
    id += '\x1f';
  }
  return id;
}

file_fingerprint file_fingerprint::of(const table_source_spec& spec) {
  file_fingerprint fp;
  fp.exists = stat_file(spec.path, fp.inode, fp.size, fp.mtime_ns);
  if (fp.exists && spec.format == table_source_spec::file_format::sqlite)
    stat_file(spec.path + "-wal", fp.wal_inode, fp.wal_size, fp.wal_mtime_ns);
  return fp;
}

bool file_fingerprint::operator==(
  const file_fingerprint& other) const noexcept {
  return exists == other.exists && inode == other.inode && size == other.size &&
         mtime_ns == other.mtime_ns && wal_inode == other.wal_inode &&
         wal_size == other.wal_size && wal_mtime_ns == other.wal_mtime_ns;
}

table_result load_table(const table_source_spec& spec) {
  table_result result;
  if (spec.format == table_source_spec::file_format::sqlite) {
    // sqlite3_open_v2 read-only reports a missing file as "unable to open":
    // say what it is.
    struct stat st {};
    if (::stat(spec.path.c_str(), &st) != 0)
      return {nullptr,
              "cannot read " + spec.path + ": " + std::strerror(errno)};
    result = load_sqlite_table(spec.path, spec.select, spec.shape);
  } else {
    std::string text;
    std::string error;
    if (!read_text(spec.path, spec.max_bytes, text, error))
      return {nullptr, std::move(error)};
    result = spec.format == table_source_spec::file_format::json
               ? parse_json_table(text, spec.shape)
               : parse_csv_table(text, spec.shape);
  }
  if (!result)
    result.error = spec.path + ": " + result.error;
  return result;
}

table_metrics table_metrics::make(metrics::registry* reg,
                                  const std::string& actor) {
  table_metrics m;
  if (reg == nullptr)
    return m;
  metrics::labels labels{{"actor", actor}};
  m.reloads =
    reg->make_counter("warren_enricher_table_reloads_total",
                      "Reference tables reloaded after a change", labels);
  m.reload_errors = reg->make_counter(
    "warren_enricher_table_reload_errors_total",
    "Reference table reloads that failed (the last good table was kept)",
    labels);
  m.rows = reg->make_gauge("warren_enricher_table_rows",
                           "Records in the current reference table", labels);
  return m;
}

// -- the watcher --------------------------------------------------------------

namespace {

// The live watchers by actor and table, so an actor's instances share one.
std::mutex watchers_mutex;
std::map<std::string, std::weak_ptr<table_watcher>> watchers;

} // namespace

std::shared_ptr<table_watcher>
table_watcher::open(const std::string& actor, const table_source_spec& spec,
                    metrics::registry* metrics) {
  auto id = actor + '\x1e' + spec.identity();
  std::lock_guard<std::mutex> guard{watchers_mutex};
  for (auto i = watchers.begin(); i != watchers.end();)
    i = i->second.expired() ? watchers.erase(i) : std::next(i);
  if (auto existing = watchers[id].lock())
    return existing;
  auto made = std::make_shared<table_watcher>(actor, spec, metrics);
  watchers[id] = made;
  return made;
}

table_watcher::table_watcher(std::string actor, table_source_spec spec,
                             metrics::registry* metrics)
  : actor_(std::move(actor)), spec_(std::move(spec)),
    metrics_(table_metrics::make(metrics, actor_)) {
  first_load();
  if (spec_.reload_check.count() > 0)
    thread_ = std::thread{[this] {
      run();
    }};
}

table_watcher::~table_watcher() {
  {
    std::lock_guard<std::mutex> guard{stop_mutex_};
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void table_watcher::first_load() {
  seen_ = file_fingerprint::of(spec_);
  racy_ = recently_modified(seen_);
  if (!seen_.exists && spec_.empty_if_missing) {
    log::warning(log::scope{actor_},
                 "{} is missing: starting with an empty table (if_missing "
                 "\"empty\"); it is loaded when it appears",
                 spec_.describe());
    publish(reference_table::empty());
    return;
  }
  auto loaded = load_table(spec_);
  if (spec_.format == table_source_spec::file_format::sqlite) {
    // As in check_now: the version is the one seen after the read.
    seen_ = file_fingerprint::of(spec_);
    racy_ = recently_modified(seen_);
  }
  if (!loaded)
    throw std::invalid_argument("enricher '" + actor_ +
                                "': cannot load its table: " + loaded.error);
  log::info(log::scope{actor_}, "loaded {} ({} records)", spec_.describe(),
            loaded.table->size());
  publish(std::move(loaded.table));
}

std::shared_ptr<const reference_table> table_watcher::snapshot() const {
  std::lock_guard<std::mutex> guard{snapshot_mutex_};
  return snapshot_;
}

void table_watcher::publish(std::shared_ptr<const reference_table> table) {
  metrics_.rows.set(static_cast<double>(table->size()));
  {
    std::lock_guard<std::mutex> guard{snapshot_mutex_};
    snapshot_ = std::move(table);
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

void table_watcher::check_now() {
  std::lock_guard<std::mutex> guard{check_mutex_};
  auto before = file_fingerprint::of(spec_);
  if (before == seen_ && !racy_)
    return;
  if (!before.exists) {
    seen_ = before;
    metrics_.reload_errors.inc();
    log::error(log::scope{actor_},
               "{} is gone: keeping the last good table ({} records)",
               spec_.describe(), snapshot()->size());
    return;
  }
  auto loaded = load_table(spec_);
  auto after = file_fingerprint::of(spec_);
  if (spec_.format == table_source_spec::file_format::sqlite) {
    // A SQLite read is one transaction, consistent by itself; and a
    // read-only reader creates the -wal file when there is none, so the
    // version is the one seen after the read (a commit during the read is
    // recent, hence racy: read again at the next check).
    before = after;
  } else if (after != before) {
    return; // Changed while being read: read it again at the next check.
  }
  // The same version read again because it was racy: not a reload, and its
  // error (if any) was reported already.
  bool reread = before == seen_;
  seen_ = before;
  racy_ = recently_modified(before);
  if (!loaded) {
    if (!reread) {
      metrics_.reload_errors.inc();
      log::error(log::scope{actor_},
                 "cannot reload its table, keeping the last good one ({} "
                 "records): {}",
                 snapshot()->size(), loaded.error);
    }
    return;
  }
  if (!reread) {
    log::info(log::scope{actor_}, "reloaded {} ({} records)", spec_.describe(),
              loaded.table->size());
    metrics_.reloads.inc();
  }
  publish(std::move(loaded.table));
}

void table_watcher::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock{stop_mutex_};
      if (stop_cv_.wait_for(lock, spec_.reload_check, [this] { return stop_; }))
        return;
    }
    try {
      check_now();
    } catch (const std::exception& e) {
      // bad_alloc on a huge table, say: the watcher keeps going.
      metrics_.reload_errors.inc();
      log::error(log::scope{actor_}, "reloading {} failed: {}",
                 spec_.describe(), e.what());
    }
  }
}

} // namespace warren::actors
