// Backups (Admin.CreateBackup, `cutoverctl backup create`): a backup taken
// while admin writes go on is started as a second real cutoverd, which must
// serve exactly the primary's state at the revision the backup reports
// (flags, segments, versions, revisions, history); bad folders are refused
// with the right code, nothing written, and the CLI exits 2 for them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "client/admin_client.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/integration/admin_calls.h"
#include "tests/integration/harness.h"
#include "tests/printers.h"

namespace cutover::testing {
namespace {

namespace fs = std::filesystem;
using Code = absl::StatusCode;
using google::protobuf::util::MessageDifferencer;

constexpr int kFlags = 12;
constexpr int kSegments = 4;
// Each writer's writes at most (the loops end sooner when told to stop).
constexpr int kMaxWritesPerWriter = 3000;

std::string FlagKey(int i) { return absl::StrCat("flag-", i); }
std::string SegmentKey(int i) { return absl::StrCat("seg-", i); }

v1::Segment SegmentWith(const std::string& key, int users) {
  v1::Segment segment;
  segment.set_key(key);
  for (int u = 0; u < users; ++u) segment.add_included(absl::StrCat("u", u));
  return segment;
}

// A subject's whole history, oldest first (REQUIREs the call to succeed).
std::vector<v1::HistoryEntry> HistoryOf(const AdminClient& admin,
                                        const std::string& key, bool segment) {
  v1::GetHistoryRequest request;
  request.set_key(key);
  request.set_segment(segment);
  absl::StatusOr<v1::GetHistoryResponse> response = admin.GetHistory(request);
  INFO(key << ": " << response.status());
  REQUIRE(response.ok());
  return {response->entries().rbegin(), response->entries().rend()};
}

// The entries of `history` up to and including `revision`.
std::vector<v1::HistoryEntry> UpTo(const std::vector<v1::HistoryEntry>& history,
                                   int64_t revision) {
  std::vector<v1::HistoryEntry> kept;
  for (const v1::HistoryEntry& entry : history) {
    if (entry.revision() <= revision) kept.push_back(entry);
  }
  return kept;
}

void CheckSameHistory(const std::vector<v1::HistoryEntry>& expected,
                      const std::vector<v1::HistoryEntry>& restored) {
  REQUIRE(restored.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("entry " << i << "\nexpected " << expected[i].DebugString()
                  << "\nrestored " << restored[i].DebugString());
    CHECK(MessageDifferencer::Equals(expected[i], restored[i]));
  }
}

// The revision in `cutoverctl backup create`'s line ("backup of revision N
// (schema 2) written to DIR at TIME"); -1 if the line is not that.
int64_t PrintedRevision(const std::string& line) {
  constexpr absl::string_view kPrefix = "backup of revision ";
  if (!absl::StartsWith(line, kPrefix)) return -1;
  const size_t end = line.find(' ', kPrefix.size());
  int64_t revision = -1;
  if (end == std::string::npos ||
      !absl::SimpleAtoi(line.substr(kPrefix.size(), end - kPrefix.size()),
                        &revision)) {
    return -1;
  }
  return revision;
}

int64_t ServedRevision(const AdminClient& admin) {
  absl::StatusOr<v1::ServerInfo> info =
      admin.GetServerInfo(v1::GetServerInfoRequest());
  REQUIRE(info.ok());
  return info->revision();
}

TEST_CASE("a backup taken under admin writes, started as a second cutoverd, "
          "serves exactly the primary's state at the backup's revision",
          "[backup]") {
  TempDir dir;
  DaemonProcess primary(dir.path() + "/data");
  REQUIRE(primary.Start());
  std::unique_ptr<AdminClient> admin =
      ConnectAdmin(primary.address(), absl::Seconds(10), "backup-test");
  for (int i = 0; i < kSegments; ++i) {
    v1::CreateSegmentRequest request;
    *request.mutable_segment() = SegmentWith(SegmentKey(i), 1);
    REQUIRE(admin->CreateSegment(request).ok());
  }
  for (int i = 0; i < kFlags; ++i) {
    REQUIRE(CreateFlag(*admin, OffFlag(FlagKey(i), "backed up")).ok());
    REQUIRE(SetStage(*admin, FlagKey(i), v1::DUALWRITE).ok());
  }
  {
    // Deleted before the backup: it must be absent there too, its history
    // kept.
    v1::DeleteSegmentRequest request;
    request.set_key(SegmentKey(kSegments - 1));
    REQUIRE(admin->DeleteSegment(request).ok());
  }

  // Two writers: one toggles flags, one grows segments, each write a new
  // version and revision.
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::atomic<int> failures{0};
  absl::Mutex first_failure_mu;
  absl::Status first_failure;
  const auto Count = [&](const absl::Status& status) {
    if (status.ok()) {
      ++writes;
      return;
    }
    ++failures;
    absl::MutexLock lock(&first_failure_mu);
    if (first_failure.ok()) first_failure = status;
  };
  std::vector<std::thread> writers;
  writers.emplace_back([&] {
    std::unique_ptr<AdminClient> client = ConnectAdmin(primary.address());
    for (int n = 0; n < kMaxWritesPerWriter && !stop; ++n) {
      v1::SetEnabledRequest request;
      request.set_key(FlagKey(n % kFlags));
      request.set_enabled((n / kFlags) % 2 == 1);
      request.set_force(true);  // disabling a DUALWRITE flag is a forced move
      Count(client->SetEnabled(request).status());
    }
  });
  writers.emplace_back([&] {
    std::unique_ptr<AdminClient> client = ConnectAdmin(primary.address());
    // This writer alone changes segments: each at version 1 to start.
    std::vector<int64_t> versions(kSegments - 1, 1);
    for (int n = 0; n < kMaxWritesPerWriter && !stop; ++n) {
      const int i = n % (kSegments - 1);
      v1::ReplaceSegmentRequest request;
      *request.mutable_segment() = SegmentWith(SegmentKey(i), 2 + n);
      request.set_expected_version(versions[i]);
      absl::StatusOr<v1::Segment> replaced = client->ReplaceSegment(request);
      if (replaced.ok()) versions[i] = replaced->version();
      Count(replaced.status());
    }
  });
  const auto wait_for_writes = [&](int count) {
    for (int i = 0; i < 20000 && writes < count && failures == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  wait_for_writes(50);
  const int writes_before = writes;
  const std::string backup_dir = dir.path() + "/backups/first";
  fs::create_directories(dir.path() + "/backups");
  const RunResult created = RunCli(primary.address(),
                                   {"backup", "create", backup_dir});
  wait_for_writes(writes_before + 50);
  const int writes_after = writes;
  stop = true;
  for (std::thread& writer : writers) writer.join();
  INFO("cutoverctl: " << created.out << created.err);
  REQUIRE(created.exit_code == 0);
  {
    absl::MutexLock lock(&first_failure_mu);
    INFO("first failed write: " << first_failure);
    CHECK(failures == 0);
  }
  const int64_t backup_revision = PrintedRevision(created.out);
  // Writes went on on both sides of the backup.
  CHECK(writes_before >= 50);
  CHECK(writes_after >= writes_before + 50);
  const int64_t primary_revision = ServedRevision(*admin);
  CHECK(backup_revision > kSegments + 2 * kFlags);
  CHECK(backup_revision < primary_revision);
  // Nothing beside the backup: the temporary folder was renamed.
  std::vector<std::string> beside;
  for (const auto& entry : fs::directory_iterator(dir.path() + "/backups")) {
    beside.push_back(entry.path().filename().string());
  }
  CHECK(beside == std::vector<std::string>{"first"});

  // The restore of docs/operations.md: a daemon started on a copy of the
  // folder.
  const std::string restore_dir = dir.path() + "/restored";
  fs::copy(backup_dir, restore_dir, fs::copy_options::recursive);
  DaemonProcess restored(restore_dir);
  const bool started = restored.Start();
  INFO("restored cutoverd stderr:\n" << restored.last_stderr());
  REQUIRE(started);
  std::unique_ptr<AdminClient> restored_admin =
      ConnectAdmin(restored.address());
  CHECK(ServedRevision(*restored_admin) == backup_revision);

  // Each flag: its history up to the backup's revision, and the flag as
  // its last change there left it.
  int flags_expected = 0;
  for (int i = 0; i < kFlags; ++i) {
    INFO(FlagKey(i));
    const std::vector<v1::HistoryEntry> expected = UpTo(
        HistoryOf(*admin, FlagKey(i), false), backup_revision);
    CheckSameHistory(expected,
                     HistoryOf(*restored_admin, FlagKey(i), false));
    v1::GetFlagRequest request;
    request.set_key(FlagKey(i));
    absl::StatusOr<v1::Flag> flag = restored_admin->GetFlag(request);
    REQUIRE(!expected.empty());
    REQUIRE(flag.ok());
    ++flags_expected;
    INFO("expected " << expected.back().after().DebugString() << "\nrestored "
                     << flag->DebugString());
    CHECK(MessageDifferencer::Equals(expected.back().after(), *flag));
  }
  v1::ListFlagsRequest list_flags;
  list_flags.set_include_archived(true);
  absl::StatusOr<v1::ListFlagsResponse> restored_flags =
      restored_admin->ListFlags(list_flags);
  REQUIRE(restored_flags.ok());
  CHECK(restored_flags->flags_size() == flags_expected);

  int segments_expected = 0;
  for (int i = 0; i < kSegments; ++i) {
    INFO(SegmentKey(i));
    const std::vector<v1::HistoryEntry> expected = UpTo(
        HistoryOf(*admin, SegmentKey(i), true), backup_revision);
    CheckSameHistory(expected,
                     HistoryOf(*restored_admin, SegmentKey(i), true));
    v1::GetSegmentRequest request;
    request.set_key(SegmentKey(i));
    absl::StatusOr<v1::Segment> segment = restored_admin->GetSegment(request);
    REQUIRE(!expected.empty());
    if (!expected.back().has_segment_after()) {  // deleted
      CHECK(segment.status().code() == Code::kNotFound);
      continue;
    }
    REQUIRE(segment.ok());
    ++segments_expected;
    INFO("expected " << expected.back().segment_after().DebugString()
                     << "\nrestored " << segment->DebugString());
    CHECK(MessageDifferencer::Equals(expected.back().segment_after(),
                                     *segment));
  }
  CHECK(segments_expected == kSegments - 1);
  absl::StatusOr<v1::ListSegmentsResponse> restored_segments =
      restored_admin->ListSegments(v1::ListSegmentsRequest());
  REQUIRE(restored_segments.ok());
  CHECK(restored_segments->segments_size() == segments_expected);

  // The restored daemon goes on from there: its next write is the next
  // revision.
  v1::SetEnabledRequest toggle;
  toggle.set_key(FlagKey(0));
  toggle.set_enabled(!restored_flags->flags(0).enabled());
  absl::StatusOr<v1::Flag> toggled = restored_admin->SetEnabled(toggle);
  REQUIRE(toggled.ok());
  CHECK(toggled->revision() == backup_revision + 1);
}

TEST_CASE("a backup folder that is empty, relative, inside the data folder, "
          "existing or without a parent is refused, and nothing is written",
          "[backup][bad-input]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  std::unique_ptr<AdminClient> admin = ConnectAdmin(daemon.address());
  REQUIRE(CreateFlag(*admin, OffFlag("kept")).ok());
  const int64_t revision = ServedRevision(*admin);
  fs::create_directories(dir.path() + "/taken");
  struct Case {
    std::string dir;
    Code code;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"", Code::kInvalidArgument, "dir: required"},
      {"backups/b1", Code::kInvalidArgument, "not an absolute path"},
      {"/", Code::kInvalidArgument, "names no folder"},
      {dir.path() + "/data/b1", Code::kInvalidArgument,
       "inside the data folder"},
      {dir.path() + "/data/../data/sub/b1", Code::kInvalidArgument,
       "inside the data folder"},
      {dir.path() + "/taken", Code::kAlreadyExists, "already exists"},
      {dir.path() + "/taken/", Code::kAlreadyExists, "already exists"},
      {dir.path() + "/missing/b1", Code::kFailedPrecondition,
       "does not exist"},
  };
  for (const Case& c : cases) {
    INFO("dir \"" << c.dir << "\"");
    v1::CreateBackupRequest request;
    request.set_dir(c.dir);
    absl::StatusOr<v1::Backup> backup = admin->CreateBackup(request);
    INFO(backup.status());
    CHECK(backup.status().code() == c.code);
    CHECK(absl::StartsWith(backup.status().message(), "dir: "));
    CHECK(absl::StrContains(backup.status().message(), c.message_part));
  }
  // Nothing new anywhere: no folder made, nothing in the data folder's
  // parent or in the existing folder, no revision.
  std::vector<std::string> entries;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    entries.push_back(entry.path().filename().string());
  }
  std::sort(entries.begin(), entries.end());
  INFO(absl::StrJoin(entries, " "));
  CHECK(std::find(entries.begin(), entries.end(), "missing") == entries.end());
  CHECK(std::none_of(entries.begin(), entries.end(), [](const std::string& e) {
    return absl::StrContains(e, "partial");
  }));
  CHECK(fs::is_empty(dir.path() + "/taken"));
  CHECK(!fs::exists(dir.path() + "/data/b1"));
  CHECK(!fs::exists(dir.path() + "/data/sub"));
  CHECK(ServedRevision(*admin) == revision);
}

TEST_CASE("cutoverctl backup create: exit 0 with the revision, 2 with a "
          "one-line error for a bad folder or a missing argument",
          "[backup][cli][bad-input]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  std::unique_ptr<AdminClient> admin = ConnectAdmin(daemon.address());
  REQUIRE(CreateFlag(*admin, OffFlag("kept")).ok());
  const std::string backup_dir = dir.path() + "/b1";

  const RunResult ok = RunCli(daemon.address(),
                              {"backup", "create", backup_dir});
  INFO(ok.out << ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(PrintedRevision(ok.out) == ServedRevision(*admin));
  CHECK(absl::StrContains(ok.out, "written to " + backup_dir));

  const RunResult json = RunCli(daemon.address(),
                                {"backup", "create", dir.path() + "/b2",
                                 "-o", "json"});
  INFO(json.out << json.err);
  CHECK(json.exit_code == 0);
  CHECK(absl::StrContains(json.out, "\"revision\": \"1\""));
  CHECK(absl::StrContains(json.out, "\"schema_version\": 2"));

  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"backup", "create", backup_dir}, "ALREADY_EXISTS: dir: "},
      {{"backup", "create", "relative/b3"}, "INVALID_ARGUMENT: dir: "},
      {{"backup", "create", dir.path() + "/no/b3"},
       "FAILED_PRECONDITION: dir: "},
      {{"backup", "create"}, "DIR is required"},
      {{"backup"}, "cutoverctl: "},
  };
  for (const auto& [args, message] : bad) {
    const RunResult run = RunCli(daemon.address(), args);
    INFO(absl::StrJoin(args, " ") << ": " << run.out << run.err);
    CHECK(run.exit_code == 2);
    CHECK(absl::StrContains(run.err, message));
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
  }
  CHECK(!fs::exists(dir.path() + "/relative"));
  CHECK(!fs::exists(dir.path() + "/no"));
}

}  // namespace
}  // namespace cutover::testing
