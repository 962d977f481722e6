// The subcommands of the `chorus` program. Each returns the process exit code (see docs/cli.md).
#pragma once

#include <chorus/error.hpp>

#include <span>
#include <string>
#include <string_view>

namespace chorus::cli {

using Args = std::span<const std::string_view>;  // arguments after the subcommand name

int chat(Args args);      // chorus chat -p PROVIDER -m MODEL "prompt"   (chat.cpp)
int models(Args args);    // chorus models                              (chat.cpp)
int keys(Args args);      // chorus keys check                          (chat.cpp)
int run(Args args);       // chorus run workflow.json --input "..."     (run.cpp)
int validate(Args args);  // chorus validate workflow.json              (validate.cpp)

/// The process exit status of an error kind (chat.cpp, docs/cli.md).
int exit_code(error_code ec);
/// The last line of stderr on failure: "error: " + e.describe(), on one line (chat.cpp).
void print_error_line(const Error& e);

/// Reads a whole file, or standard input when `path` is "-" (main.cpp). False when unreadable.
bool read_all(std::string_view path, std::string& out);

}  // namespace chorus::cli
