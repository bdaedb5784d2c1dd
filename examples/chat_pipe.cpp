#include "examples/chat_pipe.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>

#include "core/dht_config.hpp"

namespace chat {

using hdht::ByteView;
using hdht::core::SecretStream;

ChatPipe::ChatPipe(boost::asio::any_io_executor ex) : ex_(ex), in_(ex, ::dup(STDIN_FILENO)) {}

ChatPipe::~ChatPipe() = default;

void ChatPipe::add(std::unique_ptr<SecretStream> stream, std::function<void()> on_gone) {
  SecretStream* s = stream.get();
  streams_.insert(std::move(stream));
  s->set_handlers(
      {.on_data =
           [](ByteView d) {
             std::fwrite(d.data(), 1, d.size(), stdout);
             std::fflush(stdout);
           },
       .on_end = [s] { (void)s->end(); },
       .on_drain = {},
       .on_message = {},
       .on_close =
           [this, s, on_gone = std::move(on_gone)](const hdht::core::SecretStreamError& e) {
             if (e) std::fprintf(stderr, "connection closed: %s\n", e.message.c_str());
             forget(s, on_gone);
           }});
}

// The stream is still on the stack inside its own close handler: drop it on the next turn.
void ChatPipe::forget(SecretStream* s, std::function<void()> on_gone) {
  boost::asio::post(ex_, [this, s, on_gone = std::move(on_gone), alive = std::weak_ptr(alive_)] {
    if (alive.expired()) return;
    for (auto it = streams_.begin(); it != streams_.end(); ++it) {
      if (it->get() == s) {
        streams_.erase(it);
        break;
      }
    }
    if (on_gone) on_gone();
  });
}

void ChatPipe::read_stdin(std::function<void()> on_eof) {
  on_eof_ = std::move(on_eof);
  read_more();
}

void ChatPipe::read_more() {
  buf_.resize(4096);
  in_.async_read_some(boost::asio::buffer(buf_), [this, alive = std::weak_ptr(alive_)](
                                                     boost::system::error_code ec, std::size_t n) {
    if (alive.expired()) return;
    if (ec) {
      for (const auto& s : streams_)
        (void)s->end();
      if (on_eof_) on_eof_();
      return;
    }
    const ByteView chunk(reinterpret_cast<const std::uint8_t*>(buf_.data()), n);
    for (const auto& s : streams_)
      (void)s->write(chunk);
    read_more();
  });
}

std::vector<hdht::dht::BootstrapEntry> bootstrap_list(const std::string& text) {
  auto list =
      hdht::dht::BootstrapEntry::parse_list(text.empty() ? hdht::dht::kPublicBootstrap : text);
  if (!list || list->empty()) {
    std::fprintf(stderr, "bad --bootstrap list: %s\n", text.c_str());
    std::exit(2);
  }
  return *list;
}

}  // namespace chat
