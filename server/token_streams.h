// TokenStreams: the open streams (Watch, flagd's EventStream and SyncFlags)
// that a bearer token authorized, each with the way to end it, so that a
// reload of the token file ends at once the streams of a token it removed
// (UNAUTHENTICATED) or whose role it lowered below what the stream needs
// (PERMISSION_DENIED). Streams of tokens that stay as they were, and streams
// opened without a token (a client certificate, open evaluation, auth off),
// are never registered and never ended by a reload.
//
// The Authorizer owns one (server/auth.h): StreamTicket::Track registers a
// stream once it is made, the StreamRegistration it returns unregisters it
// when destroyed (the stream's OnDone), and Authorizer::ReloadTokenFile
// calls Revoke with the new set before it installs it.
//
// Thread-safe. Lock order: the Authorizer's reload lock, then mu_, then
// what an `end` callback takes (the stream's own lock). `end` runs under
// mu_, so once a StreamRegistration's destructor has returned its `end` is
// neither running nor called again: a stream may finish and delete itself
// on any gRPC thread while a reload runs. An `end` must not register or
// unregister a stream.
#ifndef CUTOVER_SERVER_TOKEN_STREAMS_H_
#define CUTOVER_SERVER_TOKEN_STREAMS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "credentials/token_hash.h"
#include "server/auth.h"

namespace cutover {

class TokenStreams {
 public:
  using End = std::function<void(const absl::Status&)>;

  TokenStreams() = default;
  TokenStreams(const TokenStreams&) = delete;
  TokenStreams& operator=(const TokenStreams&) = delete;

  // Registers a stream of `method` opened with the token of digest `token`,
  // which `checked` accepted with a role of at least `needed`. If a set was
  // passed to Revoke since (checked is not the latest), the stream is
  // checked against the latest one here, and `end` is called at once if
  // it no longer passes. Never null.
  std::unique_ptr<StreamRegistration> Add(const TokenDigest& token,
                                          Role needed, std::string method,
                                          const TokenTable* checked, End end);

  // Makes `table` the latest set and ends (calls `end` of, then forgets)
  // every registered stream that `table` no longer allows: how many.
  size_t Revoke(const TokenTable* table);

  // Streams registered now.
  size_t size() const;

  // Why `table` no longer allows a stream of `method` opened with `token`
  // (UNAUTHENTICATED: the token is gone; PERMISSION_DENIED: its role is
  // below `needed`), or OK. The message names neither token nor digest.
  static absl::Status Check(const TokenTable& table, const TokenDigest& token,
                            Role needed, const std::string& method);

 private:
  friend class StreamRegistration;
  struct Stream {
    TokenDigest token;
    Role needed;
    std::string method;
    End end;
  };
  void Remove(uint64_t id);

  mutable absl::Mutex mu_;
  const TokenTable* latest_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, Stream> streams_ ABSL_GUARDED_BY(mu_);
};

// One registered stream; unregisters it when destroyed. Destroy it before
// anything its `end` uses.
class StreamRegistration {
 public:
  ~StreamRegistration() { owner_->Remove(id_); }
  StreamRegistration(const StreamRegistration&) = delete;
  StreamRegistration& operator=(const StreamRegistration&) = delete;

 private:
  friend class TokenStreams;
  StreamRegistration(TokenStreams* owner, uint64_t id)
      : owner_(owner), id_(id) {}
  TokenStreams* const owner_;
  const uint64_t id_;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_TOKEN_STREAMS_H_
