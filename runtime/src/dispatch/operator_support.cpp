#include "dispatch/operator_support.hpp"

#include "warren/core/text.hpp"

#include <boost/json/serialize.hpp>
#include <ctime>
#include <stdexcept>

namespace warren {

operator_rows::~operator_rows() = default;

operator_output::~operator_output() = default;

operator_store::~operator_store() = default;

caf::error stream_operator::open(operator_store&) {
  return caf::none; // No tables of its own by default.
}

void stream_operator::committed(const std::vector<skipped_group>&) {
  // Nothing by default.
}

bool stream_operator::is_query(const envelope&) const {
  return false; // Every message changes something by default.
}

void stream_operator::tick(operator_output&, int64_t) {
  // Nothing by default.
}

void stream_operator::setup_json_state(json_state_handlers&) {
  // An operator applies whole messages (`apply`).
}

boost::json::value stream_operator::initial_state() const {
  return nullptr;
}

} // namespace warren

namespace warren::detail {

std::string row_prefix(const actor_init& init) {
  return init.shards == 0 ? std::string{}
                          : "s" + std::to_string(init.shard) + "/";
}

void unit_rows::put(std::string name, std::string data) {
  work_.put_row(prefix_.empty() ? std::move(name) : prefix_ + name,
                std::move(data));
}

void unit_rows::erase(std::string name) {
  work_.erase_row(prefix_.empty() ? std::move(name) : prefix_ + name);
}

void unit_rows::execute(sql_group group) {
  work_.execute(std::move(group));
}

caf::error store_reader::query(const std::string& sql,
                               const std::vector<sql_value>& params,
                               const sql_row_handler& on_row) {
  return store_.read_sql(sql, params, on_row);
}

caf::error store_reader::setup(const std::string& sql,
                               const std::vector<sql_value>& params) {
  // Later writes belong in the unit of work, where they commit with the
  // inbox; a write of its own there could be lost or done twice.
  if (opened_)
    return make_error(errc::store_failed,
                      "operator_store::setup is for open() only; stage "
                      "writes in checkpoint() (operator_rows::execute)");
  return store_.setup(sql, params);
}

void unit_output::publish_json(const std::string& exchange,
                               const std::string& routing_key, std::string type,
                               boost::json::value body, publish_options opts) {
  // A bug in the operator, not bad input: an id made up here would differ
  // after a restart and defeat the de-duplication downstream.
  if (opts.message_id.empty())
    throw std::logic_error("operator '" + actor_ +
                           "' published from tick() without a message_id");
  if (auto what = unwritable_json(body))
    throw std::logic_error("operator '" + actor_ + "' published " +
                           opts.message_id + " holding " + *what);
  outgoing_message msg;
  msg.exchange = exchange;
  msg.routing_key = routing_key;
  msg.mandatory = opts.mandatory;
  msg.properties.message_id = std::move(opts.message_id);
  msg.properties.type = std::move(type);
  msg.properties.timestamp = static_cast<uint64_t>(std::time(nullptr));
  msg.properties.delivery_mode = opts.persistent ? 2 : 1;
  msg.properties.priority = opts.priority;
  if (opts.ttl_ms > 0)
    msg.properties.expiration = std::to_string(opts.ttl_ms);
  msg.properties.headers = std::move(opts.headers);
  msg.properties.reply_to = std::move(opts.reply_to);
  msg.properties.correlation_id = std::move(opts.correlation_id);
  msg.body = boost::json::serialize(body);
  work_.send(std::move(msg));
  ++published_;
}

} // namespace warren::detail
