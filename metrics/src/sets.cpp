#include "warren/metrics/sets.hpp"

namespace warren::metrics {

reason_counters::reason_counters(registry& reg, std::string name,
                                 std::string help, labels base)
  : reg_(&reg), name_(std::move(name)), help_(std::move(help)),
    base_(std::move(base)) {
  // The reasons alert rules divide by exist from the start, at 0.
  for (auto usual : {errc::handler_failed, errc::malformed_body,
                     errc::validation_failed, errc::timeout})
    of(usual);
}

counter reason_counters::of(errc reason) {
  auto i = static_cast<std::size_t>(reason);
  if (reg_ == nullptr || i >= made_.size())
    return {};
  if (!made_[i]) {
    auto with_reason = base_;
    with_reason["reason"] = to_string(reason);
    made_[i] = reg_->make_counter(name_, help_, with_reason);
  }
  return made_[i];
}

batch_metrics make_batch_metrics(registry& reg, const std::string& actor) {
  labels who{{"actor", actor}};
  batch_metrics m;
  m.batches = reg.make_counter(
    "warren_batches_received_total",
    "Batched envelopes (header x-warren-batch) split into entries.", who);
  m.entries = reg.make_counter("warren_batch_entries_total",
                               "Entries of batched envelopes handled.", who);
  m.duplicates = reg.make_counter(
    "warren_batch_entries_duplicates_total",
    "Entries of batched envelopes already applied, not applied again.", who);
  m.retried = reg.make_counter(
    "warren_batch_entries_retried_total",
    "Entries of batched envelopes parked alone on a retry step.", who);
  m.dead_lettered = reason_counters{
    reg, "warren_batch_entries_dead_lettered_total",
    "Entries of batched envelopes dead-lettered alone, by reason.", who};
  return m;
}

delivery_metrics make_delivery_metrics(registry& reg, const std::string& actor,
                                       const std::string& queue) {
  labels who{{"actor", actor}};
  delivery_metrics m;
  reg
    .make_gauge("warren_actor_queue_info",
                "Always 1: the queue an actor consumes (to join queue "
                "metrics with actor metrics).",
                {{"actor", actor}, {"queue", queue}})
    .set(1);
  m.received = reg.make_counter("warren_messages_received_total",
                                "Deliveries an actor received.", who);
  m.handled = reg.make_counter(
    "warren_messages_handled_total",
    "Deliveries settled as done (already applied duplicates included).", who);
  m.failed = reason_counters{
    reg, "warren_messages_failed_total",
    "Deliveries settled as failures (retried or dead-lettered), by reason.",
    who};
  m.retried = reg.make_counter(
    "warren_messages_retried_total",
    "Retries: the handler run again at once, or a failed delivery given back "
    "to the broker or parked on a retry step.",
    who);
  m.dead_lettered = reason_counters{
    reg, "warren_messages_dead_lettered_total",
    "Deliveries dead-lettered (moved to a .dlq), by reason.", who};
  m.duplicates = reg.make_counter(
    "warren_messages_duplicates_total",
    "Deliveries already applied, acked without running the handler.", who);
  m.handler_seconds = reg.make_histogram(
    "warren_handler_duration_seconds",
    "From a delivery handed to its actor to its settlement (handler, "
    "effects confirmed, state committed).",
    duration_buckets(), who);
  m.latency_seconds = reg.make_histogram(
    "warren_message_latency_seconds",
    "From a message's timestamp property (whole seconds) to its settlement.",
    duration_buckets(), who);
  m.in_flight = reg.make_gauge("warren_deliveries_in_flight",
                               "Deliveries received and not yet acked.", who);
  m.consuming =
    reg.make_gauge("warren_consumer_active",
                   "1 while an actor's consumer consumes its queue.", who);
  labels which_queue{{"queue", queue}};
  m.queue_messages = reg.make_gauge(
    "warren_queue_messages",
    "Messages ready in a queue the node consumes (passive declare, every "
    "5 s).",
    which_queue);
  m.queue_consumers = reg.make_gauge(
    "warren_queue_consumers",
    "Consumers of a queue the node consumes (passive declare, every 5 s).",
    which_queue);
  m.prefetch = reg.make_gauge("warren_prefetch",
                              "The prefetch (most unacked deliveries) of an "
                              "actor's consumer.",
                              who);
  return m;
}

connection_metrics make_connection_metrics(registry& reg,
                                           const std::string& connection) {
  labels which{{"connection", connection}};
  connection_metrics m;
  m.up = reg.make_gauge("warren_connection_up",
                        "1 while the connection to the broker is open.", which);
  m.reconnects =
    reg.make_counter("warren_connection_reconnects_total",
                     "Connections made again after a loss.", which);
  m.blocked = reg.make_gauge(
    "warren_connection_blocked",
    "1 while the broker blocks publishing on the connection (an alarm).",
    which);
  return m;
}

publish_metrics make_publish_metrics(registry& reg,
                                     const std::string& connection) {
  labels which{{"connection", connection}};
  publish_metrics m;
  m.published = reg.make_counter("warren_published_total",
                                 "Messages published with a confirm.", which);
  m.confirmed = reg.make_counter("warren_publish_confirmed_total",
                                 "Publishes the broker confirmed.", which);
  m.nacked = reg.make_counter("warren_publish_nacked_total",
                              "Publishes the broker refused (nack).", which);
  m.returned =
    reg.make_counter("warren_publish_returned_total",
                     "Mandatory publishes returned unroutable.", which);
  m.unconfirmed = reg.make_gauge("warren_publish_unconfirmed",
                                 "Publishes waiting for their confirm.", which);
  m.confirm_seconds = reg.make_histogram(
    "warren_publish_confirm_seconds", "From a publish to the broker's confirm.",
    duration_buckets(), which);
  return m;
}

supervision_metrics make_supervision_metrics(registry& reg,
                                             const std::string& supervisor) {
  labels which{{"supervisor", supervisor}};
  supervision_metrics m;
  m.restarts = reg.make_counter("warren_supervisor_restarts_total",
                                "Children a supervisor restarted.", which);
  m.escalations = reg.make_counter(
    "warren_supervisor_escalations_total",
    "Times a supervisor gave up (restart intensity exceeded).", which);
  m.children_alive = reg.make_gauge("warren_supervisor_children_alive",
                                    "Children of a supervisor running.", which);
  return m;
}

store_metrics make_store_metrics(registry& reg, const std::string& actor) {
  labels who{{"actor", actor}};
  store_metrics m;
  m.commit_seconds = reg.make_histogram(
    "warren_store_commit_seconds", "Duration of a store commit (one batch).",
    duration_buckets(), who);
  m.commit_messages = reg.make_histogram("warren_store_commit_messages",
                                         "Messages applied per store commit.",
                                         count_buckets(), who, 1);
  m.commit_errors = reg.make_counter("warren_store_commit_errors_total",
                                     "Store commits that failed.", who);
  m.outbox_pending = reg.make_gauge(
    "warren_outbox_pending_rows",
    "Outbox rows committed and not yet confirmed by the broker.", who);
  m.outbox_dead_lettered = reg.make_counter(
    "warren_outbox_dead_lettered_total",
    "Outbox rows the broker refused, moved to the actor's .dlq.", who);
  m.inbox_rows = reg.make_gauge(
    "warren_inbox_rows", "Message ids remembered for de-duplication.", who);
  m.database_bytes = reg.make_gauge("warren_store_database_bytes",
                                    "Size of the SQLite database file.", who);
  m.failing = reg.make_gauge(
    "warren_store_failing",
    "1 while an actor's store commits fail (nothing is acked meanwhile).", who);
  m.wal_bytes = reg.make_gauge("warren_store_wal_bytes",
                               "Size of the SQLite write-ahead log.", who);
  return m;
}

changelog_metrics make_changelog_metrics(registry& reg,
                                         const std::string& actor) {
  labels who{{"actor", actor}};
  changelog_metrics m;
  m.lag_seconds = reg.make_gauge(
    "warren_changelog_lag_seconds",
    "Standby lag: from the publish of the last changelog record applied to "
    "this node applying it.",
    who);
  m.lag = reg.make_histogram(
    "warren_changelog_lag",
    "From a changelog record's publish to this node applying it (seconds).",
    duration_buckets(), who);
  m.applied =
    reg.make_counter("warren_changelog_records_applied_total",
                     "Changelog records this node read and judged.", who);
  m.position = reg.make_gauge(
    "warren_changelog_position",
    "The changelog stream offset after the last record this node applied.",
    who);
  return m;
}

shard_metrics make_shard_metrics(registry& reg, const std::string& actor,
                                 uint32_t shard, const std::string& queue) {
  labels who{
    {"actor", actor}, {"shard", std::to_string(shard)}, {"queue", queue}};
  shard_metrics m;
  m.owned = reg.make_gauge(
    "warren_shard_owned",
    "1 while this node owns the shard with a claimed epoch, else 0.", who);
  m.epoch = reg.make_gauge(
    "warren_shard_epoch",
    "The epoch (claim offset) this node owns or last owned the shard in; -1 "
    "before any.",
    who);
  m.epoch.set(-1);
  return m;
}

} // namespace warren::metrics
