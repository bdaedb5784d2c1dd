#include "protocol/ipv6.hpp"

#include <vector>

namespace hdht {

std::string Ipv6Address::host_string() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t g = 0; g < 8; ++g) {
    if (g) out.push_back(':');
    const unsigned v = static_cast<unsigned>(ip[2 * g] << 8 | ip[2 * g + 1]);
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const unsigned d = (v >> shift) & 0xf;
      if (d || started || shift == 0) {
        out.push_back(kDigits[d]);
        started = true;
      }
    }
  }
  return out;
}

namespace {

// Hex groups of one side of a "::" split; nullopt on a bad group.
std::optional<std::vector<std::uint16_t>> parse_groups(std::string_view s) {
  std::vector<std::uint16_t> groups;
  if (s.empty()) return groups;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = std::min(s.find(':', start), s.size());
    const std::string_view g = s.substr(start, end - start);
    if (g.empty() || g.size() > 4) return std::nullopt;
    unsigned v = 0;
    for (const char c : g) {
      unsigned d = 0;
      if (c >= '0' && c <= '9')
        d = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        d = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        d = static_cast<unsigned>(c - 'A' + 10);
      else
        return std::nullopt;
      v = v * 16 + d;
    }
    groups.push_back(static_cast<std::uint16_t>(v));
    if (end == s.size()) break;
    start = end + 1;
  }
  return groups;
}

}  // namespace

std::optional<std::array<std::uint8_t, 16>> Ipv6Address::parse_host(std::string_view host) {
  std::vector<std::uint16_t> groups;
  const std::size_t dc = host.find("::");
  if (dc == std::string_view::npos) {
    auto g = parse_groups(host);
    if (!g || g->size() != 8) return std::nullopt;
    groups = std::move(*g);
  } else {
    auto head = parse_groups(host.substr(0, dc));
    auto tail = parse_groups(host.substr(dc + 2));
    if (!head || !tail || head->size() + tail->size() > 7) return std::nullopt;
    groups = std::move(*head);
    groups.resize(8 - tail->size(), 0);
    groups.insert(groups.end(), tail->begin(), tail->end());
  }
  std::array<std::uint8_t, 16> out{};
  for (std::size_t i = 0; i < 8; ++i) {
    out[2 * i] = static_cast<std::uint8_t>(groups[i] >> 8);
    out[2 * i + 1] = static_cast<std::uint8_t>(groups[i]);
  }
  return out;
}

}  // namespace hdht
