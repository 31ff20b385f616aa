// The flagd edge: how a flagd evaluation request becomes the core's Context
// and how the core's Decision becomes flagd's value, variant, reason and
// metadata (docs/openfeature.md has the tables). Nothing here evaluates:
// FlagdService hands the Context to the same core Decide that
// cutover.v1.Evaluation/Decide uses.
//
// Free functions on immutable inputs: thread-safe.
#ifndef CUTOVER_SERVER_FLAGD_EDGE_H_
#define CUTOVER_SERVER_FLAGD_EDGE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/evaluate.h"
#include "core/model.h"
#include "google/protobuf/struct.pb.h"
#include "server/evaluation_service.h"

namespace cutover {

// The context key flagd providers send the targeting key under.
inline constexpr char kFlagdTargetingKey[] = "targetingKey";

// Fills `out` from a flagd evaluation context: "targetingKey" (a string)
// becomes the targeting key; every other string, number or bool becomes an
// attribute (numbers and bools as their canonical strings: 42, 0.5, true);
// null values are left out. INVALID_ARGUMENT naming the key for a nested
// object or list, a non-string targetingKey, or input past `limits` (the
// limits of cutover.v1 Decide).
absl::Status ContextFromFlagd(const google::protobuf::Struct& context,
                              const EvaluationLimits& limits, Context* out);

// A number as cutover's clauses compare it: JavaScript's (ECMAScript
// Number::toString) text for it, the shortest that reads back the same
// double ("42", "-3", "0.5", "1e+21", "1e-7"), so that a flagd provider
// evaluating in-process (whose JsonLogic turns numbers into strings that
// way) and Decide see the same attribute.
std::string CanonicalNumber(double value);

// flagd's reason for a decision of `flag`: STATIC (its one default stage, no
// rules), DEFAULT (it has rules, none matched, the default stage served),
// TARGETING_MATCH (a rule matched, or a rollout split decided), DISABLED, or
// ERROR.
const char* FlagdReason(const Flag& flag, const Decision& decision);

// The flat metadata of a decision: flagVersion, revision, oldTarget,
// newTarget, reads, writes (the stage's plan, e.g. "old", "old+new"),
// encoded as a google.protobuf.Struct message, for ResolveString's reply
// (proto/flagd/evaluation/string_reply.proto). Replaces `*out`.
void FlagdMetadataBytes(const Decision& decision, int64_t revision,
                        std::string* out);

// The same metadata as a Struct (these bytes, parsed), for the calls whose
// response holds a Struct.
void FlagdMetadata(const Decision& decision, int64_t revision,
                   google::protobuf::Struct* out);

// The whole decision as a Struct (ResolveObject): stage, reads, writes,
// oldTarget, newTarget, reason (cutover's), ruleId, bucket, flagVersion,
// revision, and error when set. Replaces `*out`; encoded as the metadata
// is (FlagdMetadataBytes), then parsed.
void DecisionStruct(const Decision& decision, int64_t revision,
                    google::protobuf::Struct* out);

// flagd's error messages (the providers read the status code; the text is
// what flagd itself sends).
inline constexpr char kFlagdFlagNotFound[] = "FlagdError:, FLAG_NOT_FOUND";
inline constexpr char kFlagdTypeMismatch[] = "FlagdError:, TYPE_MISMATCH";

}  // namespace cutover

#endif  // CUTOVER_SERVER_FLAGD_EDGE_H_
