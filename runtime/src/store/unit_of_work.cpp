#include "warren/runtime/store/unit_of_work.hpp"

namespace warren::runtime {

unit_of_work::unit_of_work(std::string actor) : actor_(std::move(actor)) {
  // Nothing else to do.
}

bool unit_of_work::applied(const std::string& message_id) {
  if (ids_.count(message_id) != 0)
    return false;
  inbox_.push_back(message_id);
  ids_.insert(inbox_.back());
  return true;
}

void unit_of_work::applied_anonymous(std::string id, std::string key) {
  anonymous_.emplace_back(std::move(id), std::move(key));
}

void unit_of_work::forget_anonymous(std::vector<std::string> ids) {
  if (forgotten_.empty())
    forgotten_ = std::move(ids);
  else
    forgotten_.insert(forgotten_.end(), std::make_move_iterator(ids.begin()),
                      std::make_move_iterator(ids.end()));
}

std::vector<std::string> unit_of_work::take_forgotten_anonymous() {
  auto ids = std::move(forgotten_);
  forgotten_.clear();
  return ids;
}

bool unit_of_work::contains(const std::string& message_id) const {
  return ids_.count(message_id) != 0;
}

void unit_of_work::put_state(stored_state row) {
  states_.push_back(std::move(row));
}

void unit_of_work::put_row(std::string name, std::string data) {
  rows_.push_back({std::move(name), std::move(data), false});
}

void unit_of_work::erase_row(std::string name) {
  rows_.push_back({std::move(name), {}, true});
}

void unit_of_work::execute(sql_group group) {
  groups_.push_back(std::move(group));
}

void unit_of_work::send(outgoing_message msg) {
  outbox_.push_back(outbox_row{0, actor_, std::move(msg), {}});
}

void unit_of_work::relayed(std::vector<int64_t> rows) {
  if (relayed_.empty())
    relayed_ = std::move(rows);
  else
    relayed_.insert(relayed_.end(), rows.begin(), rows.end());
}

std::vector<outbox_row> unit_of_work::take_outbox() {
  auto rows = std::move(outbox_);
  outbox_.clear();
  return rows;
}

std::vector<int64_t> unit_of_work::take_relayed() {
  auto rows = std::move(relayed_);
  relayed_.clear();
  return rows;
}

void unit_of_work::clear() {
  inbox_.clear();
  ids_.clear();
  states_.clear();
  rows_.clear();
  groups_.clear();
  skipped_.clear();
  outbox_.clear();
  relayed_.clear();
  anonymous_.clear();
  forgotten_.clear();
}

} // namespace warren::runtime
