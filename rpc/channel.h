// How a program reaches cutoverd: plaintext or TLS (optionally with a client
// certificate for mutual TLS), and a bearer token sent with every call on
// the channel. The one way the client library, cutoverctl and a read
// replica (to its primary) connect.
//
//   ChannelOptions options;
//   options.server = "cutover.internal:7400";
//   options.tls_ca_file = "/etc/cutover/ca.pem";    // TLS on
//   options.token = std::getenv("CUTOVER_TOKEN");    // or TokenFromEnvironment()
//   absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
//       MakeChannel(options);
//
// Thread-safe (pure construction).
#ifndef CUTOVER_RPC_CHANNEL_H_
#define CUTOVER_RPC_CHANNEL_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace cutover {

struct ChannelOptions {
  // The daemon: host:port, or any gRPC target naming several, e.g.
  // "dns:///cutoverd-replicas:7400" (every address the name resolves to)
  // or "ipv4:10.0.0.1:7400,10.0.0.2:7400" (a fixed list).
  std::string server = "127.0.0.1:7400";
  // How calls spread over the addresses `server` names. kPickFirst (gRPC's
  // default): one connection, to the first address that answers, the next
  // only when it fails. kRoundRobin: a connection to every address, calls
  // in turn over those that are up (read replicas, docs/replicas.md).
  // Either way a Decide or DecideBatch that fails UNAVAILABLE (the daemon
  // it went to died under it) is tried again, at most twice more within
  // its deadline: with kRoundRobin on another address. They only read.
  enum class LoadBalancing { kPickFirst, kRoundRobin };
  LoadBalancing load_balancing = LoadBalancing::kPickFirst;
  // PEM CA that signed the daemon's certificate: set it to use TLS. Empty:
  // plaintext (loopback, or a mesh that provides TLS).
  std::string tls_ca_file;
  // PEM client certificate and key, for mutual TLS (both or neither; need
  // tls_ca_file).
  std::string tls_cert_file;
  std::string tls_key_file;
  // Sent as "authorization: Bearer <token>" with every call; empty sends
  // none.
  std::string token;
  // How soon gRPC tries to reach the daemon again after losing it: the
  // first wait and the most it grows to. Zero keeps gRPC's defaults (1 s
  // growing to 120 s, and ~5 s before re-resolving after every address
  // failed), which keep clients away from a restarted daemon for seconds.
  absl::Duration reconnect_initial_backoff = absl::ZeroDuration();
  absl::Duration reconnect_max_backoff = absl::ZeroDuration();
  // Keepalive: a connection idle this long is sent an HTTP/2 ping, and
  // closed if the ping is not answered within keepalive_timeout; its calls
  // fail and new ones go to another address or a new connection. This is
  // how a daemon whose machine vanished (no TCP reset, the connection
  // half-open) is noticed in seconds rather than the kernel's ~15 minutes;
  // until then a call sent on it waits out its deadline. cutoverd accepts
  // pings down to one a second. Zero: no pings.
  absl::Duration keepalive_time = absl::Seconds(20);
  absl::Duration keepalive_timeout = absl::Seconds(10);
  // A connection of the channel's own. By default gRPC lets channels to
  // the same address with the same settings share one connection; load
  // generators that stand for several clients want one each.
  bool own_connection = false;
};

// The token in the CUTOVER_TOKEN environment variable ("" if unset).
std::string TokenFromEnvironment();

// The token in the first line of file `path` (no line end), e.g. one
// `cutoverctl token new` printed; INVALID_ARGUMENT naming `option` and the
// path if it cannot be read or the line is empty.
absl::StatusOr<std::string> TokenFromFile(const std::string& path,
                                          const char* option);

// INVALID_ARGUMENT naming the option for an unreadable file or a
// certificate without its key. Connecting happens later, on first use.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const ChannelOptions& options);

// The deadline `timeout` from now, in the form
// grpc::ClientContext::set_deadline takes. An infinite timeout is no
// deadline (the clock's maximum, which gRPC reads as none).
std::chrono::system_clock::time_point DeadlineIn(absl::Duration timeout);

}  // namespace cutover

#endif  // CUTOVER_RPC_CHANNEL_H_
