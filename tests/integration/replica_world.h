// What the read-replica tests share: a primary and replicas following it
// (real cutoverd processes on loopback), flags worth replicating, and the
// polls and scrapes that tell where a replica is.
#ifndef CUTOVER_TESTS_INTEGRATION_REPLICA_WORLD_H_
#define CUTOVER_TESTS_INTEGRATION_REPLICA_WORLD_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cutover/v1/cutover.pb.h"
#include "tests/integration/harness.h"

namespace cutover::testing {

// The revision `admin`'s daemon serves (-1 if it cannot be asked).
int64_t Revision(const AdminClient& admin);

// Waits (at most 20 s) until `replica` serves `revision`.
bool WaitForRevision(const AdminClient& replica, int64_t revision);

// A rollout of `live_percent` live, the rest shadow, on flag `key`.
absl::StatusOr<v1::Flag> Rollout(const AdminClient& admin,
                                 const std::string& key, int live_percent);

// Segment "beta" (u-1, u-7) and flags flag-0 .. flag-(flags-1) at shadow,
// each with a rule on beta and a rollout: what a replica must carry
// exactly.
void Populate(const AdminClient& admin, int flags);

// The sum of the samples of `name` whose labels include `labels` in a
// scrape of `daemon`; -1 if there are none.
double MetricOf(const DaemonProcess& daemon, const std::string& name,
                const std::map<std::string, std::string>& labels = {});

// A primary with `flags` flags (Populate) and `replica_count` replicas in sync
// with it, each in its own folder of `dir`; all keep their ports across
// restarts.
struct ReplicaSet {
  ReplicaSet(const TempDir& dir, int flags, int replica_count = 1,
             std::vector<std::string> primary_args = {});

  // "ipv4:127.0.0.1:P1,127.0.0.1:P2,..." : every replica, as one gRPC
  // target for a client that balances over them.
  std::string ReplicasTarget() const;

  DaemonProcess primary;
  std::unique_ptr<AdminClient> to_primary;
  std::vector<std::unique_ptr<DaemonProcess>> replicas;
  std::vector<std::unique_ptr<AdminClient>> to_replicas;
};

}  // namespace cutover::testing

#endif  // CUTOVER_TESTS_INTEGRATION_REPLICA_WORLD_H_
