#include "client/synced_flags.h"

#include <algorithm>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "convert/convert.h"

namespace cutover {
namespace {

// Whether `held` (null: every flag) has the key.
bool HeldIn(const absl::flat_hash_set<std::string>* held,
            std::string_view flag_key) noexcept {
  return held == nullptr ||
         held->contains(absl::string_view(flag_key.data(), flag_key.size()));
}

}  // namespace

std::optional<Decision> SyncedState::Decide(std::string_view flag_key,
                                            const Context& context) const {
  if (!Contains(flag_key)) return std::nullopt;
  Decision decision;
  if (!DecideInto(flag_key, context, decision)) return std::nullopt;
  return decision;
}

const SyncedState::FlagEntry* SyncedState::FindFlag(
    std::string_view flag_key) const {
  const auto find = [&]() -> const FlagEntry* {
    auto found =
        flags_.find(absl::string_view(flag_key.data(), flag_key.size()));
    return found == flags_.end() ? nullptr : found->second.get();
  };
  if (publish_id_ == 0) return find();
  // Direct-mapped on the key's length and last byte: cheap to pick, and
  // keys of one service rarely share both.
  struct Recent {
    uint64_t state = 0;
    std::string key;
    const FlagEntry* entry = nullptr;  // null: not in that state
  };
  static thread_local Recent recent[4];
  const size_t index =
      (flag_key.size() + (flag_key.empty() ? 0 : flag_key.back())) % 4;
  Recent& slot = recent[index];
  // An entry of this state lives as long as the state, which the caller
  // holds; an id is never reused, so an entry of a state since freed never
  // matches.
  if (slot.state == publish_id_ && slot.key == flag_key) return slot.entry;
  const FlagEntry* entry = find();
  slot.state = publish_id_;
  slot.key.assign(flag_key.data(), flag_key.size());
  slot.entry = entry;
  return entry;
}

// DecideInto's and EvaluateInto's one body: `Answer` is a Decision (the
// core's DecideInto) or a Verdict (the core's Evaluate, no names).
template <typename Answer>
bool SyncedState::AnswerInto(std::string_view flag_key, const Context& context,
                             Answer& out, uint32_t* counter_slot) const {
  const FlagEntry* entry = FindFlag(flag_key);
  // As the daemon's EvaluationService: a flag it does not have, or an
  // archived one, is not found.
  if (entry == nullptr && !HeldIn(held_.get(), flag_key)) {
    return false;  // not held here: not known to be missing
  }
  const bool found = entry != nullptr && !entry->message.archived();
  if (found && entry->compiled == nullptr) return false;
  if constexpr (std::is_same_v<Answer, Decision>) {
    if (found) {
      cutover::DecideInto(*entry->compiled, segments_, context, out);
    } else {
      out = SafeDecision(std::string(flag_key), Reason::kFlagNotFound);
    }
  } else {
    out = found ? cutover::Evaluate(*entry->compiled, segments_, context)
                : Verdict{Stage::kOff, Reason::kFlagNotFound};
  }
  if (counter_slot != nullptr) {
    *counter_slot = entry == nullptr ? FlagCounterSlots::kUnknownSlot
                                     : entry->counter_slot;
  }
  return true;
}

bool SyncedState::DecideInto(std::string_view flag_key, const Context& context,
                             Decision& out, uint32_t* counter_slot) const {
  return AnswerInto(flag_key, context, out, counter_slot);
}

bool SyncedState::EvaluateInto(std::string_view flag_key,
                               const Context& context, Verdict& out,
                               uint32_t* counter_slot) const {
  return AnswerInto(flag_key, context, out, counter_slot);
}

bool SyncedState::Contains(std::string_view flag_key) const {
  return flags_.contains(absl::string_view(flag_key.data(), flag_key.size()));
}

v1::ClientSnapshot SyncedState::ToMessage() const {
  v1::ClientSnapshot message;
  message.set_revision(revision_);
  std::vector<const v1::Flag*> flags;
  flags.reserve(flags_.size());
  for (const auto& [key, entry] : flags_) flags.push_back(&entry->message);
  std::sort(flags.begin(), flags.end(),
            [](auto* a, auto* b) { return a->key() < b->key(); });
  for (const v1::Flag* flag : flags) *message.add_flags() = *flag;
  std::vector<const v1::Segment*> segments;
  segments.reserve(segment_messages_.size());
  for (const auto& [key, segment] : segment_messages_) {
    segments.push_back(segment.get());
  }
  std::sort(segments.begin(), segments.end(),
            [](auto* a, auto* b) { return a->key() < b->key(); });
  for (const v1::Segment* segment : segments) *message.add_segments() = *segment;
  return message;
}

std::optional<Decision> SyncedFlags::Decide(std::string_view flag_key,
                                            const Context& context) const {
  const std::shared_ptr<const SyncedState> state = snapshot();
  if (state == nullptr) return std::nullopt;
  return state->Decide(flag_key, context);
}

SyncedFlags::SyncedFlags(const std::vector<std::string>& held_keys) {
  if (!held_keys.empty()) {
    held_ = std::make_shared<const absl::flat_hash_set<std::string>>(
        held_keys.begin(), held_keys.end());
  }
}

bool SyncedFlags::Holds(std::string_view flag_key) const noexcept {
  return HeldIn(held_.get(), flag_key);
}

int SyncedFlags::Load(const v1::ClientSnapshot& message) {
  auto state = std::make_unique<SyncedState>();
  state->revision_ = message.revision();
  int refused = 0;
  for (const v1::Segment& segment : message.segments()) {
    PutSegment(segment, *state);
    refused += state->segments_.contains(segment.key()) ? 0 : 1;
  }
  for (const v1::Flag& flag : message.flags()) {
    // A file written with other flag keys: what is not held is left out.
    if (!Holds(flag.key())) continue;
    PutFlag(flag, *state);
    const auto& entry = *state->flags_.at(flag.key());
    refused += entry.compiled == nullptr && !flag.archived() ? 1 : 0;
  }
  pending_.reset();
  resume_revision_ = 0;
  Publish(std::move(state));
  return refused;
}

void SyncedFlags::BeginStream() {
  pending_ = CopyPublished();
  step_.reset();  // a step the broken stream cut short is replayed whole
}

bool SyncedFlags::Apply(const v1::WatchEvent& event) {
  switch (event.kind()) {
    case v1::WatchEvent::RESET:
      // The daemon's state follows, whole: start from nothing.
      pending_ = std::make_unique<SyncedState>();
      return false;
    case v1::WatchEvent::SYNCED:
      if (pending_ == nullptr) return false;  // a second SYNCED: nothing new
      pending_->revision_ = event.revision();
      resume_revision_ = event.revision();
      Publish(std::move(pending_));
      return true;
    case v1::WatchEvent::FLAG_UPSERTED:
    case v1::WatchEvent::FLAG_ARCHIVED:
    case v1::WatchEvent::SEGMENT_UPSERTED:
    case v1::WatchEvent::SEGMENT_DELETED:
      break;
    default:  // HEARTBEAT, or a kind newer than this library
      return false;
  }
  if (pending_ != nullptr) {
    ApplyChange(event, *pending_);
    return false;
  }
  // Synced: a revision's changes are published together, at its last.
  std::unique_ptr<SyncedState> next =
      step_ != nullptr ? std::move(step_) : CopyPublished();
  ApplyChange(event, *next);
  if (event.more_in_revision()) {
    step_ = std::move(next);
    return false;
  }
  next->revision_ = std::max(next->revision_, event.revision());
  resume_revision_ = next->revision_;
  Publish(std::move(next));
  return true;
}

void SyncedFlags::ApplyChange(const v1::WatchEvent& event,
                              SyncedState& state) {
  switch (event.kind()) {
    case v1::WatchEvent::FLAG_UPSERTED:
      // The daemon sends only held flags (WatchRequest.flag_keys); a
      // server that ignored the list is not followed.
      if (Holds(event.flag().key())) PutFlag(event.flag(), state);
      break;
    case v1::WatchEvent::FLAG_ARCHIVED: {
      // The event carries the final state; archived whatever it says.
      if (!Holds(event.flag().key())) break;
      v1::Flag flag = event.flag();
      flag.set_archived(true);
      PutFlag(flag, state);
      break;
    }
    case v1::WatchEvent::SEGMENT_UPSERTED:
      PutSegment(event.segment(), state);
      break;
    case v1::WatchEvent::SEGMENT_DELETED:
      state.segment_messages_.erase(event.segment().key());
      state.segments_.erase(event.segment().key());
      break;
    default:
      break;
  }
}

void SyncedFlags::PutFlag(const v1::Flag& flag, SyncedState& state) {
  auto entry = std::make_shared<SyncedState::FlagEntry>();
  entry->message = flag;
  entry->counter_slot = counter_slots_.SlotFor(flag.key());
  if (!flag.archived()) {
    // The same conversion and compilation as the daemon's: whatever the
    // core decides for this flag, the client decides too.
    auto compiled = CompileFlag(FromProto(flag));
    if (compiled.ok()) entry->compiled = *std::move(compiled);
  }
  state.flags_[flag.key()] = std::move(entry);
}

void SyncedFlags::PutSegment(const v1::Segment& segment, SyncedState& state) {
  state.segment_messages_[segment.key()] =
      std::make_shared<const v1::Segment>(segment);
  auto compiled = CompileSegment(FromProto(segment));
  if (compiled.ok()) {
    state.segments_[segment.key()] = *std::move(compiled);
  } else {
    state.segments_.erase(segment.key());
  }
}

std::unique_ptr<SyncedState> SyncedFlags::CopyPublished() const {
  const std::shared_ptr<const SyncedState> current = snapshot();
  if (current == nullptr) return std::make_unique<SyncedState>();
  auto copy = std::make_unique<SyncedState>(*current);
  copy->publish_id_ = 0;  // a state being changed: FindFlag remembers nothing
  return copy;
}

void SyncedFlags::Publish(std::unique_ptr<SyncedState> state) {
  state->publish_id_ = NextPublishedId();
  state->held_ = held_;
  published_.Store(std::move(state));
}

}  // namespace cutover
