// What hyperdht hashes and signs (hyperdht/lib/persistent.js, index.js): record targets and the
// 64-byte signables of announces, unannounces and mutable records (NS || H32(...)), with the
// Ed25519 sign/verify around them. Signing is deterministic, so these match the JS byte for byte.
#pragma once

#include <cstdint>
#include <optional>

#include "protocol/bytes.hpp"
#include "protocol/crypto.hpp"
#include "protocol/peer_messages.hpp"

namespace hdht::msg {

// H32(publicKey): where a server is found and where its mutable records live.
Bytes32 target_of(const Bytes32& public_key);
// H32(value): where an immutable value lives.
Bytes32 immutable_target(ByteView value);

// NS_ANNOUNCE || H32(target || nodeId || token || encode(peer) || refresh?). `node_id` is the
// storing node's id, `token` the one it handed out.
Bytes64 announce_signable(const Bytes32& target, const Bytes32& node_id, const Bytes32& token,
                          const Peer& peer, const std::optional<Bytes32>& refresh);
// The same with NS_UNANNOUNCE.
Bytes64 unannounce_signable(const Bytes32& target, const Bytes32& node_id, const Bytes32& token,
                            const Peer& peer, const std::optional<Bytes32>& refresh);

Bytes64 sign_announce(const Bytes32& target, const Bytes32& node_id, const Bytes32& token,
                      const Peer& peer, const std::optional<Bytes32>& refresh,
                      const crypto::KeyPair& key_pair);
Bytes64 sign_unannounce(const Bytes32& target, const Bytes32& node_id, const Bytes32& token,
                        const Peer& peer, const crypto::KeyPair& key_pair);
// Verifies against peer.public_key, as the storing node does.
bool verify_announce(const Bytes64& signature, const Bytes32& target, const Bytes32& node_id,
                     const Bytes32& token, const Peer& peer, const std::optional<Bytes32>& refresh);
bool verify_unannounce(const Bytes64& signature, const Bytes32& target, const Bytes32& node_id,
                       const Bytes32& token, const Peer& peer);

// NS_MUTABLE_PUT || H32(encode(mutableSignable{seq, value})).
Bytes64 mutable_signable(std::uint64_t seq, ByteView value);
Bytes64 sign_mutable(std::uint64_t seq, ByteView value, const crypto::KeyPair& key_pair);
bool verify_mutable(const Bytes64& signature, std::uint64_t seq, ByteView value,
                    const Bytes32& public_key);

}  // namespace hdht::msg
