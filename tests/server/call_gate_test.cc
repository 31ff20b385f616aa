// Tests of the CallGate: calls admitted until a drain, the drain waiting
// for those in flight, and its timeout.
#include "server/call_gate.h"

#include <catch2/catch.hpp>
#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace cutover {
namespace {

TEST_CASE("CallGate admits calls until it drains, then refuses them",
          "[call_gate]") {
  CallGate gate;
  {
    CallGate::Pass pass(gate);
    CHECK(pass.admitted());
  }
  CHECK(gate.Drain(absl::ZeroDuration()));  // nothing in flight
  CallGate::Pass late(gate);
  CHECK_FALSE(late.admitted());
  CHECK(gate.Drain(absl::ZeroDuration()));  // a refused pass is not counted
}

TEST_CASE("CallGate::Drain waits for the call in flight to end",
          "[call_gate]") {
  CallGate gate;
  absl::Notification entered, release;
  // Set by the call's thread; checked on the test's thread after the join
  // (Catch2's assertions are not thread-safe).
  std::atomic<bool> admitted{false};
  std::atomic<bool> call_ended{false};
  std::thread call([&] {
    CallGate::Pass pass(gate);
    admitted = pass.admitted();
    entered.Notify();
    release.WaitForNotification();
    call_ended = true;
  });
  entered.WaitForNotification();
  std::thread releaser([&] {
    absl::SleepFor(absl::Milliseconds(50));
    release.Notify();
  });
  const bool drained = gate.Drain(absl::Seconds(60));
  // Drain returned only after the pass was gone.
  const bool ended_before_drain_returned = call_ended;
  call.join();
  releaser.join();
  REQUIRE(admitted);
  CHECK(drained);
  CHECK(ended_before_drain_returned);
}

TEST_CASE("CallGate::Drain gives up after its timeout with a call in flight",
          "[call_gate]") {
  CallGate gate;
  CallGate::Pass held(gate);
  REQUIRE(held.admitted());
  CHECK_FALSE(gate.Drain(absl::Milliseconds(20)));
  CallGate::Pass late(gate);
  CHECK_FALSE(late.admitted());
}

}  // namespace
}  // namespace cutover
