#include "cli/parse.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "convert/convert.h"
#include "core/model.h"
#include "core/stage.h"

namespace cutover::cli {
namespace {

absl::Status Bad(absl::string_view option, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(option, ": ", rule));
}

}  // namespace

absl::StatusOr<v1::Stage> ParseStageArg(const std::string& text,
                                        const std::string& option) {
  std::optional<Stage> stage = ParseStage(text);
  if (!stage || *stage == Stage::kUnspecified) {
    return Bad(option, absl::StrCat("'", text,
                                     "' is not one of off, dualwrite, shadow, "
                                     "live, rampdown, complete"));
  }
  return ToProto(*stage);
}

absl::StatusOr<uint32_t> ParsePercent(const std::string& text) {
  // Exact decimal parsing: no floating point rounding surprises.
  std::pair<std::string, std::string> parts =
      absl::StrSplit(absl::StripSuffix(text, "%"), absl::MaxSplits('.', 1));
  const std::string& whole = parts.first;
  const std::string& fraction = parts.second;
  auto all_digits = [](const std::string& s) {
    for (char c : s) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
    }
    return true;
  };
  if (whole.empty() || whole.size() > 3 || !all_digits(whole) ||
      fraction.size() > 3 || !all_digits(fraction) ||
      (text.find('.') != std::string::npos && fraction.empty())) {
    return Bad("percent", absl::StrCat("'", text,
                                       "' is not a percentage like 5 or 2.5 "
                                       "(at most 3 decimals)"));
  }
  uint32_t value = 0;
  (void)absl::SimpleAtoi(whole, &value);
  uint32_t thousandths = 0;
  if (!fraction.empty()) {
    (void)absl::SimpleAtoi(fraction + std::string(3 - fraction.size(), '0'),
                           &thousandths);
  }
  const uint32_t weight = value * 1000 + thousandths;
  if (weight > kTotalWeight) {
    return Bad("percent", absl::StrCat("'", text, "' is more than 100"));
  }
  return weight;
}

absl::StatusOr<v1::Rollout> ParseRolloutArgs(
    const std::vector<std::string>& items) {
  v1::Rollout rollout;
  uint32_t total = 0;
  for (const std::string& item_list : items) {
    for (const std::string& item : SplitList(item_list)) {
      std::pair<std::string, std::string> kv =
          absl::StrSplit(item, absl::MaxSplits('=', 1));
      if (kv.second.empty()) {
        return Bad("rollout", absl::StrCat("'", item,
                                           "' is not STAGE=PERCENT, e.g. live=5"));
      }
      auto stage = ParseStageArg(kv.first);
      if (!stage.ok()) return Bad("rollout", stage.status().message());
      auto weight = ParsePercent(kv.second);
      if (!weight.ok()) return Bad("rollout", weight.status().message());
      for (const auto& split : rollout.splits()) {
        if (split.stage() == *stage) {
          return Bad("rollout",
                     absl::StrCat("stage '", kv.first, "' given twice"));
        }
      }
      auto* split = rollout.add_splits();
      split->set_stage(*stage);
      split->set_weight(*weight);
      total += *weight;
    }
  }
  if (rollout.splits_size() == 0) {
    return Bad("rollout", "give at least one STAGE=PERCENT, e.g. live=5 shadow=95");
  }
  if (total != kTotalWeight) {
    return Bad("rollout", absl::StrCat("percentages add up to ",
                                       FormatPercent(total), ", not 100%"));
  }
  return rollout;
}

absl::StatusOr<v1::Serve> ParseServeArg(const std::string& text) {
  v1::Serve serve;
  if (text.find('=') == std::string::npos) {
    auto stage = ParseStageArg(text);
    if (!stage.ok()) return Bad("serve", stage.status().message());
    serve.set_stage(*stage);
    return serve;
  }
  auto rollout = ParseRolloutArgs({text});
  if (!rollout.ok()) return Bad("serve", rollout.status().message());
  *serve.mutable_rollout() = *std::move(rollout);
  return serve;
}

absl::StatusOr<v1::Clause> ParseClauseArg(const std::string& text) {
  std::vector<std::string> words =
      absl::StrSplit(absl::StripAsciiWhitespace(text),
                     absl::MaxSplits(absl::ByAnyChar(" \t"), 2),
                     absl::SkipEmpty());
  v1::Clause clause;
  auto op_of = [](const std::string& word) {
    return ParseOperator(absl::AsciiStrToLower(word));
  };
  std::string values;
  if (words.size() >= 2 && op_of(words[0]) == Operator::kInSegment) {
    clause.set_op(v1::IN_SEGMENT);
    values = words.size() == 3 ? absl::StrCat(words[1], " ", words[2]) : words[1];
  } else if (words.size() == 3) {
    std::optional<Operator> op = op_of(words[1]);
    if (!op || *op == Operator::kUnspecified) {
      return Bad("--if", absl::StrCat("'", words[1],
                                      "' is not an operator (in, not_in, "
                                      "starts_with, ends_with, matches, "
                                      "semver_eq|lt|le|gt|ge, "
                                      "number_eq|lt|le|gt|ge, in_segment)"));
    }
    clause.set_attribute(words[0]);
    clause.set_op(ToProto(*op));
    values = words[2];
  } else {
    return Bad("--if", absl::StrCat("'", text,
                                    "' is not 'ATTRIBUTE OPERATOR VALUES' or "
                                    "'in_segment SEGMENTS'"));
  }
  if (clause.op() == v1::MATCHES) {
    clause.add_values(values);  // a pattern may contain commas
  } else {
    for (const auto& value : SplitList(values)) clause.add_values(value);
  }
  if (clause.values_size() == 0) return Bad("--if", "no values");
  return clause;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
ParseAttributeArgs(const std::vector<std::string>& items) {
  std::vector<std::pair<std::string, std::string>> attributes;
  for (const auto& item : items) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (kv.first.empty() || item.find('=') == std::string::npos) {
      return Bad("--attr", absl::StrCat("'", item, "' is not NAME=VALUE"));
    }
    attributes.push_back(std::move(kv));
  }
  return attributes;
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (!item.empty()) items.emplace_back(item);
  }
  return items;
}

std::string FormatPercent(uint32_t weight) {
  std::string text = absl::StrCat(weight / 1000);
  if (uint32_t rest = weight % 1000; rest != 0) {
    std::string fraction = absl::StrCat(1000 + rest).substr(1);
    while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
    absl::StrAppend(&text, ".", fraction);
  }
  return text + "%";
}

}  // namespace cutover::cli
