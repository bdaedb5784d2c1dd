#include "protocol/records.hpp"

#include <algorithm>

#include "protocol/hyperdht_constants.hpp"

namespace hdht::msg {
namespace {

Bytes64 signable(const Bytes32& ns, const Bytes32& inner) {
  Bytes64 out{};
  std::copy(ns.begin(), ns.end(), out.begin());
  std::copy(inner.begin(), inner.end(), out.begin() + 32);
  return out;
}

Bytes64 ann_signable(const Bytes32& ns, const Bytes32& target, const Bytes32& node_id,
                     const Bytes32& token, const Peer& peer,
                     const std::optional<Bytes32>& refresh) {
  const Bytes peer_bytes = encode(peer);
  const ByteView refresh_view = refresh ? ByteView(*refresh) : ByteView();
  return signable(ns, crypto::hash32({ByteView(target), ByteView(node_id), ByteView(token),
                                      ByteView(peer_bytes), refresh_view}));
}

}  // namespace

Bytes32 target_of(const Bytes32& public_key) {
  return crypto::hash32(ByteView(public_key));
}
Bytes32 immutable_target(ByteView value) {
  return crypto::hash32(value);
}

Bytes64 announce_signable(const Bytes32& target, const Bytes32& node_id, const Bytes32& token,
                          const Peer& peer, const std::optional<Bytes32>& refresh) {
  return ann_signable(ns_announce(), target, node_id, token, peer, refresh);
}
Bytes64 unannounce_signable(const Bytes32& target, const Bytes32& node_id, const Bytes32& token,
                            const Peer& peer, const std::optional<Bytes32>& refresh) {
  return ann_signable(ns_unannounce(), target, node_id, token, peer, refresh);
}

Bytes64 sign_announce(const Bytes32& target, const Bytes32& node_id, const Bytes32& token,
                      const Peer& peer, const std::optional<Bytes32>& refresh,
                      const crypto::KeyPair& key_pair) {
  return crypto::sign(announce_signable(target, node_id, token, peer, refresh),
                      key_pair.secret_key);
}
Bytes64 sign_unannounce(const Bytes32& target, const Bytes32& node_id, const Bytes32& token,
                        const Peer& peer, const crypto::KeyPair& key_pair) {
  return crypto::sign(unannounce_signable(target, node_id, token, peer, std::nullopt),
                      key_pair.secret_key);
}
bool verify_announce(const Bytes64& signature, const Bytes32& target, const Bytes32& node_id,
                     const Bytes32& token, const Peer& peer,
                     const std::optional<Bytes32>& refresh) {
  return crypto::verify(signature, announce_signable(target, node_id, token, peer, refresh),
                        peer.public_key);
}
bool verify_unannounce(const Bytes64& signature, const Bytes32& target, const Bytes32& node_id,
                       const Bytes32& token, const Peer& peer) {
  return crypto::verify(signature, unannounce_signable(target, node_id, token, peer, std::nullopt),
                        peer.public_key);
}

Bytes64 mutable_signable(std::uint64_t seq, ByteView value) {
  Bytes enc;
  cenc::Writer w(enc);
  w.uint(seq);
  w.buffer(value);
  return signable(ns_mutable_put(), crypto::hash32(ByteView(enc)));
}
Bytes64 sign_mutable(std::uint64_t seq, ByteView value, const crypto::KeyPair& key_pair) {
  return crypto::sign(mutable_signable(seq, value), key_pair.secret_key);
}
bool verify_mutable(const Bytes64& signature, std::uint64_t seq, ByteView value,
                    const Bytes32& public_key) {
  return crypto::verify(signature, mutable_signable(seq, value), public_key);
}

}  // namespace hdht::msg
