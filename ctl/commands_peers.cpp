// hdhtctl's connection commands: listen, unlisten, servers, connect, connections, disconnect
// (docs/hdhtctl.md). `listen` without --forward and `connect` turn the control connection into
// the P2P stream and pipe it to stdin/stdout, like nc -l / nc; `connect --listen` serves a local
// TCP port, one control connection (and one P2P connection) per TCP connection.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <thread>

#include "ctl/byte_pipe.hpp"
#include "ctl/cli.hpp"

namespace hdht::ctl {

namespace {

using nlohmann::json;

bool is_key(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
}

// Status lines of the streaming commands go to stderr: stdout is the stream.
void status_line(const Global& g, const json& result, const std::string& text) {
  if (g.json)
    std::cerr << result.dump() << std::endl;
  else
    std::cerr << text << std::endl;
}

int finish_pipe(int in_fd, int out_fd, OpenCall& c) {
  std::string error;
  if (pipe_stream(in_fd, out_fd, c.fd(), c.leftover(), error)) return kOk;
  std::cerr << "hdhtctl: " << error << "\n";
  return kStreamError;
}

int cmd_listen(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {"--key", "--allow", "--forward", "--relay-through"}, {"--keep"});
  if (!a.error.empty()) return usage_error("listen", a.error);
  if (!a.positional.empty()) return usage_error("listen", "unexpected argument " + a.positional[0]);
  json params = json::object();
  if (a.options.contains("--key")) params["key"] = a.options.at("--key");
  if (a.options.contains("--relay-through")) {
    if (!is_key(a.options.at("--relay-through")))
      return usage_error("listen", "--relay-through needs the relay's public key (64 hex)");
    params["relayThrough"] = a.options.at("--relay-through");
  }
  if (a.all.contains("--allow")) {
    for (const auto& k : a.all.at("--allow"))
      if (!is_key(k)) return usage_error("listen", "--allow needs a public key (64 hex)");
    params["allow"] = a.all.at("--allow");
  }
  if (a.flags.contains("--keep")) params["keep"] = true;
  if (a.options.contains("--forward")) {
    params["forward"] = a.options.at("--forward");
    return invoke(g, "listen", params, [](const json& r) {
      return "listening on " + r.value("publicKey", std::string()) + ", forwarding to " +
             r.value("forward", std::string()) + "\n";
    });
  }
  OpenCall listener;
  const auto out = call_open(g.socket, "listen", params, g.timeout, listener);
  if (const int code = report_failure("listen", out); code != kOk) return code;
  const auto& result = std::get<Answer>(out).result;
  status_line(g, result, "listening on " + result.value("publicKey", std::string()));
  // Like nc -l: the first connection is the one piped.
  std::optional<json> note;
  while ((note = next_notification(listener)) && note->value("method", "") != "connection") {
  }
  if (!note) {
    std::cerr << "hdhtctl: the daemon closed the listening connection\n";
    return kUnreachable;
  }
  const auto& p = (*note)["params"];
  OpenCall stream;
  const auto accepted =
      call_open(g.socket, "accept", {{"connection", p.value("connection", 0)}}, g.timeout, stream);
  if (const int code = report_failure("accept", accepted); code != kOk) return code;
  if (!a.flags.contains("--keep")) listener.close();  // the server closes with its listener
  const auto& ar = std::get<Answer>(accepted).result;
  status_line(g, ar, "connection from " + ar.value("publicKey", std::string()));
  return finish_pipe(STDIN_FILENO, STDOUT_FILENO, stream);
}

int cmd_unlisten(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {"--key"}, {});
  if (!a.error.empty()) return usage_error("unlisten", a.error);
  if (a.positional.size() > 1) return usage_error("unlisten", "takes at most one PUBKEY");
  json params = json::object();
  if (a.options.contains("--key")) params["key"] = a.options.at("--key");
  if (!a.positional.empty()) params["publicKey"] = a.positional[0];
  return invoke(g, "unlisten", params, [](const json& r) {
    return "closed " + r.value("publicKey", std::string()) + "\n";
  });
}

int cmd_refresh(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {"--key"}, {});
  if (!a.error.empty()) return usage_error("refresh", a.error);
  if (a.positional.size() > 1) return usage_error("refresh", "takes at most one PUBKEY");
  json params = json::object();
  if (a.options.contains("--key")) params["key"] = a.options.at("--key");
  if (!a.positional.empty()) params["publicKey"] = a.positional[0];
  return invoke(g, "refresh", params, [](const json& r) {
    return "refreshing " + r.value("publicKey", std::string()) + "\n";
  });
}

std::string format_servers(const json& r) {
  std::string out;
  for (const auto& s : r.value("servers", json::array())) {
    out += s.value("publicKey", std::string()) + " " + s.value("key", std::string()) + " " +
           s.value("state", std::string());
    const auto f = s.value("forward", json());
    out += f.is_string()
               ? " -> " + f.get<std::string>()
               : std::string(" (listeners: ") + std::to_string(s.value("listeners", 0)) + ")";
    out += " connections " + std::to_string(s.value("connections", 0));
    if (s.value("keep", false)) out += " kept";
    const auto allow = s.value("allow", json::array());
    if (!allow.empty()) out += " allow " + std::to_string(allow.size());
    if (const auto addr = s.value("address", json()); addr.is_object())
      out +=
          " at " + addr.value("host", std::string()) + ":" + std::to_string(addr.value("port", 0));
    const auto relays = s.value("relayAddresses", json::array());
    if (!relays.empty()) out += " relays " + std::to_string(relays.size());
    out += "\n";
  }
  return out.empty() ? "no servers\n" : out;
}

int cmd_servers(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {});
  if (!a.error.empty()) return usage_error("servers", a.error);
  if (!a.positional.empty()) return usage_error("servers", "takes no arguments");
  return invoke(g, "servers", json::object(), format_servers);
}

// One TCP client of `connect --listen`: its own control connection and P2P connection.
void serve_tcp_client(Global g, json params, int tcp) {
  OpenCall stream;
  const auto out = call_open(g.socket, "connect", params, g.timeout, stream);
  if (report_failure("connect", out) == kOk) {
    std::string error;
    if (!pipe_stream(tcp, tcp, stream.fd(), stream.leftover(), error))
      std::cerr << "hdhtctl: " << error << "\n";
  }
  ::close(tcp);
}

int listen_tcp(const Global& g, const json& params, const std::string& where) {
  const auto colon = where.rfind(':');
  ::sockaddr_in addr{};
  addr.sin_family = AF_INET;
  const std::string host = colon == std::string::npos ? "127.0.0.1" : where.substr(0, colon);
  const std::string port = colon == std::string::npos ? where : where.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535 ||
      ::inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &addr.sin_addr) != 1)
    return usage_error("connect", "--listen needs [IPV4:]PORT");
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoul(port)));
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || ::bind(fd, reinterpret_cast<::sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, 64) != 0) {
    std::cerr << "hdhtctl: cannot listen on " << where << ": " << std::strerror(errno) << "\n";
    return kRemoteError;
  }
  std::signal(SIGPIPE, SIG_IGN);
  status_line(g, {{"listen", where}, {"publicKey", params["publicKey"]}},
              "forwarding " + where + " to " + params["publicKey"].get<std::string>());
  for (;;) {
    const int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
      std::cerr << "hdhtctl: accept: " << std::strerror(errno) << "\n";
      return kRemoteError;
    }
    std::thread(serve_tcp_client, g, params, c).detach();
  }
}

int cmd_connect(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {"--key", "--listen", "--relay-through"}, {});
  if (!a.error.empty()) return usage_error("connect", a.error);
  if (a.positional.size() != 1 || !is_key(a.positional[0]))
    return usage_error("connect", "needs the server's PUBKEY (64 hex)");
  json params = {{"publicKey", a.positional[0]}};
  if (a.options.contains("--key")) params["key"] = a.options.at("--key");
  if (a.options.contains("--relay-through")) {
    if (!is_key(a.options.at("--relay-through")))
      return usage_error("connect", "--relay-through needs the relay's public key (64 hex)");
    params["relayThrough"] = a.options.at("--relay-through");
  }
  if (a.options.contains("--listen")) return listen_tcp(g, params, a.options.at("--listen"));
  OpenCall stream;
  const auto out = call_open(g.socket, "connect", params, g.timeout, stream);
  if (const int code = report_failure("connect", out); code != kOk) return code;
  const auto& r = std::get<Answer>(out).result;
  status_line(g, r,
              "connected to " + r.value("publicKey", std::string()) + " (" +
                  r.value("path", std::string()) + ")");
  std::signal(SIGPIPE, SIG_IGN);
  return finish_pipe(STDIN_FILENO, STDOUT_FILENO, stream);
}

std::string format_connections(const json& r) {
  std::string out;
  for (const auto& c : r.value("connections", json::array())) {
    out += std::to_string(c.value("connection", 0)) + " " + c.value("direction", std::string()) +
           " " + c.value("state", std::string()) + " " + c.value("remotePublicKey", std::string()) +
           " " + c.value("local", std::string()) + " out " +
           std::to_string(c.value("bytesOut", 0)) + " in " + std::to_string(c.value("bytesIn", 0)) +
           " age " + std::to_string(c.value("ageMs", 0) / 1000) + "s\n";
  }
  return out.empty() ? "no connections\n" : out;
}

int cmd_connections(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {});
  if (!a.error.empty()) return usage_error("connections", a.error);
  if (!a.positional.empty()) return usage_error("connections", "takes no arguments");
  return invoke(g, "connections", json::object(), format_connections);
}

int cmd_disconnect(const Global& g, const std::vector<std::string>& args) {
  const auto a = parse_args(args, {}, {});
  if (!a.error.empty()) return usage_error("disconnect", a.error);
  if (a.positional.size() != 1 || a.positional[0].empty() || a.positional[0].size() > 19 ||
      a.positional[0].find_first_not_of("0123456789") != std::string::npos)
    return usage_error("disconnect", "needs one connection ID (a number)");
  return invoke(g, "disconnect", {{"connection", std::stoull(a.positional[0])}}, [](const json& r) {
    return "closed connection " + std::to_string(r.value("connection", 0)) + "\n";
  });
}

}  // namespace

const std::vector<Command>& connection_commands() {
  static const std::vector<Command> table = {
      {"listen",
       "[--key NAME] [--allow PUBKEY]... [--forward ADDR] [--keep] [--relay-through PUBKEY]",
       "serve a key: pipe the first connection to stdin/stdout, or forward",
       "Starts a HyperDHT server on the key pair NAME (default: the default key) and announces\n"
       "it. Without --forward, like nc -l: waits for the first connection, then pipes it to\n"
       "stdin/stdout (stdin's end ends the stream; the peer's end closes stdout); the server\n"
       "closes when hdhtctl exits, unless --keep.\n"
       "  --allow PUBKEY  accept only these clients (repeatable); others get "
       "PEER_CONNECTION_FAILED\n"
       "  --forward ADDR  the daemon forwards every connection to ADDR (IPV4:PORT, localhost:PORT\n"
       "                  or /unix/path) and keeps serving after hdhtctl exits, and after a\n"
       "                  restart (a standing intent; `unlisten` stops it)\n"
       "  --keep          keep the server (and restart it) without a listener\n"
       "  --relay-through PUBKEY  offer clients this blind relay's public key (relayThrough);\n"
       "                  default: the daemon's --relay-through\n"
       "Status lines (\"listening on KEY\", \"connection from KEY\") go to stderr.\n"
       "Exit codes: 0 stream ended cleanly, 1 error answer, 5 the stream broke.",
       cmd_listen},
      {"unlisten", "[--key NAME | PUBKEY]", "close a server (and unannounce it)",
       "Closes the server of PUBKEY (or of the key pair NAME, default: the default key),\n"
       "unannounces it and forgets it as a standing intent. Its connections stay open.",
       cmd_unlisten},
      {"refresh", "[--key NAME | PUBKEY]", "re-announce a server now",
       "Asks the server of PUBKEY (or of the key pair NAME, default: the default key) to\n"
       "re-announce itself at the next opportunity (server.refresh()), e.g. after a network\n"
       "change the daemon could not see. Exit 1 (NO_SUCH_SERVER) if none is listening.",
       cmd_refresh},
      {"servers", "", "the servers: key, state, forward, connections, address",
       "Lists the daemon's servers: public key, key name, state, forward address or number of\n"
       "listeners, inbound connections so far, kept, allow-list size, the address it is\n"
       "reachable at (server.address()) and how many relays it is announced with.",
       cmd_servers},
      {"connect", "PUBKEY [--key NAME] [--listen [IPV4:]PORT] [--relay-through PUBKEY]",
       "connect to a server by key: stdin/stdout, or a local TCP port",
       "Connects to the server PUBKEY (holepunching as needed) as the key pair NAME (default:\n"
       "the default key). Like nc: pipes the stream to stdin/stdout; stdin's end ends the\n"
       "stream, the peer's end closes stdout. \"connected to KEY (path)\" goes to stderr.\n"
       "  --listen [IPV4:]PORT  instead, accept TCP connections there (default host 127.0.0.1)\n"
       "                        and open one P2P connection per TCP connection, until killed\n"
       "  --relay-through PUBKEY  also pair through this blind relay (relayThrough); the first\n"
       "                        path wins. Default: the daemon's --relay-through\n"
       "Exit codes: 0 stream ended cleanly, 1 the connect failed (PEER_NOT_FOUND,\n"
       "PEER_CONNECTION_FAILED, HOLEPUNCH_ABORTED, ... in the message), 5 the stream broke.",
       cmd_connect},
      {"connections", "", "the P2P connections: id, direction, peer, bytes",
       "Lists the daemon's connections: id, direction, state (connecting, waiting, piping),\n"
       "remote public key, where it is piped (socket or a forward address), bytes each way, age.",
       cmd_connections},
      {"disconnect", "ID", "close a connection",
       "Closes connection ID (see `connections`): a running connect fails, a stream is reset.",
       cmd_disconnect},
  };
  return table;
}

}  // namespace hdht::ctl
