// The control socket's method table: name -> handler(params, responder). A handler answers now
// or later (a DHT lookup), may stream notifications before its answer, and is told nothing if
// the client goes away: its Responder then quietly drops what it sends.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/jsonrpc.hpp"
#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::daemon {

// Where a client's lines go (a control-socket session).
class LineSink {
 public:
  virtual ~LineSink() = default;
  virtual void send_line(std::string line) = 0;
  virtual bool open() const = 0;
};

// The handle a handler answers through. Copyable; the first result() or error() is the answer
// and later ones are ignored. If every copy is dropped unanswered, the client gets -32603, so a
// forgotten path cannot leave it waiting. Until it answers it keeps the client's sink alive.
class Responder {
 public:
  Responder(std::shared_ptr<LineSink> sink, rpc::json id, bool notification);

  void result(rpc::json result) const;
  void error(rpc::Error error) const;
  // A notification tied to this request: {"method": method, "params": {"id": <request id>,
  // ...params}}. Dropped once answered.
  void notify(const std::string& method, rpc::json params) const;
  bool answered() const;
  // False once the client has disconnected: long operations may stop early.
  bool connected() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

using Handler = std::function<void(const rpc::json& params, Responder responder)>;

class Dispatcher {
 public:
  void add(std::string name, Handler handler);
  // Runs the handler (or answers -32601). A handler that throws gets -32603 for its client; the
  // daemon goes on.
  void dispatch(const rpc::Request& request, const Responder& responder) const;
  std::vector<std::string> methods() const;
  std::uint64_t calls() const noexcept { return calls_; }

 private:
  std::map<std::string, Handler, std::less<>> handlers_;
  mutable std::uint64_t calls_ = 0;
};

// Reads named params with a sticky error, so a handler validates straight-line and checks once:
//   ParamReader p(params, {"name", "seed"});
//   auto name = p.string("name"); auto seed = p.hex32("seed");
//   if (p.error()) return responder.error(*p.error());
// Unknown names are refused (a typo must not silently mean "default").
class ParamReader {
 public:
  ParamReader(const rpc::json& params, std::initializer_list<const char*> allowed);

  std::optional<std::string> string(const char* key, bool required = false);
  // 64 hex characters (upper or lower case).
  std::optional<Bytes32> hex32(const char* key, bool required = false);
  std::optional<std::uint64_t> uint(const char* key, std::uint64_t max, bool required = false);
  std::optional<bool> boolean(const char* key);
  // A topic: 64 hex characters are the 32 bytes themselves; any other non-empty string (up to
  // 1 KiB) names the topic BLAKE2b-256(utf8 bytes), as DHT.hash(Buffer.from(s)) would.
  std::optional<Bytes32> topic(const char* key, bool required = false);
  // ["a.b.c.d:port", ...], at most `max` of them.
  std::optional<std::vector<Ipv4Address>> addresses(const char* key, std::size_t max);
  // {"encoding": "utf8"|"hex"|"base64", "data": "..."} (daemon/value_codec.hpp).
  std::optional<Bytes> value(const char* key, bool required = false);

  const std::optional<rpc::Error>& error() const noexcept { return error_; }

 private:
  const rpc::json* find(const char* key, bool required);
  void fail(std::string message, std::string name = "INVALID_PARAMS");

  const rpc::json& params_;
  std::optional<rpc::Error> error_;
};

}  // namespace hdht::daemon
