#include "convert/decide_wire.h"

#include <array>
#include <cstdint>
#include <string>

#include "convert/convert.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/io/coded_stream.h"

namespace cutover {
namespace {

using google::protobuf::io::CodedOutputStream;

// The protobuf encoding's wire types this file writes, and a field's tag.
enum WireType : uint32_t { kVarint = 0, kLengthDelimited = 2 };
constexpr uint32_t Tag(int field_number, WireType type) {
  return (static_cast<uint32_t>(field_number) << 3) | type;
}

// A DecideBatchResponse is written as a DecideResponse with more answers.
static_assert(int{v1::DecideBatchResponse::kDecisionsFieldNumber} ==
                  int{v1::DecideResponse::kDecisionFieldNumber} &&
              int{v1::DecideBatchResponse::kRevisionFieldNumber} ==
                  int{v1::DecideResponse::kRevisionFieldNumber},
              "DecideResponse and DecideBatchResponse share field numbers");

constexpr uint32_t kDecisionTag =
    Tag(v1::DecideResponse::kDecisionFieldNumber, kLengthDelimited);
constexpr uint32_t kRevisionTag =
    Tag(v1::DecideResponse::kRevisionFieldNumber, kVarint);
constexpr uint32_t kReasonTag = Tag(v1::Decision::kReasonFieldNumber, kVarint);
constexpr uint32_t kRuleIdTag =
    Tag(v1::Decision::kRuleIdFieldNumber, kLengthDelimited);
constexpr uint32_t kBucketTag = Tag(v1::Decision::kBucketFieldNumber, kVarint);

constexpr size_t kStageCount = static_cast<size_t>(kLastStage) + 1;

// Each stage's Decision fields (stage, reads, writes), serialized, by the
// stage's number. kUnspecified's are empty: no decision serves it.
const std::array<std::string, kStageCount>& StageBytes() {
  static const std::array<std::string, kStageCount>* const table = [] {
    auto* bytes = new std::array<std::string, kStageCount>();
    for (size_t i = static_cast<size_t>(kFirstStage); i < kStageCount; ++i) {
      Decision decision;
      decision.stage = static_cast<Stage>(i);
      decision.plan = PlanFor(decision.stage);
      v1::Decision full;
      ToProto(decision, &full);
      v1::Decision plan_only;
      plan_only.set_stage(full.stage());
      *plan_only.mutable_reads() = full.reads();
      *plan_only.mutable_writes() = full.writes();
      (*bytes)[i] = plan_only.SerializeAsString();
    }
    return bytes;
  }();
  return *table;
}

absl::string_view StageBytesOf(Stage stage) {
  const size_t index = static_cast<size_t>(stage);
  return index < kStageCount ? StageBytes()[index] : absl::string_view();
}

// The per-call Decision fields, as proto3 writes them: none at its
// default (reason unspecified, no rule id, bucket 0).
size_t PerCallFieldsSize(const DecideAnswer& answer) {
  size_t size = 0;
  const int32_t reason = ToProto(answer.reason);
  if (reason != 0) {
    size += CodedOutputStream::VarintSize32(kReasonTag) +
            CodedOutputStream::VarintSize32SignExtended(reason);
  }
  if (!answer.rule_id.empty()) {
    const auto length = static_cast<uint32_t>(answer.rule_id.size());
    size += CodedOutputStream::VarintSize32(kRuleIdTag) +
            CodedOutputStream::VarintSize32(length) + length;
  }
  if (answer.bucket != 0) {
    size += CodedOutputStream::VarintSize32(kBucketTag) +
            CodedOutputStream::VarintSize32SignExtended(answer.bucket);
  }
  return size;
}

size_t DecisionSize(const DecideAnswer& answer) {
  return answer.constant_bytes.size() + StageBytesOf(answer.stage).size() +
         PerCallFieldsSize(answer);
}

uint8_t* WriteRaw(absl::string_view bytes, uint8_t* out) {
  return CodedOutputStream::WriteRawToArray(
      bytes.data(), static_cast<int>(bytes.size()), out);
}

// One `decision` field, tag and length first.
uint8_t* WriteDecision(const DecideAnswer& answer, uint8_t* out) {
  out = CodedOutputStream::WriteTagToArray(kDecisionTag, out);
  out = CodedOutputStream::WriteVarint32ToArray(
      static_cast<uint32_t>(DecisionSize(answer)), out);
  out = WriteRaw(answer.constant_bytes, out);
  out = WriteRaw(StageBytesOf(answer.stage), out);
  const int32_t reason = ToProto(answer.reason);
  if (reason != 0) {
    out = CodedOutputStream::WriteTagToArray(kReasonTag, out);
    out = CodedOutputStream::WriteVarint32SignExtendedToArray(reason, out);
  }
  if (!answer.rule_id.empty()) {
    out = CodedOutputStream::WriteTagToArray(kRuleIdTag, out);
    out = CodedOutputStream::WriteVarint32ToArray(
        static_cast<uint32_t>(answer.rule_id.size()), out);
    out = WriteRaw(answer.rule_id, out);
  }
  if (answer.bucket != 0) {
    out = CodedOutputStream::WriteTagToArray(kBucketTag, out);
    out = CodedOutputStream::WriteVarint32SignExtendedToArray(answer.bucket,
                                                              out);
  }
  return out;
}

}  // namespace

std::string ConstantDecisionBytes(const Decision& decision) {
  v1::Decision full;
  ToProto(decision, &full);
  v1::Decision constant;
  constant.set_flag_key(full.flag_key());
  constant.set_old_target(full.old_target());
  constant.set_new_target(full.new_target());
  constant.set_flag_version(full.flag_version());
  constant.set_compare_sample_rate(full.compare_sample_rate());
  return constant.SerializeAsString();
}

std::string ConstantDecisionBytes(const CompiledFlag& flag) {
  Decision decision;
  DecisionFromVerdict(flag, Verdict{}, decision);
  return ConstantDecisionBytes(decision);
}

DecideAnswer AnswerFor(const CompiledFlag& flag,
                       absl::string_view constant_bytes,
                       const Verdict& verdict) {
  DecideAnswer answer;
  answer.constant_bytes = constant_bytes;
  answer.stage = verdict.stage;
  answer.reason = verdict.reason;
  if (verdict.rule_index >= 0) {
    const size_t rule = static_cast<size_t>(verdict.rule_index);
    answer.rule_id = flag.flag().rules[rule].id;
  }
  answer.bucket = verdict.bucket;
  return answer;
}

DecideAnswer NotFoundAnswer(absl::string_view constant_bytes) {
  DecideAnswer answer;  // as SafeDecision
  answer.constant_bytes = constant_bytes;
  answer.stage = Stage::kOff;
  answer.reason = Reason::kFlagNotFound;
  return answer;
}

size_t DecideResponsesSize(absl::Span<const DecideAnswer> answers,
                           int64_t revision) {
  size_t size = 0;
  for (const DecideAnswer& answer : answers) {
    const size_t decision = DecisionSize(answer);
    size += CodedOutputStream::VarintSize32(kDecisionTag) +
            CodedOutputStream::VarintSize32(static_cast<uint32_t>(decision)) +
            decision;
  }
  if (revision != 0) {
    size += CodedOutputStream::VarintSize32(kRevisionTag) +
            CodedOutputStream::VarintSize64(static_cast<uint64_t>(revision));
  }
  return size;
}

void WriteDecideResponses(absl::Span<const DecideAnswer> answers,
                          int64_t revision, uint8_t* out) {
  for (const DecideAnswer& answer : answers) out = WriteDecision(answer, out);
  if (revision != 0) {
    out = CodedOutputStream::WriteTagToArray(kRevisionTag, out);
    CodedOutputStream::WriteVarint64ToArray(static_cast<uint64_t>(revision),
                                            out);
  }
}

}  // namespace cutover
