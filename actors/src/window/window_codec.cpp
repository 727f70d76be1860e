#include "window/window_codec.hpp"

#include "warren/core/envelope.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <limits>

namespace warren::actors {

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

// A number or null (missing) at `path`; anything else is refused.
bool value_of(const boost::json::value* v, double& out) {
  if (v == nullptr || v->is_null()) {
    out = nan;
    return true;
  }
  if (!v->is_number())
    return false;
  out = v->to_number<double>();
  return true;
}

} // namespace

window_codec::window_codec(const window_settings& settings)
  : settings_(settings) {
  // Nothing else to do.
}

bool window_codec::read_key(const boost::json::value& body,
                            std::string& key_text, std::string& why) const {
  boost::json::array key;
  for (const auto& field : settings_.key_fields) {
    const auto* v = field.find(body);
    if (v == nullptr || !(v->is_string() || v->is_number() || v->is_bool())) {
      why = "key field '" + field.text() + "' is " +
            (v == nullptr ? "missing" : "not a string, number or boolean");
      return false;
    }
    key.push_back(*v);
  }
  key_text = boost::json::serialize(key);
  return true;
}

bool window_codec::read(const boost::json::value& body, int64_t now_ms,
                        std::string& key_text, int64_t& time, double* values,
                        std::string& why) const {
  if (!read_key(body, key_text, why))
    return false;
  if (settings_.time_field) {
    const auto* v = settings_.time_field->find(body);
    if (v == nullptr) {
      why = "time field '" + settings_.time_field->text() + "' is missing";
      return false;
    }
    std::string bad;
    auto t = parse_timestamp(*v, settings_.time_format, bad);
    if (!t) {
      why = "time field '" + settings_.time_field->text() + "': " + bad;
      return false;
    }
    time = *t;
  } else {
    time = now_ms;
  }
  for (std::size_t i = 0; i < settings_.fields.size(); ++i) {
    const auto& field = settings_.fields[i];
    if (!value_of(field.path.find(body), values[i]) || std::isinf(values[i])) {
      why = "value field '" + field.name + "' is not a finite number or null";
      return false;
    }
  }
  return true;
}

boost::json::value window_codec::result_body(const window_result& r) const {
  boost::json::object body;
  boost::json::object key;
  boost::json::error_code ec;
  auto parts = boost::json::parse(r.key_name, ec);
  if (!ec && parts.is_array())
    for (std::size_t i = 0;
         i < settings_.key_fields.size() && i < parts.as_array().size(); ++i)
      key[settings_.key_fields[i].text()] = parts.as_array()[i];
  body["key"] = std::move(key);
  body["window"] = to_string(settings_.spec.type);
  body["start"] = r.start;
  body["end"] = r.end;
  body["revision"] = r.revision;
  body["update"] = r.is_update;
  body["count"] = r.event_count;
  boost::json::object fields;
  auto number = [](double v) -> boost::json::value {
    if (std::isnan(v))
      return nullptr;
    return v;
  };
  for (std::size_t i = 0; i < settings_.fields.size() && i < r.field_count;
       ++i) {
    const auto& spec = settings_.fields[i];
    const auto& f = r.fields[i];
    boost::json::object out;
    if (spec.count)
      out["count"] = f.count;
    if (spec.sum)
      out["sum"] = f.sum;
    if (spec.avg)
      out["avg"] = number(f.count == 0 ? nan : f.mean);
    if (spec.min)
      out["min"] = number(f.count == 0 ? nan : f.min);
    if (spec.max)
      out["max"] = number(f.count == 0 ? nan : f.max);
    if (spec.stddev)
      out["stddev"] = number(f.count == 0 ? nan : f.stddev);
    if (spec.stddev_sample)
      out["stddev_sample"] = number(f.count < 2 ? nan : f.stddev_sample);
    if (spec.variance)
      out["variance"] = number(f.count == 0 ? nan : f.variance);
    if (spec.variance_sample)
      out["variance_sample"] = number(f.count < 2 ? nan : f.variance_sample);
    for (std::size_t p = 0;
         p < spec.percentile_names.size() && p < f.percentile_count; ++p)
      out[spec.percentile_names[p]] =
        number(f.count == 0 ? nan : f.percentiles[p]);
    for (std::size_t p = 0;
         p < spec.approx_names.size() && p < f.approx_percentile_count; ++p)
      out[spec.approx_names[p]] =
        number(f.count == 0 ? nan : f.approx_percentiles[p]);
    fields[spec.name] = std::move(out);
  }
  body["fields"] = std::move(fields);
  return body;
}

std::string window_codec::result_id(const window_result& r,
                                    const std::string& actor) {
  // `<key>/<start>/<end>/<actor>/<revision>`, hashed when over 255 bytes.
  return effect_id(std::string{r.key_name} + "/" + std::to_string(r.start) +
                     "/" + std::to_string(r.end),
                   actor, r.revision);
}

} // namespace warren::actors
