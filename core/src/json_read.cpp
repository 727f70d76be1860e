#include "warren/core/json_read.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>
#include <charconv>
#include <string>

namespace warren {

namespace json = boost::json;

namespace {

// Boost.JSON's own value-building handler (boost/json/detail/handler.hpp)
// except for doubles: those are read again from their text.
struct exact_handler {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  json::value_stack st;
  // The text of a number split over several writes (only when a document
  // comes in parts; kept for correctness).
  std::string number_text;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t n, json::error_code&) {
    st.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    st.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number_text.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    number_text.clear();
    st.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    number_text.clear();
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view s, json::error_code&) {
    const char* first = s.data();
    const char* last = s.data() + s.size();
    if (!number_text.empty()) {
      number_text.append(s.data(), s.size());
      first = number_text.data();
      last = first + number_text.size();
    }
    double exact = 0;
    auto [end, err] = std::from_chars(first, last, exact);
    // Out of range: keep Boost.JSON's infinity or zero.
    if (err == std::errc{} && end == last)
      d = exact;
    number_text.clear();
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

} // namespace

json::value read_json(std::string_view text, json::error_code& ec,
                      const json::parse_options& opt) {
  json::basic_parser<exact_handler> parser{opt};
  parser.handler().st.reset();
  auto consumed = parser.write_some(false, text.data(), text.size(), ec);
  if (ec)
    return nullptr;
  if (consumed < text.size()) {
    ec = json::error::extra_data;
    return nullptr;
  }
  return parser.handler().st.release();
}

} // namespace warren
