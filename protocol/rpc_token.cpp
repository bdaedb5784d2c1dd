#include "protocol/rpc_token.hpp"

#include <sodium.h>

#include "protocol/crypto.hpp"

namespace hdht::rpc {

namespace {
bool equal(const Bytes32& a, const Bytes32& b) {
  return sodium_memcmp(a.data(), b.data(), 32) == 0;
}
}  // namespace

Bytes32 rpc_token(std::string_view host, const Bytes32& secret) {
  return crypto::hash32_keyed(as_bytes(host), secret);
}

TokenSecrets TokenSecrets::random() {
  Bytes32 s0{};
  Bytes32 s1{};
  crypto::random_bytes(s0);
  crypto::random_bytes(s1);
  return {s0, s1};
}

void TokenSecrets::rotate() {
  const Bytes32 next = crypto::hash32(secrets_[0]);
  secrets_[0] = secrets_[1];
  secrets_[1] = next;
}

Bytes32 TokenSecrets::issue(std::string_view host) const {
  return rpc_token(host, secrets_[1]);
}

bool TokenSecrets::accepts(std::string_view host, const Bytes32& token) const {
  // Both comparisons always run so the timing does not reveal which secret matched.
  const bool newer = equal(rpc_token(host, secrets_[1]), token);
  const bool older = equal(rpc_token(host, secrets_[0]), token);
  return newer || older;
}

}  // namespace hdht::rpc
