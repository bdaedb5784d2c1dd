// ProtomuxSession: protomux 3.12.1 on one SecretStream (one protomux frame = one secret-stream
// message; SecretStream delivers one decrypted message per on_data). Frame codecs are in
// protocol/protomux.hpp; this class holds what protomux keeps per stream: local channel ids
// (from 1, freed ids reused last-in first-out, an id closed before the remote's open stays
// reserved until that open arrives), the remote ids the peer opened, pairing of a local open with
// the remote's open of the same (protocol, id), messages by type, close and reject, batches.
//
// Differences from protomux, on purpose:
// * A remote open that matches no local channel goes to on_remote_open, where the owner may open
//   the channel at once (protomux's pair() notify, synchronous); otherwise it is rejected at once
//   (protomux does the same when no notify is registered).
// * Replies to a batch are not corked into a batch (the receiver treats both the same).
// * Caps: at most max_channels local channels open, and the peer's remote-id table at most
//   max_remote_ids long (protomux lets it grow by one per open without bound). Going over the
//   latter, or any frame protomux would throw on, destroys the stream, as protomux does.
//
// Lifetime: owns the stream. Destroying the session destroys the stream (a DESTROY goes out if
// it is open) without callbacks. Any handler may destroy the session. Handlers run inline from
// the stream's receive path. Not thread-safe: the runtime's executor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "core/secret_stream.hpp"
#include "protocol/bytes.hpp"
#include "protocol/result.hpp"

namespace hdht::core {

struct ProtomuxOptions {
  std::size_t max_channels = 64;
  std::size_t max_remote_ids = 1024;
};

struct ProtomuxCounters {
  std::uint64_t frames_received = 0;
  std::uint64_t frames_rejected = 0;   // frames that destroyed the stream
  std::uint64_t opens_rejected = 0;    // remote opens nobody paired (a reject was sent)
  std::uint64_t messages_ignored = 0;  // for closed or unknown channels
};

class ProtomuxSession {
 public:
  using ChannelId = std::uint64_t;  // our local id (never 0)

  struct ChannelHandlers {
    // The remote opened the same (protocol, id): the channel is open. `handshake` is the rest of
    // the remote's open message.
    std::function<void(ByteView handshake)> on_open;
    // A message of the channel; returning an error (a payload that does not decode) destroys
    // the stream, as a throwing protomux encoding does.
    std::function<std::error_code(std::uint64_t type, ByteView payload)> on_message;
    // The channel closed: remote close, remote reject, or the stream closed (remote = true);
    // not called for close_channel().
    std::function<void()> on_close;
  };

  struct Handlers {
    // A remote open no local channel waits for; open_channel(protocol, id) inside pairs it.
    std::function<void(const std::string& protocol, const std::optional<Bytes>& id)> on_remote_open;
    // The stream closed (after every channel's on_close).
    std::function<void(const SecretStreamError&)> on_close;
  };

  ProtomuxSession(std::unique_ptr<SecretStream> stream, Handlers handlers,
                  ProtomuxOptions options = {});
  ~ProtomuxSession();
  ProtomuxSession(const ProtomuxSession&) = delete;
  ProtomuxSession& operator=(const ProtomuxSession&) = delete;

  // Creates the channel and sends its open. Errors: not_connected once the stream closed,
  // already_connected if a channel with this (protocol, id) is open (protomux's unique),
  // too_many_files_open at max_channels.
  Result<ChannelId> open_channel(const std::string& protocol, const std::optional<Bytes>& id,
                                 ChannelHandlers handlers, ByteView handshake = {});
  // One message on an open (maybe not yet paired) channel. False when the stream is above its
  // high-water mark; errors: not_connected for a closed channel or stream.
  Result<bool> send(ChannelId channel, std::uint64_t type, ByteView payload);
  // Sends close; on_close of the channel does not run.
  void close_channel(ChannelId channel);
  bool channel_open(ChannelId channel) const noexcept;    // created, not closed
  bool channel_paired(ChannelId channel) const noexcept;  // and the remote opened it too

  // Graceful end of the stream (protomux ends in turn when the peer ends).
  void end();
  void destroy(SecretStreamError error = {});
  bool closed() const noexcept { return closed_; }
  SecretStream& stream() noexcept { return *stream_; }
  const ProtomuxCounters& counters() const noexcept { return counters_; }

 private:
  struct Channel {
    std::string protocol;
    std::optional<Bytes> id;
    ChannelHandlers handlers;
    std::uint64_t remote_id = 0;  // 0 until paired
  };
  struct Remote {
    ChannelId local = 0;  // the channel paired with this remote id
  };

  void on_data(ByteView frame);
  void on_stream_close(const SecretStreamError& error);
  // Each returns false if the session was destroyed or the stream closed.
  bool dispatch(std::uint64_t channel, ByteView message);
  bool on_control(std::uint64_t type, ByteView payload);
  bool on_batch(ByteView payload);
  bool on_open(ByteView payload);
  bool on_reject(ByteView payload);
  bool on_remote_close(ByteView payload);
  bool fail(const char* why);
  // protomux's _close: frees the remote id and (if paired) the local id.
  void close_local(ChannelId channel);
  // Channels that may still pair (protomux's info.outgoing): opened locally, the remote's open
  // not seen; `local` may be closed meanwhile, its id then stays reserved until that open or a
  // reject arrives.
  struct Outgoing {
    std::string protocol;
    std::optional<Bytes> id;
    ChannelId local = 0;
  };
  // A remote open being offered to on_remote_open.
  struct Incoming {
    std::string protocol;
    std::optional<Bytes> id;
    std::uint64_t remote_id = 0;
    ChannelId paired = 0;
  };
  Channel* channel(ChannelId id) noexcept;
  const Channel* channel(ChannelId id) const noexcept;
  void write_frame(const Bytes& frame);
  bool alive(const std::weak_ptr<int>& token) const noexcept {
    return !token.expired() && !closed_;
  }

  std::unique_ptr<SecretStream> stream_;
  Handlers handlers_;
  ProtomuxOptions options_;
  // local_[id - 1]: the channel with local id `id`, or none (free, or reserved).
  std::vector<std::optional<Channel>> local_;
  std::vector<std::size_t> free_;  // protomux's _free (a stack of indices)
  std::vector<Outgoing> outgoing_;
  std::optional<Incoming> incoming_;
  std::vector<std::optional<Remote>> remote_;  // remote_[rid - 1]
  std::size_t open_channels_ = 0;
  bool closed_ = false;
  ProtomuxCounters counters_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace hdht::core
