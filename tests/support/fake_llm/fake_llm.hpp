// The fake LLM server: a real HTTP/1.1 (and HTTPS) server speaking the OpenAI, DeepSeek,
// Anthropic and Gemini wire formats, with scripted replies and injected faults (see
// docs/fake-llm.md). Used in-process by the C++ tests and as the `chorus-fake-llm` program by
// the Python/Node tests, the benchmarks and the offline demo.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace chorus::test {

struct FakeLlmOptions {
  std::string host = "127.0.0.1";  ///< Address to listen on.
  unsigned short port = 0;         ///< 0 picks a free port.
  bool tls = false;                ///< Serve HTTPS with a certificate made at start.
  std::string ca_out;              ///< Where to write the CA PEM when tls; default a temp file.
  std::chrono::milliseconds latency{0};      ///< Before every response head.
  std::chrono::milliseconds token_delay{0};  ///< Between streamed tokens.
  int threads = 1;                           ///< Threads running the server's io_context.
  std::string fixtures_dir;                  ///< For x-fake-fixture; default CHORUS_FIXTURES_DIR.
  std::string script_file;  ///< JSON rules choosing replies/directives (docs/fake-llm.md).
};

class FakeLlmServer {
 public:
  /// Starts the server: it is listening when the constructor returns. Throws std::runtime_error
  /// when it cannot listen, make the certificate or read the script file.
  explicit FakeLlmServer(FakeLlmOptions options = {});
  /// stop().
  ~FakeLlmServer();
  FakeLlmServer(const FakeLlmServer&) = delete;
  FakeLlmServer& operator=(const FakeLlmServer&) = delete;

  /// Closes the listener and every connection and joins the threads. Idempotent.
  void stop();
  /// The port listened on.
  unsigned short port() const;
  /// "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT" (the listen host unless it is a
  /// wildcard address).
  std::string base_url() const;
  /// The CA certificate (PEM) clients verify against; empty without tls.
  std::string ca_file() const;
  /// Requests received so far (every complete HTTP request head, any path).
  std::size_t requests() const;
  /// Connections currently open.
  std::size_t open_connections() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace chorus::test
