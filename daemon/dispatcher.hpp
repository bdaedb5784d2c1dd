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

#include <boost/asio/local/stream_protocol.hpp>

#include "daemon/jsonrpc.hpp"
#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::daemon {

// What an upgraded connection becomes (`connect`, `accept`): the client's socket, and the bytes
// it sent after its request line (the first bytes of its stream).
using UpgradeTarget =
    std::function<void(boost::asio::local::stream_protocol::socket socket, std::string early)>;

// Where a client's lines go (a control-socket session).
class LineSink {
 public:
  virtual ~LineSink() = default;
  virtual void send_line(std::string line) = 0;
  virtual bool open() const = 0;
  // Stop parsing lines: the connection is about to become a byte stream, or close after an
  // error. Bytes the client sends meanwhile are kept for the stream (bounded); `on_gone` runs if
  // the client goes away first. The handler then answers with upgrade() or an error.
  virtual void hold(std::function<void()> on_gone) = 0;
  // Sends `line`, and once it is written hands the socket over (only after hold()).
  virtual void upgrade(std::string line, UpgradeTarget target) = 0;
  // A held connection got an error instead of an upgrade: close once it is written.
  virtual void end_hold() = 0;
  // Runs once when the client's connection closes (or was handed over).
  virtual void on_close(std::function<void()> hook) = 0;
  // A request's Responder took / let go of this sink: while any is held, the client is owed an
  // answer and is not idle.
  virtual void request_started() {}
  virtual void request_finished() {}
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
  // See LineSink::hold(); a later result() or error() then closes the connection after it.
  void hold(std::function<void()> on_gone) const;
  // Answers with `result`, then turns the connection into a byte stream given to `target`
  // (after hold(); a notification request has no answer to wait for and is just upgraded).
  void upgrade(rpc::json result, UpgradeTarget target) const;
  // The client's connection, for notifications that outlive this request (`connection` events
  // of a listener): null once answered or gone.
  std::weak_ptr<LineSink> sink() const;

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
