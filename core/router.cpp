#include "core/router.hpp"

#include <utility>

#include "protocol/hyperdht_constants.hpp"

namespace hdht::hyperdht {

namespace mode = msg::router_mode;

namespace {

// Router replies carry no token and no closer nodes; `to`/`socket` pick the path.
dht::ReplyOptions bare_reply(std::optional<Ipv4Address> to, dht::DatagramSocket* socket) {
  dht::ReplyOptions o;
  o.token = false;
  o.closer_nodes = false;
  o.to = to;
  o.socket = socket;
  return o;
}

// Wraps a one-shot answer: the first call counts, later calls and calls after the Router is gone
// do nothing.
template <class T, class Send>
Respond<T> once(std::weak_ptr<RouterStats> stats, Send send) {
  auto answered = std::make_shared<bool>(false);
  return [stats = std::move(stats), answered, send = std::move(send)](std::optional<T> reply) {
    auto s = stats.lock();
    if (!s || *answered) return;
    *answered = true;
    if (reply && send(*reply)) ++s->server_replies;
  };
}

}  // namespace

Router::Router(ForwardCache& forwards)
    : forwards_(forwards), stats_(std::make_shared<RouterStats>()) {}

Router::~Router() = default;

void Router::set(const Bytes32& target, LocalServer server) {
  forwards_.erase(target);
  servers_.insert_or_assign(target, std::make_shared<const LocalServer>(std::move(server)));
}

Route Router::get(const Bytes32& target) {
  Held h = lookup(target);
  return Route{h.server.get(), h.relay};
}

const Bytes* Router::local_record(const Bytes32& target) const {
  auto it = servers_.find(target);
  return it == servers_.end() ? nullptr : &it->second->record;
}

void Router::remove(const Bytes32& target) {
  servers_.erase(target);
  forwards_.erase(target);
}

Router::Held Router::lookup(const std::optional<Bytes32>& target) {
  if (!target) return {};
  if (auto it = servers_.find(*target); it != servers_.end()) return {it->second, std::nullopt};
  if (const Forward* f = forwards_.get(*target)) return {nullptr, f->relay};
  return {};
}

void Router::on_handshake(const dht::IncomingRequest& req) {
  const auto& m = req.message();
  if (!m.value) {
    ++stats_->dropped;
    return;
  }
  // The reference decodes without requiring the whole value to be used; so do we.
  auto decoded = msg::decode_handshake(*m.value);
  if (!decoded) {
    ++stats_->dropped;
    return;
  }
  const msg::Handshake& hs = *decoded;
  const Held route = lookup(m.target);

  if (route.server && route.server->on_handshake) {
    handshake_to_server(*route.server, req, hs);
    return;
  }

  // A decoded message always has a noise buffer (possibly empty), so the reference's `!noise`
  // checks never fire: nothing to test here.
  switch (hs.mode) {
    case mode::FROM_CLIENT: {
      const std::optional<Ipv4Address> next = hs.relay_address ? hs.relay_address : route.relay;
      if (!next) {
        // No route: answer with closer nodes so the client can look further.
        dht::ReplyOptions o;
        o.token = false;
        o.closer_nodes = true;
        req.reply(std::nullopt, o);
        ++stats_->handshake_no_route;
        return;
      }
      const Bytes out =
          msg::encode(msg::Handshake{mode::FROM_RELAY, hs.noise, req.from().addr, std::nullopt});
      req.relay(ByteView(out), *next);
      ++stats_->handshake_from_client;
      return;
    }
    case mode::FROM_RELAY: {
      if (!route.relay) break;
      const Bytes out = msg::encode(
          msg::Handshake{mode::FROM_SECOND_RELAY, hs.noise, hs.peer_address, req.from().addr});
      req.relay(ByteView(out), *route.relay);
      ++stats_->handshake_from_relay;
      return;
    }
    case mode::FROM_SERVER: {
      if (!hs.peer_address) break;
      const Bytes out =
          msg::encode(msg::Handshake{mode::REPLY, hs.noise, req.from().addr, std::nullopt});
      req.reply(ByteView(out), bare_reply(hs.peer_address, nullptr));
      ++stats_->handshake_from_server;
      return;
    }
    default:
      break;
  }
  ++stats_->dropped;
}

void Router::handshake_to_server(const LocalServer& server, const dht::IncomingRequest& req,
                                 const msg::Handshake& hs) {
  ++stats_->handshake_to_server;
  // The server runs for every mode; only these three get its answer, each back the way the
  // client's message came.
  auto send = [req, m = hs.mode, peer = hs.peer_address,
               relay = hs.relay_address](const ServerHandshakeReply& r) {
    switch (m) {
      case mode::FROM_CLIENT: {
        const Bytes out =
            msg::encode(msg::Handshake{mode::REPLY, r.noise, std::nullopt, std::nullopt});
        req.reply(ByteView(out), bare_reply(std::nullopt, r.socket));
        return true;
      }
      case mode::FROM_RELAY: {
        const Bytes out =
            msg::encode(msg::Handshake{mode::FROM_SERVER, r.noise, peer, std::nullopt});
        req.relay(ByteView(out), req.from().addr, r.socket);
        return true;
      }
      case mode::FROM_SECOND_RELAY: {
        if (!relay) return false;
        const Bytes out =
            msg::encode(msg::Handshake{mode::FROM_SERVER, r.noise, peer, std::nullopt});
        req.relay(ByteView(out), *relay, r.socket);
        return true;
      }
      default:
        return false;
    }
  };
  server.on_handshake(ServerHandshake{hs.noise, hs.peer_address}, req,
                      once<ServerHandshakeReply>(stats_, std::move(send)));
}

void Router::on_holepunch(const dht::IncomingRequest& req) {
  const auto& m = req.message();
  if (!m.value) {
    ++stats_->dropped;
    return;
  }
  auto decoded = msg::decode_holepunch(*m.value);
  if (!decoded) {
    ++stats_->dropped;
    return;
  }
  const msg::Holepunch& hp = *decoded;
  const Held route = lookup(m.target);

  switch (hp.mode) {
    case mode::FROM_CLIENT: {
      const std::optional<Ipv4Address> next = hp.peer_address ? hp.peer_address : route.relay;
      if (!next) break;
      const Bytes out =
          msg::encode(msg::Holepunch{mode::FROM_RELAY, hp.id, hp.payload, req.from().addr});
      req.relay(ByteView(out), *next);
      ++stats_->holepunch_from_client;
      return;
    }
    case mode::FROM_RELAY: {
      if (!route.server || !route.server->on_holepunch || !hp.peer_address) break;
      holepunch_to_server(*route.server, req, hp, *hp.peer_address);
      return;
    }
    case mode::FROM_SERVER: {
      // Unlike the handshake, the reference does not require a peer address here: without one
      // the REPLY goes back to the sender.
      const Bytes out =
          msg::encode(msg::Holepunch{mode::REPLY, hp.id, hp.payload, req.from().addr});
      req.reply(ByteView(out), bare_reply(hp.peer_address, nullptr));
      ++stats_->holepunch_from_server;
      return;
    }
    default:
      break;
  }
  ++stats_->dropped;
}

void Router::holepunch_to_server(const LocalServer& server, const dht::IncomingRequest& req,
                                 const msg::Holepunch& hp, const Ipv4Address& peer) {
  ++stats_->holepunch_to_server;
  // The server's answer goes back to the relay that brought the message; its id is always 0.
  auto send = [req, peer](const ServerHolepunchReply& r) {
    const Bytes out = msg::encode(msg::Holepunch{mode::FROM_SERVER, 0, r.payload, peer});
    req.relay(ByteView(out), req.from().addr, r.socket);
    return true;
  };
  server.on_holepunch(ServerHolepunch{hp.id, hp.payload, peer}, req,
                      once<ServerHolepunchReply>(stats_, std::move(send)));
}

}  // namespace hdht::hyperdht
