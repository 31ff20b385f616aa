// What the storage codec's source files share (server/storage_codec.cc:
// flags, segments, history, changes, backfill jobs;
// server/storage_codec_ramps.cc: ramp plans and ramp states). Not for use
// outside the codec.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_SERVER_STORAGE_CODEC_INTERNAL_H_
#define CUTOVER_SERVER_STORAGE_CODEC_INTERNAL_H_

#include "core/model.h"
#include "cutover/storage/v1/storage.pb.h"

namespace cutover::storage_internal {

void ServeToDisk(const Serve& serve, storage::v1::Serve* out);
Serve ServeFromDisk(const storage::v1::Serve& serve);

void RampPlanToDisk(const RampPlan& plan, storage::v1::RampPlan* out);
RampPlan RampPlanFromDisk(const storage::v1::RampPlan& plan);

}  // namespace cutover::storage_internal

#endif  // CUTOVER_SERVER_STORAGE_CODEC_INTERNAL_H_
