#include "basic/workers.hpp"

#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <stdexcept>

namespace warren::actors {

void echo::check_options(config::object_reader& options) {
  options.allow({});
}

void echo::setup(handlers& on) {
  on.otherwise([](context& ctx, const boost::json::value& body) {
    ctx.reply_json(body, ctx.message().properties.type);
    return status::ok();
  });
}

void log::check_options(config::object_reader& options) {
  options.allow({});
}

void log::setup(handlers& on) {
  on.otherwise([](context& ctx, const boost::json::value& body) {
    const auto& type = ctx.message().properties.type;
    std::cout << ctx.actor_name() << " " << (type.empty() ? "-" : type) << " "
              << boost::json::serialize(body) << std::endl;
    return status::ok();
  });
}

void record::check_options(config::object_reader& options) {
  options.allow({"path"});
  if (options.require("path")) {
    std::string path;
    options.string("path", path, config::text_rule::non_empty);
  }
}

record::record(const actor_init& init) : actor(init) {
  const auto* path = init.options.if_contains("path");
  if (path == nullptr || !path->is_string())
    throw std::invalid_argument("record actor '" + init.name +
                                "' needs options.path (a string)");
  auto file_name = std::string{path->as_string()};
  file_.reset(std::fopen(file_name.c_str(), "a"));
  if (!file_)
    throw std::invalid_argument("record actor '" + init.name +
                                "': cannot open " + file_name + ": " +
                                std::strerror(errno));
}

void record::setup(handlers& on) {
  on.otherwise([this](context& ctx, const boost::json::value& body) {
    const auto& msg = ctx.message();
    boost::json::object line;
    line["message_id"] = msg.properties.message_id;
    line["type"] = msg.properties.type;
    line["redelivered"] = msg.redelivered;
    line["body"] = body;
    auto text = boost::json::serialize(line);
    text += '\n';
    // A short write is a failure of this message, not of the node.
    if (std::fwrite(text.data(), 1, text.size(), file_.get()) != text.size() ||
        std::fflush(file_.get()) != 0)
      return status::fail(std::string{"record: write failed: "} +
                          std::strerror(errno));
    return status::ok();
  });
}

} // namespace warren::actors
