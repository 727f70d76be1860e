#pragma once

// Private to warren::bridges: conversions between warren's message model
// (warren/core/envelope.hpp) and rabbitmq-c's structures. Pure, no I/O.

#include "warren/core/envelope.hpp"

#include <amqp.h>
#include <chrono>
#include <string>
#include <sys/time.h>
#include <vector>

namespace warren::bridges::detail {

/// A view of `str` as AMQP bytes (no copy; `str` must outlive the use).
amqp_bytes_t bytes_of(const std::string& str);

/// A copy of AMQP bytes.
std::string string_of(amqp_bytes_t bytes);

timeval to_timeval(std::chrono::milliseconds ms);

/// One line for an RPC reply that is not normal: the library's error, or the
/// broker's close with its code and text.
std::string describe_reply(const amqp_rpc_reply_t& reply);

/// An AMQP table of `fields`. `entries` is the storage of the table and must
/// outlive its use, as must `fields` (strings are not copied).
amqp_table_t encode_table(const field_table& fields,
                          std::vector<amqp_table_entry_t>& entries);

/// Converts AMQP properties to warren's. Scalar header values come across;
/// nested tables and arrays (the broker's `x-death`) are left out: warren
/// never routes on them, and copies of a message (retries, dead letters)
/// must not carry a mangled version.
void decode_properties(const amqp_basic_properties_t& in,
                       message_properties& out);

/// Encodes warren's properties into rabbitmq-c's, reusing its storage, so
/// encoding allocates nothing once warmed up. The result points into the
/// encoded properties and this encoder; it is valid until the next `encode`.
class property_encoder {
 public:
  const amqp_basic_properties_t* encode(const message_properties& in);

 private:
  amqp_basic_properties_t props_{};
  std::vector<amqp_table_entry_t> header_entries_;
};

} // namespace warren::bridges::detail
