// Migration stages and what each one means for reads and writes.
//
// The six stages, least to most advanced: off, dualwrite, shadow, live,
// rampdown, complete. For each, StagePlan() gives the read plan (which
// database answers, which is read alongside and compared) and the write plan
// (which database is written first and authoritative, which second).
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CORE_STAGE_H_
#define CUTOVER_CORE_STAGE_H_

#include <optional>
#include <string>
#include <string_view>

namespace cutover {

// Numeric values match the protobuf enum cutover.v1.Stage and give the
// order: a larger value is a more advanced stage.
enum class Stage {
  kUnspecified = 0,
  kOff = 1,
  kDualWrite = 2,
  kShadow = 3,
  kLive = 4,
  kRampDown = 5,
  kComplete = 6,
};

inline constexpr Stage kFirstStage = Stage::kOff;
inline constexpr Stage kLastStage = Stage::kComplete;

// Whether `stage` is one of the six (not kUnspecified, not a value outside
// the enum, as a decoded message may carry).
constexpr bool IsStage(Stage stage) {
  return stage >= kFirstStage && stage <= kLastStage;
}

// Lowercase name: "off", "dualwrite", "shadow", "live", "rampdown",
// "complete" ("unspecified" for kUnspecified).
const char* StageName(Stage stage);

// Parses a stage name, case-insensitively; nullopt if it is not one.
std::optional<Stage> ParseStage(std::string_view name);

// One of the two databases of a migration.
enum class Origin { kNone = 0, kOld = 1, kNew = 2 };

const char* OriginName(Origin origin);  // "none", "old", "new"

// What a migration operation did to one database: a read, a write, or a
// read-repair (the authoritative value written into the database a shadow
// read found wrong). The names are the Telemetry API's `op` values.
enum class OpKind { kRead = 0, kWrite = 1, kRepair = 2 };

const char* OpKindName(OpKind op);  // "read", "write", "repair"
// Parses OpKindName's output (exactly); nullopt otherwise.
std::optional<OpKind> ParseOpKind(std::string_view name);

// Which databases a stage reads and writes.
struct StagePlan {
  Origin read_authoritative = Origin::kOld;
  Origin read_shadow = Origin::kNone;  // read too, and compared
  Origin write_authoritative = Origin::kOld;
  Origin write_secondary = Origin::kNone;  // written after the first succeeds
};

// The plan of a stage; kUnspecified gets off's plan.
StagePlan PlanFor(Stage stage);

}  // namespace cutover

#endif  // CUTOVER_CORE_STAGE_H_
