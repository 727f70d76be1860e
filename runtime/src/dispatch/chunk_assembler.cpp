#include "dispatch/chunk_assembler.hpp"

#include "dispatch/chunks.hpp"
#include "dispatch/settle.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/dead_letter.hpp"
#include "warren/core/log.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <map>
#include <vector>

namespace warren::detail {

namespace {

using settle_fn = std::function<void(bridges::settlement)>;

constexpr std::chrono::milliseconds expiry_check{1000};

std::string chunk_row(const std::string& stream, int64_t id) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%07lld", static_cast<long long>(id));
  return "d/" + stream + "/" + digits;
}

std::string meta_row(const std::string& stream) {
  return "m/" + stream;
}

// One transfer being staged.
struct transfer {
  int64_t total = 0;
  int64_t first_ms = 0;
  std::string type;
  boost::json::value metadata;
  int64_t bytes = 0;
  std::vector<bool> received;
  int64_t count = 0;
  /// Handed to the actor (not expired meanwhile).
  bool assembling = false;
  /// Its chunks are being dead-lettered.
  bool expiring = false;

  boost::json::value to_json() const {
    boost::json::array ids;
    for (std::size_t i = 0; i < received.size(); ++i)
      if (received[i])
        ids.push_back(static_cast<int64_t>(i));
    return {{"total", total}, {"first_ms", first_ms},
            {"type", type},   {"metadata", metadata},
            {"bytes", bytes}, {"received", std::move(ids)}};
  }

  static std::optional<transfer> from_json(const std::string& text) {
    boost::json::error_code ec;
    auto v = boost::json::parse(text, ec);
    if (ec || !v.is_object())
      return std::nullopt;
    const auto& o = v.as_object();
    transfer t;
    try {
      t.total = o.at("total").to_number<int64_t>();
      t.first_ms = o.at("first_ms").to_number<int64_t>();
      t.type = std::string{o.at("type").as_string()};
      t.metadata = o.at("metadata");
      t.bytes = o.at("bytes").to_number<int64_t>();
      t.received.assign(static_cast<std::size_t>(t.total), false);
      for (const auto& id : o.at("received").as_array()) {
        auto i = id.to_number<int64_t>();
        if (i >= 0 && i < t.total && !t.received[i]) {
          t.received[i] = true;
          ++t.count;
        }
      }
    } catch (const std::exception&) {
      return std::nullopt;
    }
    return t;
  }
};

class chunk_assembler : public bridges::delivery_handler {
 public:
  chunk_assembler(std::shared_ptr<bridges::delivery_handler> inner,
                  config::chunk_policy policy, runtime::store_settings store,
                  admission_rules rules, std::string actor_name,
                  std::string node_name, std::string queue)
    : inner_(std::move(inner)), policy_(policy),
      store_settings_(std::move(store)), rules_(rules),
      actor_(std::move(actor_name)), node_(std::move(node_name)),
      queue_(std::move(queue)), rows_actor_("chunks:" + actor_) {}

  caf::error start(bridges::consumer_host& host) override {
    auto store = runtime::checkpoint_store::open(store_settings_);
    if (!store)
      return store.error();
    store_ = std::move(*store);
    auto metas = store_->load_rows(rows_actor_, "m/");
    if (!metas)
      return metas.error();
    for (auto& [name, text] : *metas) {
      auto t = transfer::from_json(text);
      if (!t)
        return make_error(errc::store_failed, "actor '" + actor_ +
                                                "': staged transfer row " +
                                                name + " cannot be read");
      staged_ += t->bytes;
      transfers_.emplace(name.substr(2), std::move(*t));
    }
    return inner_->start(host);
  }

  void idle(bridges::consumer_host& host) override {
    arm_expiry(host);
    inner_->idle(host);
  }

  void acked(uint64_t generation, uint64_t tag, bool multiple) override {
    inner_->acked(generation, tag, multiple);
  }

  void connection_lost(bridges::consumer_host& host) override {
    inner_->connection_lost(host);
  }

  void handle(bridges::consumer_host& host, bridges::delivery msg,
              settle_fn done) override {
    arm_expiry(host);
    if (auto rejected = admit(*msg, rules_)) {
      done(to_settlement(*rejected, *msg, actor_, node_));
      return;
    }
    msg->admitted = true;
    if (!looks_like_chunk(msg->body)) {
      inner_->handle(host, std::move(msg), std::move(done));
      return;
    }
    std::string why;
    auto c = read_chunk(msg->body, why);
    if (!c) {
      reject(*msg, done, errc::validation_failed, "not a valid chunk: " + why);
      return;
    }
    auto found = transfers_.find(c->stream_id);
    if (found != transfers_.end() && found->second.total != c->total_chunks) {
      reject(*msg, done, errc::validation_failed,
             "chunk says total_chunks " + std::to_string(c->total_chunks) +
               ", the transfer's first chunk said " +
               std::to_string(found->second.total));
      return;
    }
    if (found != transfers_.end() && found->second.received[c->chunk_id]) {
      // A copy of a staged chunk: nothing to stage. The last chunk comes
      // back when the node died while the actor had the whole.
      if (found->second.count == found->second.total &&
          !found->second.assembling) {
        assemble(host, c->stream_id, *msg, std::move(done));
        return;
      }
      bridges::settlement s;
      s.duplicate = true;
      done(std::move(s));
      return;
    }
    auto size = static_cast<int64_t>(c->bytes.size());
    auto transfer_bytes =
      (found == transfers_.end() ? 0 : found->second.bytes) + size;
    if (transfer_bytes > policy_.max_transfer_bytes ||
        staged_ + size > policy_.max_staged_bytes) {
      reject(*msg, done, errc::oversized_body,
             transfer_bytes > policy_.max_transfer_bytes
               ? "transfer '" + c->stream_id + "' exceeds " +
                   std::to_string(policy_.max_transfer_bytes) + " bytes"
               : "chunks staged for this actor would exceed " +
                   std::to_string(policy_.max_staged_bytes) + " bytes");
      return;
    }
    transfer next = found == transfers_.end() ? transfer{} : found->second;
    if (found == transfers_.end()) {
      next.total = c->total_chunks;
      next.first_ms = runtime::now_ms();
      next.type = msg->properties.type;
      next.metadata = c->metadata;
      next.received.assign(static_cast<std::size_t>(c->total_chunks), false);
    }
    next.received[c->chunk_id] = true;
    ++next.count;
    next.bytes += size;
    runtime::unit_of_work work{rows_actor_};
    work.put_row(chunk_row(c->stream_id, c->chunk_id), std::move(c->bytes));
    work.put_row(meta_row(c->stream_id),
                 boost::json::serialize(next.to_json()));
    if (auto err = store_->commit(work)) {
      log::error(log::scope{actor_}, "staging a chunk: {}", describe(err));
      bridges::settlement s;
      s.what = bridges::settlement::action::requeue;
      s.code = errc::store_failed;
      s.reason = "staging a chunk failed: " + describe(err);
      done(std::move(s));
      return;
    }
    staged_ += size;
    auto& staged = transfers_[c->stream_id] = std::move(next);
    if (staged.count < staged.total) {
      done(bridges::settlement::ack());
      return;
    }
    assemble(host, c->stream_id, *msg, std::move(done));
  }

 private:
  void reject(const envelope& msg, const settle_fn& done, errc code,
              std::string reason) {
    done(to_settlement(outcome::reject(code, std::move(reason)), msg, actor_,
                       node_));
  }

  // Every chunk is staged: the payload goes to the actor as one message,
  // settled as the delivery of `last` (the chunk that completed it).
  void assemble(bridges::consumer_host& host, const std::string& stream,
                const envelope& last, settle_fn done) {
    auto& t = transfers_.at(stream);
    auto rows = store_->load_rows(rows_actor_, "d/" + stream + "/");
    if (!rows || static_cast<int64_t>(rows->size()) != t.total) {
      bridges::settlement s;
      s.what = bridges::settlement::action::requeue;
      s.code = errc::store_failed;
      s.reason = rows ? "staged chunks of '" + stream + "' are missing"
                      : "reading staged chunks: " + describe(rows.error());
      log::error(log::scope{actor_}, "{}", s.reason);
      done(std::move(s));
      return;
    }
    std::string payload;
    payload.reserve(static_cast<std::size_t>(t.bytes));
    for (auto& [name, bytes] : *rows)
      payload += bytes;
    auto whole = std::make_shared<envelope>();
    whole->properties = last.properties;
    whole->properties.message_id = "stream-" + stream;
    whole->properties.type = t.type;
    set_field(whole->properties.headers, "x-warren-stream-id", stream);
    whole->body = reassembled_body(stream, t.metadata, payload);
    whole->raw_body = std::move(payload);
    whole->body_size = whole->raw_body.size();
    take_delivery_of(*whole, last);
    t.assembling = true;
    inner_->handle(
      host, std::move(whole),
      [this, stream, done = std::move(done)](bridges::settlement s) {
        auto i = transfers_.find(stream);
        if (i != transfers_.end())
          i->second.assembling = false;
        if (s.what != bridges::settlement::action::requeue && !forget(stream))
          s.what = bridges::settlement::action::requeue;
        done(std::move(s));
      });
  }

  // Deletes a transfer's rows; false when the store fails (its chunk comes
  // back, and the transfer is handed on again).
  bool forget(const std::string& stream) {
    auto i = transfers_.find(stream);
    if (i == transfers_.end())
      return true;
    runtime::unit_of_work work{rows_actor_};
    for (int64_t id = 0; id < i->second.total; ++id)
      if (i->second.received[id])
        work.erase_row(chunk_row(stream, id));
    work.erase_row(meta_row(stream));
    if (auto err = store_->commit(work)) {
      log::error(log::scope{actor_}, "deleting staged chunks: {}",
                 describe(err));
      return false;
    }
    staged_ -= i->second.bytes;
    transfers_.erase(i);
    return true;
  }

  void arm_expiry(bridges::consumer_host& host) {
    if (expiry_armed_ || transfers_.empty())
      return;
    expiry_armed_ = true;
    host.after(expiry_check, [this, &host] {
      expiry_armed_ = false;
      expire(host);
      arm_expiry(host);
    });
  }

  // Incomplete transfers past the timeout: each staged chunk is
  // dead-lettered as the chunk message it was, then the rows go.
  void expire(bridges::consumer_host& host) {
    auto now = runtime::now_ms();
    for (auto& [stream, t] : transfers_) {
      if (t.assembling || t.count == t.total || t.expiring ||
          now - t.first_ms < policy_.timeout.count())
        continue;
      auto rows = store_->load_rows(rows_actor_, "d/" + stream + "/");
      if (!rows)
        continue;
      t.expiring = true;
      auto reason = "incomplete transfer '" + stream +
                    "': " + std::to_string(t.count) + " of " +
                    std::to_string(t.total) + " chunks after " +
                    std::to_string(policy_.timeout.count()) + " ms";
      log::warning(log::scope{actor_}, "{}", reason);
      auto pending = std::make_shared<std::size_t>(rows->size());
      auto failed = std::make_shared<bool>(false);
      for (auto& [name, bytes] : *rows) {
        auto id = std::stoll(name.substr(name.rfind('/') + 1));
        boost::json::object body{
          {"stream_id", stream},     {"chunk_id", id},
          {"total_chunks", t.total}, {"is_final", id == t.total - 1},
          {"data", to_hex(bytes)},   {"metadata", t.metadata}};
        message_properties props;
        props.message_id = stream + "/" + std::to_string(id);
        props.type = t.type;
        auto letter = make_dead_letter(
          props, boost::json::serialize(body), bridges::actors_exchange, actor_,
          queue_, {errc::timeout, reason, actor_, node_}, 1);
        host.publish(std::move(letter), [this, stream_id = stream, pending,
                                         failed](const caf::error& err) {
          if (err)
            *failed = true;
          if (--*pending > 0)
            return;
          auto i = transfers_.find(stream_id);
          if (*failed) {
            // Tried again at the next check.
            if (i != transfers_.end())
              i->second.expiring = false;
            return;
          }
          forget(stream_id);
        });
      }
    }
  }

  std::shared_ptr<bridges::delivery_handler> inner_;
  config::chunk_policy policy_;
  runtime::store_settings store_settings_;
  admission_rules rules_;
  std::string actor_;
  std::string node_;
  std::string queue_;
  std::string rows_actor_;
  std::unique_ptr<runtime::checkpoint_store> store_;
  std::map<std::string, transfer> transfers_;
  int64_t staged_ = 0;
  bool expiry_armed_ = false;
};

} // namespace

std::shared_ptr<bridges::delivery_handler>
assemble_chunks(std::shared_ptr<bridges::delivery_handler> inner,
                config::chunk_policy policy, runtime::store_settings store,
                admission_rules rules, std::string actor_name,
                std::string node_name, std::string queue) {
  return std::make_shared<chunk_assembler>(
    std::move(inner), policy, std::move(store), rules, std::move(actor_name),
    std::move(node_name), std::move(queue));
}

} // namespace warren::detail
