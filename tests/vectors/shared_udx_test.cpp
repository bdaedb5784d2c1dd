// ../shared/spec/vectors/udx.json (datagrams captured between udx-native 1.21.3 peers) and the
// protomux / blind-relay frames of ../shared/spec/vectors/hyperdht.json, independently produced.
#include <catch2/catch.hpp>
#include <string>

#include "protocol/protomux.hpp"
#include "protocol/udx_packet.hpp"
#include "tests/vectors/vector_files.hpp"

using namespace hdht;
using nlohmann::json;
using testing::hx;

namespace {

std::uint32_t num(const json& j) {
  if (j.is_string())
    return static_cast<std::uint32_t>(std::stoul(j.get<std::string>(), nullptr, 16));
  return j.get<std::uint32_t>();
}

std::uint8_t flag_bit(const std::string& name) {
  if (name == "DATA") return udx::kData;
  if (name == "END") return udx::kEnd;
  if (name == "SACK") return udx::kSack;
  if (name == "MESSAGE") return udx::kMessage;
  if (name == "DESTROY") return udx::kDestroy;
  if (name == "HEARTBEAT") return udx::kHeartbeat;
  if (name == "STATE/ACK") return 0;
  FAIL("unknown flag name " << name);
  return 0;
}

void check_header(const udx::Header& h, const json& d) {
  CHECK(h.type == num(d.at("type")));
  std::uint8_t bits = 0;
  for (const auto& f : d.at("flags"))
    bits |= flag_bit(f.get<std::string>());
  CHECK(bits == h.type);
  CHECK(h.data_offset == d.at("dataOffset").get<int>());
  CHECK(h.id == num(d.at("id")));
  CHECK(h.rwnd == d.at("rwnd").get<std::uint32_t>());
  CHECK(h.seq == d.at("seq").get<std::uint32_t>());
  CHECK(h.ack == d.at("ack").get<std::uint32_t>());
}

// Re-encodes with the helper a stream would use for this kind of packet.
Bytes reencode(const udx::Packet& p) {
  std::array<std::uint8_t, udx::kReceiveBufferSize> buf{};
  const udx::Header& h = p.header;
  std::size_t n = 0;
  if (h.type == udx::kState || h.type == udx::kSack) {
    std::vector<udx::SackBlock> blocks;
    for (std::size_t i = 0; i < p.sacks.size(); ++i)
      blocks.push_back(p.sacks[i]);
    n = udx::encode_state(buf, h, blocks);
  } else if (h.type == udx::kMessage) {
    n = udx::encode_message(buf, h, p.payload);
  } else if (h.type == udx::kDestroy) {
    n = udx::encode_destroy(buf, h);
  } else if (h.type == udx::kHeartbeat) {
    n = udx::encode_heartbeat(buf, h);
  } else if (h.data_offset > 0) {
    n = udx::encode_probe(buf, h, h.data_offset, p.payload);
  } else {
    n = udx::encode_data(buf, h, h.has(udx::kData), h.has(udx::kEnd), p.payload);
  }
  return Bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
}

}  // namespace

TEST_CASE("shared vectors: udx header layout", "[vectors][shared]") {
  const json v = testing::load_shared("udx.json");
  // Distinct bytes everywhere, so that each field's offset, size and byte order is checked.
  Bytes b(udx::kHeaderSize);
  for (std::size_t i = 0; i < b.size(); ++i)
    b[i] = static_cast<std::uint8_t>(0x10 + i);
  b[0] = 0xff;
  b[1] = 0x01;
  b[3] = 0;
  auto h = udx::decode_header(b);
  REQUIRE(h);
  std::size_t checked = 0;
  for (const auto& f : v.at("headerLayout")) {
    const std::string name = f.at("name");
    if (!f.at("size").is_number()) continue;  // the SACK area, checked per packet below
    const std::size_t off = f.at("offset"), size = f.at("size");
    std::uint32_t le = 0;
    for (std::size_t i = 0; i < size; ++i)
      le |= std::uint32_t{b[off + i]} << (8 * i);
    CAPTURE(name);
    if (name == "magic") CHECK(le == udx::kMagic);
    if (name == "version") CHECK(le == udx::kVersion);
    if (name == "type") CHECK(le == h->type);
    if (name == "dataOffset") CHECK(le == h->data_offset);
    if (name == "id") CHECK(le == h->id);
    if (name == "rwnd") CHECK(le == h->rwnd);
    if (name == "seq") CHECK(le == h->seq);
    if (name == "ack") CHECK(le == h->ack);
    ++checked;
  }
  CHECK(checked == 8);
  Bytes out(udx::kHeaderSize);
  CHECK(udx::encode_header(out, *h) == udx::kHeaderSize);
  CHECK(out == b);
}

TEST_CASE("shared vectors: every captured udx datagram", "[vectors][shared]") {
  const json v = testing::load_shared("udx.json");
  std::size_t full = 0, headers_only = 0, raw = 0, probes = 0;
  for (const auto& s : v.at("scenarios")) {
    const std::string scenario = s.at("name");
    for (const auto& pk : s.value("packets", json::array())) {
      const json& d = pk.at("decoded");
      {
        INFO(scenario << " #" << pk.at("n").get<int>());
        if (d.contains("udx") && d.at("udx") == false) {
          // Raw datagrams on the same socket: holepunch probes, dht-rpc bytes.
          CHECK_FALSE(udx::is_udx_packet(hx(pk.at("hex"))));
          ++raw;
        } else if (pk.contains("hex")) {
          const Bytes b = hx(pk.at("hex"));
          CHECK(b.size() == pk.at("udpPayloadLength").get<std::size_t>());
          REQUIRE(udx::is_udx_packet(b));
          auto p = udx::decode_packet(b);
          REQUIRE(p);
          check_header(p->header, d);
          CHECK(p->payload.size() == d.at("payloadLength").get<std::size_t>() +
                                         (p->header.has(udx::kSack) ? 8 * p->sacks.size() : 0));
          if (d.contains("payloadAscii"))
            CHECK(std::string(p->payload.begin(), p->payload.end()) == d.at("payloadAscii"));
          json sacks = json::array();
          for (std::size_t i = 0; i < p->sacks.size(); ++i)
            sacks.push_back(json::array({p->sacks[i].start, p->sacks[i].end}));
          if (d.contains("sacks"))
            CHECK(sacks == d.at("sacks"));
          else
            CHECK(sacks.empty());
          CHECK(to_hex(reencode(*p)) == pk.at("hex"));
          Bytes generic(b.size());
          CHECK(udx::encode_packet(generic, p->header, p->padding, p->payload) == b.size());
          CHECK(generic == b);
          ++full;
        } else {
          // Big packets are given as header + SHA-256 of the payload.
          const Bytes hb = hx(pk.at("headerHex"));
          auto h = udx::decode_header(hb);
          REQUIRE(h);
          check_header(*h, d);
          CHECK(pk.at("udpPayloadLength").get<std::size_t>() ==
                udx::kHeaderSize + h->data_offset + d.at("payloadLength").get<std::size_t>());
          Bytes out(udx::kHeaderSize);
          udx::encode_header(out, *h);
          CHECK(out == hb);
          ++headers_only;
        }
      }
    }
    for (const auto& pr : s.value("probes", json::array())) {
      {
        INFO(scenario << " probe seq " << pr.at("seq").get<int>());
        const Bytes b = hx(pr.at("headerAndPaddingHex"));
        auto p = udx::decode_packet(b);
        REQUIRE(p);
        CHECK(p->header.type == udx::kData);
        CHECK(p->header.seq == pr.at("seq").get<std::uint32_t>());
        CHECK(p->header.data_offset == pr.at("dataOffset").get<int>());
        CHECK(p->padding.size() == p->header.data_offset);
        CHECK(std::all_of(p->padding.begin(), p->padding.end(), [](auto c) { return c == 0; }));
        CHECK(p->payload.empty());
        const std::size_t len = pr.at("payloadLength");
        CHECK(pr.at("udpPayloadLength").get<std::size_t>() ==
              udx::kHeaderSize + p->header.data_offset + len);
        CHECK(pr.at("ipPacketSize").get<std::size_t>() ==
              28 + udx::kHeaderSize + p->header.data_offset + len);
        // The probe a stream would build: same header and padding, then the payload.
        std::array<std::uint8_t, udx::kReceiveBufferSize> buf{};
        const Bytes payload(len, 0x5a);
        const std::size_t n = udx::encode_probe(buf, p->header, p->header.data_offset, payload);
        CHECK(n == pr.at("udpPayloadLength").get<std::size_t>());
        CHECK(to_hex(ByteView(buf.data(), b.size())) == to_hex(b));
        ++probes;
      }
    }
  }
  CHECK(full + headers_only + raw + probes > 100);
}

TEST_CASE("shared vectors: protomux and blind-relay frames", "[vectors][shared]") {
  const json v = testing::load_shared("hyperdht.json").at("protomuxAndBlindRelay");
  namespace pm = protomux;

  {  // open blind-relay channel
    const Bytes b = hx(v.at("openBlindRelayChannel"));
    REQUIRE(pm::validate_frame(b));
    auto f = pm::decode_frame(b);
    REQUIRE(f);
    CHECK(f->channel == pm::kControlChannel);
    CHECK(f->type == pm::kOpen);
    auto o = pm::decode_open(f->payload);
    REQUIRE(o);
    CHECK(o->local_id == 1);
    CHECK(o->protocol == "blind-relay");
    REQUIRE(o->id);
    CHECK(to_hex(*o->id) == v.at("channelId"));
    CHECK(o->handshake.empty());
    Bytes out;
    pm::encode_open(out, *o);
    CHECK(out == b);
  }
  {  // pair message on channel 1
    const Bytes b = hx(v.at("pairMessage"));
    auto f = pm::decode_frame(b);
    REQUIRE(f);
    CHECK(f->channel == 1);
    CHECK(f->type == pm::kRelayPair);
    auto m = pm::decode_relay_pair(f->payload);
    REQUIRE(m);
    CHECK(m->is_initiator);
    CHECK(to_hex(m->token) == v.at("token"));
    CHECK(m->id == v.at("streamId").get<std::uint64_t>());
    CHECK(m->seq == 0);
    Bytes payload, out;
    pm::encode_relay_pair(payload, *m);
    pm::encode_message(out, 1, pm::kRelayPair, payload);
    CHECK(out == b);
  }
  {
    Bytes out;
    pm::encode_close(out, 1);
    CHECK(to_hex(out) == v.at("closeChannelExample"));
    CHECK(*pm::decode_close(pm::decode_frame(out)->payload) == 1);
    out.clear();
    pm::encode_reject(out, 1);
    CHECK(to_hex(out) == v.at("rejectExample"));
  }
  {
    const json& m = v.at("blindRelayMessages");
    const Bytes pi = hx(m.at("pair_initiator"));
    auto a = pm::decode_relay_pair(pi);
    REQUIRE(a);
    CHECK(a->is_initiator);
    CHECK(a->id == v.at("streamId").get<std::uint64_t>());
    const Bytes pr = hx(m.at("pair_responder"));
    auto b = pm::decode_relay_pair(pr);
    REQUIRE(b);
    CHECK_FALSE(b->is_initiator);
    CHECK(to_hex(b->token) == v.at("token"));
    Bytes out;
    pm::encode_relay_pair(out, *a);
    CHECK(out == pi);
    out.clear();
    pm::encode_relay_pair(out, *b);
    CHECK(out == pr);
    const Bytes up = hx(m.at("unpair"));
    auto u = pm::decode_relay_unpair(up);
    REQUIRE(u);
    CHECK(to_hex(u->token) == v.at("token"));
    out.clear();
    pm::encode_relay_unpair(out, *u);
    CHECK(out == up);
  }
  {
    const json& bx = v.at("batchExample");
    const Bytes open = hx(bx.at("openTestChannel"));
    auto o = pm::decode_open(pm::decode_frame(open)->payload);
    REQUIRE(o);
    CHECK(o->protocol == "test");
    CHECK_FALSE(o->id);
    const Bytes batch = hx(bx.at("corkedTwoMessages"));
    REQUIRE(pm::validate_frame(batch));
    auto f = pm::decode_frame(batch);
    REQUIRE(f);
    CHECK(f->type == pm::kBatch);
    pm::BatchReader rd(f->payload);
    pm::BatchWriter w;
    pm::BatchEntry e;
    std::size_t n = 0;
    for (;;) {
      auto more = rd.next(e);
      REQUIRE(more);
      if (!*more) break;
      auto m = pm::decode_message(e.channel, e.message);
      REQUIRE(m);
      CHECK(m->channel == 1);
      w.add(m->channel, m->type, m->payload);
      ++n;
    }
    CHECK(n == 2);
    Bytes out;
    w.finish(out);
    CHECK(out == batch);
  }
}

TEST_CASE("shared vectors: protomux frames in the captured relay pairing", "[vectors][shared]") {
  const json writes =
      testing::load_shared("hyperdht.json").at("capturedRelayPairing").at("secretStreamWrites");
  namespace pm = protomux;
  std::size_t opens = 0, pairs = 0;
  std::vector<pm::RelayPair> to_relay, from_relay;
  for (const auto& w : writes) {
    const std::string who = w.at("who");
    // Only the relay connection carries protomux; the end-to-end stream carries app data ("hi").
    if (who.find("B(relay)") == std::string::npos) continue;
    const Bytes b = hx(w.at("plaintext"));
    INFO(who << " " << w.at("plaintext").get<std::string>());
    REQUIRE(pm::validate_frame(b));
    auto f = pm::decode_frame(b);
    REQUIRE(f);
    Bytes out;
    if (f->channel == pm::kControlChannel) {
      REQUIRE(f->type == pm::kOpen);
      auto o = pm::decode_open(f->payload);
      REQUIRE(o);
      CHECK(o->protocol == "blind-relay");
      REQUIRE(o->id);
      CHECK(o->id->size() == 32);
      pm::encode_open(out, *o);
      ++opens;
    } else {
      REQUIRE(f->type == pm::kRelayPair);
      auto m = pm::decode_relay_pair(f->payload);
      REQUIRE(m);
      CHECK(m->seq == 0);
      (who.rfind("B(relay)", 0) == 0 ? from_relay : to_relay).push_back(*m);
      Bytes payload;
      pm::encode_relay_pair(payload, *m);
      pm::encode_message(out, f->channel, f->type, payload);
      ++pairs;
    }
    CHECK(out == b);
  }
  CHECK(opens == 4);
  CHECK(pairs == 4);
  // Both ends pair with one token and opposite roles; the relay echoes each role back.
  REQUIRE(to_relay.size() == 2);
  REQUIRE(from_relay.size() == 2);
  CHECK(to_relay[0].token == to_relay[1].token);
  CHECK(to_relay[0].is_initiator != to_relay[1].is_initiator);
  for (const auto& r : from_relay)
    CHECK(r.token == to_relay[0].token);
}
