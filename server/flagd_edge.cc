#include "server/flagd_edge.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/stage.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"

namespace cutover {
namespace {

absl::Status Refuse(absl::string_view key, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("context[\"", key.substr(0, 64), "\"]: ", why));
}

// "old", "new", or both with the second in brackets for the shadow or
// secondary one: "old+new".
std::string PlanText(Origin first, Origin second) {
  if (second == Origin::kNone) return OriginName(first);
  return absl::StrCat(OriginName(first), "+", OriginName(second));
}

// Writes the entries of a google.protobuf.Struct message (its field 1, a
// map<string, Value>) to a stream, one at a time, with protobuf's own
// encoder: each entry is a message {1: key, 2: Value}, and a Value is
// {2: number_value (double)} or {3: string_value}. One writer per message,
// on one thread.
class StructWriter {
 public:
  explicit StructWriter(google::protobuf::io::ZeroCopyOutputStream* stream)
      : out_(stream) {}

  void Number(absl::string_view key, double value) {
    using WireFormat = google::protobuf::internal::WireFormatLite;
    // tag(2, fixed64) + 8 bytes
    const size_t value_size = 1 + 8;
    Entry(key, value_size);
    out_.WriteTag(WireFormat::MakeTag(2, WireFormat::WIRETYPE_FIXED64));
    out_.WriteLittleEndian64(WireFormat::EncodeDouble(value));
  }

  void String(absl::string_view key, absl::string_view value) {
    using WireFormat = google::protobuf::internal::WireFormatLite;
    const size_t value_size = LengthDelimitedSize(value.size());
    Entry(key, value_size);
    out_.WriteTag(
        WireFormat::MakeTag(3, WireFormat::WIRETYPE_LENGTH_DELIMITED));
    out_.WriteVarint32(static_cast<uint32_t>(value.size()));
    out_.WriteRaw(value.data(), static_cast<int>(value.size()));
  }

 private:
  // A one-byte tag, the length and `size` bytes.
  static size_t LengthDelimitedSize(size_t size) {
    return 1 +
           google::protobuf::io::CodedOutputStream::VarintSize32(
               static_cast<uint32_t>(size)) +
           size;
  }

  // The map entry's header and key; the caller writes the Value (whose
  // field, with its tag and length, takes `value_size` bytes).
  void Entry(absl::string_view key, size_t value_size) {
    using WireFormat = google::protobuf::internal::WireFormatLite;
    const uint32_t field1 =
        WireFormat::MakeTag(1, WireFormat::WIRETYPE_LENGTH_DELIMITED);
    const uint32_t field2 =
        WireFormat::MakeTag(2, WireFormat::WIRETYPE_LENGTH_DELIMITED);
    out_.WriteTag(field1);  // Struct.fields: one map entry
    out_.WriteVarint32(static_cast<uint32_t>(LengthDelimitedSize(key.size()) +
                                             LengthDelimitedSize(value_size)));
    out_.WriteTag(field1);  // the entry's key
    out_.WriteVarint32(static_cast<uint32_t>(key.size()));
    out_.WriteRaw(key.data(), static_cast<int>(key.size()));
    out_.WriteTag(field2);  // the entry's Value
    out_.WriteVarint32(static_cast<uint32_t>(value_size));
  }

  google::protobuf::io::CodedOutputStream out_;
};

}  // namespace

std::string CanonicalNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value < 0 ? "-Infinity" : "Infinity";
  if (value == 0) return "0";  // -0 too
  if (value < 0) return "-" + CanonicalNumber(-value);
  // The fewest significant digits that read back as `value` (correctly
  // rounded, so the closest such), and the decimal exponent.
  char buffer[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*e", precision - 1, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  const std::string text = buffer;
  const size_t e = text.find('e');
  std::string digits;
  for (size_t i = 0; i < e; ++i) {
    if (text[i] != '.') digits += text[i];
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int k = static_cast<int>(digits.size());
  const int n = std::atoi(text.c_str() + e + 1) + 1;  // value = 0.digits * 10^n
  // ECMAScript's Number::toString layout.
  if (k <= n && n <= 21) return digits + std::string(n - k, '0');
  if (0 < n && n <= 21) return digits.substr(0, n) + "." + digits.substr(n);
  if (-6 < n && n <= 0) return "0." + std::string(-n, '0') + digits;
  const int exponent = n - 1;
  std::string mantissa =
      k == 1 ? digits : digits.substr(0, 1) + "." + digits.substr(1);
  return absl::StrCat(mantissa, "e", exponent < 0 ? "-" : "+",
                      exponent < 0 ? -exponent : exponent);
}

absl::Status ContextFromFlagd(const google::protobuf::Struct& context,
                              const EvaluationLimits& limits, Context* out) {
  out->targeting_key.clear();
  out->attributes.clear();
  // Refused before any work: at most the attributes and the targeting key.
  if (context.fields_size() > limits.max_attributes + 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "context: more than ", limits.max_attributes, " attributes"));
  }
  using google::protobuf::Value;
  for (const auto& [key, value] : context.fields()) {
    if (key == kFlagdTargetingKey) {
      if (value.kind_case() == Value::kNullValue) continue;
      if (value.kind_case() != Value::kStringValue) {
        return Refuse(key, "must be a string");
      }
      if (static_cast<int>(value.string_value().size()) >
          limits.max_key_length) {
        return Refuse(
            key, absl::StrCat("longer than ", limits.max_key_length, " bytes"));
      }
      out->targeting_key = value.string_value();
      continue;
    }
    std::string text;
    switch (value.kind_case()) {
      case Value::kNullValue:
      case Value::KIND_NOT_SET:
        continue;
      case Value::kStringValue:
        text = value.string_value();
        break;
      case Value::kNumberValue:
        text = CanonicalNumber(value.number_value());
        break;
      case Value::kBoolValue:
        text = value.bool_value() ? "true" : "false";
        break;
      case Value::kStructValue:
        return Refuse(key,
                      "a nested object; cutover compares flat string, "
                      "number and bool attributes only");
      case Value::kListValue:
        return Refuse(key,
                      "a list; cutover compares flat string, number and "
                      "bool attributes only");
    }
    if (key.empty() ||
        static_cast<int>(key.size()) > limits.max_attribute_length ||
        static_cast<int>(text.size()) > limits.max_attribute_length) {
      return Refuse(
          key, absl::StrCat("name must be 1 to ", limits.max_attribute_length,
                            " bytes, value at most as long"));
    }
    out->attributes.emplace(key, std::move(text));
  }
  if (static_cast<int>(out->attributes.size()) > limits.max_attributes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "context: more than ", limits.max_attributes, " attributes"));
  }
  return absl::OkStatus();
}

const char* FlagdReason(const Flag& flag, const Decision& decision) {
  switch (decision.reason) {
    case Reason::kDisabled:
      return "DISABLED";
    case Reason::kRuleMatch:
    case Reason::kSplit:
      return "TARGETING_MATCH";
    case Reason::kDefault:
      return flag.rules.empty() ? "STATIC" : "DEFAULT";
    default:
      return "ERROR";
  }
}

void FlagdMetadataBytes(const Decision& decision, int64_t revision,
                        std::string* out) {
  out->clear();
  {
    google::protobuf::io::StringOutputStream stream(out);
    StructWriter writer(&stream);
    writer.Number("flagVersion", static_cast<double>(decision.flag_version));
    writer.Number("revision", static_cast<double>(revision));
    writer.String("oldTarget", decision.old_target);
    writer.String("newTarget", decision.new_target);
    writer.String("reads", PlanText(decision.plan.read_authoritative,
                                    decision.plan.read_shadow));
    writer.String("writes", PlanText(decision.plan.write_authoritative,
                                     decision.plan.write_secondary));
  }  // the writer flushes into `out`, the stream trims it
}

void FlagdMetadata(const Decision& decision, int64_t revision,
                   google::protobuf::Struct* out) {
  std::string bytes;
  FlagdMetadataBytes(decision, revision, &bytes);
  out->ParseFromString(bytes);  // bytes encoded above always parse
}

void DecisionStruct(const Decision& decision, int64_t revision,
                    google::protobuf::Struct* out) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    StructWriter writer(&stream);
    writer.String("stage", StageName(decision.stage));
    writer.String("reads", PlanText(decision.plan.read_authoritative,
                                    decision.plan.read_shadow));
    writer.String("writes", PlanText(decision.plan.write_authoritative,
                                     decision.plan.write_secondary));
    writer.String("oldTarget", decision.old_target);
    writer.String("newTarget", decision.new_target);
    writer.String("reason", ReasonName(decision.reason));
    writer.String("ruleId", decision.rule_id);
    writer.Number("bucket", static_cast<double>(decision.bucket));
    writer.Number("flagVersion", static_cast<double>(decision.flag_version));
    writer.Number("revision", static_cast<double>(revision));
    if (!decision.error.empty()) writer.String("error", decision.error);
  }  // the writer flushes into `bytes`
  out->ParseFromString(bytes);  // bytes encoded above always parse
}

}  // namespace cutover
