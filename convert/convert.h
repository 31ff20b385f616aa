// Conversion between the protobuf API messages (cutover.v1) and the core
// model. The only place that knows both; everything else speaks one or the
// other.
//
// Conversions from protobuf are total: any message converts, and the core's
// CompileFlag/CompileSegment decide what is valid (so messages name fields
// the same way). Enum values outside the known range become kUnspecified and
// are then rejected by validation.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CONVERT_CONVERT_H_
#define CUTOVER_CONVERT_CONVERT_H_

#include "core/evaluate.h"
#include "core/model.h"
#include "core/stage.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover {

Stage FromProto(v1::Stage stage);
v1::Stage ToProto(Stage stage);
Origin FromProto(v1::Origin origin);
v1::Origin ToProto(Origin origin);
Operator FromProto(v1::Operator op);
v1::Operator ToProto(Operator op);
v1::Reason ToProto(Reason reason);
Reason FromProto(v1::Reason reason);

Clause FromProto(const v1::Clause& clause);
void ToProto(const Clause& clause, v1::Clause* out);
Rollout FromProto(const v1::Rollout& rollout);
void ToProto(const Rollout& rollout, v1::Rollout* out);
Serve FromProto(const v1::Serve& serve);
void ToProto(const Serve& serve, v1::Serve* out);
Rule FromProto(const v1::Rule& rule);
void ToProto(const Rule& rule, v1::Rule* out);
RampCheck FromProto(const v1::RampCheck& check);
void ToProto(const RampCheck& check, v1::RampCheck* out);
RampPlan FromProto(const v1::RampPlan& plan);
void ToProto(const RampPlan& plan, v1::RampPlan* out);

// "copying", "verifying", "done" (lowercase, as the CLI shows it);
// "unspecified" otherwise.
const char* BackfillPhaseName(v1::BackfillPhase phase);
// "forward" (FORWARD, or unset, which requests take as FORWARD) or
// "reverse"; "unspecified" otherwise.
const char* BackfillDirectionName(v1::BackfillDirection direction);

// Configuration fields and version/archived (the other output-only fields,
// revision, update_time and updated_by, are the server's bookkeeping: it
// converts them itself).
Flag FromProto(const v1::Flag& flag);
Segment FromProto(const v1::Segment& segment);
// The inverse of FromProto, into a new (empty) `out`: the configuration
// fields, version and archived; the other output-only fields are left
// unset. `gates` is set when the flag declares any gate (a caller that
// keeps whether an empty gates block was given sets it itself).
void ToProto(const Flag& flag, v1::Flag* out);
void ToProto(const Segment& segment, v1::Segment* out);

Context FromProto(const v1::Context& context);
// The same into `out`, reusing its storage: when `out` already holds the
// same attribute names (as the items of a batch mostly do) only the values
// are assigned, and nothing is allocated for short strings.
void FromProto(const v1::Context& context, Context* out);

// Into a new (empty) `out`; empty strings are left unset (the same on the
// wire in proto3, and not an allocation each on an arena).
void ToProto(const Decision& decision, v1::Decision* out);
Decision FromProto(const v1::Decision& decision);

}  // namespace cutover

#endif  // CUTOVER_CONVERT_CONVERT_H_
