// Where hyperdhtd keeps its control socket and state when not told: systemd's RuntimeDirectory
// and StateDirectory when it runs as a service, the user's runtime and state directories
// otherwise. hdhtctl compiles this file too, so both sides agree on the default socket.
#pragma once

#include <string>

namespace hdht::daemon {

// $RUNTIME_DIRECTORY/hyperdhtd.sock (systemd), else $XDG_RUNTIME_DIR/hyperdhtd.sock, else
// /tmp/hyperdhtd-$UID.sock.
std::string default_socket_path();
// For a client: $HYPERDHTD_SOCKET, else the system service's /run/hyperdhtd/hyperdhtd.sock if
// it exists, else default_socket_path().
std::string client_socket_path();
// $STATE_DIRECTORY (systemd), else $XDG_STATE_HOME/hyperdhtd, else $HOME/.local/state/hyperdhtd;
// empty if none of those is set.
std::string default_state_dir();

}  // namespace hdht::daemon
