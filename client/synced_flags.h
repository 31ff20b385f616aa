// SyncedFlags: the client's own copy of every flag and segment the daemon
// has sent on the Watch stream, compiled by the core, at one store
// revision, so that the client can answer a Decide itself, exactly as the
// daemon would have at that revision, when the daemon cannot be asked.
//
// Two parts:
//
// SyncedState is one immutable, complete state: the v1 messages as the
// daemon sent them (for the snapshot file) and their compiled core form.
// Decide converts nothing and duplicates no evaluation: it calls the
// core's Decide on the compiled flag, with the compiled segments, as the
// daemon's EvaluationService does; an archived flag gets what the daemon
// gives it (off, FLAG_NOT_FOUND). Shared freely between threads as
// std::shared_ptr<const SyncedState>.
//
// SyncedFlags publishes the current SyncedState (an atomically swapped
// std::shared_ptr: a reader's load never waits for the writer) and builds
// the next one from Watch events, following the stream's protocol
// (cutover.v1.WatchEvent, server/change_hub.cc):
//   - a new stream starts from the published state (the daemon replays
//     the changes after our revision), or, after a RESET, from nothing
//     (the whole state follows); either way the events before the stream's
//     SYNCED fill a pending state, published only at SYNCED, at SYNCED's
//     revision, so that readers never see half a RESET or half a replay;
//   - after SYNCED each revision is published at once, whole: the events
//     of a revision that changed several objects (an Apply; each but the
//     last marked more_in_revision) are gathered and published at its
//     last, so readers never see half a file;
//   - FLAG_UPSERTED replaces a flag, FLAG_ARCHIVED keeps it as archived,
//     SEGMENT_UPSERTED replaces a segment, SEGMENT_DELETED removes it;
//     HEARTBEAT changes nothing.
// A RESET drops every flag, archived ones included: the state after it is
// the daemon's, which sends no archived flags.
//
// A flag or segment the core refuses to compile (a daemon newer than this
// library could send one) is kept as a message (it is written to the
// snapshot file) but not evaluated: Decide answers nullopt for such a
// flag, and such a segment matches nobody.
//
// Publishing copies the maps of pointers (not the flags): O(flags +
// segments) per change, on the Watch thread.
//
// Held keys: a SyncedFlags made with a list of flag keys holds only those
// flags (the client's ClientOptions::flag_keys, which its Watch stream
// asks the daemon for); a flag outside the list is neither kept (from a
// stream or a snapshot file) nor answered by its states' DecideInto,
// which leaves it to the caller (false): it is not "not found", only not
// held here. Segments are all held.
//
// Each flag key gets a counter slot (client/local_decision_counts.h) the
// first time it is put in a state, kept in its FlagEntry, so that the
// decision path counts local decisions without another lookup.
//
// Thread-safety: snapshot(), current(), Decide() and Contains() from any
// thread; the event methods (BeginStream, Apply, Load) from one thread at a
// time (the Watch thread; Load before it starts).
#ifndef CUTOVER_CLIENT_SYNCED_FLAGS_H_
#define CUTOVER_CLIENT_SYNCED_FLAGS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "client/local_decision_counts.h"
#include "core/evaluate.h"
#include "core/model.h"
#include "core/published.h"
#include "cutover/v1/client_snapshot.pb.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover {

// One complete state at one revision. Immutable once published.
class SyncedState {
 public:
  // A flag as the daemon sent it, and compiled (null if archived or if
  // the core refused it), with its key's counter slot (FlagCounterSlots).
  struct FlagEntry {
    v1::Flag message;
    std::shared_ptr<const CompiledFlag> compiled;
    uint32_t counter_slot = FlagCounterSlots::kUnknownSlot;
  };

  int64_t revision() const { return revision_; }
  size_t flag_count() const { return flags_.size(); }
  size_t segment_count() const { return segment_messages_.size(); }

  // What the daemon's Decide answered at revision() (stage, plan, targets,
  // reason, rule_id, bucket, flag_version): the core's decision, or off
  // with FLAG_NOT_FOUND for an archived flag. nullopt for a flag this
  // state does not have, or cannot evaluate.
  std::optional<Decision> Decide(std::string_view flag_key,
                                 const Context& context) const;
  // The daemon's Decide at revision() into `out`, as Decide, except that a
  // flag this state does not have gets what the daemon answers for one it
  // does not have (off, FLAG_NOT_FOUND). False (out untouched) only for a
  // flag this state cannot evaluate or does not hold (see Held keys).
  // When true and `counter_slot` is not null, *counter_slot is the flag's
  // counter slot (kUnknownSlot for a flag this state does not have).
  bool DecideInto(std::string_view flag_key, const Context& context,
                  Decision& out, uint32_t* counter_slot = nullptr) const;
  // As DecideInto, the Verdict alone (the core's Evaluate: no string read
  // or copied); off with FLAG_NOT_FOUND where DecideInto says so.
  bool EvaluateInto(std::string_view flag_key, const Context& context,
                    Verdict& out, uint32_t* counter_slot = nullptr) const;
  // Whether the flag is in this state (archived or not, evaluable or not).
  bool Contains(std::string_view flag_key) const;
  // The flag's entry, or null. Each thread remembers its last few lookups
  // in published states (by the state's publish id, never reused), so a
  // service that decides the same flags call after call compares the key
  // instead of hashing it.
  const FlagEntry* FindFlag(std::string_view flag_key) const;

  // The state as the snapshot file keeps it (flags and segments sorted by
  // key).
  v1::ClientSnapshot ToMessage() const;

 private:
  friend class SyncedFlags;

  template <typename Answer>
  bool AnswerInto(std::string_view flag_key, const Context& context,
                  Answer& out, uint32_t* counter_slot) const;

  int64_t revision_ = 0;
  // Set by SyncedFlags::Publish (unique in the process); 0 before, and
  // FindFlag remembers nothing for such a state.
  uint64_t publish_id_ = 0;
  // The held keys (SyncedFlags::held_), set by Publish; null: every flag.
  std::shared_ptr<const absl::flat_hash_set<std::string>> held_;
  absl::flat_hash_map<std::string, std::shared_ptr<const FlagEntry>> flags_;
  absl::flat_hash_map<std::string, std::shared_ptr<const v1::Segment>>
      segment_messages_;
  SegmentIndex segments_;  // the compiled ones
};

class SyncedFlags {
 public:
  // Holds every flag, or only those of `held_keys` when it is not empty.
  explicit SyncedFlags(const std::vector<std::string>& held_keys = {});
  SyncedFlags(const SyncedFlags&) = delete;
  SyncedFlags& operator=(const SyncedFlags&) = delete;

  // The published state; null before anything was published.
  std::shared_ptr<const SyncedState> snapshot() const {
    return published_.Load();
  }
  // The published state for the hot path, null before anything was
  // published (Published::Current: no shared write per call). The pointer
  // is valid until this thread's next current() on this object.
  const SyncedState* current() const noexcept {
    return published_.Current();
  }
  // Whether this object holds the flag (see Held keys): always true
  // without a list.
  bool Holds(std::string_view flag_key) const noexcept;
  // The counter slots of the flag keys put in states so far.
  const FlagCounterSlots& counter_slots() const { return counter_slots_; }
  // snapshot()->Decide, nullopt without a state.
  std::optional<Decision> Decide(std::string_view flag_key,
                                 const Context& context) const;

  // Publishes the state of a snapshot file (the initial state, before any
  // stream). Returns the number of flags and segments the core refused
  // (kept, not evaluated).
  int Load(const v1::ClientSnapshot& message);

  // Where a new Watch stream must start (WatchRequest.from_revision) for
  // its replay to build on the published state: that state's revision if
  // a stream published it, else 0 (a RESET and the whole state; a state
  // loaded from a file is never resumed from, as it may be another
  // store's). Never more than the revisions the stream has delivered.
  int64_t resume_revision() const { return resume_revision_; }
  // A new Watch stream is starting (from resume_revision()): its events up
  // to SYNCED build on the published state; what a broken stream left
  // pending is dropped.
  void BeginStream();
  // Applies one event of the current stream. Returns whether a new state
  // was published.
  bool Apply(const v1::WatchEvent& event);

 private:
  // Applies a change to `state` (not published).
  void ApplyChange(const v1::WatchEvent& event, SyncedState& state);
  void PutFlag(const v1::Flag& flag, SyncedState& state);
  static void PutSegment(const v1::Segment& segment, SyncedState& state);
  // A copy of the published state (or an empty one) to change.
  std::unique_ptr<SyncedState> CopyPublished() const;
  void Publish(std::unique_ptr<SyncedState> state);

  Published<SyncedState> published_;
  // The held keys; null: every flag. Immutable.
  std::shared_ptr<const absl::flat_hash_set<std::string>> held_;
  // Written by PutFlag (the Watch thread), read by the decision reporter.
  FlagCounterSlots counter_slots_;
  // Watch thread only: the state being built before the stream's SYNCED
  // (null once synced), and resume_revision().
  std::unique_ptr<SyncedState> pending_;
  // Watch thread only: after SYNCED, a revision whose last event has not
  // arrived yet (null otherwise).
  std::unique_ptr<SyncedState> step_;
  int64_t resume_revision_ = 0;
};

}  // namespace cutover

#endif  // CUTOVER_CLIENT_SYNCED_FLAGS_H_
