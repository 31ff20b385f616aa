// A program outside cutover's tree that uses the installed client library:
// it asks a real cutoverd for a decision, runs a Migrator read with it,
// backfills three rows with a BackfillDriver and reports the library's
// version.
//
//   consumer HOST:PORT FLAG EXPECTED_STAGE EXPECTED_VERSION
//
// Exit 0 and "ok ..." when the decision came from the daemon with the
// expected stage, the read returned the authoritative side's value, the
// backfill copied and verified the rows to DONE, and
// cutover::Version() is EXPECTED_VERSION (and, built with CMake, the
// package's version); 1 with a message otherwise.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <cutover/client/backfill.h>
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

  // A backfill of three rows, one page, copied then verified.
  const std::vector<std::string> old_rows = {"r1", "r2", "r3"};
  std::vector<std::string> new_rows;
  cutover::BackfillOptions backfill_options;
  backfill_options.flag_key = flag;
  auto driver =
      cutover::BackfillDriver::Create((*client)->channel(), backfill_options);
  if (!driver.ok()) return Fail("backfill: " + driver.status().ToString());
  cutover::BackfillSource<std::string> source;
  source.read_old_page = [&old_rows](const std::string& cursor, size_t) {
    cutover::BackfillPage<std::string> page;
    if (cursor.empty()) page.rows = old_rows;
    page.next_cursor = "end";
    page.done = true;
    return absl::StatusOr<cutover::BackfillPage<std::string>>(page);
  };
  source.write_new = [&new_rows](const std::vector<std::string>& rows) {
    new_rows.insert(new_rows.end(), rows.begin(), rows.end());
    return absl::OkStatus();
  };
  source.find_mismatched = [&new_rows](const std::vector<std::string>& rows) {
    std::vector<std::string> wrong;
    for (const std::string& r : rows) {
      bool found = false;
      for (const std::string& n : new_rows) found = found || n == r;
      if (!found) wrong.push_back(r);
    }
    return absl::StatusOr<std::vector<std::string>>(wrong);
  };
  absl::StatusOr<cutover::BackfillProgress> backfill = (*driver)->Run(source);
  if (!backfill.ok()) return Fail("backfill: " + backfill.status().ToString());
  if (backfill->phase != cutover::BackfillProgress::Phase::kDone ||
      backfill->rows_copied != 3 || backfill->rows_verified != 3 ||
      new_rows != old_rows) {
    return Fail(std::string("backfill ended ") +
                cutover::BackfillPhaseName(backfill->phase) + " with " +
                std::to_string(backfill->rows_copied) + " rows copied");
  }

  std::printf("ok version=%s stage=%s reason=%s read='%s' new_reads=%d "
              "mismatches=%llu backfill=%s copied=%lld\n",
              version.c_str(), cutover::StageName(decision.stage),
              cutover::ReasonName(decision.reason), row->c_str(), new_reads,
              static_cast<unsigned long long>(stats.mismatches),
              cutover::BackfillPhaseName(backfill->phase),
              static_cast<long long>(backfill->rows_copied));
  (*client)->Shutdown();
  return 0;
}
