// PeerStreamLimit: how many long-lived streams (Watch, flagd's EventStream,
// flagd's SyncFlags) each client address has open with one service, and
// the refusal of one more past the limit (config
// max_watch_streams_per_peer), so that a single client cannot take every
// stream the daemon can hold. Each service that opens such streams keeps
// its own PeerStreamLimit: the counts are per service.
//
//   PeerStreamLimit limit(limits.max_watch_streams_per_peer, "watch");
//   const std::string peer = PeerHost(context->peer());
//   if (absl::Status s = limit.Admit(peer); !s.ok()) return refused(s);
//   ... when the stream is over: limit.Release(peer);
//
// Thread-safe: Admit and Release may be called from any thread (gRPC's
// callback threads), each under the object's own mutex.
#ifndef CUTOVER_SERVER_PEER_STREAM_LIMIT_H_
#define CUTOVER_SERVER_PEER_STREAM_LIMIT_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace cutover {

// The address part of a gRPC peer, the key streams are counted by
// ("ipv4:127.0.0.1:5000" -> "ipv4:127.0.0.1").
std::string PeerHost(const std::string& peer);

class PeerStreamLimit {
 public:
  // At most `max_per_peer` streams per address; `what` names the stream in
  // the refusal ("watch", "event stream", "sync").
  PeerStreamLimit(int max_per_peer, std::string what)
      : max_per_peer_(max_per_peer), what_(std::move(what)) {}
  PeerStreamLimit(const PeerStreamLimit&) = delete;
  PeerStreamLimit& operator=(const PeerStreamLimit&) = delete;

  // Counts one more stream from `peer`, or refuses it (RESOURCE_EXHAUSTED
  // "<what>: N streams already open from this address
  // (max_watch_streams_per_peer)", not counted) when `peer` has the
  // maximum open already.
  absl::Status Admit(const std::string& peer);
  // Undoes one Admit of `peer` that succeeded.
  void Release(const std::string& peer);

  // Streams open from `peer` now.
  int open(const std::string& peer) const;

 private:
  const int max_per_peer_;
  const std::string what_;
  mutable absl::Mutex mu_;
  // Only addresses with at least one stream open.
  absl::flat_hash_map<std::string, int> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_PEER_STREAM_LIMIT_H_
