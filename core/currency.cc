#include "core/currency.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/internal/shares.h"
#include "core/stage_moves.h"

namespace cutover {
namespace {

// A share in thousandths of a percent as people read it: "100%", "5%",
// "12.5%".
std::string Percent(uint32_t share) {
  return absl::StrFormat("%g%%", static_cast<double>(share) / 1000.0);
}

// The share of users a serve gives exactly `stage`.
uint32_t ShareAt(const Serve& serve, Stage stage) {
  return internal::ShareWhere(
      serve, [stage](Stage served) { return served == stage; });
}

// The first serve of `flag` that gives `stage` to anyone (default serve,
// then rules in order), and the share it gives.
struct FirstServe {
  const Rule* rule = nullptr;  // nullptr: the default serve
  uint32_t share = 0;          // 0: no serve gives `stage`
};
FirstServe FirstServing(const Flag& flag, Stage stage) {
  const uint32_t by_default = ShareAt(flag.default_serve, stage);
  if (by_default > 0) return {nullptr, by_default};
  for (const Rule& rule : flag.rules) {
    const uint32_t share = ShareAt(rule.serve, stage);
    if (share > 0) return {&rule, share};
  }
  return {};
}

// Where `flag` serves `stage` first: e.g. "complete served to 5% by the
// default serve". Empty if nowhere.
std::string WhereServed(const Flag& flag, Stage stage) {
  const FirstServe first = FirstServing(flag, stage);
  if (first.share == 0) return "";
  if (first.rule == nullptr) {
    return absl::StrCat(StageName(stage), " served to ", Percent(first.share),
                        " by the default serve");
  }
  return absl::StrCat(StageName(stage), " served to ", Percent(first.share),
                      " of rule ", first.rule->id);
}

bool Serves(const Flag& flag, Stage stage) {
  return FirstServing(flag, stage).share > 0;
}

void ClampServe(Serve& serve, Stage ceiling) {
  if (serve.stage.has_value() && *serve.stage > ceiling) serve.stage = ceiling;
  if (!serve.rollout.has_value()) return;
  std::vector<Split> merged;
  for (Split split : serve.rollout->splits) {
    if (split.stage > ceiling) split.stage = ceiling;
    bool added = false;
    for (Split& kept : merged) {
      if (kept.stage == split.stage) {
        kept.weight += split.weight;
        added = true;
        break;
      }
    }
    if (!added) merged.push_back(split);
  }
  if (merged.size() == 1) {  // everyone at one stage: say so plainly
    serve.stage = merged[0].stage;
    serve.rollout.reset();
    return;
  }
  serve.rollout->splits = std::move(merged);
}

// The database a stage reads authoritatively.
Origin ReadOrigin(Stage stage) { return PlanFor(stage).read_authoritative; }

const std::optional<StaleMark>& MarkOf(const Currency& currency,
                                       Origin origin) {
  return origin == Origin::kOld ? currency.old_stale : currency.new_stale;
}

std::string MarkText(Origin origin, const StaleMark& mark) {
  return absl::StrCat(OriginName(origin), " is stale since version ",
                      mark.since_version, " (", mark.why, ")");
}

// How to make a stale database current again.
std::string WayBack(Origin origin) {
  if (origin == Origin::kOld) {
    return "the way back: serve rampdown (rollback --to rampdown) so that "
           "old receives writes again, run a reverse backfill (new -> old) "
           "and its verify pass, then roll back to dualwrite";
  }
  return "the way back: serve no user off (dualwrite at least), then run a "
         "new backfill (old -> new) and its verify pass (reset a job that is "
         "done first)";
}

bool Verified(const BackfillFacts& facts) {
  return facts.exists && facts.done &&
         facts.rows_mismatched <= facts.rows_repaired;
}

// Whether a verified backfill clears `mark`: started at or after the flag
// last stopped skipping the database.
bool Clears(const StaleMark& mark, const BackfillFacts& facts) {
  return Verified(facts) && mark.skipped_until.has_value() &&
         facts.create_time >= *mark.skipped_until;
}

// The share (thousandths of a percent) of `serve` that reads `origin`
// authoritatively.
uint32_t ShareReading(const Serve& serve, Origin origin) {
  const uint32_t new_readers = ShareAtOrBeyond(serve, Stage::kLive);
  return origin == Origin::kNew ? new_readers : kTotalWeight - new_readers;
}

// A line for each serve of `after` whose share reading `origin` grew past
// what it was in `before` (nullptr: every share counts).
void AddGrownReaders(const Flag* before, const Flag& after, Origin origin,
                     const std::string& stale, std::vector<std::string>* out) {
  const auto add = [&](const std::string& where, const Serve& serve,
                       uint32_t previous) {
    const uint32_t now = ShareReading(serve, origin);
    if (now <= previous) return;
    out->push_back(absl::StrCat(where, " would read ", OriginName(origin),
                                " for ", Percent(now), " of its users, but ",
                                stale, "; ", WayBack(origin)));
  };
  add("the default serve", after.default_serve,
      before != nullptr ? ShareReading(before->default_serve, origin) : 0);
  for (const Rule& rule : after.rules) {
    // A new or re-targeted rule: all of its share counts.
    const Rule* old = internal::SameRuleIn(before, rule);
    add(absl::StrCat("rule ", rule.id), rule.serve,
        old != nullptr ? ShareReading(old->serve, origin) : 0);
  }
}

}  // namespace

Stage RollbackStage(const Flag& flag) {
  return Reach(flag) == Stage::kOff ? Stage::kOff : Stage::kDualWrite;
}

Stage DataSafeStage(const Flag& flag) {
  const Stage rollback = RollbackStage(flag);
  return rollback != Stage::kOff && flag.currency.old_stale.has_value()
             ? Stage::kRampDown
             : rollback;
}

Stage FallbackStage(const Flag& flag) {
  return flag.fallback_stage.value_or(DataSafeStage(flag));
}

void ClampServes(Flag& flag, Stage ceiling) {
  ClampServe(flag.default_serve, ceiling);
  for (Rule& rule : flag.rules) ClampServe(rule.serve, ceiling);
}

Flag ServedFlag(const Flag& flag) {
  Flag served = flag;
  if (!flag.enabled) {
    ClampServes(served, FallbackStage(flag));
    served.enabled = true;
  }
  return served;
}

const Flag& Served(const Flag& flag, const Currency& currency,
                   std::optional<Flag>& storage) {
  if (flag.enabled) return flag;
  storage = flag;
  storage->currency = currency;
  ClampServes(*storage, FallbackStage(*storage));
  storage->enabled = true;
  return *storage;
}

Currency NextCurrency(const Flag* before, const Flag& after, int64_t version,
                      absl::Time now) {
  Currency currency = before != nullptr ? before->currency : Currency();
  // What each serves, judged with the currency before the change (a
  // disabled flag's computed fallback depends on it).
  std::optional<Flag> after_storage;
  const Flag& served_after = Served(after, currency, after_storage);

  const std::string complete = WhereServed(served_after, Stage::kComplete);
  if (!complete.empty()) {
    if (!currency.old_stale.has_value()) {
      currency.old_stale = StaleMark{version, now, complete, std::nullopt};
    }
    currency.old_stale->skipped_until.reset();  // still skipped
  } else if (currency.old_stale.has_value() &&
             !currency.old_stale->skipped_until.has_value()) {
    currency.old_stale->skipped_until = now;
  }

  if (before != nullptr) {
    std::optional<Flag> before_storage;
    const Flag& served_before =
        Served(*before, before->currency, before_storage);
    // Users dual-written before (a share at dualwrite or later) whose share
    // shrank, while the flag now serves off somewhere: they moved to off.
    const bool wrote_new = Reach(served_before) >= Stage::kDualWrite;
    const std::string off = WhereServed(served_after, Stage::kOff);
    if (wrote_new && !off.empty() &&
        AdvancesTo(&served_after, served_before, Stage::kDualWrite)) {
      if (!currency.new_stale.has_value()) {
        currency.new_stale = StaleMark{version, now, off, std::nullopt};
      }
    }
  }
  // While anyone is served off, writes keep skipping new: a backfill
  // started before the flag stops serving off misses them.
  if (currency.new_stale.has_value()) {
    if (Serves(served_after, Stage::kOff)) {
      currency.new_stale->skipped_until.reset();
    } else if (!currency.new_stale->skipped_until.has_value()) {
      currency.new_stale->skipped_until = now;
    }
  }
  return currency;
}

bool ClearByBackfills(Currency& currency, const BackfillFacts& forward,
                      const BackfillFacts& reverse) {
  bool cleared = false;
  if (currency.new_stale.has_value() && Clears(*currency.new_stale, forward)) {
    currency.new_stale.reset();
    cleared = true;
  }
  if (currency.old_stale.has_value() && Clears(*currency.old_stale, reverse)) {
    currency.old_stale.reset();
    cleared = true;
  }
  return cleared;
}

std::vector<std::string> DescribeCurrency(const Currency& currency) {
  std::vector<std::string> lines;
  if (currency.old_stale.has_value()) {
    lines.push_back(MarkText(Origin::kOld, *currency.old_stale));
  }
  if (currency.new_stale.has_value()) {
    lines.push_back(MarkText(Origin::kNew, *currency.new_stale));
  }
  return lines;
}

std::vector<std::string> CurrencyChanges(const Currency& before,
                                         const Currency& after) {
  std::vector<std::string> lines;
  for (const Origin origin : {Origin::kOld, Origin::kNew}) {
    const std::optional<StaleMark>& was = MarkOf(before, origin);
    const std::optional<StaleMark>& now = MarkOf(after, origin);
    if (!was.has_value() && now.has_value()) {
      lines.push_back(MarkText(origin, *now));
    } else if (was.has_value() && !now.has_value()) {
      lines.push_back(absl::StrCat(
          OriginName(origin), " is current again (a verified ",
          origin == Origin::kOld ? "reverse backfill, new -> old" : "backfill",
          ")"));
    }
  }
  return lines;
}

std::vector<std::string> StaleReads(const Flag* before, const Flag& after,
                                    const Currency& currency) {
  std::vector<std::string> problems;
  std::optional<Flag> after_storage;
  const Flag& served_after = Served(after, currency, after_storage);
  std::optional<Flag> before_storage;
  const Flag* served_before =
      before != nullptr ? &Served(*before, before->currency, before_storage)
                        : nullptr;
  for (const Origin origin : {Origin::kOld, Origin::kNew}) {
    const std::optional<StaleMark>& mark = MarkOf(currency, origin);
    if (!mark.has_value()) continue;
    const bool stale_before =
        before != nullptr && MarkOf(before->currency, origin).has_value();
    const std::string stale = MarkText(origin, *mark);
    AddGrownReaders(stale_before ? served_before : nullptr, served_after,
                    origin, stale, &problems);
    if (after.fallback_stage.has_value() &&
        ReadOrigin(*after.fallback_stage) == origin) {
      problems.push_back(absl::StrCat(
          "fallback_stage ", StageName(*after.fallback_stage), " reads ",
          OriginName(origin), ", but ", stale,
          "; clear fallback_stage (the computed one is data-safe) or set "
          "one that reads a current database"));
    }
  }
  return problems;
}

namespace {

// Whether `b` holds a key that `a` does not.
bool HasNew(const std::vector<std::string>& a,
            const std::vector<std::string>& b) {
  const absl::flat_hash_set<std::string> known(a.begin(), a.end());
  return std::any_of(b.begin(), b.end(), [&](const std::string& key) {
    return !known.contains(key);
  });
}

bool UsesSegment(const Rule& rule, const std::string& segment_key) {
  for (const Clause& clause : rule.clauses) {
    if (clause.op == Operator::kInSegment &&
        std::find(clause.values.begin(), clause.values.end(), segment_key) !=
            clause.values.end()) {
      return true;
    }
  }
  return false;
}

}  // namespace

MembershipMoves SegmentMoves(const Segment* before, const Segment& after) {
  MembershipMoves moves;
  if (before == nullptr) {
    moves.adds = true;
    return moves;
  }
  if (!SameClauses(before->clauses, after.clauses)) return {true, true};
  moves.adds = HasNew(before->included, after.included) ||
               HasNew(after.excluded, before->excluded);
  moves.removes = HasNew(after.included, before->included) ||
                  HasNew(before->excluded, after.excluded);
  return moves;
}

std::vector<std::string> SegmentMovesOffDualWrites(
    const Flag& flag, const std::string& segment_key, MembershipMoves moves) {
  std::vector<std::string> lines;
  std::optional<Flag> storage;
  const Flag& served = Served(flag, flag.currency, storage);
  if (Reach(served) < Stage::kDualWrite || !Serves(served, Stage::kOff)) {
    return lines;  // nobody dual-written, or nobody at off to move to
  }
  for (const Rule& rule : served.rules) {
    if (!UsesSegment(rule, segment_key)) continue;
    const uint32_t written = ShareAtOrBeyond(rule.serve, Stage::kDualWrite);
    if (moves.adds && written < kTotalWeight) {
      lines.push_back(absl::StrCat(
          "flag ", flag.key, " serves off to ", Percent(kTotalWeight - written),
          " of rule ", rule.id,
          ": users added to segment ", segment_key,
          " may have been dual-written"));
    }
    if (moves.removes && written > 0) {
      lines.push_back(absl::StrCat(
          "flag ", flag.key, " dual-writes ", Percent(written), " of rule ",
          rule.id, ": users removed from segment ", segment_key,
          " may get off"));
    }
  }
  return lines;
}

}  // namespace cutover
