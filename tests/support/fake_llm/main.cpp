// chorus-fake-llm: the fake LLM server as a program, for the Python/Node tests, the benchmarks
// and the offline demo. Prints one line "chorus-fake-llm listening on URL" when ready.
#include "fake_llm.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

namespace {

void usage(std::FILE* to) {
  std::fputs(
      "usage: chorus-fake-llm [--host ADDR] [--port N] [--tls] [--ca-out FILE]\n"
      "                       [--latency-ms MS] [--token-delay-ms MS] [--threads N]\n"
      "                       [--fixtures DIR] [--script FILE]\n"
      "A fake OpenAI / Anthropic / Gemini / DeepSeek server with scripted replies and faults.\n"
      "--port 0 (the default) picks a free port. See docs/fake-llm.md.\n",
      to);
}

long parse_number(std::string_view flag, const char* value, long max) {
  char* end = nullptr;
  long v = std::strtol(value, &end, 10);
  if (!*value || *end || v < 0 || v > max) {
    std::fprintf(stderr,
                 "chorus-fake-llm: %.*s: expected an integer between 0 and %ld, got \"%s\"\n",
                 static_cast<int>(flag.size()), flag.data(), max, value);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  chorus::test::FakeLlmOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "chorus-fake-llm: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--host")
      o.host = value();
    else if (a == "--port")
      o.port = static_cast<unsigned short>(parse_number(a, value(), 65535));
    else if (a == "--tls")
      o.tls = true;
    else if (a == "--ca-out")
      o.ca_out = value();
    else if (a == "--latency-ms")
      o.latency = std::chrono::milliseconds(parse_number(a, value(), 3'600'000));
    else if (a == "--token-delay-ms")
      o.token_delay = std::chrono::milliseconds(parse_number(a, value(), 3'600'000));
    else if (a == "--threads")
      o.threads = static_cast<int>(parse_number(a, value(), 256));
    else if (a == "--fixtures")
      o.fixtures_dir = value();
    else if (a == "--script")
      o.script_file = value();
    else if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "chorus-fake-llm: unknown flag %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }

  // Block the stop signals in every thread (the server's threads inherit the mask), then wait
  // for one here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    chorus::test::FakeLlmServer server(o);
    std::cout << "chorus-fake-llm listening on " << server.base_url() << std::endl;
    if (o.tls) std::cerr << "chorus-fake-llm: CA certificate in " << server.ca_file() << std::endl;
    int signal = 0;
    sigwait(&stop_signals, &signal);
    server.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chorus-fake-llm: %s\n", e.what());
    return 1;
  }
  return 0;
}
