#include "warren/runtime/membership.hpp"

#include "warren/core/errc.hpp"
#include "warren/core/shard.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <iomanip>
#include <map>
#include <sstream>
#include <tuple>

namespace warren::runtime::membership {

namespace json = boost::json;

namespace {

caf::error invalid(const std::string& what) {
  return make_error(errc::validation_failed, "announcement: " + what);
}

// Field `key` of `obj` as an integer, or an error naming it.
caf::error integer_at(const json::object& obj, const char* key, int64_t& out) {
  const auto* v = obj.if_contains(key);
  if (v == nullptr || !(v->is_int64() || v->is_uint64()))
    return invalid(std::string{"\""} + key + "\" is missing or not an integer");
  out = v->is_int64() ? v->as_int64() : static_cast<int64_t>(v->as_uint64());
  return caf::none;
}

caf::error text_at(const json::object& obj, const char* key, std::string& out) {
  const auto* v = obj.if_contains(key);
  if (v == nullptr || !v->is_string() || v->as_string().empty())
    return invalid(std::string{"\""} + key +
                   "\" is missing or not a non-empty string");
  out = std::string{v->as_string()};
  return caf::none;
}

caf::error read_actor(const json::value& v, actor_report& out) {
  const auto* obj = v.if_object();
  if (obj == nullptr)
    return invalid("an entry of \"actors\" is not an object");
  int64_t n = 0;
  if (auto err = text_at(*obj, "actor", out.actor))
    return err;
  if (auto err = integer_at(*obj, "shards", n))
    return err;
  if (n < 1 || n > max_shards)
    return invalid("\"shards\" of '" + out.actor + "' is out of range");
  out.shards = static_cast<uint32_t>(n);
  if (auto err = integer_at(*obj, "position", out.position))
    return err;
  if (const auto* lag = obj->if_contains("lag_seconds");
      lag != nullptr && lag->is_number())
    out.lag_seconds = lag->to_number<double>();
  const auto* owned = obj->if_contains("owned");
  if (owned == nullptr || !owned->is_array())
    return invalid("\"owned\" of '" + out.actor + "' is not an array");
  for (const auto& item : owned->as_array()) {
    const auto* o = item.if_object();
    if (o == nullptr)
      return invalid("an entry of \"owned\" is not an object");
    int64_t shard = 0;
    owned_shard s;
    if (auto err = integer_at(*o, "shard", shard))
      return err;
    if (shard < 0 || shard >= static_cast<int64_t>(out.shards))
      return invalid("owned shard " + std::to_string(shard) + " of '" +
                     out.actor + "' is not below its shard count");
    s.shard = static_cast<uint32_t>(shard);
    if (auto err = integer_at(*o, "epoch", s.epoch))
      return err;
    out.owned.push_back(s);
  }
  return caf::none;
}

std::string seconds_text(double s) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(s < 10 ? 3 : 1) << s << "s";
  return out.str();
}

} // namespace

json::value to_json(const announcement& a) {
  json::array actors;
  for (const auto& r : a.actors) {
    json::array owned;
    for (const auto& s : r.owned)
      owned.push_back(json::object{{"shard", s.shard}, {"epoch", s.epoch}});
    json::object entry{{"actor", r.actor},
                       {"shards", r.shards},
                       {"owned", std::move(owned)},
                       {"position", r.position}};
    if (r.lag_seconds)
      entry["lag_seconds"] = *r.lag_seconds;
    actors.push_back(std::move(entry));
  }
  return json::object{{"type", announcement_type},
                      {"node", a.node},
                      {"incarnation", a.incarnation},
                      {"started_ms", a.started_ms},
                      {"at_ms", a.at_ms},
                      {"interval_ms", a.interval_ms},
                      {"leaving", a.leaving},
                      {"actors", std::move(actors)}};
}

caf::expected<announcement> parse_announcement(std::string_view text) {
  boost::system::error_code ec;
  auto doc = json::parse(text, ec);
  if (ec)
    return invalid("not JSON: " + ec.message());
  const auto* obj = doc.if_object();
  if (obj == nullptr)
    return invalid("not a JSON object");
  announcement a;
  if (auto err = text_at(*obj, "node", a.node))
    return err;
  if (auto err = text_at(*obj, "incarnation", a.incarnation))
    return err;
  if (auto err = integer_at(*obj, "started_ms", a.started_ms))
    return err;
  if (auto err = integer_at(*obj, "at_ms", a.at_ms))
    return err;
  if (auto err = integer_at(*obj, "interval_ms", a.interval_ms))
    return err;
  if (a.interval_ms < 1)
    return invalid("\"interval_ms\" is not positive");
  if (const auto* leaving = obj->if_contains("leaving");
      leaving != nullptr && leaving->is_bool())
    a.leaving = leaving->as_bool();
  const auto* actors = obj->if_contains("actors");
  if (actors == nullptr || !actors->is_array())
    return invalid("\"actors\" is not an array");
  for (const auto& item : actors->as_array()) {
    actor_report r;
    if (auto err = read_actor(item, r))
      return err;
    a.actors.push_back(std::move(r));
  }
  return a;
}

std::size_t cluster_status::stuck_shards() const noexcept {
  std::size_t n = 0;
  for (const auto& a : actors)
    n += static_cast<std::size_t>(std::count_if(
      a.shard.begin(), a.shard.end(), [](const auto& s) { return s.stuck(); }));
  return n;
}

cluster_status summarize(const std::vector<announcement>& heard, int64_t now_ms,
                         const std::string& only_actor) {
  // Each node's latest word (by its own clock; a node's clock runs forward).
  std::map<std::string, const announcement*> latest;
  for (const auto& a : heard) {
    auto& slot = latest[a.node];
    if (slot == nullptr || a.at_ms >= slot->at_ms)
      slot = &a;
  }
  cluster_status out;
  out.now_ms = now_ms;
  // Actors in name order, with the largest shard count announced (all
  // nodes agree unless one is misconfigured and refuses to own).
  std::map<std::string, actor_status> actors;
  for (const auto& [name, a] : latest) {
    node_status n;
    n.node = name;
    n.incarnation = a->incarnation;
    n.started_ms = a->started_ms;
    n.last_heard_ms = a->at_ms;
    n.interval_ms = a->interval_ms;
    n.leaving = a->leaving;
    n.live =
      !a->leaving && now_ms - a->at_ms <= silent_intervals * a->interval_ms;
    for (const auto& r : a->actors) {
      if (!only_actor.empty() && r.actor != only_actor)
        continue;
      auto& st = actors[r.actor];
      st.actor = r.actor;
      st.shards = std::max(st.shards, r.shards);
      if (!n.live)
        continue;
      n.owned += r.owned.size();
      st.readers.push_back({name, r.shards, r.position, 0, r.lag_seconds});
    }
    out.nodes.push_back(std::move(n));
  }
  for (auto& [name, st] : actors) {
    for (uint32_t i = 0; i < st.shards; ++i)
      st.shard.push_back({i, shard_name(name, i), {}, -1, {}, std::nullopt});
    // Every live node's claims; the highest epoch is the owner (a lower
    // one is a fenced owner that has not let go yet).
    std::vector<std::vector<std::pair<int64_t, std::string>>> claims(st.shards);
    for (const auto& n : out.nodes) {
      if (!n.live)
        continue;
      for (const auto& r : latest[n.node]->actors)
        if (r.actor == name)
          for (const auto& s : r.owned)
            if (s.shard < st.shards)
              claims[s.shard].emplace_back(s.epoch, n.node);
    }
    for (uint32_t i = 0; i < st.shards; ++i) {
      auto& c = claims[i];
      std::sort(c.rbegin(), c.rend());
      for (std::size_t k = 0; k < c.size(); ++k) {
        if (k == 0) {
          st.shard[i].owner = c[k].second;
          st.shard[i].epoch = c[k].first;
        } else {
          st.shard[i].stale_owners.push_back(c[k].second);
        }
      }
    }
    int64_t furthest = 0;
    for (const auto& r : st.readers)
      furthest = std::max(furthest, r.position);
    for (auto& r : st.readers)
      r.behind = furthest - r.position;
    out.actors.push_back(std::move(st));
  }
  return out;
}

std::vector<silent_node>
nodes_to_down(const std::vector<heard_announcement>& heard,
              const std::string& self, int64_t now_ms, int64_t after_ms) {
  auto fresh = [&](const heard_announcement& h) {
    return now_ms - h.heard_ms <= after_ms;
  };
  // Each node's latest word.
  std::map<std::string, const heard_announcement*> latest;
  for (const auto& h : heard) {
    auto& slot = latest[h.said.node];
    if (slot == nullptr || h.said.at_ms >= slot->said.at_ms)
      slot = &h;
  }
  auto me = latest.find(self);
  if (me == latest.end() || !fresh(*me->second) || me->second->said.leaving)
    return {};
  // This node's rank among the live ones in name order: the first acts
  // after `after_ms`, the next after twice that (in case the first cannot
  // reach a management API), and so on.
  int64_t rank = 0;
  for (const auto& [node, h] : latest) {
    if (node == self)
      break;
    if (fresh(*h) && !h->said.leaving)
      ++rank;
  }
  std::vector<silent_node> out;
  for (const auto& [node, h] : latest)
    if (!h->said.leaving && now_ms - h->heard_ms > after_ms * (rank + 1))
      out.push_back(
        {node, h->said.incarnation, h->said.at_ms, now_ms - h->heard_ms});
  return out;
}

std::vector<std::string> shard_candidates(const cluster_status& status,
                                          const std::string& actor,
                                          uint32_t shards) {
  std::vector<std::string> out;
  for (const auto& a : status.actors) {
    if (a.actor != actor)
      continue;
    // Readers are of live nodes only.
    for (const auto& r : a.readers)
      if (r.shards == shards &&
          (r.behind <= caught_up_records ||
           (r.lag_seconds && *r.lag_seconds <= caught_up_seconds)))
        out.push_back(r.node);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> place_shards(const std::string& actor, uint32_t shards,
                                      const std::vector<std::string>& nodes) {
  if (nodes.empty())
    return {};
  // Every (shard, node) pair ranked by its rendezvous weight; each shard
  // goes to the first node with room in that order. The rooms add up to
  // `shards`, so every shard finds one.
  struct pair_weight {
    uint64_t weight;
    uint32_t shard;
    uint32_t node;
  };
  std::vector<pair_weight> pairs;
  pairs.reserve(std::size_t{shards} * nodes.size());
  for (uint32_t i = 0; i < shards; ++i)
    for (uint32_t n = 0; n < nodes.size(); ++n)
      pairs.push_back(
        {stable_key_hash(actor + '\n' + std::to_string(i) + '\n' + nodes[n]), i,
         n});
  std::sort(pairs.begin(), pairs.end(), [](const auto& x, const auto& y) {
    return std::tie(y.weight, x.shard, x.node) <
           std::tie(x.weight, y.shard, y.node);
  });
  auto count = static_cast<uint32_t>(nodes.size());
  std::vector<uint32_t> room(count, shards / count);
  for (uint32_t n = 0; n < shards % count; ++n)
    ++room[n];
  std::vector<std::string> out(shards);
  std::vector<bool> placed(shards, false);
  for (const auto& p : pairs) {
    if (placed[p.shard] || room[p.node] == 0)
      continue;
    placed[p.shard] = true;
    --room[p.node];
    out[p.shard] = nodes[p.node];
  }
  return out;
}

json::value to_json(const cluster_status& status) {
  json::array nodes;
  for (const auto& n : status.nodes)
    nodes.push_back(json::object{{"node", n.node},
                                 {"incarnation", n.incarnation},
                                 {"started_ms", n.started_ms},
                                 {"last_heard_ms", n.last_heard_ms},
                                 {"silent_ms", status.now_ms - n.last_heard_ms},
                                 {"interval_ms", n.interval_ms},
                                 {"live", n.live},
                                 {"leaving", n.leaving},
                                 {"owned", n.owned}});
  json::array actors;
  for (const auto& a : status.actors) {
    json::array shards;
    for (const auto& s : a.shard) {
      json::object o{{"shard", s.shard}, {"queue", s.queue}};
      o["owner"] =
        s.owner.empty() ? json::value(nullptr) : json::value(s.owner);
      o["epoch"] = s.epoch;
      json::array stale;
      for (const auto& n : s.stale_owners)
        stale.push_back(json::value(n));
      o["stale_owners"] = std::move(stale);
      if (s.queue_state) {
        o["messages"] = s.queue_state->messages;
        o["consumers"] = s.queue_state->consumers;
      } else {
        o["messages"] = nullptr;
        o["consumers"] = nullptr;
      }
      o["stuck"] = s.stuck();
      shards.push_back(std::move(o));
    }
    json::array readers;
    for (const auto& r : a.readers) {
      json::object o{
        {"node", r.node}, {"position", r.position}, {"behind", r.behind}};
      o["lag_seconds"] =
        r.lag_seconds ? json::value(*r.lag_seconds) : json::value(nullptr);
      readers.push_back(std::move(o));
    }
    actors.push_back(json::object{{"actor", a.actor},
                                  {"shards", a.shards},
                                  {"shard", std::move(shards)},
                                  {"readers", std::move(readers)}});
  }
  return json::object{{"now_ms", status.now_ms},
                      {"nodes", std::move(nodes)},
                      {"actors", std::move(actors)},
                      {"stuck_shards", status.stuck_shards()}};
}

std::string to_text(const cluster_status& status) {
  std::ostringstream out;
  out << "NODE                 STATE    LAST HEARD  OWNS  INCARNATION\n";
  for (const auto& n : status.nodes) {
    auto state = n.live ? "live" : n.leaving ? "left" : "gone";
    out << std::left << std::setw(20) << n.node << " " << std::setw(8) << state
        << " " << std::setw(11)
        << seconds_text(static_cast<double>(status.now_ms - n.last_heard_ms) /
                        1000.0)
        << " " << std::setw(5) << n.owned << " " << n.incarnation << "\n";
  }
  for (const auto& a : status.actors) {
    out << "\n" << a.actor << " (" << a.shards << " shards)\n";
    out << "  SHARD  OWNER                EPOCH        MESSAGES  CONSUMERS\n";
    for (const auto& s : a.shard) {
      std::string owner = s.owner.empty() ? "-" : s.owner;
      if (!s.stale_owners.empty())
        owner += " (+" + std::to_string(s.stale_owners.size()) + " fenced)";
      out << "  " << std::left << std::setw(6) << s.shard << " "
          << std::setw(20) << owner << " " << std::setw(12)
          << (s.epoch >= 0 ? std::to_string(s.epoch) : "-") << " "
          << std::setw(9)
          << (s.queue_state ? std::to_string(s.queue_state->messages) : "?")
          << " "
          << (s.queue_state ? std::to_string(s.queue_state->consumers) : "?")
          << (s.stuck() ? "  NO OWNER" : "") << "\n";
    }
    out << "  READER               POSITION     BEHIND    LAG\n";
    for (const auto& r : a.readers)
      out << "  " << std::left << std::setw(20) << r.node << " "
          << std::setw(12) << r.position << " " << std::setw(9) << r.behind
          << " " << (r.lag_seconds ? seconds_text(*r.lag_seconds) : "-")
          << "\n";
  }
  return out.str();
}

} // namespace warren::runtime::membership
