// The stream ids of one UDX instance (libudx udx_t; spec ../shared/spec/udx.md §1.6, §2.1): ids
// are unique across every socket of the instance, and a datagram for a live stream is consumed
// whichever of the instance's sockets it arrives on. Several UdxSockets share one table (a
// HyperDHT node's server, client and holepunch sockets); a UdxSocket made without one has its
// own, which is a UDX instance with a single socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "core/runtime.hpp"

namespace hdht::core {

class UdxStream;

// Not thread-safe (the runtime's executor). Must outlive the sockets that share it.
class UdxStreamTable {
 public:
  UdxStreamTable() = default;
  UdxStreamTable(const UdxStreamTable&) = delete;
  UdxStreamTable& operator=(const UdxStreamTable&) = delete;

  // False if the id is taken.
  bool add(std::uint32_t id, UdxStream* stream) { return streams_.emplace(id, stream).second; }
  void remove(std::uint32_t id) noexcept { streams_.erase(id); }
  UdxStream* find(std::uint32_t id) const noexcept;
  bool contains(std::uint32_t id) const noexcept { return streams_.contains(id); }
  std::size_t size() const noexcept { return streams_.size(); }
  // libudx's first demultiplexing test: an instance that never had a stream passes every
  // datagram to the raw handler, however it looks.
  bool ever_used() const noexcept { return ever_used_; }
  void mark_used() noexcept { ever_used_ = true; }

  // A free id drawn uniformly at random, as hyperdht's raw-stream-set does (it rerolls while the
  // id collides; the table is a hash map on all 32 bits, so only an exact collision rerolls).
  std::uint32_t random_free_id(Runtime& runtime) const;

  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const auto& [id, stream] : streams_)
      fn(id, stream);
  }

 private:
  std::unordered_map<std::uint32_t, UdxStream*> streams_;
  bool ever_used_ = false;
};

}  // namespace hdht::core
