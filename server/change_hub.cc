#include "server/change_hub.h"

#include <algorithm>
#include <utility>

#include "server/api_edge.h"

namespace cutover {

namespace {

// Marks every event but the last of each revision as followed by more of
// it (WatchEvent.more_in_revision).
void MarkSteps(std::vector<v1::WatchEvent>& events) {
  for (size_t i = 0; i < events.size(); ++i) {
    events[i].set_more_in_revision(i + 1 < events.size() &&
                                   events[i + 1].revision() ==
                                       events[i].revision());
  }
}

v1::WatchEvent SyncedEvent(int64_t revision) {
  v1::WatchEvent synced;
  synced.set_kind(v1::WatchEvent::SYNCED);
  synced.set_revision(revision);
  return synced;
}

}  // namespace

ChangeHub::ChangeHub(std::shared_ptr<const Snapshot> initial,
                     std::vector<v1::WatchEvent> recent, size_t ring_capacity)
    : snapshot_(std::move(initial)), ring_capacity_(ring_capacity) {
  MarkSteps(recent);
  // No other thread can see the hub yet, but ring_ is guarded by mu_ and
  // TrimRingLocked requires it: taking it keeps the rule without exception.
  absl::MutexLock lock(&mu_);
  for (v1::WatchEvent& event : recent) ring_.push_back(std::move(event));
  TrimRingLocked();
}

void ChangeHub::TrimRingLocked() {
  // Whole revisions only: a resumption replays all of a step or none.
  while (ring_.size() > ring_capacity_) {
    const int64_t dropped = ring_.front().revision();
    while (!ring_.empty() && ring_.front().revision() == dropped) {
      ring_.pop_front();
    }
  }
}

void ChangeHub::Publish(std::shared_ptr<const Snapshot> next,
                        std::vector<v1::WatchEvent> events) {
  MarkSteps(events);
  absl::MutexLock lock(&mu_);
  snapshot_.Store(std::move(next));
  for (v1::WatchEvent& event : events) {
    for (Subscriber* subscriber : subscribers_) subscriber->Deliver(event);
    ring_.push_back(std::move(event));
  }
  TrimRingLocked();
}

bool ChangeHub::Subscribe(Subscriber* subscriber, int64_t from_revision) {
  absl::MutexLock lock(&mu_);
  if (closed_) {
    subscriber->Close();
    return false;
  }
  // The snapshot only changes under mu_, so it and the ring agree here.
  const std::shared_ptr<const Snapshot> current = snapshot_.Load();
  const int64_t oldest_kept =
      ring_.empty() ? current->revision + 1 : ring_.front().revision();
  const bool can_replay = from_revision > 0 &&
                          from_revision <= current->revision &&
                          from_revision + 1 >= oldest_kept;
  if (can_replay) {
    for (const auto& event : ring_) {
      if (event.revision() > from_revision) subscriber->Deliver(event);
    }
  } else {
    DeliverStateLocked(subscriber, *current);
  }
  subscriber->Deliver(SyncedEvent(current->revision));
  subscribers_.insert(subscriber);
  return !can_replay;
}

void ChangeHub::Replace(std::shared_ptr<const Snapshot> next) {
  absl::MutexLock lock(&mu_);
  snapshot_.Store(next);
  ring_.clear();  // the old state's changes lead nowhere now
  for (Subscriber* subscriber : subscribers_) {
    DeliverStateLocked(subscriber, *next);
    subscriber->Deliver(SyncedEvent(next->revision));
  }
}

void ChangeHub::DeliverStateLocked(Subscriber* subscriber,
                                   const Snapshot& snapshot) {
  v1::WatchEvent reset;
  reset.set_kind(v1::WatchEvent::RESET);
  reset.set_revision(snapshot.revision);
  subscriber->Deliver(reset);
  // Sorted by key so that a stream's content is reproducible.
  std::vector<const SegmentRecord*> segments;
  for (const auto& [key, segment] : snapshot.segment_records) {
    segments.push_back(segment.get());
  }
  std::sort(segments.begin(), segments.end(), [](auto* a, auto* b) {
    return a->segment.key < b->segment.key;
  });
  for (const SegmentRecord* segment : segments) {
    v1::WatchEvent event;
    event.set_kind(v1::WatchEvent::SEGMENT_UPSERTED);
    event.set_revision(segment->last_change.revision);
    ToApi(*segment, event.mutable_segment());
    subscriber->Deliver(event);
  }
  std::vector<const FlagRecord*> flags;
  for (const auto& [key, entry] : snapshot.flags) {
    if (!entry->record.flag.archived) flags.push_back(&entry->record);
  }
  std::sort(flags.begin(), flags.end(),
            [](auto* a, auto* b) { return a->flag.key < b->flag.key; });
  for (const FlagRecord* flag : flags) {
    v1::WatchEvent event;
    event.set_kind(v1::WatchEvent::FLAG_UPSERTED);
    event.set_revision(flag->last_change.revision);
    ToApi(*flag, event.mutable_flag());
    subscriber->Deliver(event);
  }
}

void ChangeHub::Unsubscribe(Subscriber* subscriber) {
  absl::MutexLock lock(&mu_);
  subscribers_.erase(subscriber);
}

void ChangeHub::Heartbeat() {
  absl::MutexLock lock(&mu_);
  v1::WatchEvent heartbeat;
  heartbeat.set_kind(v1::WatchEvent::HEARTBEAT);
  heartbeat.set_revision(snapshot_.Load()->revision);
  for (Subscriber* subscriber : subscribers_) subscriber->Deliver(heartbeat);
}

void ChangeHub::CloseAll() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  for (Subscriber* subscriber : subscribers_) subscriber->Close();
  subscribers_.clear();
}

size_t ChangeHub::subscriber_count() const {
  absl::MutexLock lock(&mu_);
  return subscribers_.size();
}

}  // namespace cutover
