// ChangeHub: holds the current Snapshot and fans changes out to Watch
// subscribers.
//
// Writers (FlagRegistry, one at a time) call Publish with the new snapshot
// and the change event; readers never wait for a writer's store I/O: a
// call's hot path reads current() (no write another thread reads), a
// reader that keeps the snapshot takes snapshot() (an atomic shared_ptr
// load).
// A bounded ring of recent events (whole revisions: an Apply's several
// events are kept or dropped together) lets a Watch resume from a revision;
// older resumptions get a RESET and the whole state. The hub is the Watch
// stream's edge: it keeps and delivers API events (each change's event is
// built once, by the writer, and shared by every subscriber), and turns
// the snapshot's records into events for a RESET.
//
// Thread-safe.
#ifndef CUTOVER_SERVER_CHANGE_HUB_H_
#define CUTOVER_SERVER_CHANGE_HUB_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "core/published.h"
#include "cutover/v1/cutover.pb.h"
#include "server/snapshot.h"

namespace cutover {

class ChangeHub {
 public:
  // Something that receives events: a Watch stream. Deliver and Close are
  // called with the hub's lock held: they must not block or call back into
  // the hub.
  class Subscriber {
   public:
    virtual ~Subscriber() = default;
    virtual void Deliver(const v1::WatchEvent& event) = 0;
    // The daemon is shutting down: end the stream.
    virtual void Close() = 0;
  };

  // `recent` are the latest change events, oldest first (from the store).
  ChangeHub(std::shared_ptr<const Snapshot> initial,
            std::vector<v1::WatchEvent> recent, size_t ring_capacity);

  // The current snapshot, shared: for a reader that keeps it (a stream, a
  // write building on it).
  std::shared_ptr<const Snapshot> snapshot() const {
    return snapshot_.Load();
  }
  // The current snapshot for a call's hot path, which writes no line other
  // threads read (core/published.h): valid until this thread's next
  // current() (so not across a call's reactor callbacks, nor past a
  // handler that may call it again; take snapshot() there).
  const Snapshot& current() const noexcept { return *snapshot_.Current(); }

  // Makes `next` current and sends `events`, the changes of its revision
  // in order, to every subscriber as one step (each but the last marked
  // more_in_revision). Callers publish in revision order.
  void Publish(std::shared_ptr<const Snapshot> next,
               std::vector<v1::WatchEvent> events);

  // Makes `next` current in place of a state it does not follow from (a
  // replica taking its primary's state after a RESET): the kept events
  // are dropped, and every subscriber gets a RESET, the whole state and a
  // SYNCED.
  void Replace(std::shared_ptr<const Snapshot> next);

  // Registers `subscriber` and delivers, before any live event, what it
  // needs to catch up from `from_revision`: the kept events after it, or a
  // RESET and the whole state; then a SYNCED event. Returns whether a RESET
  // was needed.
  bool Subscribe(Subscriber* subscriber, int64_t from_revision);
  void Unsubscribe(Subscriber* subscriber);

  // Sends a HEARTBEAT at the current revision to every subscriber.
  void Heartbeat();
  // Closes every subscriber and refuses new ones (Subscribe then closes
  // the newcomer at once).
  void CloseAll();

  size_t subscriber_count() const;

 private:
  void DeliverStateLocked(Subscriber* subscriber, const Snapshot& snapshot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the oldest revisions, each whole, until the ring fits.
  void TrimRingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Published<Snapshot> snapshot_;  // never null
  mutable absl::Mutex mu_;
  std::deque<v1::WatchEvent> ring_ ABSL_GUARDED_BY(mu_);
  const size_t ring_capacity_;
  absl::flat_hash_set<Subscriber*> subscribers_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_CHANGE_HUB_H_
