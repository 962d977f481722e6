// chorus: chat with any provider, list models, check keys, validate and run workflows.
#include "commands.hpp"

#include <chorus/config.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace chorus::cli {

bool read_all(std::string_view path, std::string& out) {
  if (path == "-") {
    out.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return true;
  }
  std::ifstream in{std::string(path), std::ios::binary};
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = std::move(ss).str();
  return !in.bad();
}

}  // namespace chorus::cli

namespace {

constexpr std::string_view usage = R"(usage: chorus <command> [options]

commands:
  chat      stream one chat completion:  chorus chat -p openai -m gpt-4o-mini "prompt"
  models    list providers and models with prices
  keys      check the API keys found in the environment:  chorus keys check
  validate  check a workflow document:  chorus validate workflow.json
  run       run a workflow:  chorus run workflow.json --input "text"

Run `chorus <command> --help` for the options of a command.
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(usage.data(), args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    std::printf("chorus %s\n", chorus::version);
    return 0;
  }
  const std::string_view command = args[0];
  chorus::cli::Args rest(args.data() + 1, args.size() - 1);
  if (command == "chat") return chorus::cli::chat(rest);
  if (command == "models") return chorus::cli::models(rest);
  if (command == "keys") return chorus::cli::keys(rest);
  if (command == "run") return chorus::cli::run(rest);
  if (command == "validate") return chorus::cli::validate(rest);
  std::fprintf(stderr, "chorus: unknown command '%.*s'\n\n%s", static_cast<int>(command.size()),
               command.data(), usage.data());
  return 2;
}
