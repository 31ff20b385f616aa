#include "cli/output.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/parse.h"
#include "cli/tables.h"
#include "convert/convert.h"
#include "core/currency.h"
#include "core/model.h"
#include "core/stage.h"
#include "google/protobuf/util/json_util.h"
#include "yaml/yaml_message.h"

namespace cutover::cli {
namespace {

std::string StageText(v1::Stage stage) { return StageName(FromProto(stage)); }

}  // namespace

absl::StatusOr<Format> ParseFormat(const std::string& text) {
  if (text == "table") return Format::kTable;
  if (text == "json") return Format::kJson;
  if (text == "yaml") return Format::kYaml;
  return absl::InvalidArgumentError(
      absl::StrCat("--output: '", text, "' is not one of table, json, yaml"));
}

std::string FormatServe(const v1::Serve& serve) {
  switch (serve.kind_case()) {
    case v1::Serve::kStage:
      return StageText(serve.stage());
    case v1::Serve::kRollout: {
      std::vector<std::string> parts;
      for (const auto& split : serve.rollout().splits()) {
        parts.push_back(absl::StrCat(StageText(split.stage()), " ",
                                     FormatPercent(split.weight())));
      }
      return absl::StrJoin(parts, ", ");
    }
    case v1::Serve::KIND_NOT_SET:
      break;
  }
  return "(none)";
}

std::string FallbackText(const v1::Flag& flag) {
  const Flag model = FromProto(flag);
  return absl::StrCat(StageName(FallbackStage(model)),
                      model.fallback_stage.has_value() ? " (set)"
                                                       : " (computed)");
}

std::string DisabledText(const v1::Flag& flag) {
  return absl::StrCat("DISABLED (kill switch: nobody past ",
                      StageName(FallbackStage(FromProto(flag))), ")");
}

std::vector<std::string> CurrencyLines(const v1::Flag& flag) {
  return DescribeCurrency(FromProto(flag).currency);
}

std::string FormatClause(const v1::Clause& clause) {
  const std::string op = OperatorName(FromProto(clause.op()));
  if (clause.op() == v1::IN_SEGMENT) {
    return absl::StrCat(op, " ", absl::StrJoin(clause.values(), ", "));
  }
  return absl::StrCat(clause.attribute(), " ", op, " ",
                      absl::StrJoin(clause.values(), ", "));
}

std::string Render(const google::protobuf::Message& message, Format format) {
  if (format == Format::kJson) {
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    std::string json;
    if (!google::protobuf::util::MessageToJsonString(message, &json, options)
             .ok()) {
      return "{}\n";
    }
    if (json.empty() || json.back() != '\n') json += "\n";
    return json;
  }
  if (format == Format::kTable) {
    if (std::optional<std::string> table = RenderTable(message)) return *table;
  }
  return MessageToYaml(message);
}

}  // namespace cutover::cli
