// The C++ side of tests/interop/io_interop.js: one RpcIo on real loopback sockets, driven by
// newline-delimited JSON commands on stdin, reporting JSON events on stdout.
//
//   rpc_io_peer [--persistent]
//   stdout: {"event":"ready","serverPort":P,"clientPort":Q,"id":hex|null}
//   stdin:  {"op":"request","seq":N,"port":P,"internal":b,"command":C,"target":hex|null,
//            "value":hex|null,"token":hex|null,"retries":R}
//           -> {"event":"response","seq":N,...reply} or {"event":"error","seq":N,"code":NAME}
//           {"op":"token","host":"a.b.c.d"} -> {"event":"token","token":hex}
//           {"op":"exit"}
//   every request it receives: {"event":"request",...}
//
// Its handler answers PING and FIND_NODE as dht-rpc does, UNKNOWN_COMMAND for other internal
// commands, and echoes user commands with reply(value) (token and closer nodes on).
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "core/asio_runtime.hpp"
#include "core/routing_table.hpp"
#include "core/rpc_io.hpp"
#include "protocol/node_id.hpp"
#include "protocol/rpc_message.hpp"
#include "tests/interop/json_lines.hpp"

using namespace hdht;
using namespace hdht::dht;
using json = nlohmann::json;
using interop::emit;

namespace {

json hex_or_null(const std::optional<Bytes32>& b) {
  return b ? json(to_hex(*b)) : json(nullptr);
}
json hex_or_null(const std::optional<Bytes>& b) {
  return b ? json(to_hex(*b)) : json(nullptr);
}
json addr_json(const Ipv4Address& a) {
  return {{"host", a.host_string()}, {"port", a.port}};
}

std::optional<Bytes32> opt32(const json& j) {
  if (!j.is_string()) return std::nullopt;
  return fixed_from_hex<32>(j.get<std::string>());
}
std::optional<Bytes> opt_bytes(const json& j) {
  if (!j.is_string()) return std::nullopt;
  return from_hex(j.get<std::string>());
}

}  // namespace

int main(int argc, char** argv) {
  const bool persistent = argc > 1 && std::string(argv[1]) == "--persistent";
  boost::asio::io_context ctx;
  core::AsioRuntime runtime(ctx.get_executor());

  RoutingTable seed_table(Bytes32{});
  std::unique_ptr<RoutingTable> table;

  RpcIo::Handlers handlers;
  handlers.on_request = [&](const IncomingRequest& req) {
    const auto& m = req.message();
    emit({{"event", "request"},
          {"tid", m.tid},
          {"internal", m.internal},
          {"command", m.command},
          {"from", addr_json(req.from().addr)},
          {"fromId", hex_or_null(req.from().id)},
          {"to", addr_json(m.to)},
          {"token", hex_or_null(m.token)},
          {"target", hex_or_null(m.target)},
          {"value", hex_or_null(m.value)}});
    if (m.internal) {
      if (m.command == rpc::command::kPing) {
        req.send_reply(0, std::nullopt, false, false);
      } else if (m.command == rpc::command::kFindNode) {
        if (m.target) req.send_reply(0, std::nullopt, false, true);
      } else {
        req.send_reply(rpc::error_code::kUnknownCommand, std::nullopt, false, m.target.has_value());
      }
      return;
    }
    std::optional<ByteView> v;
    if (m.value) v = ByteView(*m.value);
    req.reply(v);
  };

  RpcIoConfig cfg;
  cfg.bind_host = {{127, 0, 0, 1}, 0};
  RpcIo io(runtime, cfg, handlers);
  if (auto r = io.bind(); !r) {
    std::fprintf(stderr, "bind failed: %s\n", r.error().message().c_str());
    return 1;
  }
  const Ipv4Address server{{127, 0, 0, 1}, io.server_socket()->local_address().port};
  table = std::make_unique<RoutingTable>(persistent ? rpc::node_id(server) : Bytes32{});
  for (std::uint16_t p = 40001; p <= 40003; ++p) {
    Node n;
    n.addr = {{127, 0, 0, 1}, p};
    n.id = rpc::node_id(n.addr);
    table->add(n);
  }
  io.set_table(table.get());
  if (persistent) {
    io.set_ephemeral(false);
    io.set_firewalled(false);
  }
  emit({{"event", "ready"},
        {"serverPort", server.port},
        {"clientPort", io.client_socket()->local_address().port},
        {"id", persistent ? json(to_hex(table->id())) : json(nullptr)}});

  std::vector<RequestHandle> handles;
  bool done = false;
  auto on_line = [&](const std::string& line) {
    json cmd = json::parse(line, nullptr, false);
    if (cmd.is_discarded()) return;
    const std::string op = cmd.value("op", "");
    if (op == "exit") {
      done = true;
      io.destroy();
      ctx.stop();
    } else if (op == "token") {
      auto host = Ipv4Address::parse_host(cmd.value("host", ""));
      if (!host) return;
      emit({{"event", "token"}, {"token", to_hex(io.token({*host, 0}, 1))}});
    } else if (op == "request") {
      const auto seq = cmd.value("seq", 0);
      RequestSpec spec;
      spec.to = {{127, 0, 0, 1}, cmd.value<std::uint16_t>("port", 0)};
      spec.internal = cmd.value("internal", false);
      spec.command = cmd.value<std::uint64_t>("command", 0);
      spec.target = opt32(cmd.value("target", json(nullptr)));
      spec.value = opt_bytes(cmd.value("value", json(nullptr)));
      spec.token = opt32(cmd.value("token", json(nullptr)));
      spec.retries = cmd.value("retries", 3);
      RequestCallbacks cb;
      cb.on_response = [seq](const Reply& r) {
        json closer = nullptr;
        if (r.has_closer_nodes) {
          closer = json::array();
          for (const auto& a : r.closer_nodes)
            closer.push_back(addr_json(a));
        }
        emit({{"event", "response"},
              {"seq", seq},
              {"tid", r.tid},
              {"from", addr_json(r.from.addr)},
              {"fromId", hex_or_null(r.from.id)},
              {"to", addr_json(r.to)},
              {"token", hex_or_null(r.token)},
              {"closerNodes", closer},
              {"error", r.error},
              {"value", hex_or_null(r.value)}});
      };
      cb.on_error = [seq](std::error_code ec) {
        emit({{"event", "error"},
              {"seq", seq},
              {"code", rpc_error_name(static_cast<RpcErrc>(ec.value()))}});
      };
      handles.push_back(io.request(std::move(spec), std::move(cb)));
    }
  };

  // stdin is read on its own thread and handed to the executor line by line; the RpcIo is only
  // touched on the executor.
  auto work = boost::asio::make_work_guard(ctx);
  std::thread reader([&] {
    std::string line;
    while (std::getline(std::cin, line)) {
      boost::asio::post(ctx, [&on_line, line] { on_line(line); });
    }
    boost::asio::post(ctx, [&] {
      if (!done) {
        io.destroy();
        ctx.stop();
      }
    });
  });
  ctx.run();
  reader.join();  // the test closes our stdin when it is done with us
  return 0;
}
