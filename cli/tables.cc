#include "cli/tables.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "cli/output.h"
#include "cli/parse.h"
#include "convert/convert.h"
#include "core/model.h"
#include "core/stage.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/time_util.h"

namespace cutover::cli {
namespace {

using google::protobuf::util::TimeUtil;

std::string StageText(v1::Stage stage) { return StageName(FromProto(stage)); }

std::string OriginText(v1::Origin origin) {
  return OriginName(FromProto(origin));
}

// Two aligned columns: label, value.
class Fields {
 public:
  void Add(std::string label, std::string value) {
    rows_.emplace_back(std::move(label), std::move(value));
  }
  std::string Render() const {
    size_t width = 0;
    for (const auto& row : rows_) width = std::max(width, row.first.size());
    std::string out;
    for (const auto& [label, value] : rows_) {
      absl::StrAppend(&out, label, std::string(width - label.size() + 2, ' '),
                      value, "\n");
    }
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::string>> rows_;
};

// Columns sized to their widest cell.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) {
        absl::StrAppend(&line, std::string(widths[i] - row[i].size() + 2, ' '));
      }
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string ChangedText(int64_t version, int64_t revision,
                        const google::protobuf::Timestamp& time,
                        const std::string& by) {
  return absl::StrCat(version, " (revision ", revision, ", ",
                      TimeUtil::ToString(time), " by ", by, ")");
}

// "require_backfill, max_mismatch_rate 0.001, min_samples 1000"; "none".
std::string GatesText(const v1::Gates& gates) {
  std::vector<std::string> parts;
  if (gates.require_backfill()) parts.push_back("require_backfill");
  if (gates.has_max_mismatch_rate()) {
    parts.push_back(absl::StrCat("max_mismatch_rate ", gates.max_mismatch_rate()));
  }
  if (gates.min_samples() > 0) {
    parts.push_back(absl::StrCat("min_samples ", gates.min_samples()));
  }
  return parts.empty() ? "none" : absl::StrJoin(parts, ", ");
}

// "current" when neither database is stale; else a line per stale one.
void AddCurrency(const v1::Flag& flag, Fields& fields) {
  const std::vector<std::string> lines = CurrencyLines(flag);
  if (lines.empty()) fields.Add("currency", "both databases current");
  for (size_t i = 0; i < lines.size(); ++i) {
    fields.Add(i == 0 ? "currency" : "", lines[i]);
  }
}

// "-" when both databases are current; else "old", "new" or "old, new".
std::string StaleText(const v1::Flag& flag) {
  std::vector<std::string> stale;
  if (flag.currency().has_old_stale()) stale.push_back("old");
  if (flag.currency().has_new_stale()) stale.push_back("new");
  return stale.empty() ? "-" : absl::StrJoin(stale, ", ");
}

std::string FlagTable(const v1::Flag& flag) {
  Fields fields;
  fields.Add("key", flag.key());
  if (!flag.description().empty()) fields.Add("description", flag.description());
  if (!flag.owner().empty()) fields.Add("owner", flag.owner());
  if (flag.tags_size() > 0) fields.Add("tags", absl::StrJoin(flag.tags(), ", "));
  fields.Add("targets", absl::StrCat("old=", flag.old_target(),
                                     "  new=", flag.new_target()));
  fields.Add("enabled", flag.enabled() ? "yes" : DisabledText(flag));
  fields.Add("fallback", FallbackText(flag));
  if (flag.archived()) fields.Add("archived", "yes");
  fields.Add("bucket by", flag.bucket_by().empty() ? "key" : flag.bucket_by());
  fields.Add("default", FormatServe(flag.default_serve()));
  for (int i = 0; i < flag.rules_size(); ++i) {
    const auto& rule = flag.rules(i);
    std::vector<std::string> clauses;
    for (const auto& clause : rule.clauses()) clauses.push_back(FormatClause(clause));
    fields.Add(i == 0 ? "rules" : "",
               absl::StrCat(i + 1, ". ", rule.id(), ": if ",
                            absl::StrJoin(clauses, " and "), " -> ",
                            FormatServe(rule.serve())));
  }
  fields.Add("compare rate", absl::StrCat(flag.has_compare_sample_rate()
                                              ? flag.compare_sample_rate()
                                              : 1.0));
  fields.Add("gates", GatesText(flag.gates()));
  if (flag.has_ramp()) {
    // "3 steps: live 10%, shadow 90% | live 50%, shadow 50% | live; hold
    // 1800s" (cutoverctl ramp status shows where the ramp is).
    std::vector<std::string> steps;
    for (const v1::RampStep& step : flag.ramp().steps()) {
      steps.push_back(FormatServe(step.serve()));
    }
    fields.Add("ramp", absl::StrCat(flag.ramp().steps_size(), " steps: ",
                                    absl::StrJoin(steps, " | "), "; hold ",
                                    flag.ramp().hold_seconds(), "s"));
  }
  AddCurrency(flag, fields);
  fields.Add("version", ChangedText(flag.version(), flag.revision(),
                                    flag.update_time(), flag.updated_by()));
  return fields.Render();
}

std::string FlagListTable(const v1::ListFlagsResponse& list) {
  std::vector<std::vector<std::string>> rows = {
      {"KEY", "ENABLED", "DEFAULT", "RULES", "VERSION", "OLD", "NEW",
       "STALE"}};
  for (const auto& flag : list.flags()) {
    rows.push_back({flag.key() + (flag.archived() ? " (archived)" : ""),
                    flag.enabled() ? "yes" : "no",
                    FormatServe(flag.default_serve()),
                    absl::StrCat(flag.rules_size()),
                    absl::StrCat(flag.version()), flag.old_target(),
                    flag.new_target(), StaleText(flag)});
  }
  return Table(rows);
}

std::string DecisionTable(const v1::DecideResponse& response) {
  const v1::Decision& d = response.decision();
  Fields fields;
  fields.Add("flag", absl::StrCat(d.flag_key(), " (version ", d.flag_version(),
                                  ", revision ", response.revision(), ")"));
  fields.Add("stage", StageText(d.stage()));
  std::string reads = OriginText(d.reads().authoritative());
  if (d.reads().shadow() != v1::ORIGIN_NONE) {
    absl::StrAppend(&reads, " (also ", OriginText(d.reads().shadow()),
                    ", compared)");
  }
  fields.Add("reads", reads);
  std::string writes = OriginText(d.writes().authoritative());
  if (d.writes().secondary() != v1::ORIGIN_NONE) {
    absl::StrAppend(&writes, ", then ", OriginText(d.writes().secondary()));
  }
  fields.Add("writes", writes);
  fields.Add("targets",
             absl::StrCat("old=", d.old_target(), "  new=", d.new_target()));
  std::string reason = v1::Reason_Name(d.reason());
  if (!d.rule_id().empty()) absl::StrAppend(&reason, " (rule ", d.rule_id(), ")");
  if (d.bucket() >= 0) absl::StrAppend(&reason, " (bucket ", d.bucket(), ")");
  if (!d.error().empty()) absl::StrAppend(&reason, ": ", d.error());
  fields.Add("reason", reason);
  return fields.Render();
}

std::string HistoryTable(const v1::GetHistoryResponse& history) {
  std::string out;
  for (const auto& entry : history.entries()) {
    absl::StrAppend(&out, "version ", entry.version(), "  ",
                    TimeUtil::ToString(entry.time()), "  ", entry.action(),
                    "  by ", entry.actor());
    if (entry.peer() != entry.actor()) absl::StrAppend(&out, " from ", entry.peer());
    if (entry.forced()) absl::StrAppend(&out, "  FORCED");
    absl::StrAppend(&out, "\n");
    for (const auto& gate : entry.overridden_gates()) {
      absl::StrAppend(&out, "    forced past gate ", gate, "\n");
    }
    if (!entry.comment().empty()) {
      absl::StrAppend(&out, "    comment: ", entry.comment(), "\n");
    }
    for (const auto& line : entry.diff()) {
      absl::StrAppend(&out, "    ", line, "\n");
    }
  }
  return out;
}

std::string SegmentTable(const v1::Segment& segment) {
  Fields fields;
  fields.Add("key", segment.key());
  if (!segment.description().empty()) {
    fields.Add("description", segment.description());
  }
  fields.Add("included", absl::StrCat(segment.included_size(), ": ",
                                      absl::StrJoin(segment.included(), ", ")));
  fields.Add("excluded", absl::StrCat(segment.excluded_size(), ": ",
                                      absl::StrJoin(segment.excluded(), ", ")));
  for (int i = 0; i < segment.clauses_size(); ++i) {
    fields.Add(i == 0 ? "clauses" : "", FormatClause(segment.clauses(i)));
  }
  fields.Add("version", ChangedText(segment.version(), segment.revision(),
                                    segment.update_time(), segment.updated_by()));
  return fields.Render();
}

std::string SegmentListTable(const v1::ListSegmentsResponse& list) {
  std::vector<std::vector<std::string>> rows = {
      {"KEY", "INCLUDED", "EXCLUDED", "CLAUSES", "VERSION"}};
  for (const auto& segment : list.segments()) {
    rows.push_back({segment.key(), absl::StrCat(segment.included_size()),
                    absl::StrCat(segment.excluded_size()),
                    absl::StrCat(segment.clauses_size()),
                    absl::StrCat(segment.version())});
  }
  return Table(rows);
}

// A share as a percentage with two decimals: "0.70%".
std::string RateText(double rate) {
  return absl::StrFormat("%.2f%%", rate * 100);
}

// A latency bound from FlagStatus: "512us", "1.02ms", "2.1s"; "-" for none.
std::string LatencyText(double seconds) {
  if (seconds <= 0) return "-";
  if (seconds < 1e-3) return absl::StrFormat("%.0fus", seconds * 1e6);
  if (seconds < 1) return absl::StrFormat("%.3gms", seconds * 1e3);
  return absl::StrFormat("%.3gs", seconds);
}

std::string FlagStatusTable(const v1::FlagStatus& status) {
  const v1::Flag& flag = status.flag();
  Fields fields;
  fields.Add("flag", absl::StrCat(flag.key(), " (version ", flag.version(),
                                  flag.archived() ? ", archived" : "", ")"));
  fields.Add("targets", absl::StrCat("old=", flag.old_target(),
                                     "  new=", flag.new_target()));
  if (!flag.enabled()) {
    fields.Add("stage", DisabledText(flag));
  } else {
    fields.Add(flag.default_serve().has_rollout() ? "rollout" : "stage",
               FormatServe(flag.default_serve()));
  }
  if (flag.rules_size() > 0) {
    fields.Add("rules", absl::StrCat(flag.rules_size(),
                                     " (users they match may be served "
                                     "otherwise)"));
  }
  AddCurrency(flag, fields);
  fields.Add("window", absl::StrCat("last ", status.window_seconds(), " s"));
  fields.Add("compared", absl::StrCat(status.compared(), " reads"));
  fields.Add("mismatches",
             absl::StrCat(status.mismatches(), " (mismatch rate ",
                          RateText(status.mismatch_rate()), ")"));
  fields.Add("rejected",
             absl::StrCat(status.rejected_reports(), " reports (all flags)"));
  if (status.client_dropped() > 0) {
    fields.Add("dropped", absl::StrCat(status.client_dropped(),
                                       " operations by clients (all flags)"));
  }
  std::string out = fields.Render();
  if (status.ops_size() == 0) {
    absl::StrAppend(&out, "\nno operations reported in the window\n");
    return out;
  }
  std::vector<std::vector<std::string>> rows = {
      {"OP", "ORIGIN", "OK", "ERRORS", "ERROR RATE", "P50", "P95"}};
  for (const auto& op : status.ops()) {
    rows.push_back({op.op(), OriginText(op.origin()), absl::StrCat(op.ok()),
                    absl::StrCat(op.errors()), RateText(op.error_rate()),
                    LatencyText(op.p50_seconds()),
                    LatencyText(op.p95_seconds())});
  }
  absl::StrAppend(&out, "\n", Table(rows));
  return out;
}

// One line per flag: serve, kill switch, and the window's figures.
std::string FlagStatusListTable(const v1::ListFlagStatusResponse& list) {
  std::vector<std::vector<std::string>> rows = {
      {"FLAG", "SERVE", "COMPARED", "MISMATCH RATE", "OLD ERRORS", "NEW ERRORS"}};
  for (const auto& status : list.statuses()) {
    const v1::Flag& flag = status.flag();
    // Error rate per origin over every op of the window.
    uint64_t ok[3] = {0, 0, 0}, errors[3] = {0, 0, 0};
    for (const auto& op : status.ops()) {
      const int origin = op.origin() == v1::NEW ? 2 : 1;
      ok[origin] += op.ok();
      errors[origin] += op.errors();
    }
    auto error_text = [&](int origin) -> std::string {
      const uint64_t all = ok[origin] + errors[origin];
      if (all == 0) return "-";
      return RateText(static_cast<double>(errors[origin]) / all);
    };
    rows.push_back(
        {flag.key(),
         flag.enabled() ? FormatServe(flag.default_serve())
                        : DisabledText(flag),
         absl::StrCat(status.compared()),
         status.compared() > 0 ? RateText(status.mismatch_rate()) : "-",
         error_text(1), error_text(2)});
  }
  if (list.statuses_size() == 0) return "no flags\n";
  return Table(rows);
}

// "1200 of ~5000 (24.0%)", or "1200" without an estimate.
std::string CopiedText(const v1::BackfillJob& job) {
  if (job.rows_total_estimate() <= 0) return absl::StrCat(job.rows_copied());
  return absl::StrFormat("%d of ~%d (%.1f%%)", job.rows_copied(),
                         job.rows_total_estimate(),
                         100.0 * static_cast<double>(job.rows_copied()) /
                             static_cast<double>(job.rows_total_estimate()));
}

std::string EtaText(const v1::BackfillJob& job) {
  if (job.phase() != v1::COPYING || job.eta_seconds() <= 0) return "-";
  return absl::FormatDuration(
      absl::Seconds(static_cast<int64_t>(std::ceil(job.eta_seconds()))));
}

std::string BackfillTable(const v1::BackfillJob& job) {
  Fields fields;
  fields.Add("flag", job.flag_key());
  fields.Add("direction", job.direction() == v1::REVERSE
                              ? "reverse (new -> old)"
                              : "forward (old -> new)");
  fields.Add("phase", BackfillPhaseName(job.phase()));
  fields.Add("copied", CopiedText(job));
  fields.Add("verified",
             absl::StrCat(job.rows_verified(), " (sample rate ",
                          job.verify_sample_rate(), ")"));
  fields.Add("mismatched", absl::StrCat(job.rows_mismatched(), ", repaired ",
                                        job.rows_repaired()));
  fields.Add("rate", absl::StrFormat("%.1f rows/s", job.rows_per_second()));
  fields.Add("eta", EtaText(job));
  fields.Add("runs", absl::StrCat(job.runs(), " (current ", job.run_id(),
                                  " by ", job.started_by(), ")"));
  fields.Add("checkpoints", absl::StrCat(job.sequence()));
  fields.Add("updated", TimeUtil::ToString(job.update_time()));
  return fields.Render();
}

std::string BackfillListTable(const v1::ListBackfillsResponse& list) {
  if (list.jobs_size() == 0) return "no backfill jobs\n";
  std::vector<std::vector<std::string>> rows = {
      {"FLAG", "DIRECTION", "PHASE", "COPIED", "VERIFIED", "MISMATCHED",
       "REPAIRED", "ROWS/S", "ETA"}};
  for (const auto& job : list.jobs()) {
    rows.push_back({job.flag_key(), BackfillDirectionName(job.direction()),
                    BackfillPhaseName(job.phase()), CopiedText(job),
                    absl::StrCat(job.rows_verified()),
                    absl::StrCat(job.rows_mismatched()),
                    absl::StrCat(job.rows_repaired()),
                    absl::StrFormat("%.1f", job.rows_per_second()),
                    EtaText(job)});
  }
  return Table(rows);
}

}  // namespace

std::optional<std::string> RenderTable(
    const google::protobuf::Message& message) {
  if (auto* m = dynamic_cast<const v1::Flag*>(&message)) return FlagTable(*m);
  if (auto* m = dynamic_cast<const v1::ListFlagsResponse*>(&message)) {
    return FlagListTable(*m);
  }
  if (auto* m = dynamic_cast<const v1::DecideResponse*>(&message)) {
    return DecisionTable(*m);
  }
  if (auto* m = dynamic_cast<const v1::GetHistoryResponse*>(&message)) {
    return HistoryTable(*m);
  }
  if (auto* m = dynamic_cast<const v1::Segment*>(&message)) {
    return SegmentTable(*m);
  }
  if (auto* m = dynamic_cast<const v1::ListSegmentsResponse*>(&message)) {
    return SegmentListTable(*m);
  }
  if (auto* m = dynamic_cast<const v1::FlagStatus*>(&message)) {
    return FlagStatusTable(*m);
  }
  if (auto* m = dynamic_cast<const v1::ListFlagStatusResponse*>(&message)) {
    return FlagStatusListTable(*m);
  }
  if (auto* m = dynamic_cast<const v1::BackfillJob*>(&message)) {
    return BackfillTable(*m);
  }
  if (auto* m = dynamic_cast<const v1::ListBackfillsResponse*>(&message)) {
    return BackfillListTable(*m);
  }
  return std::nullopt;
}

}  // namespace cutover::cli
