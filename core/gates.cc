#include "core/gates.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/internal/shares.h"

namespace cutover {
namespace {

// The share `rule` had at `stage` or beyond before the change, for
// comparison; 0 if it is new (internal::SameRuleIn).
uint32_t PreviousRuleShare(const Flag* before, const Rule& rule, Stage stage) {
  const Rule* old = internal::SameRuleIn(before, rule);
  return old != nullptr ? ShareAtOrBeyond(old->serve, stage) : 0;
}

std::string BackfillRefusal(const std::string& flag_key,
                            const BackfillFacts& backfill) {
  if (!backfill.exists) {
    return absl::StrCat("require_backfill: flag ", flag_key,
                        " has no backfill job; run the backfill and its "
                        "verify pass first");
  }
  if (!backfill.done) {
    std::string copied = absl::StrCat(backfill.rows_copied);
    if (backfill.rows_total_estimate > 0) {
      absl::StrAppend(&copied, " of about ", backfill.rows_total_estimate);
    }
    return absl::StrCat("require_backfill: the backfill of ", flag_key,
                        " is ", backfill.phase, " (", copied,
                        " rows copied, ", backfill.rows_verified,
                        " verified), not done");
  }
  return absl::StrCat(
      "require_backfill: the backfill of ", flag_key, "'s verify pass found ",
      backfill.rows_mismatched, " rows mismatched and repaired only ",
      backfill.rows_repaired);
}

}  // namespace

uint32_t ShareAtOrBeyond(const Serve& serve, Stage stage) {
  return internal::ShareWhere(
      serve, [stage](Stage served) { return served >= stage; });
}

bool AdvancesTo(const Flag* before, const Flag& after, Stage stage) {
  const uint32_t default_before =
      before != nullptr ? ShareAtOrBeyond(before->default_serve, stage) : 0;
  if (ShareAtOrBeyond(after.default_serve, stage) > default_before) {
    return true;
  }
  for (const Rule& rule : after.rules) {
    if (ShareAtOrBeyond(rule.serve, stage) >
        PreviousRuleShare(before, rule, stage)) {
      return true;
    }
  }
  return false;
}

bool DeclaresGates(const Gates& gates) {
  return gates.require_backfill || gates.max_mismatch_rate.has_value() ||
         gates.min_samples > 0;
}

std::vector<std::string> BrokenGates(const Flag* before, const Flag& after,
                                     const GateFacts& facts) {
  std::vector<std::string> broken;
  const Gates& gates = after.gates;
  if (gates.require_backfill && AdvancesTo(before, after, Stage::kShadow)) {
    const BackfillFacts& backfill = facts.backfill;
    if (!backfill.exists || !backfill.done ||
        backfill.rows_mismatched > backfill.rows_repaired) {
      broken.push_back(BackfillRefusal(after.key, backfill));
    } else if (after.currency.new_stale.has_value()) {
      // A job verified before new went stale does not know what new missed.
      broken.push_back(absl::StrCat(
          "require_backfill: new is stale since version ",
          after.currency.new_stale->since_version, " (",
          after.currency.new_stale->why, "), and the backfill of ", after.key,
          " was not started and verified since"));
    }
  }
  const bool window_gated =
      gates.min_samples > 0 || gates.max_mismatch_rate.has_value();
  if (window_gated && AdvancesTo(before, after, Stage::kLive)) {
    const WindowFacts& window = facts.window;
    if (window.compared < static_cast<uint64_t>(gates.min_samples)) {
      broken.push_back(absl::StrCat(
          "min_samples: ", window.compared, " compared reads in the last ",
          window.window_seconds, " s window, fewer than ", gates.min_samples));
    }
    const double rate =
        window.compared == 0 ? 0.0
                             : static_cast<double>(window.mismatches) /
                                   static_cast<double>(window.compared);
    if (gates.max_mismatch_rate.has_value() &&
        rate > *gates.max_mismatch_rate) {
      broken.push_back(absl::StrFormat(
          "max_mismatch_rate: mismatch rate %.6g (%d of %d compared reads in "
          "the last %d s window) is above %.6g",
          rate, window.mismatches, window.compared, window.window_seconds,
          *gates.max_mismatch_rate));
    }
  }
  return broken;
}

}  // namespace cutover
