#include "top_model.hpp"

#include "warren/core/errc.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <limits>

namespace warren::cli::top_model {

// -- the exposition format ----------------------------------------------------

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

// A sample value or a `le` bound: a float, or Inf/NaN in any case with an
// optional sign (as Go's ParseFloat, which Prometheus uses, reads them).
std::optional<double> parse_number(std::string_view text) {
  if (text.size() > 1 && text[0] == '+' && text[1] != '-')
    text.remove_prefix(1);
  double value = 0;
  const char* last = text.data() + text.size();
  auto [end, err] = std::from_chars(text.data(), last, value);
  if (err != std::errc{} || end != last || text.empty())
    return std::nullopt;
  return value;
}

// Reads one sample line; `why` says what is wrong when it returns false.
class line_parser {
 public:
  explicit line_parser(std::string_view line) : line_(line) {}

  bool parse(sample& out, std::string& why) {
    skip_blanks();
    if (!name(out.name, true))
      return fail(why, "expected a metric name");
    bool blank = skip_blanks();
    if (peek() == '{') {
      if (!labels(out.labels, why))
        return false;
      blank = skip_blanks();
    }
    if (!blank)
      return fail(why, "expected a blank and a value after the series");
    auto value = parse_number(token());
    if (!value)
      return fail(why, "the value is not a number");
    out.value = *value;
    if (skip_blanks() && pos_ < line_.size()) {
      // A timestamp in milliseconds: read and ignored (we time scrapes
      // ourselves).
      int64_t ms = 0;
      auto ts = token();
      auto [end, err] = std::from_chars(ts.data(), ts.data() + ts.size(), ms);
      if (err != std::errc{} || end != ts.data() + ts.size())
        return fail(why, "the timestamp is not an integer");
      skip_blanks();
    }
    if (pos_ < line_.size())
      return fail(why, "unexpected text after the value");
    return true;
  }

 private:
  char peek() const { return pos_ < line_.size() ? line_[pos_] : '\0'; }

  bool skip_blanks() {
    auto start = pos_;
    while (pos_ < line_.size() && is_blank(line_[pos_]))
      ++pos_;
    return pos_ > start;
  }

  std::string_view token() {
    auto start = pos_;
    while (pos_ < line_.size() && !is_blank(line_[pos_]))
      ++pos_;
    return line_.substr(start, pos_ - start);
  }

  // Metric names may hold ':' (recording rules), label names may not.
  bool name(std::string& out, bool colons) {
    auto start = pos_;
    auto ok_start = [&](char c) {
      return is_name_start(c) || (colons && c == ':');
    };
    auto ok = [&](char c) {
      return is_name_char(c) || (colons && c == ':');
    };
    if (pos_ >= line_.size() || !ok_start(line_[pos_]))
      return false;
    while (pos_ < line_.size() && ok(line_[pos_]))
      ++pos_;
    out.assign(line_.substr(start, pos_ - start));
    return true;
  }

  bool labels(label_set& out, std::string& why) {
    ++pos_; // '{'
    for (;;) {
      skip_blanks();
      if (peek() == '}') {
        ++pos_;
        return true;
      }
      std::string key;
      if (!name(key, false))
        return fail(why, "expected a label name or '}'");
      skip_blanks();
      if (peek() != '=')
        return fail(why, "expected '=' after label " + key);
      ++pos_;
      skip_blanks();
      std::string value;
      if (!quoted(value, why))
        return fail(why, why + " in the value of label " + key);
      out[key] = std::move(value);
      skip_blanks();
      if (peek() == ',')
        ++pos_; // a trailing comma before '}' is allowed
      else if (peek() != '}')
        return fail(why, "expected ',' or '}' after label " + key);
    }
  }

  bool quoted(std::string& out, std::string& why) {
    if (peek() != '"')
      return fail(why, "expected '\"'");
    for (++pos_; pos_ < line_.size(); ++pos_) {
      char c = line_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (++pos_ == line_.size())
        break;
      switch (line_[pos_]) {
        case '\\':
          out += '\\';
          break;
        case '"':
          out += '"';
          break;
        case 'n':
          out += '\n';
          break;
        default:
          return fail(why, std::string{"unknown escape \\"} + line_[pos_]);
      }
    }
    return fail(why, "no closing '\"'");
  }

  static bool fail(std::string& why, std::string text) {
    why = std::move(text);
    return false;
  }

  std::string_view line_;
  std::size_t pos_ = 0;
};

} // namespace

caf::expected<std::vector<sample>> parse_exposition(std::string_view text) {
  std::vector<sample> out;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    auto eol = text.find('\n');
    auto line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    auto first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#')
      continue;
    sample s;
    std::string why;
    if (!line_parser{line}.parse(s, why))
      return make_error(errc::malformed_body,
                        "line " + std::to_string(number) + ": " + why);
    out.push_back(std::move(s));
  }
  return out;
}

// -- arithmetic ---------------------------------------------------------------

std::optional<double> histogram_quantile(double q,
                                         const bucket_counts& buckets) {
  // PromQL's bucketQuantile, on buckets sorted by bound (a std::map).
  if (buckets.size() < 2 || !std::isinf(buckets.rbegin()->first))
    return std::nullopt;
  auto observations = buckets.rbegin()->second;
  if (!(observations > 0) || std::isnan(q))
    return std::nullopt;
  if (q < 0)
    return -std::numeric_limits<double>::infinity();
  if (q > 1)
    return std::numeric_limits<double>::infinity();
  auto rank = q * observations;
  auto infinite = std::prev(buckets.end());
  // Counts scraped at slightly different moments may dip; PromQL takes the
  // running maximum (ensureMonotonic).
  double below = 0;
  double lower_bound = 0;
  bool first = true;
  for (auto it = buckets.begin(); it != infinite; ++it) {
    auto count = std::max(it->second, below);
    if (count >= rank) {
      if ((first && it->first <= 0) || count == below)
        return it->first;
      return lower_bound +
             (it->first - lower_bound) * ((rank - below) / (count - below));
    }
    below = count;
    lower_bound = it->first;
    first = false;
  }
  // The rank is in the +Inf bucket: the largest finite bound.
  return lower_bound;
}

double increase(double before, double now) {
  return now >= before ? now - before : now;
}

bucket_counts increase(const bucket_counts& before, const bucket_counts& now) {
  bool reset = false;
  for (const auto& [bound, count] : now) {
    auto was = before.find(bound);
    if (was != before.end() && count < was->second)
      reset = true;
  }
  if (reset)
    return now;
  bucket_counts out;
  for (const auto& [bound, count] : now) {
    auto was = before.find(bound);
    out[bound] = count - (was == before.end() ? 0 : was->second);
  }
  return out;
}

// -- scrapes and views --------------------------------------------------------

namespace {

// The figures of one actor instance in one scrape.
struct actor_figures {
  std::optional<double> received;
  std::optional<double> handled;
  std::optional<double> failed; // every reason together
  std::optional<double> in_flight;
  std::optional<double> prefetch;
  std::string queue;
  bucket_counts handler_buckets;
};

// The figures of one node in one scrape.
struct node_figures {
  std::map<std::string, actor_figures> actors;
  int connections_up = 0;
  int connections = 0;
  bucket_counts commit_buckets;   // every actor together
  std::optional<double> restarts; // every supervisor together
  std::map<std::string, double> queue_messages;
};

void add_to(std::optional<double>& total, double value) {
  total = total.value_or(0) + value;
}

std::string label_of(const sample& s, const char* key) {
  auto it = s.labels.find(key);
  return it == s.labels.end() ? std::string{} : it->second;
}

// Adds a `_bucket` sample to `buckets` (summed over the other labels).
void add_bucket(bucket_counts& buckets, const sample& s) {
  if (auto le = parse_number(label_of(s, "le")))
    buckets[*le] += s.value;
}

// Sorts one scrape's samples by node, keeping what the dashboard shows.
std::map<std::string, node_figures>
figures_of(const std::vector<sample>& samples) {
  std::map<std::string, node_figures> nodes;
  for (const auto& s : samples) {
    auto& node = nodes[label_of(s, "node")];
    const auto& n = s.name;
    if (n == "warren_connection_up") {
      ++node.connections;
      if (s.value == 1)
        ++node.connections_up;
    } else if (n == "warren_supervisor_restarts_total") {
      add_to(node.restarts, s.value);
    } else if (n == "warren_store_commit_seconds_bucket") {
      add_bucket(node.commit_buckets, s);
    } else if (n == "warren_queue_messages") {
      node.queue_messages[label_of(s, "queue")] = s.value;
    }
    auto actor_label = s.labels.find("actor");
    if (actor_label == s.labels.end())
      continue;
    auto of_actor = [&]() -> actor_figures& {
      return node.actors[actor_label->second];
    };
    if (n == "warren_messages_received_total")
      add_to(of_actor().received, s.value);
    else if (n == "warren_messages_handled_total")
      add_to(of_actor().handled, s.value);
    else if (n == "warren_messages_failed_total")
      add_to(of_actor().failed, s.value);
    else if (n == "warren_deliveries_in_flight")
      of_actor().in_flight = s.value;
    else if (n == "warren_prefetch")
      of_actor().prefetch = s.value;
    else if (n == "warren_actor_queue_info")
      of_actor().queue = label_of(s, "queue");
    else if (n == "warren_handler_duration_seconds_bucket")
      add_bucket(of_actor().handler_buckets, s);
  }
  return nodes;
}

figure gauge_figure(const std::optional<double>& now) {
  return now ? figure::of(*now) : figure{};
}

// A counter's increase per second; `before` is null without an earlier
// scrape.
figure rate_figure(const std::optional<double>* before,
                   const std::optional<double>& now, double seconds) {
  if (!now)
    return {};
  if (before == nullptr || !*before)
    return figure::unknown();
  return figure::of(increase(**before, *now) / seconds);
}

figure quantile_figure(double q, const bucket_counts* before,
                       const bucket_counts& now) {
  if (now.empty())
    return {};
  if (before == nullptr)
    return figure::unknown();
  auto value = histogram_quantile(q, increase(*before, now));
  return value ? figure::of(*value) : figure::unknown();
}

figure ratio_figure(const actor_figures* before, const actor_figures& now) {
  if (!now.failed || !now.received)
    return {};
  if (before == nullptr || !before->failed || !before->received)
    return figure::unknown();
  auto received = increase(*before->received, *now.received);
  if (!(received > 0))
    return figure::unknown();
  return figure::of(increase(*before->failed, *now.failed) / received);
}

actor_row row_of(const std::string& actor, const actor_figures* before,
                 const actor_figures& now, const node_figures& node,
                 double seconds) {
  actor_row row;
  row.actor = actor;
  row.handled_per_second =
    rate_figure(before ? &before->handled : nullptr, now.handled, seconds);
  auto* buckets = before ? &before->handler_buckets : nullptr;
  row.p50_seconds = quantile_figure(0.5, buckets, now.handler_buckets);
  row.p99_seconds = quantile_figure(0.99, buckets, now.handler_buckets);
  row.error_ratio = ratio_figure(before, now);
  row.in_flight = gauge_figure(now.in_flight);
  row.prefetch = gauge_figure(now.prefetch);
  auto depth = node.queue_messages.find(now.queue);
  if (!now.queue.empty() && depth != node.queue_messages.end())
    row.queue_messages = figure::of(depth->second);
  return row;
}

node_view view_of(const std::string& name, const std::string& source,
                  const node_figures* before, const node_figures& now,
                  double seconds) {
  node_view view;
  view.node = name;
  view.source = source;
  view.connections_up = now.connections_up;
  view.connections = now.connections;
  view.commit_p99_seconds = quantile_figure(
    0.99, before ? &before->commit_buckets : nullptr, now.commit_buckets);
  view.restarts = gauge_figure(now.restarts);
  if (now.restarts)
    view.restarts_increase =
      before && before->restarts
        ? figure::of(increase(*before->restarts, *now.restarts))
        : figure::unknown();
  for (const auto& [actor, figures] : now.actors) {
    const actor_figures* was = nullptr;
    if (before != nullptr) {
      auto it = before->actors.find(actor);
      if (it != before->actors.end())
        was = &it->second;
    }
    view.actors.push_back(row_of(actor, was, figures, now, seconds));
  }
  return view;
}

} // namespace

std::vector<node_view> compare(const scrape* before, const scrape& now) {
  if (!now.failure.empty()) {
    node_view failed;
    failed.source = now.source;
    failed.failure = now.failure;
    return {failed};
  }
  auto nodes_now = figures_of(now.samples);
  if (nodes_now.empty()) {
    node_view empty;
    empty.source = now.source;
    empty.failure = "no metrics in the scrape";
    return {empty};
  }
  std::map<std::string, node_figures> nodes_before;
  double seconds = 0;
  if (before != nullptr && before->failure.empty()) {
    seconds = now.taken_at - before->taken_at;
    if (seconds > 0)
      nodes_before = figures_of(before->samples);
  }
  std::vector<node_view> out;
  for (const auto& [name, figures] : nodes_now) {
    auto was = nodes_before.find(name);
    out.push_back(view_of(name, now.source,
                          was == nodes_before.end() ? nullptr : &was->second,
                          figures, seconds));
  }
  return out;
}

// -- text
// -----------------------------------------------------------------------

namespace {

std::string printed(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, value);
  return buf;
}

// `text` cut to `width` columns, with '~' saying it was cut.
std::string fit(const std::string& text, std::size_t width) {
  if (text.size() <= width)
    return text;
  if (width == 0)
    return {};
  return text.substr(0, width - 1) + "~";
}

std::string right(const std::string& text, std::size_t width) {
  auto cut = fit(text, width - 1); // at least one blank before a column
  return std::string(width - cut.size(), ' ') + cut;
}

std::string left(const std::string& text, std::size_t width) {
  auto cut = fit(text, width);
  return cut + std::string(width - cut.size(), ' ');
}

template<class Format>
std::string shown(const figure& f, Format format) {
  switch (f.what) {
    case figure::state::absent:
      return "";
    case figure::state::unknown:
      return "-";
    case figure::state::known:
      break;
  }
  return format(f.value);
}

std::string count_text(double v) {
  return printed("%.0f", v);
}

std::string percent_text(double ratio) {
  return printed("%.1f%%", ratio * 100);
}

std::string in_flight_text(const actor_row& row) {
  if (!row.in_flight.known())
    return "";
  auto text = count_text(row.in_flight.value);
  if (row.prefetch.known())
    text += "/" + count_text(row.prefetch.value);
  return text;
}

// The columns: the actor's name, then right-aligned figures.
constexpr std::size_t indent = 2;
constexpr std::size_t actor_width = 20;
constexpr std::size_t rate_width = 10;
constexpr std::size_t quantile_width = 9;
constexpr std::size_t ratio_width = 7;
constexpr std::size_t in_flight_width = 13;
constexpr std::size_t queue_width = 9;

std::string row_line(const std::string& actor, const std::string& rate,
                     const std::string& p50, const std::string& p99,
                     const std::string& errors, const std::string& in_flight,
                     const std::string& queue) {
  return std::string(indent, ' ') + left(actor, actor_width) +
         right(rate, rate_width) + right(p50, quantile_width) +
         right(p99, quantile_width) + right(errors, ratio_width) +
         right(in_flight, in_flight_width) + right(queue, queue_width);
}

std::string node_line(const node_view& node) {
  std::string line =
    node.node.empty() ? node.source : node.node + "  " + node.source;
  if (!node.failure.empty())
    return line + "  " + node.failure;
  line += "  conns " + std::to_string(node.connections_up) + "/" +
          std::to_string(node.connections);
  if (node.restarts.known()) {
    line += "  restarts " + count_text(node.restarts.value);
    if (node.restarts_increase.known())
      line += " (+" + count_text(node.restarts_increase.value) + ")";
  }
  if (node.commit_p99_seconds.what != figure::state::absent)
    line += "  commit p99 " + shown(node.commit_p99_seconds, format_seconds);
  return line;
}

} // namespace

std::string format_seconds(double seconds) {
  if (seconds < 0.001)
    return printed("%.0fus", seconds * 1e6);
  if (seconds < 0.01)
    return printed("%.2fms", seconds * 1e3);
  if (seconds < 1)
    return printed("%.1fms", seconds * 1e3);
  if (seconds < 100)
    return printed("%.2fs", seconds);
  return printed("%.0fs", seconds);
}

std::string format_rate(double per_second) {
  if (per_second < 1000)
    return printed("%.1f", per_second);
  if (per_second < 1e6)
    return printed("%.0f", per_second);
  return printed("%.1fM", per_second / 1e6);
}

std::vector<std::string> render(const std::string& title,
                                const std::vector<node_view>& nodes,
                                std::size_t width) {
  std::vector<std::string> lines;
  lines.push_back(title);
  lines.push_back(row_line("ACTOR", "HANDLED/s", "P50", "P99", "ERR%",
                           "INFLIGHT/PF", "QUEUE"));
  for (const auto& node : nodes) {
    lines.push_back(node_line(node));
    if (node.failure.empty() && node.actors.empty())
      lines.push_back(std::string(indent, ' ') + "(no actors)");
    for (const auto& row : node.actors)
      lines.push_back(
        row_line(row.actor, shown(row.handled_per_second, format_rate),
                 shown(row.p50_seconds, format_seconds),
                 shown(row.p99_seconds, format_seconds),
                 shown(row.error_ratio, percent_text), in_flight_text(row),
                 shown(row.queue_messages, count_text)));
  }
  for (auto& line : lines) {
    // Figures are right-aligned in fixed columns: trailing blanks are noise.
    line = fit(line, width);
    line.erase(line.find_last_not_of(' ') + 1);
  }
  return lines;
}

} // namespace warren::cli::top_model
