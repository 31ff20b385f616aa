// What the client library's integration tests share: client options for a
// test daemon, a cutoverctl call that must succeed, a bounded poll, and a
// SIGCONT for a paused daemon however a test ends.
#ifndef CUTOVER_TESTS_INTEGRATION_CLIENT_HELPERS_H_
#define CUTOVER_TESTS_INTEGRATION_CLIENT_HELPERS_H_

#include <catch2/catch.hpp>

#include <sys/types.h>

#include <csignal>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "tests/integration/harness.h"

namespace cutover::testing {

inline ClientOptions OptionsFor(const DaemonProcess& daemon) {
  ClientOptions options;
  options.server = daemon.address();
  // Generous for sanitizer builds on a shared machine; the tests check
  // behaviour, not speed.
  options.decide_deadline = absl::Milliseconds(500);
  options.reconnect_initial_backoff = absl::Milliseconds(20);
  options.reconnect_max_backoff = absl::Milliseconds(200);
  options.initial_sync_wait = absl::Seconds(5);
  return options;
}

// OptionsFor with remote evaluation: every decision not cached is the
// daemon's (Decide RPC), for the tests of the decision cache.
inline ClientOptions RemoteOptionsFor(const DaemonProcess& daemon) {
  ClientOptions options = OptionsFor(daemon);
  options.evaluation = ClientOptions::Evaluation::kRemote;
  return options;
}

// Runs a cutoverctl command against `daemon` that must succeed.
inline void Cli(const DaemonProcess& daemon,
                const std::vector<std::string>& args) {
  RunResult result = RunCli(daemon.address(), args);
  INFO("cutoverctl " << absl::StrJoin(args, " ") << "\nstderr: " << result.err);
  REQUIRE(result.exit_code == 0);
}

// Polls (bounded) until `done` holds; returns whether it did.
template <typename Predicate>
bool Eventually(Predicate done, absl::Duration limit = absl::Seconds(10)) {
  const absl::Time until = absl::Now() + limit;
  while (absl::Now() < until) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return done();
}

// Sends SIGCONT to a SIGSTOPped daemon when the test ends, however it ends
// (declared after the DaemonProcess, so it runs before the harness reaps).
struct ContinueOnExit {
  pid_t pid = -1;
  ~ContinueOnExit() {
    if (pid > 0) kill(pid, SIGCONT);
  }
};

}  // namespace cutover::testing

#endif  // CUTOVER_TESTS_INTEGRATION_CLIENT_HELPERS_H_
