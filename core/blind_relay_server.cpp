#include "core/blind_relay_server.hpp"

#include <set>
#include <utility>

#include <boost/asio/post.hpp>

#include "protocol/protomux.hpp"

namespace hdht::hyperdht {

struct BlindRelayServer::Session {
  std::unique_ptr<core::ProtomuxSession> mux;
  core::ProtomuxSession::ChannelId channel = 0;
  std::set<Bytes32> pairing;        // tokens this session sent that are still pending
  std::map<Bytes32, LinkIt> links;  // active links by token (a re-used token replaces)
  bool channel_closed = false;
  std::list<std::unique_ptr<Session>>::iterator self;
};

BlindRelayServer::BlindRelayServer(core::Runtime& runtime, CreateStream create_stream,
                                   BlindRelayLimits limits)
    : runtime_(runtime), create_stream_(std::move(create_stream)), limits_(limits) {}

BlindRelayServer::~BlindRelayServer() {
  close();
}

void BlindRelayServer::close() {
  while (!links_.empty())
    destroy_link(links_.begin());
  for (auto& [token, p] : pending_) {
    (void)p;
    ++stats_.pairings_cancelled;
  }
  pending_.clear();
  stats_.pairings_pending = 0;
  for (const auto& s : sessions_)
    if (!s->channel_closed) ++stats_.sessions_closed;
  sessions_.clear();  // destroys the streams without callbacks
}

BlindRelayStats BlindRelayServer::stats() const {
  BlindRelayStats s = stats_;
  s.pairings_active = links_.size();
  for (const Link& l : links_)
    for (const LinkEnd& e : l.ends)
      if (e.stream) {
        s.packets_relayed += e.stream->counters().packets_relayed;
        s.bytes_relayed += e.stream->counters().bytes_relayed;
      }
  return s;
}

void BlindRelayServer::accept(std::unique_ptr<core::SecretStream> stream) {
  ++stats_.sessions_accepted;
  if (sessions_.size() >= limits_.max_sessions) {
    ++stats_.sessions_refused;
    stream->destroy();
    return;
  }
  const Bytes32 remote_key = stream->remote_public_key();
  sessions_.push_front(std::make_unique<Session>());
  Session& s = *sessions_.front();
  s.self = sessions_.begin();
  core::ProtomuxSession::Handlers mh;
  mh.on_close = [this, &s](const core::SecretStreamError&) { remove_session(s); };
  s.mux = std::make_unique<core::ProtomuxSession>(std::move(stream), std::move(mh));
  if (s.mux->closed()) return remove_session(s);

  core::ProtomuxSession::ChannelHandlers ch;
  ch.on_open = [this](ByteView) { ++stats_.sessions_opened; };
  ch.on_message = [this, &s](std::uint64_t type, ByteView payload) -> std::error_code {
    if (type == protomux::kRelayPair) {
      auto m = protomux::decode_relay_pair(payload);
      if (!m) return m.error();
      on_pair(s, *m);
    } else if (type == protomux::kRelayUnpair) {
      auto m = protomux::decode_relay_unpair(payload);
      if (!m) return m.error();
      on_unpair(s, m->token);
    }
    return {};
  };
  ch.on_close = [this, &s] {
    on_session_channel_close(s);
    s.mux->end();
  };
  auto opened = s.mux->open_channel("blind-relay", Bytes(remote_key.begin(), remote_key.end()),
                                    std::move(ch));
  if (opened) s.channel = *opened;
}

void BlindRelayServer::on_pair(Session& s, const protomux::RelayPair& m) {
  // A stream id that does not fit UDX's 32 bits could never be connected to.
  if (m.id > UINT32_MAX) return;
  auto it = pending_.find(m.token);
  if (it != pending_.end() && it->second.ends[m.is_initiator]) return;  // as the reference
  if (s.pairing.size() >= limits_.max_pending_per_session ||
      (it == pending_.end() && pending_.size() >= limits_.max_pending_total)) {
    ++stats_.pairings_refused;
    return;
  }
  if (it == pending_.end()) {
    it = pending_.emplace(m.token, Pending{}).first;
    ++stats_.pairings_pending;
    it->second.timeout = std::make_unique<core::Timer>(runtime_);
    it->second.timeout->expires_after(limits_.pairing_timeout, [this, token = m.token] {
      ++stats_.pairings_timed_out;
      drop_pending(token);
    });
  }
  s.pairing.insert(m.token);
  ++stats_.pairings_requested;
  it->second.ends[m.is_initiator] = PendingEnd{&s, m.id};
  if (!it->second.ends[0] || !it->second.ends[1]) return;

  Pending p = std::move(it->second);
  pending_.erase(it);
  --stats_.pairings_pending;
  ++stats_.pairings_matched;
  match(m.token, std::move(p));
}

void BlindRelayServer::match(const Bytes32& token, Pending pending) {
  links_.emplace_back();
  const LinkIt link = std::prev(links_.end());
  link->token = token;
  link->serial = ++link_serial_;
  for (int i = 0; i < 2; ++i) {
    link->ends[i].session = pending.ends[i]->session;
    link->ends[i].remote_id = pending.ends[i]->remote_id;
  }
  // The reference's three passes: both streams exist before either relays to the other, and
  // both relay before either side hears of them.
  for (int i = 0; i < 2; ++i) {
    if (!activate(*link, i == 1)) {
      ++stats_.pairings_cancelled;
      destroy_link(link);
      return;
    }
  }
  for (int i = 0; i < 2; ++i) {
    if (!link->ends[i].stream->relay_to(*link->ends[1 - i].stream)) {
      destroy_link(link);
      return;
    }
  }
  for (int i = 0; i < 2; ++i) {
    LinkEnd& e = link->ends[i];
    e.session->pairing.erase(token);
    e.session->links.insert_or_assign(token, link);
    e.stream->handlers().on_close = [this, link, i](std::error_code) {
      on_link_stream_close(link, i == 1);
    };
  }
  stats_.streams_opened += 2;
  for (int i = 0; i < 2; ++i) {
    const LinkEnd& e = link->ends[i];
    Bytes payload;
    protomux::encode_relay_pair(payload, {i == 1, token, e.stream->id(), 0});
    (void)e.session->mux->send(e.session->channel, protomux::kRelayPair, payload);
  }
}

bool BlindRelayServer::activate(Link& link, bool is_initiator) {
  LinkEnd& e = link.ends[is_initiator];
  core::UdxStream::Handlers h;
  // BlindRelayLink._onfirewall: whoever sends the first packet is this end's peer.
  h.on_firewall = [&e](core::UdxSocket& socket, const Ipv4Address& from) {
    (void)e.stream->connect(socket, static_cast<std::uint32_t>(e.remote_id), from);
    return false;
  };
  auto made = create_stream_(std::move(h));
  if (!made) return false;
  e.stream = std::move(*made);
  return true;
}

void BlindRelayServer::on_link_stream_close(LinkIt link, bool is_initiator) {
  LinkEnd& e = link->ends[is_initiator];
  if (e.closed) return;
  e.closed = true;
  ++stats_.streams_closed;
  if (!link->ends[0].closed || !link->ends[1].closed) return;
  // Both relay streams closed (one's close takes the other with it, as in libudx). Free them
  // outside their own callbacks, unless an unpair or a session close got there first.
  boost::asio::post(runtime_.executor(),
                    [this, token = std::weak_ptr<int>(alive_), serial = link->serial] {
                      if (token.expired()) return;
                      for (auto it = links_.begin(); it != links_.end(); ++it)
                        if (it->serial == serial) return destroy_link(it);
                    });
}

void BlindRelayServer::destroy_link(LinkIt link) {
  for (LinkEnd& e : link->ends) {
    auto found = e.session != nullptr ? e.session->links.find(link->token)
                                      : std::map<Bytes32, LinkIt>::iterator{};
    if (e.session != nullptr && found != e.session->links.end() && found->second == link)
      e.session->links.erase(found);
    if (!e.stream) continue;
    stats_.packets_relayed += e.stream->counters().packets_relayed;
    stats_.bytes_relayed += e.stream->counters().bytes_relayed;
    e.stream->set_handlers({});  // no callbacks into a link being freed
    if (!e.closed && e.stream->state() != core::UdxStreamState::closed) ++stats_.streams_closed;
  }
  // A relay stream going takes its partner with it, silently (no DESTROY to either peer).
  links_.erase(link);
}

void BlindRelayServer::on_unpair(Session& s, const Bytes32& token) {
  if (pending_.contains(token)) {
    ++stats_.pairings_cancelled;
    drop_pending(token);
    return;
  }
  auto it = s.links.find(token);
  if (it == s.links.end()) return;
  ++stats_.pairings_cancelled;
  destroy_link(it->second);
}

void BlindRelayServer::drop_pending(const Bytes32& token) {
  auto it = pending_.find(token);
  if (it == pending_.end()) return;
  for (auto& end : it->second.ends)
    if (end) end->session->pairing.erase(token);
  pending_.erase(it);
  --stats_.pairings_pending;
}

void BlindRelayServer::on_session_channel_close(Session& s) {
  if (s.channel_closed) return;
  s.channel_closed = true;
  ++stats_.sessions_closed;
  stats_.pairings_cancelled += s.pairing.size();
  const std::set<Bytes32> tokens = s.pairing;
  for (const Bytes32& t : tokens)
    drop_pending(t);
  while (!s.links.empty())
    destroy_link(s.links.begin()->second);
}

void BlindRelayServer::remove_session(Session& s) {
  on_session_channel_close(s);
  // From inside the session's own close callback, which allows it.
  sessions_.erase(s.self);
}

}  // namespace hdht::hyperdht
