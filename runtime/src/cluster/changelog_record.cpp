#include "cluster/changelog_record.hpp"

#include "warren/core/errc.hpp"
#include "warren/core/shard.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <limits>
#include <string_view>

namespace warren::runtime::cluster {

namespace {

constexpr const char* kind_header = "x-warren-record";
constexpr std::string_view batch_magic = "WCL1";
// Optional: records without it are read as they always were.
constexpr const char* published_header = "x-warren-published-ms";

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// Reads the body of a batch front to back; every read checks the bytes are
// there.
class body_reader {
 public:
  explicit body_reader(std::string_view bytes) : rest_(bytes) {}

  bool u32(uint32_t& v) {
    if (rest_.size() < 4)
      return false;
    v = 0;
    for (int i = 0; i < 4; ++i)
      v = (v << 8) | static_cast<unsigned char>(rest_[i]);
    rest_.remove_prefix(4);
    return true;
  }

  bool bytes(std::size_t n, std::string& out) {
    if (rest_.size() < n)
      return false;
    out.assign(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return true;
  }

  bool done() const noexcept { return rest_.empty(); }

 private:
  std::string_view rest_;
};

caf::error invalid(std::string what) {
  return make_error(errc::validation_failed,
                    "changelog record: " + std::move(what));
}

// An integer header, or an error naming it.
caf::error int_header(const message_properties& props, const char* name,
                      int64_t& out) {
  const auto* v = find_field(props.headers, name);
  if (v == nullptr || !std::holds_alternative<int64_t>(*v))
    return invalid(std::string{"header "} + name +
                   " is missing or not an integer");
  out = std::get<int64_t>(*v);
  return caf::none;
}

caf::error text_header(const message_properties& props, const char* name,
                       std::string& out) {
  const auto* v = find_field(props.headers, name);
  if (v == nullptr || !std::holds_alternative<std::string>(*v) ||
      std::get<std::string>(*v).empty())
    return invalid(std::string{"header "} + name +
                   " is missing or not a non-empty string");
  out = std::get<std::string>(*v);
  return caf::none;
}

std::string batch_body(const changelog_record& r) {
  std::string out{batch_magic};
  put_u32(out, static_cast<uint32_t>(r.changeset.size()));
  out += r.changeset;
  put_u32(out, static_cast<uint32_t>(r.outbox.size()));
  for (const auto& msg : r.outbox) {
    auto text = encode_outgoing(msg);
    put_u32(out, static_cast<uint32_t>(text.size()));
    out += text;
  }
  return out;
}

caf::error read_batch_body(const std::string& body, changelog_record& r) {
  if (body.compare(0, batch_magic.size(), batch_magic) != 0)
    return invalid("a batch's body does not start with WCL1");
  body_reader in{std::string_view{body}.substr(batch_magic.size())};
  uint32_t size = 0;
  if (!in.u32(size) || !in.bytes(size, r.changeset))
    return invalid("a batch's changeset is cut short");
  uint32_t count = 0;
  if (!in.u32(count))
    return invalid("a batch's message count is cut short");
  for (uint32_t i = 0; i < count; ++i) {
    std::string text;
    if (!in.u32(size) || !in.bytes(size, text))
      return invalid("a batch's message " + std::to_string(i) +
                     " is cut short");
    auto msg = decode_outgoing(text);
    if (!msg)
      return invalid("a batch's message " + std::to_string(i) + ": " +
                     describe(msg.error()));
    r.outbox.push_back(std::move(*msg));
  }
  if (!in.done())
    return invalid("a batch's body has bytes after its last message");
  return caf::none;
}

// The actor's shard count (`shards` and `snapshot` records).
caf::error shards_header(const message_properties& props, uint32_t& out) {
  int64_t n = 0;
  if (auto err = int_header(props, "x-warren-shards", n))
    return err;
  if (n < 1 || n > max_shards)
    return invalid("x-warren-shards " + std::to_string(n) + " is not in 1.." +
                   std::to_string(max_shards));
  out = static_cast<uint32_t>(n);
  return caf::none;
}

caf::expected<changelog_record> read_snapshot(const message_properties& props,
                                              const std::string& body,
                                              changelog_record r) {
  r.kind = record_kind::snapshot;
  if (auto err = shards_header(props, r.shards))
    return err;
  int64_t n = 0;
  if (auto err = text_header(props, "x-warren-node", r.node))
    return err;
  if (auto err = text_header(props, "x-warren-incarnation", r.incarnation))
    return err;
  if (auto err = int_header(props, "x-warren-upto", r.upto))
    return err;
  if (r.upto < 0)
    return invalid("a snapshot's x-warren-upto " + std::to_string(r.upto) +
                   " is negative");
  int64_t chunks = 0;
  if (auto err = int_header(props, "x-warren-chunks", chunks))
    return err;
  if (auto err = int_header(props, "x-warren-chunk", n))
    return err;
  if (chunks < 1 || chunks > std::numeric_limits<uint32_t>::max() || n < 0 ||
      n >= chunks)
    return invalid("a snapshot's chunk " + std::to_string(n) + " of " +
                   std::to_string(chunks) + " is not in 0..chunks-1");
  r.chunk = static_cast<uint32_t>(n);
  r.chunks = static_cast<uint32_t>(chunks);
  r.changeset = body;
  return r;
}

} // namespace

const char* to_string(record_kind kind) noexcept {
  switch (kind) {
    case record_kind::shards:
      return "shards";
    case record_kind::claim:
      return "claim";
    case record_kind::batch:
      return "batch";
    case record_kind::flushed:
      return "flushed";
    case record_kind::snapshot:
      return "snapshot";
  }
  return "batch";
}

outgoing_message to_message(const changelog_record& r,
                            const std::string& stream) {
  outgoing_message m;
  m.routing_key = stream;
  auto& p = m.properties;
  p.content_type = "application/octet-stream";
  p.type = std::string{"warren.changelog."} + to_string(r.kind);
  set_field(p.headers, kind_header, std::string{to_string(r.kind)});
  if (r.published_ms >= 0)
    set_field(p.headers, published_header, r.published_ms);
  if (r.kind == record_kind::shards) {
    set_field(p.headers, "x-warren-shards", int64_t{r.shards});
    // Each owner's own (several wait for theirs on one node).
    p.message_id = stream + "/shards/" + std::to_string(r.shards) + "/" +
                   std::to_string(r.shard) + "/" + r.node + "/" +
                   r.incarnation + "/" + std::to_string(r.sequence);
    return m;
  }
  if (r.kind == record_kind::snapshot) {
    set_field(p.headers, "x-warren-shards", int64_t{r.shards});
    set_field(p.headers, "x-warren-node", r.node);
    set_field(p.headers, "x-warren-incarnation", r.incarnation);
    set_field(p.headers, "x-warren-upto", r.upto);
    set_field(p.headers, "x-warren-chunk", int64_t{r.chunk});
    set_field(p.headers, "x-warren-chunks", int64_t{r.chunks});
    // One writer's snapshot as of one offset: a chunk published again is a
    // copy; another writer's snapshot of the same offset is another one.
    p.message_id = stream + "/snapshot/" + std::to_string(r.upto) + "/" +
                   r.node + "/" + r.incarnation + "/" + std::to_string(r.chunk);
    m.body = r.changeset;
    return m;
  }
  set_field(p.headers, "x-warren-shard", int64_t{r.shard});
  set_field(p.headers, "x-warren-node", r.node);
  set_field(p.headers, "x-warren-incarnation", r.incarnation);
  auto shard_id = stream + "/" + std::to_string(r.shard) + "/";
  switch (r.kind) {
    case record_kind::claim:
      set_field(p.headers, "x-warren-sequence",
                static_cast<int64_t>(r.sequence));
      p.message_id = shard_id + "claim/" + r.node + "/" + r.incarnation + "/" +
                     std::to_string(r.sequence);
      break;
    case record_kind::batch:
      set_field(p.headers, "x-warren-epoch", r.epoch);
      set_field(p.headers, "x-warren-sequence",
                static_cast<int64_t>(r.sequence));
      p.message_id =
        shard_id + std::to_string(r.epoch) + "/" + std::to_string(r.sequence);
      m.body = batch_body(r);
      break;
    case record_kind::flushed:
      set_field(p.headers, "x-warren-upto", r.upto);
      p.message_id = shard_id + "flushed/" + std::to_string(r.upto);
      break;
    case record_kind::shards:
    case record_kind::snapshot:
      break;
  }
  return m;
}

caf::expected<changelog_record> from_message(const message_properties& props,
                                             const std::string& body) {
  std::string kind;
  if (auto err = text_header(props, kind_header, kind))
    return err;
  changelog_record r;
  if (const auto* v = find_field(props.headers, published_header);
      v != nullptr && std::holds_alternative<int64_t>(*v))
    r.published_ms = std::get<int64_t>(*v);
  int64_t n = 0;
  if (kind == "shards") {
    r.kind = record_kind::shards;
    if (auto err = shards_header(props, r.shards))
      return err;
    return r;
  }
  if (kind == "snapshot")
    return read_snapshot(props, body, std::move(r));
  if (kind == "claim")
    r.kind = record_kind::claim;
  else if (kind == "batch")
    r.kind = record_kind::batch;
  else if (kind == "flushed")
    r.kind = record_kind::flushed;
  else
    return invalid("unknown record kind '" + kind + "'");
  if (auto err = int_header(props, "x-warren-shard", n))
    return err;
  if (n < 0 || n >= max_shards)
    return invalid("x-warren-shard " + std::to_string(n) + " is not in 0.." +
                   std::to_string(max_shards - 1));
  r.shard = static_cast<uint32_t>(n);
  if (auto err = text_header(props, "x-warren-node", r.node))
    return err;
  if (auto err = text_header(props, "x-warren-incarnation", r.incarnation))
    return err;
  if (r.kind == record_kind::batch || r.kind == record_kind::claim) {
    if (r.kind == record_kind::batch)
      if (auto err = int_header(props, "x-warren-epoch", r.epoch))
        return err;
    if (auto err = int_header(props, "x-warren-sequence", n))
      return err;
    if (n < 1)
      return invalid("x-warren-sequence " + std::to_string(n) +
                     " is not positive");
    r.sequence = static_cast<uint64_t>(n);
    if (r.kind == record_kind::batch)
      if (auto err = read_batch_body(body, r))
        return err;
  } else if (r.kind == record_kind::flushed) {
    if (auto err = int_header(props, "x-warren-upto", r.upto))
      return err;
  }
  return r;
}

} // namespace warren::runtime::cluster
