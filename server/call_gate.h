// CallGate: counts the calls a service is in the middle of serving, so
// that a graceful shutdown can wait for exactly those (an admin write
// finishing its sync) and refuse new ones while it does.
//
// gRPC's own graceful shutdown also waits for every idle client connection
// to read the server's GOAWAY, which an idle channel does only when its
// backup poller runs (every 5 s): a daemon with one idle client then took
// the whole grace period to stop. Daemon::Shutdown drains the gate and the
// Watch streams, then ends every connection at once.
//
//   CallGate::Pass pass(gate);
//   if (!pass.admitted()) return UNAVAILABLE;  // shutting down
//
// Thread-safe.
#ifndef CUTOVER_SERVER_CALL_GATE_H_
#define CUTOVER_SERVER_CALL_GATE_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace cutover {

class CallGate {
 public:
  // One call, counted from construction to destruction if admitted.
  class Pass {
   public:
    explicit Pass(CallGate& gate) : gate_(gate), admitted_(gate.Enter()) {}
    ~Pass() {
      if (admitted_) gate_.Exit();
    }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    // False once the gate is draining: the call must not start.
    bool admitted() const { return admitted_; }

   private:
    CallGate& gate_;
    const bool admitted_;
  };

  // Refuses every call from now on and waits, at most `timeout`, for the
  // admitted ones to end. Returns whether they all did.
  bool Drain(absl::Duration timeout);

 private:
  bool Enter();
  void Exit();
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_CALL_GATE_H_
