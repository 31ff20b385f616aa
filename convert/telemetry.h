// Conversion between the Telemetry API's messages (cutover.v1
// MigrationOpCount, FlagStatus's window fields) and the core's migration
// operations (core/migration_ops.h). Part of convert/, the one place that
// knows both the API and the core.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CONVERT_TELEMETRY_H_
#define CUTOVER_CONVERT_TELEMETRY_H_

#include "core/migration_ops.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover {

// Unknown wire values become kUnspecified (the Telemetry API refuses them).
OpResult FromProto(v1::OpResult result);
v1::OpResult ToProto(OpResult result);

// A reported count. Total: an unknown op name reads as kRead and unknown
// enum values as unspecified; the Telemetry API checks fields first.
// Latency buckets past kLatencyBuckets are ignored.
OpCount FromProto(const v1::MigrationOpCount& count);
// Into a new (empty) `out`. Trailing empty latency buckets are left out
// (the API reads them as 0), and with them the sum: no histogram at all
// when every bucket is empty.
void ToProto(const OpCount& count, v1::MigrationOpCount* out);

// The window fields of a FlagStatus (all but `flag`), replacing its ops.
void ToProto(const OpWindowFigures& figures, v1::FlagStatus* out);

}  // namespace cutover

#endif  // CUTOVER_CONVERT_TELEMETRY_H_
