#include "pipeline/field_mapping.hpp"

#include "pipeline/stage_common.hpp"

#include <boost/json/serialize.hpp>
#include <cmath>
#include <limits>

namespace warren::actors {

namespace {

std::string json_path(const field_path& path) {
  return "$." + path.text();
}

std::string shown(const boost::json::value& v) {
  auto text = boost::json::serialize(v);
  if (text.size() > 60)
    text = text.substr(0, 57) + "...";
  return text;
}

// Writes `value` at `path`; false with `why` when the way is blocked.
bool write(boost::json::value& body, const field_path& path,
           boost::json::value value, std::string& why) {
  auto* slot = path.make(body);
  if (slot == nullptr) {
    why = "cannot write " + json_path(path) +
          (body.is_object() ? ": a field on its way is not an object"
                            : ": the body is not a JSON object");
    return false;
  }
  *slot = std::move(value);
  return true;
}

void flatten_into(boost::json::object& out, const std::string& prefix,
                  const boost::json::object& obj,
                  const std::string& separator) {
  for (const auto& member : obj) {
    auto name = prefix + std::string{member.key()};
    const auto* nested = member.value().if_object();
    if (nested != nullptr && !nested->empty())
      flatten_into(out, name + separator, *nested, separator);
    else
      out[name] = member.value();
  }
}

bool read_fields(config::object_reader& op, std::string_view key,
                 std::vector<field_path>& out) {
  const auto* list = op.array(key);
  if (list == nullptr)
    return false;
  if (list->empty()) {
    op.reader().fail(op.path_of(key), "expected at least one field path");
    return false;
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto path = read_field(op.reader(), (*list)[i],
                           op.path_of(key) + "[" + std::to_string(i) + "]");
    if (!path)
      return false;
    out.push_back(std::move(*path));
  }
  return true;
}

} // namespace

std::optional<field_mapping> field_mapping::read(config::object_reader& options,
                                                 std::string_view key) {
  const auto* list = options.require(key) ? options.array(key) : nullptr;
  if (list == nullptr)
    return std::nullopt;
  auto& reader = options.reader();
  if (list->size() > max_operations) {
    reader.fail(options.path_of(key),
                "expected at most " + std::to_string(max_operations) +
                  " operations, found " + std::to_string(list->size()));
    return std::nullopt;
  }
  field_mapping mapping;
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto path = options.path_of(key) + "[" + std::to_string(i) + "]";
    auto op = reader.object((*list)[i], path);
    if (!op)
      return std::nullopt;
    operation parsed;
    if (!read_operation(*op, parsed))
      return std::nullopt;
    parsed.label =
      "operations[" + std::to_string(i) + "] (" + parsed.label + ")";
    mapping.ops_.push_back(std::move(parsed));
  }
  return mapping;
}

bool field_mapping::read_operation(config::object_reader& op, operation& out) {
  auto& reader = op.reader();
  if (!op.require("op"))
    return false;
  auto which =
    op.choice("op", {"rename", "copy", "drop", "set", "default", "nest",
                     "flatten", "scale", "upper", "lower", "timestamp"});
  if (!which)
    return false;
  out.what = static_cast<kind>(*which);
  std::string name{op.json().at("op").get_string()};
  auto read_behaviour = [&] {
    if (auto missing = op.choice("if_missing", {"skip", "fail"}))
      out.fail_if_missing = *missing == 1;
    if (auto invalid = op.choice("on_invalid", {"fail", "skip"}))
      out.skip_if_invalid = *invalid == 1;
  };
  switch (out.what) {
    case kind::rename:
    case kind::copy:
      op.allow({"op", "from", "to", "if_missing", "on_invalid"});
      read_field(op, "from", out.field, true);
      read_field(op, "to", out.target, true);
      read_behaviour();
      break;
    case kind::drop:
      op.allow({"op", "field", "fields"});
      if ((op.find("field") != nullptr) == (op.find("fields") != nullptr)) {
        reader.fail(op.path(), "expected either \"field\" (one path) or "
                               "\"fields\" (an array of paths)");
        return false;
      }
      if (op.find("field") != nullptr) {
        std::optional<field_path> one;
        if (read_field(op, "field", one, true))
          out.fields.push_back(std::move(*one));
      } else {
        read_fields(op, "fields", out.fields);
      }
      break;
    case kind::set:
    case kind::default_value:
      op.allow({"op", "field", "value"});
      read_field(op, "field", out.target, true);
      if (const auto* value = op.require("value"))
        out.value = *value;
      break;
    case kind::nest:
      op.allow({"op", "fields", "into", "if_missing", "on_invalid"});
      if (op.require("fields"))
        read_fields(op, "fields", out.fields);
      read_field(op, "into", out.target, true);
      read_behaviour();
      break;
    case kind::flatten: {
      op.allow(
        {"op", "field", "separator", "prefix", "if_missing", "on_invalid"});
      read_field(op, "field", out.field, false);
      op.string("separator", out.separator);
      std::string prefix;
      if (op.string("prefix", prefix))
        out.prefix = prefix;
      read_behaviour();
      if (out.field && out.field->segments().size() > 1) {
        // The flattened keys go into the object that holds the field.
        std::string parent;
        const auto& segments = out.field->segments();
        for (std::size_t i = 0; i + 1 < segments.size(); ++i)
          parent += (i == 0 ? "" : ".") + segments[i];
        out.target = field_path::parse(parent);
      }
      break;
    }
    case kind::scale: {
      op.allow({"op", "field", "to", "factor", "offset", "decimals",
                "if_missing", "on_invalid"});
      read_field(op, "field", out.field, true);
      read_field(op, "to", out.target, false);
      constexpr double big = std::numeric_limits<double>::max();
      read_number(op, "factor", std::numeric_limits<double>::lowest(), big,
                  out.factor);
      read_number(op, "offset", std::numeric_limits<double>::lowest(), big,
                  out.offset);
      int decimals = 0;
      if (op.integer("decimals", {0, 15}, decimals))
        out.decimals = decimals;
      read_behaviour();
      break;
    }
    case kind::upper:
    case kind::lower:
      op.allow({"op", "field", "to", "if_missing", "on_invalid"});
      read_field(op, "field", out.field, true);
      read_field(op, "to", out.target, false);
      read_behaviour();
      break;
    case kind::timestamp:
      op.allow({"op", "field", "to", "format", "if_missing", "on_invalid"});
      read_field(op, "field", out.field, true);
      read_field(op, "to", out.target, false);
      if (auto format =
            op.choice("format", {"auto", "iso8601", "epoch_s", "epoch_ms"}))
        out.format = static_cast<timestamp_format>(*format);
      read_behaviour();
      break;
  }
  if (!reader.ok())
    return false;
  out.label = name;
  if (out.field)
    out.label += " " + out.field->text();
  else if (out.what == kind::set || out.what == kind::default_value)
    out.label += " " + out.target->text();
  else if (!out.fields.empty())
    out.label +=
      " " + out.fields.front().text() + (out.fields.size() > 1 ? ", ..." : "");
  return true;
}

bool field_mapping::apply(boost::json::value& body, std::string& why) const {
  for (const auto& op : ops_) {
    if (!apply(op, body, why)) {
      why = op.label + ": " + why;
      return false;
    }
  }
  return true;
}

bool field_mapping::apply(const operation& op, boost::json::value& body,
                          std::string& why) {
  // A value of the wrong kind: fails, or leaves the field as it was.
  auto invalid = [&](std::string what) {
    if (op.skip_if_invalid)
      return true;
    why = std::move(what);
    return false;
  };
  auto missing = [&](const field_path& path) {
    if (!op.fail_if_missing)
      return true;
    why = json_path(path) + ": the field is missing";
    return false;
  };
  auto write_or_invalid = [&](const field_path& path, boost::json::value v) {
    std::string blocked;
    if (write(body, path, std::move(v), blocked))
      return true;
    return invalid(std::move(blocked));
  };
  switch (op.what) {
    case kind::rename:
    case kind::copy: {
      const auto* source = op.field->find(body);
      if (source == nullptr)
        return missing(*op.field);
      boost::json::value value = *source;
      if (op.what == kind::copy)
        return write_or_invalid(*op.target, std::move(value));
      if (op.field->text() == op.target->text())
        return true;
      op.field->erase(body);
      std::string blocked;
      if (write(body, *op.target, value, blocked))
        return true;
      // Put it back: a rename that cannot write does not lose the field.
      std::string ignored;
      write(body, *op.field, std::move(value), ignored);
      return invalid(std::move(blocked));
    }
    case kind::drop:
      for (const auto& path : op.fields)
        path.erase(body);
      return true;
    case kind::set:
      return write_or_invalid(*op.target, op.value);
    case kind::default_value: {
      const auto* current = op.target->find(body);
      if (current != nullptr && !current->is_null())
        return true;
      return write_or_invalid(*op.target, op.value);
    }
    case kind::nest: {
      // Values first: erasing from an object moves its other members.
      boost::json::object moved;
      for (const auto& path : op.fields) {
        const auto* value = path.find(body);
        if (value == nullptr) {
          if (!missing(path))
            return false;
          continue;
        }
        moved[path.segments().back()] = *value;
      }
      if (moved.empty())
        return true;
      const auto* existing = op.target->find(body);
      if (existing != nullptr && !existing->is_object())
        return invalid(json_path(*op.target) +
                       ": expected an object to nest "
                       "into, found " +
                       shown(*existing));
      for (const auto& path : op.fields)
        path.erase(body);
      auto* into = op.target->make(body);
      if (into == nullptr)
        return invalid("cannot write " + json_path(*op.target) +
                       ": a field on its way is not an object");
      if (!into->is_object())
        into->emplace_object();
      for (auto& member : moved)
        into->get_object()[member.key()] = std::move(member.value());
      return true;
    }
    case kind::flatten: {
      if (!op.field) {
        auto* obj = body.if_object();
        if (obj == nullptr)
          return invalid("$: expected an object to flatten, found " +
                         shown(body));
        boost::json::object flat;
        flatten_into(flat, op.prefix.value_or(""), *obj, op.separator);
        body = std::move(flat);
        return true;
      }
      const auto* value = op.field->find(body);
      if (value == nullptr)
        return missing(*op.field);
      if (!value->is_object())
        return invalid(json_path(*op.field) +
                       ": expected an object to flatten, found " +
                       shown(*value));
      auto* parent = op.target ? op.target->find(body) : &body;
      if (parent == nullptr || !parent->is_object())
        return invalid(json_path(*op.field) + ": not inside an object");
      boost::json::object nested = value->get_object();
      op.field->erase(body);
      auto prefix =
        op.prefix.value_or(op.field->segments().back() + op.separator);
      boost::json::object flat;
      if (nested.empty())
        flat[prefix.empty() ? op.field->segments().back() : prefix] = nested;
      else
        flatten_into(flat, prefix, nested, op.separator);
      auto& into = parent->get_object();
      for (auto& member : flat)
        into[member.key()] = std::move(member.value());
      return true;
    }
    case kind::scale: {
      const auto* value = op.field->find(body);
      if (value == nullptr)
        return missing(*op.field);
      if (!value->is_number())
        return invalid(json_path(*op.field) + ": expected a number, found " +
                       shown(*value));
      double x = value->to_number<double>() * op.factor + op.offset;
      if (op.decimals) {
        double unit = std::pow(10.0, *op.decimals);
        x = std::round(x * unit) / unit;
      }
      if (!std::isfinite(x))
        return invalid(json_path(*op.field) + ": scaling " + shown(*value) +
                       " gives no finite number");
      boost::json::value result = x;
      if (op.decimals && *op.decimals == 0 && std::fabs(x) < 9.0e15)
        result = static_cast<int64_t>(x);
      return write_or_invalid(op.target ? *op.target : *op.field,
                              std::move(result));
    }
    case kind::upper:
    case kind::lower: {
      const auto* value = op.field->find(body);
      if (value == nullptr)
        return missing(*op.field);
      if (!value->is_string())
        return invalid(json_path(*op.field) + ": expected a string, found " +
                       shown(*value));
      boost::json::string text = value->get_string();
      for (auto& c : text)
        if (op.what == kind::upper && c >= 'a' && c <= 'z')
          c = static_cast<char>(c - 'a' + 'A');
        else if (op.what == kind::lower && c >= 'A' && c <= 'Z')
          c = static_cast<char>(c - 'A' + 'a');
      return write_or_invalid(op.target ? *op.target : *op.field,
                              std::move(text));
    }
    case kind::timestamp: {
      const auto* value = op.field->find(body);
      if (value == nullptr)
        return missing(*op.field);
      std::string bad;
      auto millis = parse_timestamp(*value, op.format, bad);
      if (!millis) {
        if (bad.find("found") == std::string::npos)
          bad += ", found " + shown(*value);
        return invalid(json_path(*op.field) + ": " + bad);
      }
      return write_or_invalid(op.target ? *op.target : *op.field, *millis);
    }
  }
  return true;
}

} // namespace warren::actors
