// Storage faults under a running cutoverd: the disk fills up, the data
// folder turns read-only. Admin writes fail with a clear error (the CLI
// shows it in one line), decisions keep being served from the in-memory
// snapshot, and after the fault is cleared and the daemon restarted every
// acknowledged write is there.
//
// Both faults work without mounting anything, as root or not:
//   * disk full: cutoverd runs under a file size limit (prlimit --fsize);
//     it ignores SIGXFSZ, so writes past the limit fail with EFBIG as they
//     would with ENOSPC on a full disk;
//   * read-only: the data folder is made read-only (chmod -R a-w) under the
//     running daemon. Root ignores file modes, so as root cutoverd runs as
//     the unprivileged user "nobody" (setpriv) over a folder it owns; the
//     test is skipped, with a warning, where there is no such user.
#include <catch2/catch.hpp>

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/admin_client.h"
#include "tests/integration/admin_calls.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

namespace fs = std::filesystem;
using Code = absl::StatusCode;

// Sets `path` and everything under it read-only (a-w) until Restore() or
// destruction (u+w back, so the folder can be removed).
class ReadOnly {
 public:
  explicit ReadOnly(std::string path) : path_(std::move(path)) {
    Change(fs::perm_options::remove);
  }
  ~ReadOnly() { Restore(); }
  ReadOnly(const ReadOnly&) = delete;
  ReadOnly& operator=(const ReadOnly&) = delete;
  void Restore() {
    if (path_.empty()) return;
    Change(fs::perm_options::add);
    path_.clear();
  }

 private:
  void Change(fs::perm_options how) {
    const fs::perms write = how == fs::perm_options::add
                                ? fs::perms::owner_write
                                : fs::perms::owner_write |
                                      fs::perms::group_write |
                                      fs::perms::others_write;
    std::error_code ignored;
    fs::permissions(path_, write, how, ignored);
    for (fs::recursive_directory_iterator it(path_, ignored), end;
         !ignored && it != end; it.increment(ignored)) {
      fs::permissions(it->path(), write, how, ignored);
    }
  }
  std::string path_;
};

// Errors a client sees: the code, one line, naming the cause, and (through
// the CLI) exit code 1 without blaming the connection.
void CheckStorageError(const absl::Status& status, Code code,
                       const std::string& cause) {
  INFO("status " << status);
  CHECK(status.code() == code);
  CHECK_THAT(std::string(status.message()), Catch::StartsWith("store: write"));
  CHECK_THAT(std::string(status.message()), Catch::Contains(cause));
}


absl::StatusOr<v1::Flag> GetFlag(const AdminClient& admin,
                                 const std::string& key) {
  v1::GetFlagRequest request;
  request.set_key(key);
  return admin.GetFlag(request);
}

// Once a write has failed, later ones fail the same way and change nothing:
// "toggle" stays at `toggle`'s version. Through the CLI: exit code 1, one
// line naming the cause, the connection not blamed.
void CheckLaterWritesRefused(const std::string& address, const v1::Flag& toggle,
                             Code code, const std::string& cause) {
  auto admin = ConnectAdmin(address);
  CheckStorageError(SetStage(*admin, "toggle", v1::SHADOW).status(), code,
                    cause);
  const absl::StatusOr<v1::Flag> now = GetFlag(*admin, "toggle");
  REQUIRE(now.ok());
  CHECK(now->version() == toggle.version());
  CHECK(now->default_serve().stage() == toggle.default_serve().stage());

  const RunResult cli =
      RunCli(address, {"flags", "create", "via-cli", "--old", "a", "--new", "b"});
  INFO("cutoverctl stderr: " << cli.err);
  CHECK(cli.exit_code == 1);
  CHECK_THAT(cli.err, Catch::Contains(cause));
  CHECK_THAT(cli.err, !Catch::Contains("cannot reach"));
  CHECK(std::count(cli.err.begin(), cli.err.end(), '\n') == 1);
}

// Decisions are served while writes fail: Decide and DecideBatch of
// `flag`, which serves `stage`.
void CheckDecisionsServed(const std::string& address, const std::string& flag,
                          v1::Stage stage) {
  auto evaluation = ConnectAdmin(address);
  const absl::StatusOr<v1::DecideResponse> one =
      Decide(*evaluation, flag, "u-1");
  REQUIRE(one.ok());
  CHECK(one->decision().stage() == stage);
  v1::DecideBatchRequest request;
  for (int i = 0; i < 100; ++i) {
    v1::DecideRequest* item = request.add_items();
    item->set_flag_key(flag);
    item->mutable_context()->set_targeting_key("u-" + std::to_string(i));
  }
  const absl::StatusOr<v1::DecideBatchResponse> batch =
      evaluation->DecideBatch(request);
  REQUIRE(batch.ok());
  REQUIRE(batch->decisions_size() == 100);
  for (const auto& decision : batch->decisions()) {
    CHECK(decision.stage() == stage);
  }
}


// Every key of `acknowledged` is among the daemon's flags.
void CheckFlagsKept(const std::string& address,
                    const std::set<std::string>& acknowledged) {
  std::set<std::string> stored;
  REQUIRE(ListFlagKeys(*ConnectAdmin(address, absl::Seconds(20)), &stored));
  int missing = 0;
  for (const auto& key : acknowledged) {
    if (stored.count(key) == 0) {
      ++missing;
      UNSCOPED_INFO("acknowledged flag lost: " << key);
    }
  }
  CHECK(missing == 0);
}

// Large enough that the startup files (OPTIONS is ~28 KB) fit and a few
// dozen flag writes fill the write-ahead log.
constexpr int kFileSizeLimit = 256 * 1024;

TEST_CASE("disk full: admin writes fail RESOURCE_EXHAUSTED, decisions go on, "
          "nothing acknowledged is lost",
          "[storage]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  daemon.SetLauncher({"/usr/bin/prlimit",
                      "--fsize=" + std::to_string(kFileSizeLimit), "--"});
  {
    const bool started = daemon.Start();
    INFO("cutoverd stderr:\n" << daemon.last_stderr());
    REQUIRE(started);
  }
  const std::string address = daemon.address();
  auto admin = ConnectAdmin(address);
  std::set<std::string> acknowledged;
  REQUIRE(CreateFlag(*admin, OffFlag("toggle")).ok());
  const absl::StatusOr<v1::Flag> dualwrite =
      SetStage(*admin, "toggle", v1::DUALWRITE);
  REQUIRE(dualwrite.ok());
  const v1::Flag toggle = *dualwrite;
  acknowledged.insert("toggle");

  // Fill the log: flags of 1 KB until a write is refused (bounded).
  absl::Status refused;
  std::string refused_key;
  const std::string description(1000, 'd');
  for (int i = 0; i < 2000 && refused.ok(); ++i) {
    const std::string key = "fill-" + std::to_string(i);
    refused = CreateFlag(*admin, OffFlag(key, description)).status();
    if (refused.ok()) {
      acknowledged.insert(key);
    } else {
      refused_key = key;
    }
  }
  REQUIRE_FALSE(refused.ok());
  CHECK(acknowledged.size() > 10);
  CheckStorageError(refused, Code::kResourceExhausted, "no space left");

  CheckLaterWritesRefused(address, toggle, Code::kResourceExhausted,
                          "no space left");
  CHECK(GetFlag(*admin, refused_key).status().code() == Code::kNotFound);
  CheckDecisionsServed(address, "toggle", v1::DUALWRITE);

  // Space again (no limit), restarted: everything acknowledged is there,
  // and writes work.
  CHECK(daemon.Stop(SIGTERM) == 0);
  daemon.SetLauncher({});
  {
    const bool started = daemon.Start();
    INFO("cutoverd stderr:\n" << daemon.last_stderr());
    REQUIRE(started);
  }
  CheckFlagsKept(daemon.address(), acknowledged);
  admin = ConnectAdmin(daemon.address());
  const absl::StatusOr<v1::Flag> after = GetFlag(*admin, "toggle");
  REQUIRE(after.ok());
  CHECK(after->version() == toggle.version());
  CHECK(after->default_serve().stage() == v1::DUALWRITE);
  CHECK(CreateFlag(*admin, OffFlag("after-restart")).ok());
  CHECK(SetStage(*admin, "toggle", v1::SHADOW).ok());
}

// The launcher that runs cutoverd as an unprivileged user (empty when this
// process is not root: then file modes bind it already), and the folder
// prepared for that user. False if there is no such user.
bool PrepareUnprivileged(const std::string& parent, const std::string& folder,
                         std::vector<std::string>* launcher) {
  REQUIRE(mkdir(folder.c_str(), 0755) == 0);
  if (geteuid() != 0) return true;
  const passwd* user = getpwnam("nobody");
  if (user == nullptr) return false;
  // The user must reach its folder through the test's private one.
  REQUIRE(chmod(parent.c_str(), 0755) == 0);
  REQUIRE(chown(folder.c_str(), user->pw_uid, user->pw_gid) == 0);
  *launcher = {"/usr/bin/setpriv",
               "--reuid=" + std::to_string(user->pw_uid),
               "--regid=" + std::to_string(user->pw_gid),
               "--clear-groups", "--"};
  return true;
}

// A segment of 10000 entries of 100 bytes (about 1 MB): a few fill the
// store's in-memory table, so that it must create files.
v1::CreateSegmentRequest BigSegment(const std::string& key) {
  v1::CreateSegmentRequest request;
  v1::Segment* segment = request.mutable_segment();
  segment->set_key(key);
  for (int i = 0; i < 10000; ++i) {
    std::string entry = key + "-u-" + std::to_string(i) + "-";
    entry.resize(100, 'x');
    segment->add_included(entry);
  }
  return request;
}

TEST_CASE("read-only data folder: admin writes fail naming it, decisions go "
          "on, a restart refuses to start naming it, nothing acknowledged "
          "is lost",
          "[storage]") {
  TempDir dir;
  const std::string folder = dir.path() + "/owned";
  std::vector<std::string> launcher;
  if (!PrepareUnprivileged(dir.path(), folder, &launcher)) {
    WARN("SKIPPED: running as root and there is no user 'nobody' to run "
         "cutoverd as (root ignores a read-only folder)");
    return;
  }
  const std::string data = folder + "/data";
  DaemonProcess daemon(data);
  daemon.SetLauncher(launcher);
  {
    const bool started = daemon.Start();
    INFO("cutoverd stderr:\n" << daemon.last_stderr());
    REQUIRE(started);
  }
  const std::string address = daemon.address();
  // Writes of big segments take their time.
  auto admin = ConnectAdmin(address, absl::Seconds(30));
  std::set<std::string> acknowledged_flags, acknowledged_segments;
  REQUIRE(CreateFlag(*admin, OffFlag("toggle")).ok());
  const absl::StatusOr<v1::Flag> dualwrite =
      SetStage(*admin, "toggle", v1::DUALWRITE);
  REQUIRE(dualwrite.ok());
  const v1::Flag toggle = *dualwrite;
  acknowledged_flags.insert("toggle");

  ReadOnly read_only(data);
  // Files already open stay writable, so writes go on until the store
  // needs a new file (its in-memory table is full): big segments get there
  // in a few writes. Bounded.
  absl::Status refused;
  for (int i = 0; i < 40 && refused.ok(); ++i) {
    const std::string key = "big-" + std::to_string(i);
    refused = admin->CreateSegment(BigSegment(key)).status();
    if (refused.ok()) acknowledged_segments.insert(key);
  }
  REQUIRE_FALSE(refused.ok());
  CheckStorageError(refused, Code::kUnavailable, "Permission denied");
  CheckLaterWritesRefused(address, toggle, Code::kUnavailable,
                          "Permission denied");
  CheckDecisionsServed(address, "toggle", v1::DUALWRITE);

  // Restarted on the read-only folder: refuses to start, naming the cause
  // (not another daemon holding the folder).
  {
    const int stopped = daemon.Stop(SIGTERM);
    INFO("cutoverd stderr:\n" << daemon.last_stderr());
    CHECK(stopped == 0);
  }
  CHECK_FALSE(daemon.Start());
  {
    const std::string stderr_text = daemon.last_stderr();
    INFO("cutoverd stderr:\n" << stderr_text);
    CHECK_THAT(stderr_text, Catch::Contains("Permission denied"));
    CHECK_THAT(stderr_text, !Catch::Contains("another cutoverd"));
  }

  // Writable again: everything acknowledged is there, and writes work.
  read_only.Restore();
  {
    const bool started = daemon.Start();
    INFO("cutoverd stderr:\n" << daemon.last_stderr());
    REQUIRE(started);
  }
  CheckFlagsKept(daemon.address(), acknowledged_flags);
  admin = ConnectAdmin(daemon.address(), absl::Seconds(20));
  {
    const absl::StatusOr<v1::ListSegmentsResponse> segments =
        admin->ListSegments({});
    REQUIRE(segments.ok());
    std::set<std::string> stored;
    for (const auto& segment : segments->segments()) {
      stored.insert(segment.key());
    }
    for (const auto& key : acknowledged_segments) {
      INFO("acknowledged segment " << key);
      CHECK(stored.count(key) == 1);
    }
  }
  CHECK(GetFlag(*admin, "toggle").value_or(v1::Flag()).version() ==
        toggle.version());
  CHECK(SetStage(*admin, "toggle", v1::SHADOW).ok());
}

// The real cutoverd on a data folder of the old format (a copy of the
// schema-1 fixture, tests/fixtures/storage-schema1): it migrates it at
// start, says so once, and serves what the old daemon stored.
TEST_CASE("a schema-1 data folder: cutoverd migrates it, says so once, and "
          "serves it",
          "[storage]") {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  fs::copy(std::string(CUTOVER_SOURCE_DIR) +
               "/tests/fixtures/storage-schema1/data",
           data, fs::copy_options::recursive);
  const std::string said = "migrated the store in " + data +
                           " from schema 1 to 2";
  DaemonProcess daemon(data);
  {
    const bool started = daemon.Start();
    INFO("cutoverd stderr:\n" << daemon.last_stderr());
    REQUIRE(started);
    CHECK(daemon.last_stderr().find(said) != std::string::npos);
  }
  {
    auto admin = ConnectAdmin(daemon.address());
    v1::GetFlagRequest request;
    request.set_key("orders");
    const absl::StatusOr<v1::Flag> orders = admin->GetFlag(request);
    REQUIRE(orders.ok());
    CHECK(orders->key() == "orders");
    CHECK(orders->version() > 1);
  }
  REQUIRE(daemon.Stop(SIGTERM) == 0);
  {
    const bool started = daemon.Start();
    INFO("cutoverd stderr:\n" << daemon.last_stderr());
    REQUIRE(started);
    // The stderr of both runs (the harness appends): the line is the
    // first run's alone.
    const std::string log = daemon.last_stderr();
    const size_t first = log.find(said);
    CHECK(first != std::string::npos);
    CHECK(log.find(said, first + 1) == std::string::npos);
    CHECK(log.find("serving gRPC", log.find("serving gRPC") + 1) !=
          std::string::npos);  // both runs served
  }
  REQUIRE(daemon.Stop(SIGTERM) == 0);
}

}  // namespace
}  // namespace cutover::testing
