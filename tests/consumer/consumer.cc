// A program outside cutover's tree that uses the installed client library:
// it asks a real cutoverd for a decision, runs a Migrator read with it and
// reports the library's version.
//
//   consumer HOST:PORT FLAG EXPECTED_STAGE EXPECTED_VERSION
//
// Exit 0 and "ok ..." when the decision came from the daemon with the
// expected stage, the read returned the authoritative side's value, and
// cutover::Version() is EXPECTED_VERSION (and, built with CMake, the
// package's version); 1 with a message otherwise.
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include <cutover/client/client.h>
#include <cutover/client/migrator.h>
#include <cutover/client/version.h>

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "consumer: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) return Fail("usage: consumer HOST:PORT FLAG STAGE VERSION");
  const std::string flag = argv[2];
  const std::string expected_stage = argv[3];
  const std::string expected_version = argv[4];

  const std::string version(cutover::Version());
  if (version != expected_version) {
    return Fail("cutover::Version() is " + version + ", not " +
                expected_version);
  }
#ifdef PACKAGE_VERSION
  if (version != PACKAGE_VERSION) {
    return Fail("the CMake package says " + std::string(PACKAGE_VERSION) +
                ", the library " + version);
  }
#endif

  cutover::ClientOptions options;
  options.server = argv[1];
  options.decide_deadline = absl::Seconds(5);
  auto client = cutover::Client::Create(options);
  if (!client.ok()) return Fail(client.status().ToString());

  const cutover::Context user{"u-42", {{"tenant", "acme"}}};
  const cutover::Decision decision = (*client)->Decide(flag, user);
  if (decision.reason == cutover::Reason::kError ||
      decision.reason == cutover::Reason::kStale) {
    return Fail(std::string("no answer from the daemon: ") +
                cutover::ReasonName(decision.reason) + " " + decision.error);
  }
  if (expected_stage != cutover::StageName(decision.stage)) {
    return Fail(std::string("stage ") + cutover::StageName(decision.stage) +
                ", expected " + expected_stage);
  }

  // A read at this stage: the authoritative side answers; in shadow the new
  // database is read too and compared.
  int new_reads = 0;
  cutover::Migrator migrator(client->get());
  absl::StatusOr<std::string> row = migrator.Read<std::string>(
      flag, user, [] { return absl::StatusOr<std::string>("row from old"); },
      [&new_reads] {
        ++new_reads;
        return absl::StatusOr<std::string>("row from new");
      },
      [](const std::string& a, const std::string& b) { return a == b; });
  if (!row.ok()) return Fail("read: " + row.status().ToString());
  const bool old_answers =
      decision.plan.read_authoritative == cutover::Origin::kOld;
  if (*row != (old_answers ? "row from old" : "row from new")) {
    return Fail("read returned '" + *row + "'");
  }
  const cutover::MigratorStats stats = migrator.stats();
  std::printf("ok version=%s stage=%s reason=%s read='%s' new_reads=%d "
              "mismatches=%llu\n",
              version.c_str(), cutover::StageName(decision.stage),
              cutover::ReasonName(decision.reason), row->c_str(), new_reads,
              static_cast<unsigned long long>(stats.mismatches));
  (*client)->Shutdown();
  return 0;
}
