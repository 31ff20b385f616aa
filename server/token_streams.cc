#include "server/token_streams.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace cutover {

std::unique_ptr<StreamRegistration> StreamTicket::Track(
    std::function<void(const absl::Status&)> end) const {
  if (streams_ == nullptr) return nullptr;
  return streams_->Add(token_, needed_, method_, checked_, std::move(end));
}

absl::Status TokenStreams::Check(const TokenTable& table,
                                 const TokenDigest& token, Role needed,
                                 const std::string& method) {
  const TokenTable::Entry* entry = table.Find(token);
  if (entry == nullptr) {
    return absl::UnauthenticatedError(absl::StrCat(
        "authorization: the token this ", method,
        " stream was opened with was revoked (no longer in the token file)"));
  }
  if (!RoleCovers(entry->role, needed)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "authorization: the role of the token this ", method,
        " stream was opened with was lowered to ", RoleName(entry->role),
        " (", method, " needs ", RoleName(needed), ")"));
  }
  return absl::OkStatus();
}

std::unique_ptr<StreamRegistration> TokenStreams::Add(
    const TokenDigest& token, Role needed, std::string method,
    const TokenTable* checked, End end) {
  absl::MutexLock lock(&mu_);
  if (latest_ != nullptr && latest_ != checked) {
    // A reload ran between the check and now: it did not see this stream.
    absl::Status status = Check(*latest_, token, needed, method);
    if (!status.ok()) {
      end(status);
      return std::unique_ptr<StreamRegistration>(
          new StreamRegistration(this, 0));  // id 0 is never registered
    }
  }
  const uint64_t id = next_id_++;
  streams_.emplace(id, Stream{token, needed, std::move(method), std::move(end)});
  return std::unique_ptr<StreamRegistration>(new StreamRegistration(this, id));
}

size_t TokenStreams::Revoke(const TokenTable* table) {
  absl::MutexLock lock(&mu_);
  latest_ = table;
  std::vector<uint64_t> ended;
  for (const auto& [id, stream] : streams_) {
    absl::Status status = Check(*table, stream.token, stream.needed,
                                stream.method);
    if (status.ok()) continue;
    // Under mu_: the stream cannot finish its OnDone (it waits in Remove)
    // while this runs.
    stream.end(status);
    ended.push_back(id);
  }
  for (uint64_t id : ended) streams_.erase(id);
  return ended.size();
}

size_t TokenStreams::size() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

void TokenStreams::Remove(uint64_t id) {
  absl::MutexLock lock(&mu_);
  streams_.erase(id);
}

}  // namespace cutover
