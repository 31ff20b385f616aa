// Memory a local-evaluation Client holds for its synced flags: the heap
// bytes in use (glibc mallinfo2) after a Client has synced N flags, minus
// the same for a Client of an empty daemon, per 1,000 flags.
//
//   ./build/tests/bench/client_memory_bench [--flags=1000,10000]
//       [--named=10]
//
// Each flag is what a migration flag looks like in use: three rules (a
// tenant list of 20 values, a region list, a plan prefix), a 5% / 95%
// rollout by tenant, targets and a description. The Client keeps each as
// the message the daemon sent (for its snapshot file) and compiled.
// --named=K also measures, at each count, a Client that names K of the
// flags (ClientOptions::flag_keys): a service among very many flags.
// Starts a real cutoverd on loopback (temporary data folder) and stops it.
#include <malloc.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/synced_flags.h"
#include "cutover/v1/cutover.pb.h"
#include "tests/bench/bench_util.h"

namespace {

cutover::v1::Flag MigrationFlag(int i) {
  cutover::v1::Flag flag = cutover::bench::RolloutFlag("table-" +
                                                       std::to_string(i));
  flag.set_description("moves table " + std::to_string(i) +
                       " from PostgreSQL to DynamoDB");
  flag.set_bucket_by("tenant");
  auto add_rule = [&flag](const std::string& attribute, cutover::v1::Operator op,
                          std::vector<std::string> values,
                          cutover::v1::Stage stage) {
    cutover::v1::Rule* rule = flag.add_rules();
    cutover::v1::Clause* clause = rule->add_clauses();
    clause->set_attribute(attribute);
    clause->set_op(op);
    for (const std::string& value : values) clause->add_values(value);
    rule->mutable_serve()->set_stage(stage);
  };
  std::vector<std::string> tenants;
  for (int t = 0; t < 20; ++t) tenants.push_back("tenant-" + std::to_string(t));
  add_rule("tenant", cutover::v1::IN, tenants, cutover::v1::LIVE);
  add_rule("region", cutover::v1::IN, {"eu-west-1", "eu-central-1"},
           cutover::v1::SHADOW);
  add_rule("plan", cutover::v1::STARTS_WITH, {"enterprise"},
           cutover::v1::DUALWRITE);
  return flag;
}

size_t HeapInUse() { return mallinfo2().uordblks; }

// Heap bytes a synced local Client holds, from before Create to after sync.
bool SyncedClientBytes(const std::string& address, int64_t expected_flags,
                       const std::vector<std::string>& flag_keys,
                       size_t* bytes) {
  cutover::ClientOptions options;
  options.flag_keys = flag_keys;
  options.server = address;
  options.evaluation = cutover::ClientOptions::Evaluation::kLocal;
  options.initial_sync_wait = absl::Seconds(60);
  malloc_trim(0);
  const size_t before = HeapInUse();
  auto client = cutover::Client::Create(options);
  if (!client.ok() || !(*client)->watch_synced() ||
      static_cast<int64_t>((*client)->synced_state()->flag_count()) !=
          expected_flags) {
    std::fprintf(stderr, "the client did not sync %lld flags\n",
                 static_cast<long long>(expected_flags));
    return false;
  }
  *bytes = HeapInUse() - before;
  if (expected_flags > 0 && flag_keys.empty()) {
    // Of which the flags as the daemon sent them (kept for the snapshot
    // file); the rest is their compiled form, the maps and the channel.
    size_t messages = 0;
    const cutover::v1::ClientSnapshot held =
        (*client)->synced_state()->ToMessage();
    for (const auto& flag : held.flags()) messages += flag.SpaceUsedLong();
    std::printf("  flag messages: %.0f bytes per flag\n",
                static_cast<double>(messages) / expected_flags);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  namespace bench = cutover::bench;
  const std::vector<int> counts =
      bench::IntList(bench::Arg(argc, argv, "flags", "1000,10000"));
  const int named = std::stoi(bench::Arg(argc, argv, "named", "0"));
  bench::BenchDaemon daemon;
  if (!daemon.Start()) return 1;
  size_t empty = 0;
  // The first Client of a process also sets up gRPC's globals: measure the
  // empty daemon twice and keep the second.
  if (!SyncedClientBytes(daemon.address(), 0, {}, &empty) ||
      !SyncedClientBytes(daemon.address(), 0, {}, &empty)) {
    return 1;
  }
  std::printf("client of an empty daemon: %.1f KiB\n", empty / 1024.0);
  int made = 0;
  for (int count : counts) {
    while (made < count) {
      cutover::v1::ApplyRequest file;
      for (int i = 0; i < 500 && made < count; ++i) {
        *file.add_flags() = MigrationFlag(made++);
      }
      file.set_force(true);  // off -> rollout skips stages: a new flag
      const auto applied = daemon.admin().Apply(file);
      if (!applied.ok()) {
        std::fprintf(stderr, "apply failed: %s\n",
                     applied.status().ToString().c_str());
        return 1;
      }
    }
    size_t bytes = 0;
    if (!SyncedClientBytes(daemon.address(), count, {}, &bytes)) return 1;
    const double per_thousand =
        (static_cast<double>(bytes) - static_cast<double>(empty)) / count *
        1000.0;
    std::printf("%6d flags: client holds %.1f MiB; %.2f MiB per 1,000 flags "
                "(%.0f bytes per flag)\n",
                count, bytes / 1048576.0, per_thousand / 1048576.0,
                per_thousand / 1000.0);
    if (named > 0) {
      std::vector<std::string> keys;
      for (int i = 0; i < named && i < count; ++i) {
        keys.push_back("table-" + std::to_string(i));
      }
      size_t named_bytes = 0;
      if (!SyncedClientBytes(daemon.address(),
                             static_cast<int64_t>(keys.size()), keys,
                             &named_bytes)) {
        return 1;
      }
      std::printf("%6d flags, %zu named: client holds %.1f KiB more than "
                  "a client of an empty daemon\n",
                  count, keys.size(),
                  (static_cast<double>(named_bytes) -
                   static_cast<double>(empty)) / 1024.0);
    }
    std::fflush(stdout);
  }
  return daemon.Stop() == 0 ? 0 : 1;
}
