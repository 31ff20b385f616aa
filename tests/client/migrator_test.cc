// Tests of cutover::Migrator: for every stage of the table (README.md,
// "The stages"), which read and write functions ran, in which order,
// which result came back and what was reported; shadow errors, mismatches,
// sampling, NOT_FOUND, execution modes, concurrency and thrown exceptions.
#include "client/migrator.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>

#include "tests/printers.h"
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "client/decision_source.h"
#include "client/telemetry_reporter.h"
#include "core/evaluate.h"
#include "core/model.h"
#include "core/stage.h"

namespace cutover {
namespace {

constexpr char kFlag[] = "orders";

const Stage kAllStages[] = {Stage::kOff,  Stage::kDualWrite, Stage::kShadow,
                            Stage::kLive, Stage::kRampDown,  Stage::kComplete};

const ReadExecution kAllModes[] = {
    ReadExecution::kSerialOldFirst, ReadExecution::kSerialNewFirst,
    ReadExecution::kSerialRandom, ReadExecution::kConcurrent};

const char* ModeName(ReadExecution mode) {
  switch (mode) {
    case ReadExecution::kSerialOldFirst:
      return "serial_old_first";
    case ReadExecution::kSerialNewFirst:
      return "serial_new_first";
    case ReadExecution::kSerialRandom:
      return "serial_random";
    case ReadExecution::kConcurrent:
      return "concurrent";
  }
  return "?";
}

const char* ResultName(OpResult result) {
  switch (result) {
    case OpResult::kOk:
      return "ok";
    case OpResult::kFailed:
      return "failed";
    case OpResult::kMatch:
      return "match";
    case OpResult::kMismatch:
      return "mismatch";
    case OpResult::kUnspecified:
      break;
  }
  return "?";
}

// A record as one comparable string: "orders shadow read new ok".
std::string Describe(const OpRecord& r) {
  std::ostringstream out;
  out << r.flag_key << " " << StageName(r.stage) << " "
      << OpKindName(r.op) << " "
      << OriginName(r.origin) << " " << ResultName(r.result);
  return out.str();
}

// The expected records of one operation, in order, for flag kFlag.
std::vector<std::string> Expect(
    Stage stage,
    std::initializer_list<std::tuple<OpKind, Origin, OpResult>> rows) {
  std::vector<std::string> out;
  for (const auto& [op, origin, result] : rows) {
    out.push_back(Describe(
        OpRecord{kFlag, stage, op, origin, result, absl::ZeroDuration()}));
  }
  return out;
}

// Collects what the Migrator reports; thread-safe.
class Records {
 public:
  OpRecorder Recorder() {
    return [this](const OpRecord& record) {
      std::lock_guard<std::mutex> lock(mu_);
      records_.push_back(record);
    };
  }
  std::vector<OpRecord> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(records_, {});
  }
  std::vector<std::string> TakeDescribed() {
    std::vector<std::string> out;
    for (const OpRecord& r : Take()) out.push_back(Describe(r));
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<OpRecord> records_;
};

Decision DecisionAt(Stage stage, double compare_sample_rate = 1.0) {
  Decision d;
  d.flag_key = kFlag;
  d.stage = stage;
  d.plan = PlanFor(stage);
  d.old_target = "postgres-orders";
  d.new_target = "dynamodb-orders";
  d.reason = Reason::kDefault;
  d.compare_sample_rate = compare_sample_rate;
  return d;
}

// A DecisionSource with fixed answers per targeting key (default: off);
// remembers what it was asked.
class FixedDecisions : public DecisionSource {
 public:
  explicit FixedDecisions(std::map<std::string, Decision> by_key)
      : by_key_(std::move(by_key)) {}

  Decision Decide(std::string_view flag_key,
                  const Context& context) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    asked_.emplace_back(std::string(flag_key), context.targeting_key);
    auto it = by_key_.find(context.targeting_key);
    if (it == by_key_.end())
      return SafeDecision(std::string(flag_key), Reason::kDefault);
    return it->second;
  }

  std::vector<std::pair<std::string, std::string>> asked() {
    std::lock_guard<std::mutex> lock(mu_);
    return asked_;
  }

 private:
  const std::map<std::string, Decision> by_key_;
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> asked_;
};

// Call order of the two sides of one operation.
class Calls {
 public:
  void Add(Origin origin) {
    std::lock_guard<std::mutex> lock(mu_);
    order_.push_back(origin);
  }
  std::vector<Origin> order() {
    std::lock_guard<std::mutex> lock(mu_);
    return order_;
  }
  int count(Origin origin) {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (Origin o : order_) n += o == origin;
    return n;
  }

 private:
  std::mutex mu_;
  std::vector<Origin> order_;
};

MigratorOptions Options(ReadExecution mode) {
  MigratorOptions options;
  options.read_execution = mode;
  options.on_mismatch = [](const MismatchInfo&) {};  // keep stderr quiet
  return options;
}

const Context kUser{"u-1", {{"tenant", "acme"}}};

using R = std::tuple<OpKind, Origin, OpResult>;
constexpr OpKind kRead = OpKind::kRead;
constexpr OpKind kWrite = OpKind::kWrite;
constexpr OpKind kRepair = OpKind::kRepair;
constexpr Origin kOld = Origin::kOld;
constexpr Origin kNew = Origin::kNew;
constexpr OpResult kOk = OpResult::kOk;
constexpr OpResult kFailed = OpResult::kFailed;
constexpr OpResult kMatch = OpResult::kMatch;
constexpr OpResult kMismatch = OpResult::kMismatch;

// ---------------------------------------------------------------------------
// The stage table.

struct ReadRow {
  Stage stage;
  std::vector<Origin> ran;  // in the order of serial_old_first
  int returned;
  std::vector<std::string> records;
};

std::vector<ReadRow> ReadTable() {
  return {
      {Stage::kOff, {kOld}, 1, Expect(Stage::kOff, {R{kRead, kOld, kOk}})},
      {Stage::kDualWrite,
       {kOld},
       1,
       Expect(Stage::kDualWrite, {R{kRead, kOld, kOk}})},
      {Stage::kShadow,
       {kOld, kNew},
       1,
       Expect(Stage::kShadow, {R{kRead, kOld, kOk}, R{kRead, kNew, kOk},
                               R{kRead, kNew, kMatch}})},
      {Stage::kLive,
       {kOld, kNew},
       2,
       Expect(Stage::kLive, {R{kRead, kNew, kOk}, R{kRead, kOld, kOk},
                             R{kRead, kNew, kMatch}})},
      {Stage::kRampDown,
       {kNew},
       2,
       Expect(Stage::kRampDown, {R{kRead, kNew, kOk}})},
      {Stage::kComplete,
       {kNew},
       2,
       Expect(Stage::kComplete, {R{kRead, kNew, kOk}})},
  };
}

TEST_CASE("Read follows the stage table in every execution mode",
          "[migrator]") {
  for (ReadExecution mode : kAllModes) {
    Records records;
    Migrator migrator(nullptr, records.Recorder(), Options(mode));
    for (const ReadRow& row : ReadTable()) {
      INFO(ModeName(mode) << " " << StageName(row.stage));
      Calls calls;
      int compares = 0;
      absl::StatusOr<int> got = migrator.ReadWith<int>(
          DecisionAt(row.stage), kUser,
          [&]() -> absl::StatusOr<int> {
            calls.Add(kOld);
            return 1;
          },
          [&]() -> absl::StatusOr<int> {
            calls.Add(kNew);
            return 2;
          },
          // Matches only when called as (old, new): checks the order of
          // the arguments too.
          [&](const int& old_value, const int& new_value) {
            ++compares;
            return old_value == 1 && new_value == 2;
          });
      REQUIRE(got.ok());
      CHECK(*got == row.returned);
      CHECK(calls.count(kOld) == (row.ran.front() == kOld ? 1 : 0));
      CHECK(calls.count(kNew) == (row.ran.back() == kNew ? 1 : 0));
      CHECK(calls.order().size() == row.ran.size());
      CHECK(compares == (row.ran.size() == 2 ? 1 : 0));
      const std::vector<OpRecord> got_records = records.Take();
      std::vector<std::string> described;
      for (const OpRecord& r : got_records) {
        described.push_back(Describe(r));
        if (r.result == kMatch || r.result == kMismatch) {
          CHECK(r.latency == absl::ZeroDuration());
        } else {
          CHECK(r.latency >= absl::ZeroDuration());
        }
      }
      CHECK(described == row.records);
    }
    const MigratorStats stats = migrator.stats();
    CHECK(stats.reads == 6);
    CHECK(stats.writes == 0);
    CHECK(stats.comparisons == 2);
    CHECK(stats.mismatches == 0);
    CHECK(stats.shadow_errors == 0);
    CHECK(stats.authoritative_errors == 0);
  }
}

struct WriteRow {
  Stage stage;
  std::vector<Origin> ran;  // in call order
  int returned;
  std::vector<std::string> records;
};

std::vector<WriteRow> WriteTable() {
  return {
      {Stage::kOff, {kOld}, 1, Expect(Stage::kOff, {R{kWrite, kOld, kOk}})},
      {Stage::kDualWrite,
       {kOld, kNew},
       1,
       Expect(Stage::kDualWrite, {R{kWrite, kOld, kOk}, R{kWrite, kNew, kOk}})},
      {Stage::kShadow,
       {kOld, kNew},
       1,
       Expect(Stage::kShadow, {R{kWrite, kOld, kOk}, R{kWrite, kNew, kOk}})},
      {Stage::kLive,
       {kNew, kOld},
       2,
       Expect(Stage::kLive, {R{kWrite, kNew, kOk}, R{kWrite, kOld, kOk}})},
      {Stage::kRampDown,
       {kNew, kOld},
       2,
       Expect(Stage::kRampDown, {R{kWrite, kNew, kOk}, R{kWrite, kOld, kOk}})},
      {Stage::kComplete,
       {kNew},
       2,
       Expect(Stage::kComplete, {R{kWrite, kNew, kOk}})},
  };
}

TEST_CASE("Write follows the stage table, authoritative first", "[migrator]") {
  // Writes are always serial; the read mode must not change them.
  for (ReadExecution mode : kAllModes) {
    Records records;
    Migrator migrator(nullptr, records.Recorder(), Options(mode));
    for (const WriteRow& row : WriteTable()) {
      INFO(ModeName(mode) << " " << StageName(row.stage));
      Calls calls;
      absl::StatusOr<int> got = migrator.WriteWith<int>(
          DecisionAt(row.stage), kUser,
          [&]() -> absl::StatusOr<int> {
            calls.Add(kOld);
            return 1;
          },
          [&]() -> absl::StatusOr<int> {
            calls.Add(kNew);
            return 2;
          });
      REQUIRE(got.ok());
      CHECK(*got == row.returned);
      CHECK(calls.order() == row.ran);
      CHECK(records.TakeDescribed() == row.records);
    }
    CHECK(migrator.stats().writes == 6);
    CHECK(migrator.stats().reads == 0);
  }
}

TEST_CASE(
    "Write: a failed authoritative write is returned and the "
    "secondary is not written",
    "[migrator]") {
  for (Stage stage : kAllStages) {
    INFO(StageName(stage));
    Records records;
    Migrator migrator(nullptr, records.Recorder(),
                      Options(ReadExecution::kSerialOldFirst));
    const Origin authoritative = PlanFor(stage).write_authoritative;
    Calls calls;
    absl::StatusOr<int> got = migrator.WriteWith<int>(
        DecisionAt(stage), kUser,
        [&]() -> absl::StatusOr<int> {
          calls.Add(kOld);
          if (authoritative == kOld) return absl::UnavailableError("old down");
          return 1;
        },
        [&]() -> absl::StatusOr<int> {
          calls.Add(kNew);
          if (authoritative == kNew) return absl::UnavailableError("new down");
          return 2;
        });
    CHECK(got.status().code() == absl::StatusCode::kUnavailable);
    CHECK(got.status().message() ==
          (authoritative == kOld ? "old down" : "new down"));
    CHECK(calls.order() == std::vector<Origin>{authoritative});
    CHECK(records.TakeDescribed() ==
          Expect(stage, {R{kWrite, authoritative, kFailed}}));
    CHECK(migrator.stats().authoritative_errors == 1);
    CHECK(migrator.stats().shadow_errors == 0);
  }
}

TEST_CASE("Write: the secondary write's error is recorded, never returned",
          "[migrator]") {
  for (Stage stage :
       {Stage::kDualWrite, Stage::kShadow, Stage::kLive, Stage::kRampDown}) {
    INFO(StageName(stage));
    Records records;
    Migrator migrator(nullptr, records.Recorder(),
                      Options(ReadExecution::kConcurrent));
    const StagePlan plan = PlanFor(stage);
    absl::StatusOr<int> got = migrator.WriteWith<int>(
        DecisionAt(stage), kUser,
        [&]() -> absl::StatusOr<int> {
          if (plan.write_secondary == kOld) return absl::AbortedError("x");
          return 1;
        },
        [&]() -> absl::StatusOr<int> {
          // NOT_FOUND from a write is a failed write, unlike a read's.
          if (plan.write_secondary == kNew) return absl::NotFoundError("x");
          return 2;
        });
    REQUIRE(got.ok());
    CHECK(*got == (plan.write_authoritative == kOld ? 1 : 2));
    CHECK(records.TakeDescribed() ==
          Expect(stage, {R{kWrite, plan.write_authoritative, kOk},
                         R{kWrite, plan.write_secondary, kFailed}}));
    CHECK(migrator.stats().shadow_errors == 1);
    CHECK(migrator.stats().authoritative_errors == 0);
  }
}

TEST_CASE("Write with functions returning a bare absl::Status", "[migrator]") {
  Records records;
  Migrator migrator(nullptr, records.Recorder());
  Calls calls;
  absl::Status written = migrator.WriteWith(
      DecisionAt(Stage::kLive), kUser,
      [&] {
        calls.Add(kOld);
        return absl::InternalError("old broke");
      },
      [&] {
        calls.Add(kNew);
        return absl::OkStatus();
      });
  CHECK(written.ok());
  CHECK(calls.order() == std::vector<Origin>{kNew, kOld});
  CHECK(records.TakeDescribed() ==
        Expect(Stage::kLive, {R{kWrite, kNew, kOk}, R{kWrite, kOld, kFailed}}));

  absl::Status failed = migrator.WriteWith(
      DecisionAt(Stage::kDualWrite), kUser,
      [&] { return absl::PermissionDeniedError("no"); },
      [&] {
        FAIL("the secondary must not be written");
        return absl::OkStatus();
      });
  CHECK(failed.code() == absl::StatusCode::kPermissionDenied);
}

// ---------------------------------------------------------------------------
// Shadow reads: errors, mismatches, sampling, NOT_FOUND.

TEST_CASE("Read: the shadow side's error is recorded, never returned",
          "[migrator]") {
  for (ReadExecution mode : kAllModes) {
    for (Stage stage : {Stage::kShadow, Stage::kLive}) {
      INFO(ModeName(mode) << " " << StageName(stage));
      Records records;
      int compares = 0;
      Migrator migrator(nullptr, records.Recorder(), Options(mode));
      const StagePlan plan = PlanFor(stage);
      absl::StatusOr<int> got = migrator.ReadWith<int>(
          DecisionAt(stage), kUser,
          [&]() -> absl::StatusOr<int> {
            if (plan.read_shadow == kOld) return absl::UnavailableError("o");
            return 1;
          },
          [&]() -> absl::StatusOr<int> {
            if (plan.read_shadow == kNew) return absl::UnavailableError("n");
            return 2;
          },
          [&](const int&, const int&) {
            ++compares;
            return true;
          });
      REQUIRE(got.ok());
      CHECK(*got == (plan.read_authoritative == kOld ? 1 : 2));
      CHECK(compares == 0);
      CHECK(records.TakeDescribed() ==
            Expect(stage, {R{kRead, plan.read_authoritative, kOk},
                           R{kRead, plan.read_shadow, kFailed}}));
      const MigratorStats stats = migrator.stats();
      CHECK(stats.shadow_errors == 1);
      CHECK(stats.comparisons == 0);
    }
  }
}

TEST_CASE(
    "Read: the authoritative error is returned unchanged, the shadow "
    "still runs",
    "[migrator]") {
  for (Stage stage : kAllStages) {
    INFO(StageName(stage));
    Records records;
    Migrator migrator(nullptr, records.Recorder(),
                      Options(ReadExecution::kConcurrent));
    const StagePlan plan = PlanFor(stage);
    Calls calls;
    absl::StatusOr<int> got = migrator.ReadWith<int>(
        DecisionAt(stage), kUser,
        [&]() -> absl::StatusOr<int> {
          calls.Add(kOld);
          if (plan.read_authoritative == kOld) {
            return absl::DeadlineExceededError("slow old");
          }
          return 1;
        },
        [&]() -> absl::StatusOr<int> {
          calls.Add(kNew);
          if (plan.read_authoritative == kNew) {
            return absl::DeadlineExceededError("slow new");
          }
          return 2;
        },
        [](const int&, const int&) { return true; });
    CHECK(got.status().code() == absl::StatusCode::kDeadlineExceeded);
    CHECK(got.status().message() ==
          (plan.read_authoritative == kOld ? "slow old" : "slow new"));
    CHECK(calls.order().size() == (plan.read_shadow == Origin::kNone ? 1 : 2));
    std::vector<std::string> expected =
        Expect(stage, {R{kRead, plan.read_authoritative, kFailed}});
    if (plan.read_shadow != Origin::kNone) {
      expected.push_back(Expect(stage, {R{kRead, plan.read_shadow, kOk}})[0]);
    }
    CHECK(records.TakeDescribed() == expected);
    CHECK(migrator.stats().authoritative_errors == 1);
    CHECK(migrator.stats().comparisons == 0);
  }
}

TEST_CASE(
    "Read: a mismatch is counted, recorded and reported without row "
    "data by default",
    "[migrator]") {
  for (Stage stage : {Stage::kShadow, Stage::kLive}) {
    INFO(StageName(stage));
    Records records;
    std::vector<MismatchInfo> seen;
    MigratorOptions options = Options(ReadExecution::kSerialOldFirst);
    options.on_mismatch = [&](const MismatchInfo& info) {
      seen.push_back(info);
    };
    Migrator migrator(nullptr, records.Recorder(), options);
    absl::StatusOr<int> got = migrator.ReadWith<int>(
        DecisionAt(stage), kUser, [] { return 1; }, [] { return 2; },
        [](const int& a, const int& b) { return a == b; },
        // A formatter alone is not enough: log_values_on_mismatch is off.
        [](const int& v) { return std::to_string(v); });
    REQUIRE(got.ok());
    CHECK(records.TakeDescribed().back() ==
          Expect(stage, {R{kRead, kNew, kMismatch}})[0]);
    CHECK(migrator.stats().comparisons == 1);
    CHECK(migrator.stats().mismatches == 1);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].flag_key == kFlag);
    CHECK(seen[0].stage == stage);
    CHECK(seen[0].targeting_key == "u-1");
    CHECK(seen[0].missing == Origin::kNone);
    CHECK_FALSE(seen[0].old_value.has_value());
    CHECK_FALSE(seen[0].new_value.has_value());
  }
}

TEST_CASE(
    "Read: values reach on_mismatch only when both the option and a "
    "formatter say so",
    "[migrator]") {
  std::vector<MismatchInfo> seen;
  MigratorOptions options = Options(ReadExecution::kSerialOldFirst);
  options.log_values_on_mismatch = true;
  options.on_mismatch = [&](const MismatchInfo& info) { seen.push_back(info); };
  Migrator migrator(nullptr, {}, options);
  const auto compare = [](const int& a, const int& b) { return a == b; };

  // Option on, no formatter: still no values.
  (void)migrator.ReadWith<int>(
      DecisionAt(Stage::kShadow), kUser, [] { return 1; }, [] { return 2; },
      compare);
  // Option on, formatter: both values.
  (void)migrator.ReadWith<int>(
      DecisionAt(Stage::kShadow), kUser, [] { return 1; }, [] { return 2; },
      compare, [](const int& v) { return "#" + std::to_string(v); });
  // A missing row: only the side that has one.
  (void)migrator.ReadWith<int>(
      DecisionAt(Stage::kShadow), kUser, [] { return 1; },
      []() -> absl::StatusOr<int> { return absl::NotFoundError("no"); },
      compare, [](const int& v) { return "#" + std::to_string(v); });
  REQUIRE(seen.size() == 3);
  CHECK_FALSE(seen[0].old_value.has_value());
  CHECK_FALSE(seen[0].new_value.has_value());
  CHECK(seen[1].old_value == "#1");
  CHECK(seen[1].new_value == "#2");
  CHECK(seen[2].old_value == "#1");
  CHECK_FALSE(seen[2].new_value.has_value());
  CHECK(seen[2].missing == kNew);
}

// Runs `fn` with stderr sent to a file; returns what was written.
template <typename Fn>
std::string CaptureStderr(Fn fn) {
  char path[] = "/tmp/migrator_test_stderr_XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::fflush(stderr);
  const int saved = dup(2);
  dup2(fd, 2);
  fn();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::remove(path);
  return text.str();
}

TEST_CASE(
    "Read: the default mismatch log is one line with flag, stage and "
    "user key, and no values",
    "[migrator]") {
  MigratorOptions options;  // default on_mismatch
  options.read_execution = ReadExecution::kSerialOldFirst;
  Migrator migrator(nullptr, {}, options);
  const std::string written = CaptureStderr([&] {
    (void)migrator.ReadWith<std::string>(
        DecisionAt(Stage::kShadow), kUser,
        [] { return std::string("secret-old-row"); },
        [] { return std::string("secret-new-row"); },
        [](const std::string& a, const std::string& b) { return a == b; },
        [](const std::string& v) { return v; });
  });
  CHECK(written ==
        "cutover: migration mismatch flag=orders stage=shadow key=u-1\n");
  CHECK_FALSE(absl::StrContains(written, "secret"));
}

TEST_CASE("Read-repair: in shadow a mismatch writes old's answer into new",
          "[migrator]") {
  for (Stage stage : kAllStages) {
    INFO(StageName(stage));
    Records records;
    Migrator migrator(nullptr, records.Recorder(),
                      Options(ReadExecution::kSerialOldFirst));
    std::vector<absl::StatusOr<int>> repaired;
    const RepairFn<int> repair = [&](const absl::StatusOr<int>& old) {
      repaired.push_back(old);
      return absl::OkStatus();
    };
    const auto same = [](const int& a, const int& b) { return a == b; };
    // A wrong value, a row missing in new, a row gone from old, a match.
    absl::StatusOr<int> got = migrator.ReadWith<int>(
        DecisionAt(stage), kUser, [] { return 1; }, [] { return 2; }, same, {},
        repair);
    CHECK(*got == (PlanFor(stage).read_authoritative == kOld ? 1 : 2));
    (void)migrator.ReadWith<int>(
        DecisionAt(stage), kUser, [] { return 3; },
        []() -> absl::StatusOr<int> { return absl::NotFoundError("none"); },
        same, {}, repair);
    (void)migrator.ReadWith<int>(
        DecisionAt(stage), kUser,
        []() -> absl::StatusOr<int> { return absl::NotFoundError("gone"); },
        [] { return 4; }, same, {}, repair);
    (void)migrator.ReadWith<int>(DecisionAt(stage), kUser, [] { return 5; },
                                 [] { return 5; }, same, {}, repair);
    if (stage != Stage::kShadow) {
      CHECK(repaired.empty());
      CHECK(migrator.stats().repairs == 0);
      continue;
    }
    REQUIRE(repaired.size() == 3);
    CHECK(*repaired[0] == 1);
    CHECK(*repaired[1] == 3);
    CHECK(absl::IsNotFound(repaired[2].status()));
    CHECK(migrator.stats().repairs == 3);
    CHECK(migrator.stats().repair_errors == 0);
    const std::vector<std::string> described = records.TakeDescribed();
    CHECK(std::count(described.begin(), described.end(),
                     Expect(stage, {R{kRepair, kNew, kOk}})[0]) == 3);
  }
}

TEST_CASE("Read-repair: a failing or throwing repair is counted, not returned",
          "[migrator]") {
  Records records;
  Migrator migrator(nullptr, records.Recorder(),
                    Options(ReadExecution::kConcurrent));
  const auto same = [](const int& a, const int& b) { return a == b; };
  absl::StatusOr<int> got = migrator.ReadWith<int>(
      DecisionAt(Stage::kShadow), kUser, [] { return 1; }, [] { return 2; },
      same, {},
      [](const absl::StatusOr<int>&) { return absl::UnavailableError("down"); });
  CHECK(*got == 1);
  got = migrator.ReadWith<int>(
      DecisionAt(Stage::kShadow), kUser, [] { return 1; }, [] { return 2; },
      same, {}, [](const absl::StatusOr<int>&) -> absl::Status {
        throw std::runtime_error("repair threw");
      });
  CHECK(*got == 1);
  CHECK(migrator.stats().repairs == 0);
  CHECK(migrator.stats().repair_errors == 2);
  const std::vector<std::string> described = records.TakeDescribed();
  CHECK(std::count(described.begin(), described.end(),
                   Expect(Stage::kShadow, {R{kRepair, kNew, kFailed}})[0]) ==
        2);
}

TEST_CASE("Read: compare rate 0 never compares, 1 always, 0.5 about half",
          "[migrator]") {
  Records records;
  Migrator migrator(nullptr, records.Recorder(),
                    Options(ReadExecution::kSerialOldFirst));
  int compares = 0;
  const auto compare = [&](const int&, const int&) {
    ++compares;
    return true;
  };
  for (int i = 0; i < 100; ++i) {
    (void)migrator.ReadWith<int>(
        DecisionAt(Stage::kShadow, 0.0), kUser, [] { return 1; },
        [] { return 1; }, compare);
  }
  // A missing row is not compared either: sampling covers every kind.
  (void)migrator.ReadWith<int>(
      DecisionAt(Stage::kLive, 0.0), kUser, [] { return 1; },
      []() -> absl::StatusOr<int> { return absl::NotFoundError(""); }, compare);
  CHECK(compares == 0);
  for (const OpRecord& r : records.Take()) {
    CHECK(r.result != kMatch);
    CHECK(r.result != kMismatch);
  }
  CHECK(migrator.stats().comparisons == 0);
  CHECK(migrator.stats().mismatches == 0);

  for (int i = 0; i < 100; ++i) {
    (void)migrator.ReadWith<int>(
        DecisionAt(Stage::kLive, 1.0), kUser, [] { return 1; },
        [] { return 1; }, compare);
  }
  CHECK(compares == 100);
  records.Take();

  compares = 0;
  for (int i = 0; i < 2000; ++i) {
    (void)migrator.ReadWith<int>(
        DecisionAt(Stage::kShadow, 0.5), kUser, [] { return 1; },
        [] { return 1; }, compare);
  }
  // Binomial(2000, 0.5): sd ~22, so this range is ~9 sd wide each way.
  CHECK(compares > 800);
  CHECK(compares < 1200);
  int match_records = 0;
  for (const OpRecord& r : records.Take()) match_records += r.result == kMatch;
  CHECK(match_records == compares);
}

TEST_CASE(
    "Read: NOT_FOUND on one side while the other has the row is a "
    "mismatch and on both a match",
    "[migrator]") {
  const auto not_found = []() -> absl::StatusOr<int> {
    return absl::NotFoundError("no row");
  };
  const auto one = []() -> absl::StatusOr<int> { return 1; };
  struct Row {
    const char* name;
    Stage stage;
    bool old_found;
    bool new_found;
    absl::StatusCode returned;
    OpResult comparison;
    Origin missing;
  };
  const Row rows[] = {
      {"shadow, missing on new", Stage::kShadow, true, false,
       absl::StatusCode::kOk, kMismatch, kNew},
      {"shadow, missing on old", Stage::kShadow, false, true,
       absl::StatusCode::kNotFound, kMismatch, kOld},
      {"live, missing on new", Stage::kLive, true, false,
       absl::StatusCode::kNotFound, kMismatch, kNew},
      {"live, missing on old", Stage::kLive, false, true, absl::StatusCode::kOk,
       kMismatch, kOld},
      {"shadow, missing on both", Stage::kShadow, false, false,
       absl::StatusCode::kNotFound, kMatch, Origin::kNone},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    Records records;
    std::vector<MismatchInfo> seen;
    MigratorOptions options = Options(ReadExecution::kConcurrent);
    options.on_mismatch = [&](const MismatchInfo& i) { seen.push_back(i); };
    Migrator migrator(nullptr, records.Recorder(), options);
    int compares = 0;
    absl::StatusOr<int> got = migrator.ReadWith<int>(
        DecisionAt(row.stage), kUser,
        row.old_found ? ReadFn<int>(one) : ReadFn<int>(not_found),
        row.new_found ? ReadFn<int>(one) : ReadFn<int>(not_found),
        [&](const int&, const int&) {
          ++compares;
          return true;
        });
    CHECK(got.status().code() == row.returned);
    CHECK(compares == 0);  // nothing to compare values of
    const StagePlan plan = PlanFor(row.stage);
    // A read that answered NOT_FOUND answered: recorded ok, not failed.
    CHECK(records.TakeDescribed() ==
          Expect(row.stage, {R{kRead, plan.read_authoritative, kOk},
                             R{kRead, plan.read_shadow, kOk},
                             R{kRead, kNew, row.comparison}}));
    const MigratorStats stats = migrator.stats();
    CHECK(stats.shadow_errors == 0);
    CHECK(stats.authoritative_errors == 0);
    CHECK(stats.comparisons == 1);
    CHECK(stats.mismatches == (row.comparison == kMismatch ? 1 : 0));
    REQUIRE(seen.size() == (row.comparison == kMismatch ? 1u : 0u));
    if (!seen.empty()) CHECK(seen[0].missing == row.missing);
  }
}

// ---------------------------------------------------------------------------
// Execution modes.

TEST_CASE("Read: serial modes run the sides in the stated order",
          "[migrator]") {
  for (Stage stage : {Stage::kShadow, Stage::kLive}) {
    INFO(StageName(stage));
    const auto run = [&](ReadExecution mode) {
      Migrator migrator(nullptr, {}, Options(mode));
      Calls calls;
      (void)migrator.ReadWith<int>(
          DecisionAt(stage), kUser,
          [&] {
            calls.Add(kOld);
            return 1;
          },
          [&] {
            calls.Add(kNew);
            return 1;
          },
          [](const int&, const int&) { return true; });
      return calls.order();
    };
    CHECK(run(ReadExecution::kSerialOldFirst) ==
          std::vector<Origin>{kOld, kNew});
    CHECK(run(ReadExecution::kSerialNewFirst) ==
          std::vector<Origin>{kNew, kOld});
    bool old_first = false;
    bool new_first = false;
    for (int i = 0; i < 200 && !(old_first && new_first); ++i) {
      const std::vector<Origin> order = run(ReadExecution::kSerialRandom);
      REQUIRE(order.size() == 2);
      (order[0] == kOld ? old_first : new_first) = true;
    }
    CHECK(old_first);
    CHECK(new_first);
  }
}

// Waits (bounded) until `n` parties have arrived; true if they all did.
class Rendezvous {
 public:
  explicit Rendezvous(int n) : waiting_for_(n) {}
  bool ArriveAndWait(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    if (--waiting_for_ == 0) cv_.notify_all();
    return cv_.wait_for(lock, limit, [this] { return waiting_for_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_for_;
};

TEST_CASE(
    "Read: concurrent mode runs both sides at once, the authoritative "
    "one on the caller's thread",
    "[migrator]") {
  Migrator migrator(nullptr, {}, Options(ReadExecution::kConcurrent));
  for (Stage stage : {Stage::kShadow, Stage::kLive}) {
    INFO(StageName(stage));
    const Origin authoritative = PlanFor(stage).read_authoritative;
    Rendezvous both(2);
    std::atomic<bool> old_met{false};
    std::atomic<bool> new_met{false};
    std::thread::id old_thread;
    std::thread::id new_thread;
    absl::StatusOr<int> got = migrator.ReadWith<int>(
        DecisionAt(stage), kUser,
        [&] {
          old_thread = std::this_thread::get_id();
          old_met = both.ArriveAndWait(std::chrono::seconds(10));
          return 1;
        },
        [&] {
          new_thread = std::this_thread::get_id();
          new_met = both.ArriveAndWait(std::chrono::seconds(10));
          return 2;
        },
        [](const int&, const int&) { return true; });
    REQUIRE(got.ok());
    CHECK(*got == (authoritative == kOld ? 1 : 2));
    CHECK(old_met);  // each side saw the other running
    CHECK(new_met);
    const std::thread::id caller = std::this_thread::get_id();
    CHECK((authoritative == kOld ? old_thread : new_thread) == caller);
    CHECK((authoritative == kOld ? new_thread : old_thread) != caller);
  }
  CHECK(migrator.stats().concurrent_fallbacks == 0);
}

TEST_CASE("Read: a busy pool makes a concurrent read serial, not queued",
          "[migrator]") {
  MigratorOptions options = Options(ReadExecution::kConcurrent);
  options.concurrent_threads = 1;
  Records records;
  Migrator migrator(nullptr, records.Recorder(), options);

  // Read A holds the only pool thread in its shadow read...
  std::mutex mu;
  std::condition_variable cv;
  bool shadow_started = false;
  bool release = false;
  // Read A's outcome, checked on the test's thread after the join (Catch2's
  // assertions are not thread-safe).
  bool a_ok = false;
  std::thread a([&] {
    absl::StatusOr<int> got = migrator.ReadWith<int>(
        DecisionAt(Stage::kShadow), {"u-a", {}}, [] { return 1; },
        [&] {
          std::unique_lock<std::mutex> lock(mu);
          shadow_started = true;
          cv.notify_all();
          cv.wait(lock, [&] { return release; });
          return 1;
        },
        [](const int& x, const int& y) { return x == y; });
    a_ok = got.ok();
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return shadow_started; });
  }
  // ...so read B runs both its sides on its own thread, authoritative first.
  Calls calls;
  const std::thread::id caller = std::this_thread::get_id();
  bool same_thread = true;
  absl::StatusOr<int> got = migrator.ReadWith<int>(
      DecisionAt(Stage::kLive), kUser,
      [&] {
        calls.Add(kOld);
        same_thread &= std::this_thread::get_id() == caller;
        return 1;
      },
      [&] {
        calls.Add(kNew);
        same_thread &= std::this_thread::get_id() == caller;
        return 2;
      },
      [](const int&, const int&) { return true; });
  const uint64_t fallbacks = migrator.stats().concurrent_fallbacks;
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  // Joined before any assertion: a REQUIRE that threw with A still running
  // would end the test program.
  a.join();
  CHECK(a_ok);
  REQUIRE(got.ok());
  CHECK(*got == 2);
  CHECK(calls.order() == std::vector<Origin>{kNew, kOld});
  CHECK(same_thread);
  CHECK(fallbacks == 1);
  CHECK(migrator.stats().reads == 2);
  CHECK(migrator.stats().comparisons == 2);
  CHECK(records.Take().size() == 6);
}

TEST_CASE("Read: concurrent mode with no threads runs serially", "[migrator]") {
  MigratorOptions options = Options(ReadExecution::kConcurrent);
  options.concurrent_threads = 0;
  Migrator migrator(nullptr, {}, options);
  absl::StatusOr<int> got = migrator.ReadWith<int>(
      DecisionAt(Stage::kShadow), kUser, [] { return 1; }, [] { return 2; },
      [](const int&, const int&) { return true; });
  REQUIRE(got.ok());
  CHECK(*got == 1);
  CHECK(migrator.stats().concurrent_fallbacks == 1);
  CHECK(migrator.stats().comparisons == 1);
}

TEST_CASE("Read and Write from 8 threads at once in concurrent mode",
          "[migrator][threads]") {
  // Each user gets a different stage from the DecisionSource.
  std::map<std::string, Decision> by_key;
  for (Stage stage : kAllStages) by_key[StageName(stage)] = DecisionAt(stage);
  FixedDecisions decisions(by_key);
  Records records;
  std::atomic<int> mismatch_calls{0};
  MigratorOptions options = Options(ReadExecution::kConcurrent);
  options.concurrent_threads = 4;  // fewer than the readers: some fall back
  options.on_mismatch = [&](const MismatchInfo&) { ++mismatch_calls; };
  Migrator migrator(&decisions, records.Recorder(), options);

  constexpr int kThreads = 8;
  constexpr int kIterations = 300;
  std::atomic<int> wrong{0};
  std::atomic<int> old_reads{0};
  std::atomic<int> new_reads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        const Stage stage = kAllStages[(t + i) % 6];
        const Context user{StageName(stage), {}};
        const StagePlan plan = PlanFor(stage);
        const int value = t * 100000 + i;
        // New disagrees with old on every 10th value: a mismatch in
        // shadow and live.
        absl::StatusOr<int> read = migrator.Read<int>(
            kFlag, user,
            [&] {
              ++old_reads;
              return value;
            },
            [&] {
              ++new_reads;
              return i % 10 == 0 ? -value : value;
            },
            [](const int& a, const int& b) { return a == b; });
        const int expected_read =
            plan.read_authoritative == kOld || i % 10 != 0 ? value : -value;
        if (!read.ok() || *read != expected_read) ++wrong;
        absl::StatusOr<std::string> written = migrator.Write<std::string>(
            kFlag, user, [] { return std::string("old"); },
            [] { return std::string("new"); });
        const std::string expected_write =
            plan.write_authoritative == kOld ? "old" : "new";
        if (!written.ok() || *written != expected_write) ++wrong;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  CHECK(wrong == 0);
  constexpr int kOps = kThreads * kIterations;
  const MigratorStats stats = migrator.stats();
  CHECK(stats.reads == kOps);
  CHECK(stats.writes == kOps);
  // Every stage appears kOps / 6 times; old is read in 4 of them and new in
  // 4, shadow and live compare.
  CHECK(old_reads == kOps / 6 * 4);
  CHECK(new_reads == kOps / 6 * 4);
  CHECK(stats.comparisons == static_cast<uint64_t>(kOps / 6 * 2));
  std::map<std::string, int> counts;
  for (const OpRecord& r : records.Take()) ++counts[Describe(r)];
  int mismatches = 0;
  for (Stage stage : {Stage::kShadow, Stage::kLive}) {
    mismatches += counts[Describe({kFlag, stage, kRead, kNew, kMismatch, {}})];
    CHECK(counts[Describe({kFlag, stage, kRead, kNew, kMatch, {}})] +
              counts[Describe({kFlag, stage, kRead, kNew, kMismatch, {}})] ==
          kOps / 6);
  }
  CHECK(mismatches == static_cast<int>(stats.mismatches));
  CHECK(mismatch_calls == mismatches);
  CHECK(mismatches > 0);
  CHECK(decisions.asked().size() == static_cast<size_t>(2 * kOps));
}

// ---------------------------------------------------------------------------
// Exceptions never escape.

TEST_CASE("Callables that throw become INTERNAL and nothing escapes",
          "[migrator]") {
  for (ReadExecution mode : kAllModes) {
    INFO(ModeName(mode));
    Records records;
    MigratorOptions options = Options(mode);
    options.on_mismatch = [](const MismatchInfo&) {
      throw std::runtime_error("on_mismatch");
    };
    Migrator migrator(nullptr, records.Recorder(), options);

    // The authoritative read throws: its INTERNAL is returned.
    absl::StatusOr<int> got = migrator.ReadWith<int>(
        DecisionAt(Stage::kOff), kUser,
        []() -> absl::StatusOr<int> { throw std::runtime_error("boom"); },
        [] { return 2; }, [](const int&, const int&) { return true; });
    CHECK(got.status().code() == absl::StatusCode::kInternal);
    CHECK(got.status().message() == "migrator: read_old threw: boom");
    CHECK(records.TakeDescribed() ==
          Expect(Stage::kOff, {R{kRead, kOld, kFailed}}));

    // Not a std::exception.
    got = migrator.ReadWith<int>(
        DecisionAt(Stage::kComplete), kUser, [] { return 1; },
        []() -> absl::StatusOr<int> { throw 42; },
        [](const int&, const int&) { return true; });
    CHECK(got.status().code() == absl::StatusCode::kInternal);
    CHECK(got.status().message() == "migrator: read_new threw");
    CHECK(records.TakeDescribed() ==
          Expect(Stage::kComplete, {R{kRead, kNew, kFailed}}));

    // The shadow read throws (on a pool thread in concurrent mode).
    got = migrator.ReadWith<int>(
        DecisionAt(Stage::kShadow), kUser, [] { return 1; },
        []() -> absl::StatusOr<int> { throw std::logic_error("shadow"); },
        [](const int&, const int&) { return true; });
    REQUIRE(got.ok());
    CHECK(*got == 1);
    CHECK(
        records.TakeDescribed() ==
        Expect(Stage::kShadow, {R{kRead, kOld, kOk}, R{kRead, kNew, kFailed}}));

    // compare throws: no comparison is recorded, the read is fine.
    got = migrator.ReadWith<int>(
        DecisionAt(Stage::kLive), kUser, [] { return 1; }, [] { return 2; },
        [](const int&, const int&) -> bool { throw std::bad_alloc(); });
    REQUIRE(got.ok());
    CHECK(*got == 2);
    CHECK(records.TakeDescribed() ==
          Expect(Stage::kLive, {R{kRead, kNew, kOk}, R{kRead, kOld, kOk}}));
    CHECK(migrator.stats().compare_errors == 1);

    // on_mismatch throws: the mismatch still counts.
    got = migrator.ReadWith<int>(
        DecisionAt(Stage::kShadow), kUser, [] { return 1; }, [] { return 2; },
        [](const int& a, const int& b) { return a == b; });
    REQUIRE(got.ok());
    CHECK(migrator.stats().mismatches == 1);
    records.Take();

    // Writes: the authoritative write throws; the secondary is not written.
    bool secondary_ran = false;
    absl::StatusOr<int> written = migrator.WriteWith<int>(
        DecisionAt(Stage::kDualWrite), kUser,
        []() -> absl::StatusOr<int> { throw std::runtime_error("disk"); },
        [&] {
          secondary_ran = true;
          return 2;
        });
    CHECK(written.status().code() == absl::StatusCode::kInternal);
    CHECK(written.status().message() == "migrator: write_old threw: disk");
    CHECK_FALSE(secondary_ran);
    CHECK(records.TakeDescribed() ==
          Expect(Stage::kDualWrite, {R{kWrite, kOld, kFailed}}));
    // The secondary write throws: not returned.
    written = migrator.WriteWith<int>(
        DecisionAt(Stage::kRampDown), kUser,
        []() -> absl::StatusOr<int> { throw std::runtime_error("old"); },
        [] { return 2; });
    REQUIRE(written.ok());
    CHECK(*written == 2);
    CHECK(records.TakeDescribed() ==
          Expect(Stage::kRampDown,
                 {R{kWrite, kNew, kOk}, R{kWrite, kOld, kFailed}}));
  }
}

TEST_CASE("A recorder or formatter that throws does not fail the operation",
          "[migrator]") {
  MigratorOptions options = Options(ReadExecution::kConcurrent);
  options.log_values_on_mismatch = true;
  std::vector<MismatchInfo> seen;
  options.on_mismatch = [&](const MismatchInfo& i) { seen.push_back(i); };
  Migrator migrator(
      nullptr, [](const OpRecord&) { throw std::runtime_error("recorder"); },
      options);
  absl::StatusOr<int> got = migrator.ReadWith<int>(
      DecisionAt(Stage::kShadow), kUser, [] { return 1; }, [] { return 2; },
      [](const int& a, const int& b) { return a == b; },
      [](const int&) -> std::string { throw std::runtime_error("format"); });
  REQUIRE(got.ok());
  CHECK(*got == 1);
  REQUIRE(seen.size() == 1);  // still told, without values
  CHECK_FALSE(seen[0].old_value.has_value());
  CHECK_FALSE(seen[0].new_value.has_value());
  CHECK(migrator.stats().mismatches == 1);
}

// ---------------------------------------------------------------------------
// Decisions.

TEST_CASE("Read and Write ask the DecisionSource and follow its decision",
          "[migrator]") {
  Decision live = DecisionAt(Stage::kLive, 0.0);
  live.flag_key.clear();  // the requested key is reported regardless
  FixedDecisions decisions({{"u-live", live}});
  Records records;
  Migrator migrator(&decisions, records.Recorder(),
                    Options(ReadExecution::kSerialOldFirst));

  const Context user{"u-live", {{"region", "eu"}}};
  absl::StatusOr<int> got = migrator.Read<int>(
      kFlag, user, [] { return 1; }, [] { return 2; },
      [](const int&, const int&) { return true; });
  REQUIRE(got.ok());
  CHECK(*got == 2);  // live: new is authoritative
  // Sample rate 0 from the decision: no comparison.
  CHECK(records.TakeDescribed() ==
        Expect(Stage::kLive, {R{kRead, kNew, kOk}, R{kRead, kOld, kOk}}));

  absl::Status written = migrator.Write(
      kFlag, user, [] { return absl::OkStatus(); },
      [] { return absl::OkStatus(); });
  CHECK(written.ok());
  CHECK(records.TakeDescribed() ==
        Expect(Stage::kLive, {R{kWrite, kNew, kOk}, R{kWrite, kOld, kOk}}));

  // Another user: the source's safe default, off.
  got = migrator.Read<int>(
      kFlag, kUser, [] { return 1; }, [] { return 2; },
      [](const int&, const int&) { return true; });
  REQUIRE(got.ok());
  CHECK(*got == 1);
  CHECK(records.TakeDescribed() == Expect(Stage::kOff, {R{kRead, kOld, kOk}}));

  const auto asked = decisions.asked();
  REQUIRE(asked.size() == 3);
  CHECK(asked[0] == std::make_pair(std::string(kFlag), std::string("u-live")));
  CHECK(asked[2] == std::make_pair(std::string(kFlag), std::string("u-1")));
}

TEST_CASE("Without a DecisionSource every operation is off", "[migrator]") {
  Records records;
  Migrator migrator(nullptr, records.Recorder());
  Calls calls;
  absl::StatusOr<int> got = migrator.Write<int>(
      kFlag, kUser,
      [&] {
        calls.Add(kOld);
        return 1;
      },
      [&] {
        calls.Add(kNew);
        return 2;
      });
  REQUIRE(got.ok());
  CHECK(*got == 1);
  CHECK(calls.order() == std::vector<Origin>{kOld});
  CHECK(records.TakeDescribed() == Expect(Stage::kOff, {R{kWrite, kOld, kOk}}));
}

TEST_CASE("The plan comes from the stage and an unknown stage is off",
          "[migrator]") {
  Records records;
  Migrator migrator(nullptr, records.Recorder());
  // A decision whose plan field disagrees with its stage: the stage wins.
  Decision inconsistent = DecisionAt(Stage::kComplete);
  inconsistent.plan = PlanFor(Stage::kOff);
  absl::StatusOr<int> got = migrator.ReadWith<int>(
      inconsistent, kUser, [] { return 1; }, [] { return 2; },
      [](const int&, const int&) { return true; });
  REQUIRE(got.ok());
  CHECK(*got == 2);

  for (Stage odd : {Stage::kUnspecified, static_cast<Stage>(42)}) {
    records.Take();
    got = migrator.ReadWith<int>(
        DecisionAt(odd), kUser, [] { return 1; }, [] { return 2; },
        [](const int&, const int&) { return true; });
    REQUIRE(got.ok());
    CHECK(*got == 1);
    CHECK(records.TakeDescribed() ==
          Expect(Stage::kOff, {R{kRead, kOld, kOk}}));
  }
}

TEST_CASE("Values are moved, not copied: move-only types work", "[migrator]") {
  Migrator migrator(nullptr, {}, Options(ReadExecution::kConcurrent));
  absl::StatusOr<std::unique_ptr<int>> got =
      migrator.ReadWith<std::unique_ptr<int>>(
          DecisionAt(Stage::kLive), kUser,
          [] { return std::make_unique<int>(1); },
          [] { return std::make_unique<int>(2); },
          [](const std::unique_ptr<int>& a, const std::unique_ptr<int>& b) {
            return *a + 1 == *b;
          });
  REQUIRE(got.ok());
  CHECK(**got == 2);
  CHECK(migrator.stats().mismatches == 0);
}

}  // namespace
}  // namespace cutover
