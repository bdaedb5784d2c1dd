#include "core/socket_routes.hpp"

#include <utility>

#include "core/socket_pool.hpp"

namespace hdht::hyperdht {

SocketRoutes::SocketRoutes(SocketPool& pool) : pool_(pool) {}

SocketRoutes::~SocketRoutes() = default;

void SocketRoutes::add(const Bytes32& public_key, core::UdxStream& connected) {
  core::UdxSocket* socket = connected.socket();
  if (socket == nullptr) return;
  if (!routes_.contains(public_key)) {
    routes_.emplace(public_key, SocketRoute{socket, connected.remote()});
    ++counters_.added;
  }
  pool_.set_reusable(socket, true);
  connected.add_close_hook(
      [alive = std::weak_ptr<SocketRoutes*>(alive_), public_key, socket](std::error_code ec) {
        if (!ec) return;
        if (auto self = alive.lock()) (*self)->on_stream_error(public_key, socket);
      });
}

std::optional<SocketRoute> SocketRoutes::get(const Bytes32& public_key) const {
  const auto it = routes_.find(public_key);
  if (it == routes_.end()) return std::nullopt;
  return it->second;
}

void SocketRoutes::remove_socket(const core::UdxSocket* socket) {
  counters_.removed_socket_closed +=
      std::erase_if(routes_, [socket](const auto& kv) { return kv.second.socket == socket; });
}

void SocketRoutes::on_stream_error(const Bytes32& public_key, core::UdxSocket* socket) {
  pool_.set_reusable(socket, false);
  const auto it = routes_.find(public_key);
  if (it == routes_.end() || it->second.socket != socket) return;
  routes_.erase(it);
  ++counters_.removed_stream_error;
}

}  // namespace hdht::hyperdht
