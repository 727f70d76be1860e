#pragma once

/// The `enricher` pipeline stage: adds fields to each message, looked up by
/// the message's key in a reference table or from a service, and sends the
/// message on (`options.output`). Stateless; any number of instances.
///
/// Protocol: any message type. The key is the field `key_field` (a dotted
/// path) or the text rendered from the template `key` ("{site}-{device}").
///
///   message --key--> table snapshot ----------------------------+
///                \-> cache --miss--> call(service) --reply--+   |
///                         \--hit-----------------------------+--+--> record
///                                                            found | miss
///   record found: `fields` (output path <- record path) or `into` (the
///   whole record under one path) are set, then the message goes on;
///   a miss: `on_miss` pass (unchanged, `miss_flag` set when given),
///   default (the record `defaults` is used), or dead_letter.
///
/// Failures: a message without its key (or with a null, object or array
/// key) is dead-lettered as `validation_failed`; a miss under
/// `on_miss: dead_letter` is dead-lettered with the key in the reason; a
/// service that times out or answers with an error follows
/// `service.on_error` (retry: a transient failure for the retry policy;
/// miss: handled as a miss; dead_letter). A table that cannot be loaded at
/// start fails the start (unless `table.if_missing` is "empty"); a reload
/// that fails keeps the last good table (see table_source.hpp).
///
/// Restart type: whatever the supervision config says; an instance keeps
/// no state but its cache, which a restart empties.
///
/// Metrics (label `actor`): `warren_enricher_lookups_total{source, result}`
/// (source table|service, result hit|miss|error),
/// `warren_enricher_cache_hits_total`, `warren_enricher_cache_misses_total`,
/// `warren_enricher_cache_evictions_total`, `warren_enricher_cache_entries`,
/// and for tables `warren_enricher_table_rows`,
/// `warren_enricher_table_reloads_total`,
/// `warren_enricher_table_reload_errors_total`.

#include "pipeline/field_path.hpp"
#include "pipeline/key_template.hpp"
#include "pipeline/lookup_cache.hpp"
#include "pipeline/stage_output.hpp"
#include "pipeline/table_source.hpp"
#include "warren/config/reader.hpp"
#include "warren/metrics/cells.hpp"
#include "warren/runtime/actor.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace warren::actors {

/// An enricher's options, read once for `warren check` and once at start.
struct enricher_options {
  enum class miss_policy : uint8_t { pass, use_defaults, dead_letter };
  enum class error_policy : uint8_t { retry, miss, dead_letter };

  struct service_spec {
    /// The service actor's name.
    std::string actor;
    /// The request's message type. Default "lookup".
    std::string type = "lookup";
    /// The request body is `{<request_field>: <key>}`. Default "key".
    std::string request_field = "key";
    /// 0: the node's `calls.timeout_ms`.
    std::chrono::milliseconds timeout{0};
    error_policy on_error = error_policy::retry;
  };

  /// Exactly one of `key_field` and `key`.
  std::optional<field_path> key_field;
  std::optional<key_template> key;
  /// Exactly one of `table` and `service`.
  std::optional<table_source_spec> table;
  std::optional<service_spec> service;
  lookup_cache::settings cache;
  /// Output path <- record path. Exactly one of `fields` and `into`.
  std::vector<std::pair<field_path, field_path>> fields;
  std::optional<field_path> into;
  miss_policy on_miss = miss_policy::pass;
  /// The record used on a miss under `on_miss: default`.
  boost::json::value defaults;
  /// Set to true on a miss that goes on (pass, default).
  std::optional<field_path> miss_flag;
  stage_output output;

  /// Reads and checks `options`; errors go to the reader (with the JSON
  /// path). Nullopt when they are wrong.
  static std::optional<enricher_options> read(config::object_reader& options);
};

class enricher : public actor {
 public:
  /// Throws std::invalid_argument (a failed start) when the options are
  /// wrong or the table cannot be loaded.
  explicit enricher(const actor_init& init);
  ~enricher() override;

  static void check_options(config::object_reader& options);

  void setup(handlers& on) override;

 private:
  struct lookup_metrics {
    metrics::counter hit;
    metrics::counter miss;
    metrics::counter error;
  };

  status on_message(context& ctx, const boost::json::value& body);
  status from_table(context& ctx, const boost::json::value& body);
  status from_service(context& ctx, const boost::json::value& body,
                      const boost::json::value* raw_key);
  void on_reply(context& ctx, const std::string& key, call_result reply);

  /// Sends the message on, enriched from `record` (nullptr: a miss;
  /// `lookup_error`: the failed lookup that made it one, for the reason).
  status finish(context& ctx, const boost::json::value& body,
                const boost::json::value* record, const std::string& key,
                const std::string& lookup_error = {});
  status apply(boost::json::value& body,
               const boost::json::value& record) const;
  void cache_put(const std::string& key,
                 std::optional<boost::json::value> record);

  enricher_options options_;
  std::string source_name_; // for reasons: "csv table x.csv", "service 'd'"
  std::optional<table_view> table_;
  std::optional<lookup_cache> cache_;
  std::string key_; // reused per message

  lookup_metrics lookups_;
  metrics::counter cache_hits_;
  metrics::counter cache_misses_;
  metrics::counter cache_evictions_;
  metrics::gauge cache_entries_;
};

} // namespace warren::actors
