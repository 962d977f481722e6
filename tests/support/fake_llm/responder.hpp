// The fake server's protocol logic, sans-IO: one parsed HTTP request in, a Plan out (the exact
// bytes to send, where to pause, where to cut the connection). The session in server.cpp only
// moves those bytes, so every vendor format and fault is decided here.
#pragma once

#include "fake_llm.hpp"

#include <chorus/simulation.hpp>

#include <boost/beast/http/fields.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace chorus::test::fake {

/// What to send for one request. Buffers are reused from request to request.
struct Plan {
  struct Piece {
    std::size_t end;                  ///< Bytes [previous end, end) of `data`.
    std::chrono::milliseconds delay;  ///< Wait before sending this piece.
  };
  static constexpr std::size_t no_cut = static_cast<std::size_t>(-1);

  std::string data;                      ///< Response head and body, framing included.
  std::vector<Piece> pieces;             ///< Covers `data` exactly.
  std::chrono::milliseconds latency{0};  ///< Wait before the first byte.
  std::chrono::milliseconds slow{0};     ///< Wait between single bytes (0: write whole pieces).
  std::size_t cut_at = no_cut;           ///< Close the socket abruptly after this many bytes.
  bool close = false;                    ///< Close the connection after the response.

  // Scratch buffers kept for their capacity.
  std::string body, event, reply, reasoning, text, system;

  void reset();
};

/// The request as the responder needs it.
struct RequestView {
  std::string_view method;  ///< "GET", "POST", ...
  std::string_view target;  ///< Path and query.
  const boost::beast::http::fields& headers;
  std::string_view body;
  bool keep_alive = true;
};

/// Decides every response. Thread-safe: one instance serves every session.
class Responder {
 public:
  /// Reads the script file (throws std::runtime_error naming the file and the field).
  explicit Responder(const FakeLlmOptions& options);
  ~Responder();

  /// Fills `plan` with the response to `req`.
  void respond(const RequestView& req, Plan& plan);

  std::atomic<std::size_t> requests{0};
  std::atomic<std::size_t> open_connections{0};

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace chorus::test::fake
