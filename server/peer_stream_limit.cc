#include "server/peer_stream_limit.h"

#include "absl/strings/str_cat.h"

namespace cutover {

std::string PeerHost(const std::string& peer) {
  const size_t colon = peer.rfind(':');
  return colon == std::string::npos ? peer : peer.substr(0, colon);
}

absl::Status PeerStreamLimit::Admit(const std::string& peer) {
  absl::MutexLock lock(&mu_);
  int& open = streams_[peer];
  if (open >= max_per_peer_) {
    if (open == 0) streams_.erase(peer);
    return absl::ResourceExhaustedError(
        absl::StrCat(what_, ": ", max_per_peer_,
                     " streams already open from this address "
                     "(max_watch_streams_per_peer)"));
  }
  open += 1;
  return absl::OkStatus();
}

void PeerStreamLimit::Release(const std::string& peer) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(peer);
  if (it != streams_.end() && --it->second <= 0) streams_.erase(it);
}

int PeerStreamLimit::open(const std::string& peer) const {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(peer);
  return it == streams_.end() ? 0 : it->second;
}

}  // namespace cutover
