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
  std::atomic<bool> call_ended{false};
  std::thread call([&] {
    CallGate::Pass pass(gate);
    REQUIRE(pass.admitted());
    entered.Notify();
    release.WaitForNotification();
    call_ended = true;
  });
  entered.WaitForNotification();
  std::thread releaser([&] {
    absl::SleepFor(absl::Milliseconds(50));
    release.Notify();
  });
  CHECK(gate.Drain(absl::Seconds(60)));
  CHECK(call_ended);  // Drain returned only after the pass was gone
  call.join();
  releaser.join();
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
