#include "server/call_gate.h"

namespace cutover {

bool CallGate::Enter() {
  absl::MutexLock lock(&mu_);
  if (draining_) return false;
  ++in_flight_;
  return true;
}

void CallGate::Exit() {
  absl::MutexLock lock(&mu_);
  --in_flight_;
}

bool CallGate::Idle() const { return in_flight_ == 0; }

bool CallGate::Drain(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  return mu_.AwaitWithTimeout(absl::Condition(this, &CallGate::Idle),
                              timeout);
}

}  // namespace cutover
