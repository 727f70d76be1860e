#pragma once

/// The built-in worker kinds: echo, log and record (see builtin.hpp).

#include "warren/config/reader.hpp"
#include "warren/runtime/actor.hpp"

#include <cstdio>
#include <memory>
#include <string>

namespace warren::actors {

/// Replies with the request's body and type.
class echo : public actor {
 public:
  using actor::actor;
  /// Takes no options.
  static void check_options(config::object_reader& options);
  void setup(handlers& on) override;
};

/// Prints `<actor> <type> <body>` per message to stdout.
class log : public actor {
 public:
  using actor::actor;
  /// Takes no options.
  static void check_options(config::object_reader& options);
  void setup(handlers& on) override;
};

/// Appends one JSON line per message to `options.path`.
class record : public actor {
 public:
  /// Throws std::invalid_argument when the file cannot be opened for
  /// appending (a failed start).
  explicit record(const actor_init& init);
  /// `path` (required): the file, created when missing.
  static void check_options(config::object_reader& options);
  void setup(handlers& on) override;

 private:
  struct file_closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, file_closer> file_;
};

} // namespace warren::actors
