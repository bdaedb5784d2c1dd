// Noise IK as hyperdht runs it (noise-handshake 4.2.0 + noise-curve-ed 2.1.0): Ed25519 points
// as DH keys, ChaCha20-Poly1305 (IETF), BLAKE2b-512. The client is the initiator and already
// knows the server's static key; the prologue is NS_PEER_HANDSHAKE. Pure computation, no I/O.
#pragma once

#include <cstddef>
#include <optional>

#include "protocol/bytes.hpp"
#include "protocol/crypto.hpp"
#include "protocol/result.hpp"

namespace hdht::noise {

inline constexpr std::size_t kHashLen = 64;
inline constexpr std::size_t kKeyLen = 32;
inline constexpr std::size_t kMacLen = 16;
// noise-handshake refuses any single ciphertext (an encrypted static key or payload) above this;
// it does not limit the message as a whole.
inline constexpr std::size_t kMaxCiphertext = 65535;
inline constexpr std::size_t kMaxPayload = kMaxCiphertext - kMacLen;
inline constexpr std::string_view kProtocolName = "Noise_IK_Ed25519_ChaChaPoly_BLAKE2b";

enum class Role { initiator, responder };

// Initiator: Initial -> SentMsg1 -> Complete. Responder: Initial -> ReceivedMsg1 -> Complete.
// Any error from the peer's bytes or from DH moves to Failed, which is terminal.
enum class HandshakeState { initial, sent_msg1, received_msg1, complete, failed };

struct Session {
  Bytes32 tx{};
  Bytes32 rx{};
  Bytes64 handshake_hash{};
  Bytes32 remote_public_key{};
};

// noise-curve-ed DH: the libsodium Ed25519 secret key's seed is hashed and clamped into a scalar
// and multiplied with the peer's Edwards point. bad_key for points libsodium refuses (small
// order, non-canonical, outside the main subgroup) or an identity result.
Result<Bytes32> dh(const crypto::KeyPair& local, const Bytes32& remote_public_key);

class IkHandshake {
 public:
  // The initiator knows the responder's static key up front (the IK pre-message).
  static IkHandshake initiator(const crypto::KeyPair& local_static, const Bytes32& remote_static,
                               ByteView prologue);
  static IkHandshake responder(const crypto::KeyPair& local_static, ByteView prologue);

  // Replaces the fresh random ephemeral with a chosen one (tests and vectors only). Must be
  // called in the Initial state: afterwards the ephemeral is already on the wire.
  Result<void> set_ephemeral(const crypto::KeyPair& ephemeral);

  // Initiator: msg1 = e || enc(s) || enc(payload). Responder: msg2 = e || enc(payload).
  Result<Bytes> write_message(ByteView payload);
  // Returns the decrypted payload of the peer's message.
  Result<Bytes> read_message(ByteView message);

  Role role() const noexcept { return role_; }
  HandshakeState state() const noexcept { return state_; }
  bool complete() const noexcept { return state_ == HandshakeState::complete; }
  // The keys, once complete; nullopt before.
  const std::optional<Session>& session() const noexcept { return session_; }
  // The responder learns the initiator's static key from msg1.
  const std::optional<Bytes32>& remote_static() const noexcept { return rs_; }
  const crypto::KeyPair& local_ephemeral() const noexcept { return e_; }

  // Transcript state, exposed for the vectors' intermediate values.
  const Bytes64& hash() const noexcept { return h_; }
  const Bytes64& chaining_key() const noexcept { return ck_; }

  ~IkHandshake();
  IkHandshake(IkHandshake&&) noexcept = default;
  IkHandshake& operator=(IkHandshake&&) noexcept = default;
  IkHandshake(const IkHandshake&) = delete;
  IkHandshake& operator=(const IkHandshake&) = delete;

 private:
  IkHandshake(Role role, const crypto::KeyPair& local_static, ByteView prologue);

  void mix_hash(ByteView data);
  Result<void> mix_key_dh(const crypto::KeyPair& local, const Bytes32& remote);
  Result<void> encrypt_and_hash(ByteView plaintext, Bytes& out);
  Result<Bytes> decrypt_and_hash(ByteView ciphertext);
  void split();
  std::error_code fail(std::error_code ec) noexcept;

  Role role_;
  HandshakeState state_ = HandshakeState::initial;
  crypto::KeyPair s_{};
  crypto::KeyPair e_{};
  std::optional<Bytes32> rs_;
  Bytes32 re_{};
  Bytes64 h_{};
  Bytes64 ck_{};
  Bytes32 k_{};
  std::uint64_t n_ = 0;
  std::optional<Session> session_;
};

// Values hyperdht derives from the handshake hash (hyperdht/lib/noise-wrap.js final()).
Bytes32 holepunch_secret(const Bytes64& handshake_hash);

}  // namespace hdht::noise
