#include "cluster/changelog_reader.hpp"

#include "cluster/shard_owner.hpp"
#include "warren/core/json_read.hpp"
#include "warren/core/log.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <utility>

namespace warren::runtime::cluster {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// A record's headers and framing in the stream, about: what its body does
// not count of the bytes between two snapshots.
constexpr std::size_t record_overhead = 256;

constexpr const char* create_position_table =
  "CREATE TABLE IF NOT EXISTS local_changelog (actor TEXT PRIMARY KEY, "
  "next_offset INTEGER NOT NULL, shards INTEGER NOT NULL, views TEXT NOT "
  "NULL)";
// The messages accepted batches owe until a `flushed` says they left: a
// takeover sends them again (downstream inboxes drop the copies).
constexpr const char* create_owed_table =
  "CREATE TABLE IF NOT EXISTS local_changelog_outbox (actor TEXT NOT NULL, "
  "shard INTEGER NOT NULL, offset INTEGER NOT NULL, n INTEGER NOT NULL, "
  "message TEXT NOT NULL, PRIMARY KEY (actor, offset, n))";

std::string encode_views(const std::vector<shard_view>& views) {
  json::array out;
  for (const auto& v : views)
    out.push_back(json::object{{"epoch", v.epoch},
                               {"node", v.node},
                               {"incarnation", v.incarnation},
                               {"claim", v.claim},
                               {"sequence", v.sequence},
                               {"flushed", v.flushed}});
  return json::serialize(out);
}

caf::expected<std::vector<shard_view>> decode_views(const std::string& text) {
  boost::system::error_code ec;
  auto parsed = json::parse(text, ec);
  if (ec || !parsed.is_array())
    return make_error(errc::store_failed,
                      "local_changelog.views is not a JSON array");
  std::vector<shard_view> views;
  for (const auto& item : parsed.as_array()) {
    const auto* obj = item.if_object();
    if (obj == nullptr)
      return make_error(errc::store_failed,
                        "local_changelog.views holds a non-object");
    shard_view v;
    v.epoch = obj->at("epoch").to_number<int64_t>();
    v.node = std::string{obj->at("node").as_string()};
    v.incarnation = std::string{obj->at("incarnation").as_string()};
    v.sequence = obj->at("sequence").to_number<uint64_t>();
    v.claim = obj->at("claim").to_number<uint64_t>();
    v.flushed = obj->at("flushed").to_number<int64_t>();
    views.push_back(std::move(v));
  }
  return views;
}

} // namespace

// -- changelog_state ----------------------------------------------------------

changelog_state::changelog_state(std::shared_ptr<member_status> status)
  : status_(std::move(status)) {}

void changelog_state::expect(const std::string& id) {
  std::lock_guard<std::mutex> guard{mutex_};
  expected_.emplace(id, std::nullopt);
}

std::optional<record_outcome>
changelog_state::take(const std::string& id,
                      std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock{mutex_};
  auto ready = [&] {
    auto it = expected_.find(id);
    return it == expected_.end() || it->second.has_value();
  };
  if (timeout.count() > 0)
    changed_.wait_for(lock, timeout, ready);
  auto it = expected_.find(id);
  if (it == expected_.end() || !it->second)
    return std::nullopt;
  auto out = *it->second;
  expected_.erase(it);
  return out;
}

void changelog_state::forget(const std::string& id) {
  std::lock_guard<std::mutex> guard{mutex_};
  expected_.erase(id);
}

void changelog_state::request_reread() {
  std::lock_guard<std::mutex> guard{mutex_};
  reread_ = true;
}

bool changelog_state::take_reread() {
  std::lock_guard<std::mutex> guard{mutex_};
  return std::exchange(reread_, false);
}

int64_t changelog_state::next_offset() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return next_offset_;
}

shard_view changelog_state::shard(uint32_t i) const {
  std::lock_guard<std::mutex> guard{mutex_};
  return i < views_.size() ? views_[i] : shard_view{};
}

uint32_t changelog_state::shards() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return shards_;
}

void changelog_state::applied(
  int64_t next_offset, const changelog_rule& rule,
  const std::vector<std::pair<std::string, record_outcome>>& done) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    next_offset_ = next_offset;
    shards_ = rule.shards();
    views_ = rule.shards_view();
    // A record published twice (a retried publish) is judged by its first
    // copy; the later ones are duplicates of it.
    for (const auto& [id, outcome] : done)
      if (auto it = expected_.find(id); it != expected_.end() && !it->second)
        it->second = outcome;
  }
  changed_.notify_all();
}

// -- changelog_reader ---------------------------------------------------------

changelog_reader::changelog_reader(std::string actor, store_settings store,
                                   std::shared_ptr<changelog_state> state,
                                   std::size_t max_group,
                                   snapshot_settings snapshots)
  : actor_(std::move(actor)), settings_(std::move(store)),
    state_(std::move(state)), max_group_(max_group),
    snapshots_(std::move(snapshots)), schedule_(snapshots_.every_bytes) {
  // What it writes is a cache of the changelog, with its position in the
  // same transaction: a power loss that takes the last transactions (WAL,
  // synchronous NORMAL: no fsync per commit) takes their position with
  // them, and they are read again. The fsync would sit in every shard
  // owner's read-back, the latency a unit of work waits for. (Commits of
  // the node's other connections, FULL, still fsync the WAL up to them.)
  settings_.synchronous = sync_mode::normal;
  if (snapshots_.stream.empty())
    snapshots_.stream = changelog_name(actor_);
}

field_table changelog_reader::consume_arguments() const {
  return {{"x-stream-offset", state_->next_offset()}};
}

caf::error changelog_reader::start(bridges::consumer_host& host) {
  auto store = checkpoint_store::open(settings_);
  if (!store)
    return store.error();
  store_ = std::move(*store);
  if (auto err = store_->setup(create_position_table))
    return err;
  if (auto err = store_->setup(create_owed_table))
    return err;
  if (prepare_)
    if (auto err = prepare_(*store_))
      return err;
  host_ = &host;
  if (auto err = load_position())
    return err;
  state_->status().applied(next_offset_, 0, {});
  read_since_subscribing_ = false;
  state_->status().lag_unknown();
  return caf::none;
}

// The position and the rule's views as the file holds them.
caf::error changelog_reader::load_position() {
  next_offset_ = 0;
  rule_ = changelog_rule{};
  auto err = store_->read_sql(
    "SELECT next_offset, shards, views FROM local_changelog WHERE actor = ?1",
    {actor_}, [&](const sql_row& row) -> caf::error {
      next_offset_ = row.integer(0);
      auto views = decode_views(std::string{row.text(2)});
      if (!views)
        return views.error();
      rule_ = changelog_rule{static_cast<uint32_t>(row.integer(1)),
                             std::move(*views)};
      return caf::none;
    });
  if (err)
    return err;
  state_->applied(next_offset_, rule_, {});
  return caf::none;
}

void changelog_reader::handle(bridges::consumer_host& host,
                              bridges::delivery msg,
                              std::function<void(bridges::settlement)> done) {
  const auto* header = find_field(msg->properties.headers, "x-stream-offset");
  if (header == nullptr || !std::holds_alternative<int64_t>(*header)) {
    log::error(log::scope{actor_},
               "changelog: a delivery without its stream offset (is {}.log a "
               "stream?); ignored",
               actor_);
    done(bridges::settlement::ack());
    return;
  }
  auto offset = std::get<int64_t>(*header);
  read_since_idle_ = true;
  read_since_subscribing_ = true;
  if (behind_) {
    done(bridges::settlement::ack());
    bootstrap_read(msg, offset);
    return;
  }
  switch (next_step(next_offset_, offset)) {
    case read_step::skip:
      // Read again after a reconnect: applied already.
      done(bridges::settlement::ack());
      return;
    case read_step::behind:
      // Never applied over a gap: what is read so far is, then the file
      // waits for a snapshot.
      done(bridges::settlement::ack());
      if (!pending_.empty())
        apply_pending();
      start_bootstrap(offset);
      bootstrap_read(msg, offset);
      return;
    case read_step::apply:
      break;
  }
  record_outcome outcome{verdict::invalid_shard, offset};
  auto record = from_message(msg->properties, msg->raw_body);
  auto published_ms = record ? record->published_ms : int64_t{-1};
  if (!record) {
    log::error(log::scope{actor_}, "changelog: record at offset {} ignored: {}",
               offset, describe(record.error()));
  } else {
    outcome.outcome = rule_.apply(*record, offset);
    switch (outcome.outcome) {
      case verdict::accepted:
        changesets_.push_back(std::move(record->changeset));
        for (std::size_t n = 0; n < record->outbox.size(); ++n)
          local_.push_back(sql_group::of(
            "INSERT OR REPLACE INTO local_changelog_outbox (actor, shard, "
            "offset, n, message) VALUES (?1, ?2, ?3, ?4, ?5)",
            {actor_, int64_t{record->shard}, offset, static_cast<int64_t>(n),
             encode_outgoing(record->outbox[n])}));
        break;
      case verdict::flushed:
        local_.push_back(sql_group::of(
          "DELETE FROM local_changelog_outbox WHERE actor = ?1 AND shard = ?2 "
          "AND offset <= ?3",
          {actor_, int64_t{record->shard}, record->upto}));
        break;
      case verdict::snapshot:
        // Nothing to apply: only the size, for the next one's schedule.
        if (auto whole = seen_.add(*record, offset))
          schedule_.seen(whole->bytes);
        break;
      case verdict::shards_conflict:
        log::error(log::scope{actor_},
                   "changelog: a record at offset {} says {} shards, the "
                   "changelog began with {}",
                   offset, record->shards, rule_.shards());
        break;
      default:
        break;
    }
  }
  if (outcome.outcome != verdict::snapshot)
    group_bytes_ += msg->raw_body.size() + record_overhead;
  next_offset_ = offset + 1;
  // An ack on a stream only gives credit back: the position that counts is
  // the one stored with what was applied (a record read but not applied is
  // read again after a restart). Acked now, a stopping consumer waits for
  // nothing.
  done(bridges::settlement::ack());
  pending_.push_back({msg->properties.message_id, outcome, published_ms});
  if (pending_.size() >= max_group_) {
    apply_pending();
  } else if (!apply_armed_) {
    // An owner waits for this record's verdict: apply the group once the
    // records that arrived with it are read (the consumer's idle call only
    // comes after a whole quiet poll, 200 ms).
    apply_armed_ = true;
    host.after(group_delay, [this] {
      apply_armed_ = false;
      if (!pending_.empty())
        apply_pending();
    });
  }
}

void changelog_reader::idle(bridges::consumer_host& host) {
  if (behind_) {
    // Owners on this node cannot be answered before the file is current;
    // their claims time out and the shards stay with other nodes.
    state_->take_reread();
    if (behind_->usable)
      load_snapshot(host);
    else if (!read_since_idle_)
      report_bootstrap();
    read_since_idle_ = false;
    return;
  }
  if (!pending_.empty())
    apply_pending();
  poll_snapshot();
  // Quiet since the last look (the consumer looks every 200 ms while
  // nothing arrives): the reader is at the end of the stream.
  if (!read_since_idle_ && read_since_subscribing_ && pending_.empty())
    state_->status().caught_up();
  read_since_idle_ = false;
  if (state_->take_reread() && pending_.empty()) {
    // Restarted by its supervisor, the reader consumes again from the
    // offset after the last record it applied.
    log::warning(log::scope{actor_},
                 "changelog: an owner waits for a record this reader has not "
                 "seen; reading {}.log again from offset {}",
                 actor_, next_offset_);
    host.fail("reading the changelog again from offset " +
              std::to_string(next_offset_));
  }
}

void changelog_reader::connection_lost(bridges::consumer_host&) {
  // The consumer subscribes again from the position when it reconnects.
  read_since_subscribing_ = false;
  state_->status().lag_unknown();
}

caf::error changelog_reader::apply_pending() {
  auto local = local_;
  local.push_back(sql_group::of(
    "INSERT OR REPLACE INTO local_changelog (actor, next_offset, shards, "
    "views) VALUES (?1, ?2, ?3, ?4)",
    {actor_, next_offset_, int64_t{rule_.shards()},
     encode_views(rule_.shards_view())}));
  auto report = store_->apply_changesets(changesets_, local);
  if (!report) {
    // Kept as it is and tried again at the next quiet moment; the stream's
    // credit (the deliveries not acked) bounds what piles up meanwhile.
    if (!failing_)
      log::error(log::scope{actor_},
                 "changelog: applying records to the store failed, trying "
                 "again: {}",
                 describe(report.error()));
    failing_ = true;
    return report.error();
  }
  if (failing_)
    log::info(log::scope{actor_}, "changelog: the store works again");
  failing_ = false;
  if (report->replaced > 0 || report->missing > 0)
    log::warning(log::scope{actor_},
                 "changelog: this node's copy had diverged: {} rows "
                 "overwritten, {} missing",
                 report->replaced, report->missing);
  std::vector<std::pair<std::string, record_outcome>> done;
  done.reserve(pending_.size());
  std::vector<double> lags;
  auto now = now_ms();
  for (auto& p : pending_) {
    done.emplace_back(std::move(p.id), p.outcome);
    if (p.published_ms >= 0)
      lags.push_back(
        static_cast<double>(std::max<int64_t>(0, now - p.published_ms)) /
        1000.0);
  }
  state_->applied(next_offset_, rule_, done);
  state_->status().applied(next_offset_, pending_.size(), lags);
  pending_.clear();
  changesets_.clear();
  local_.clear();
  schedule_.applied(std::exchange(group_bytes_, 0));
  // Right after the group, before anything else writes: the file holds
  // exactly the records before `next_offset_`.
  if (schedule_.due(rule_, snapshots_.node, snapshots_.incarnation))
    start_snapshot();
  poll_snapshot();
  return caf::none;
}

void changelog_reader::start_snapshot() {
  schedule_.writing();
  if (!snapshot_store_) {
    auto read_only = settings_;
    read_only.read_only = true;
    auto opened = checkpoint_store::open(read_only);
    if (!opened) {
      publish_snapshot(next_offset_, {}, opened.error());
      return;
    }
    snapshot_store_ = std::move(*opened);
  }
  // Begun here, in the reader's thread before it applies anything more:
  // the rows read on the other thread are those of the records before
  // `next_offset_`, however long that takes.
  if (auto err = snapshot_store_->begin_read()) {
    publish_snapshot(next_offset_, {}, std::move(err));
    return;
  }
  snapshot_read job;
  job.upto = next_offset_;
  job.started = std::chrono::steady_clock::now();
  job.rows = std::async(std::launch::async,
                        [store = snapshot_store_.get(), actor = actor_] {
                          return store->snapshot_rows(actor);
                        });
  reading_ = std::move(job);
}

void changelog_reader::poll_snapshot() {
  if (!reading_ || reading_->rows.wait_for(std::chrono::seconds{0}) !=
                     std::future_status::ready)
    return;
  auto job = std::move(*reading_);
  reading_.reset();
  publish_snapshot(job.upto,
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - job.started),
                   job.rows.get());
}

void changelog_reader::publish_snapshot(int64_t upto,
                                        std::chrono::milliseconds took,
                                        caf::expected<std::string> rows) {
  if (!rows) {
    log::warning(log::scope{actor_},
                 "changelog: no snapshot written (trying again after as "
                 "many records): {}",
                 describe(rows.error()));
    schedule_.written();
    return;
  }
  auto size = rows->size();
  auto chunks = snapshot_chunks(*rows, upto, rule_.shards(), snapshots_.node,
                                snapshots_.incarnation, snapshots_.chunk_bytes);
  rows->clear();
  schedule_.sized(size);
  if (snapshots_.retention_bytes > 0 && size > snapshots_.retention_bytes / 5)
    log::warning(log::scope{actor_},
                 "changelog: a snapshot of {} bytes is more than a fifth of "
                 "the changelog's retention ({} bytes): a node behind the "
                 "retention may find no complete snapshot left in {}; raise "
                 "cluster.changelog_max_bytes",
                 size, snapshots_.retention_bytes, snapshots_.stream);
  auto left = std::make_shared<std::size_t>(chunks.size());
  auto failed = std::make_shared<bool>(false);
  auto count = chunks.size();
  // How far the reader went on while the rows were read.
  auto reached = next_offset_;
  for (auto& chunk : chunks) {
    chunk.published_ms = now_ms();
    host_->publish(
      to_message(chunk, snapshots_.stream),
      [this, left, failed, upto, size, count, took,
       reached](const caf::error& err) {
        if (err && !*failed) {
          *failed = true;
          log::warning(log::scope{actor_},
                       "changelog: the snapshot as of offset {} is "
                       "incomplete (a chunk was not confirmed: {}); readers "
                       "skip it, the next one comes after as many records",
                       upto, describe(err));
        }
        if (--*left > 0)
          return;
        schedule_.written();
        if (!*failed)
          log::info(log::scope{actor_},
                    "changelog: snapshot as of offset {} written ({} bytes "
                    "in {} chunks; rows read in {} ms on a thread of their "
                    "own, while the reader went on to offset {})",
                    upto, size, count, took.count(), reached);
      });
  }
}

void changelog_reader::start_bootstrap(int64_t offset) {
  // Assigned, not emplaced: clang takes a nested struct with default member
  // initializers for not default-constructible inside its class.
  behind_ = bootstrap{};
  behind_->first_retained = offset;
  behind_->reported = std::chrono::steady_clock::now();
  if (next_offset_ == 0)
    log::info(log::scope{actor_},
              "changelog: {} begins at offset {} (retention dropped the "
              "records before): this node's file starts from a snapshot",
              snapshots_.stream, offset);
  else
    log::warning(log::scope{actor_},
                 "changelog: this node's file is at offset {} but {} begins "
                 "at offset {} (retention dropped the records between): it "
                 "starts again from a snapshot",
                 next_offset_, snapshots_.stream, offset);
}

void changelog_reader::bootstrap_read(const bridges::delivery& msg,
                                      int64_t offset) {
  auto record = from_message(msg->properties, msg->raw_body);
  if (!record || record->kind != record_kind::snapshot)
    return;
  auto whole = behind_->chunks.add(*record, offset);
  if (!whole)
    return;
  if (!usable(*whole, behind_->first_retained, next_offset_)) {
    log::warning(log::scope{actor_},
                 "changelog: the snapshot as of offset {} (by {}) cannot be "
                 "used: the records from {} on are not all in the stream any "
                 "more (it begins at {}); waiting for a later one",
                 whole->upto, whole->node, whole->upto,
                 behind_->first_retained);
    return;
  }
  behind_->usable = std::move(whole);
}

void changelog_reader::load_snapshot(bridges::consumer_host& host) {
  auto whole = std::move(*behind_->usable);
  behind_->usable.reset();
  auto started = std::chrono::steady_clock::now();
  if (auto err = store_->replace_rows(actor_, whole.content)) {
    log::error(log::scope{actor_},
               "changelog: loading the snapshot as of offset {} failed: {}",
               whole.upto, describe(err));
    host.fail("loading a snapshot of the changelog failed");
    return;
  }
  if (auto err = load_position()) {
    host.fail("reading the position a snapshot loaded: " + describe(err));
    return;
  }
  if (next_offset_ != whole.upto) {
    // A snapshot always holds its writer's position: this one is broken.
    log::error(log::scope{actor_},
               "changelog: the snapshot as of offset {} (by {}) holds the "
               "position {}; reading from there",
               whole.upto, whole.node, next_offset_);
  }
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - started);
  log::info(log::scope{actor_},
            "changelog: loaded the snapshot as of offset {} (by {}, {} "
            "bytes, {} ms); reading on from offset {}",
            whole.upto, whole.node, whole.bytes, took.count(), next_offset_);
  state_->status().applied(next_offset_, 0, {});
  // The consumer is past the records after the snapshot: it starts again
  // from them.
  host.fail("reading the changelog on from offset " +
            std::to_string(next_offset_) + " after its snapshot");
}

void changelog_reader::report_bootstrap() {
  auto now = std::chrono::steady_clock::now();
  if (behind_->reported_once && now - behind_->reported < 30s)
    return;
  behind_->reported_once = true;
  behind_->reported = now;
  log::error(log::scope{actor_},
             "changelog: this node's file is at offset {} and {} begins at "
             "offset {}: no complete snapshot to start from in the stream "
             "yet, so nothing is applied and this node owns no shard of {} "
             "(snapshots are written by the node owning shard 0, every "
             "cluster.changelog_snapshot_bytes of records; one larger than "
             "the retention never survives whole)",
             next_offset_, snapshots_.stream, behind_->first_retained, actor_);
}

} // namespace warren::runtime::cluster
