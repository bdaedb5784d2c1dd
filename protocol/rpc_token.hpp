// dht-rpc round-trip tokens (lib/io.js token/_drain). A token proves that a requester can
// receive packets at the IP it claims: the responder mints it from the requester's IP and a
// rotating secret, and only the responder ever checks it.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "protocol/bytes.hpp"

namespace hdht::rpc {

// BLAKE2b-256 keyed by secret over the ASCII dotted-quad host. The port is not an input, so a
// token stays valid across a requester's sockets on the same IP.
Bytes32 rpc_token(std::string_view host, const Bytes32& secret);

// The pair of secrets a node mints and checks tokens with. Pure value type: when to rotate
// (every 10th 750 ms drain once secrets exist) is the engine's business.
class TokenSecrets {
 public:
  TokenSecrets(const Bytes32& secret0, const Bytes32& secret1) : secrets_{secret0, secret1} {}
  // Fresh CSPRNG secrets, as the reference creates on first use.
  static TokenSecrets random();

  const Bytes32& secret(std::size_t i) const { return secrets_.at(i); }

  // New secret[0] = old secret[1]; new secret[1] = BLAKE2b-256(old secret[0]). A token minted
  // just before a rotation is therefore accepted until the next one.
  void rotate();
  // Tokens are always minted with the newer secret, secret[1].
  Bytes32 issue(std::string_view host) const;
  // Accepted if minted with either secret for this host.
  bool accepts(std::string_view host, const Bytes32& token) const;

  friend bool operator==(const TokenSecrets&, const TokenSecrets&) = default;

 private:
  std::array<Bytes32, 2> secrets_;
};

}  // namespace hdht::rpc
