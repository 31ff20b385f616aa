#include "yaml/yaml_message.h"

#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"
#include "yaml-cpp/yaml.h"

namespace cutover {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

absl::Status Bad(const std::string& path, absl::string_view rule) {
  return absl::InvalidArgumentError(
      absl::StrCat(path.empty() ? "(top level)" : path, ": ", rule));
}

std::string Child(const std::string& path, absl::string_view name) {
  return path.empty() ? std::string(name) : absl::StrCat(path, ".", name);
}

const FieldDescriptor* FindField(const Descriptor* descriptor,
                                 const std::string& name) {
  if (const auto* field = descriptor->FindFieldByName(name)) return field;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    if (descriptor->field(i)->json_name() == name) return descriptor->field(i);
  }
  return nullptr;
}

absl::Status ParseMessage(const YAML::Node& node, Message* message,
                          const std::string& path);

// One scalar (or message) value into a singular field, or appended to a
// repeated one.
absl::Status ParseValue(const YAML::Node& node, Message* message,
                        const FieldDescriptor* field, const std::string& path) {
  const Reflection* reflection = message->GetReflection();
  const bool repeated = field->is_repeated();
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    Message* child = repeated ? reflection->AddMessage(message, field)
                              : reflection->MutableMessage(message, field);
    if (child->GetDescriptor() ==
        google::protobuf::Timestamp::descriptor()) {
      if (!node.IsScalar() ||
          !google::protobuf::util::TimeUtil::FromString(
              node.Scalar(), static_cast<google::protobuf::Timestamp*>(child))) {
        return Bad(path, "not an RFC 3339 time");
      }
      return absl::OkStatus();
    }
    return ParseMessage(node, child, path);
  }
  // `key:` with nothing after it is YAML's null: for text, the empty text.
  if (node.IsNull() && field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
    repeated ? reflection->AddString(message, field, "")
             : reflection->SetString(message, field, "");
    return absl::OkStatus();
  }
  if (!node.IsScalar()) return Bad(path, "expected a single value");
  const std::string& text = node.Scalar();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      // A proto3 string must be UTF-8: protobuf refuses to parse anything
      // else, so the daemon could never receive it. Same check as the parser.
      if (field->type() == FieldDescriptor::TYPE_STRING &&
          !google::protobuf::internal::IsStructurallyValidUTF8(text)) {
        return Bad(path, "not valid UTF-8");
      }
      repeated ? reflection->AddString(message, field, text)
               : reflection->SetString(message, field, text);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_BOOL: {
      const std::string lower = absl::AsciiStrToLower(text);
      bool value;
      if (lower == "true" || lower == "yes" || lower == "on") {
        value = true;
      } else if (lower == "false" || lower == "no" || lower == "off") {
        value = false;
      } else {
        return Bad(path, absl::StrCat("not a boolean: '", text, "'"));
      }
      repeated ? reflection->AddBool(message, field, value)
               : reflection->SetBool(message, field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t value;
      if (!absl::SimpleAtoi(text, &value) ||
          (field->cpp_type() == FieldDescriptor::CPPTYPE_INT32 &&
           (value < std::numeric_limits<int32_t>::min() ||
            value > std::numeric_limits<int32_t>::max()))) {
        return Bad(path, absl::StrCat("not an integer: '", text, "'"));
      }
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_INT32) {
        repeated ? reflection->AddInt32(message, field, value)
                 : reflection->SetInt32(message, field, value);
      } else {
        repeated ? reflection->AddInt64(message, field, value)
                 : reflection->SetInt64(message, field, value);
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t value;
      if (!absl::SimpleAtoi(text, &value) ||
          (field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32 &&
           value > std::numeric_limits<uint32_t>::max())) {
        return Bad(path, absl::StrCat("not an unsigned integer: '", text, "'"));
      }
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32) {
        repeated ? reflection->AddUInt32(message, field, value)
                 : reflection->SetUInt32(message, field, value);
      } else {
        repeated ? reflection->AddUInt64(message, field, value)
                 : reflection->SetUInt64(message, field, value);
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double value;
      if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) {
        return Bad(path, absl::StrCat("not a number: '", text, "'"));
      }
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        repeated ? reflection->AddDouble(message, field, value)
                 : reflection->SetDouble(message, field, value);
      } else {
        repeated ? reflection->AddFloat(message, field, value)
                 : reflection->SetFloat(message, field, value);
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const EnumDescriptor* type = field->enum_type();
      const std::string upper = absl::AsciiStrToUpper(text);
      const auto* value = type->FindValueByName(upper);
      if (value == nullptr || value->number() == 0) {
        std::string names;
        for (int i = 1; i < type->value_count(); ++i) {
          absl::StrAppend(&names, i > 1 ? ", " : "",
                          absl::AsciiStrToLower(type->value(i)->name()));
        }
        return Bad(path, absl::StrCat("'", text, "' is not one of ", names));
      }
      repeated ? reflection->AddEnumValue(message, field, value->number())
               : reflection->SetEnumValue(message, field, value->number());
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return Bad(path, "unsupported field type");
}

absl::Status ParseMessage(const YAML::Node& node, Message* message,
                          const std::string& path) {
  if (node.IsNull()) return absl::OkStatus();
  if (!node.IsMap()) return Bad(path, "expected a mapping of fields");
  const Descriptor* descriptor = message->GetDescriptor();
  const Reflection* reflection = message->GetReflection();
  for (const auto& item : node) {
    if (!item.first.IsScalar()) return Bad(path, "field names must be text");
    const std::string name = item.first.Scalar();
    const FieldDescriptor* field = FindField(descriptor, name);
    const std::string field_path = Child(path, name);
    if (field == nullptr) {
      return Bad(field_path, absl::StrCat("unknown field of ",
                                          descriptor->name()));
    }
    const YAML::Node& value = item.second;
    if (field->is_map()) {
      if (value.IsNull()) continue;
      if (!value.IsMap()) return Bad(field_path, "expected a mapping");
      const Descriptor* entry_type = field->message_type();
      for (const auto& entry : value) {
        const std::string entry_path =
            absl::StrCat(field_path, "[\"", entry.first.Scalar(), "\"]");
        Message* map_entry = reflection->AddMessage(message, field);
        absl::Status s = ParseValue(entry.first, map_entry,
                                    entry_type->map_key(), entry_path);
        if (s.ok()) {
          s = ParseValue(entry.second, map_entry, entry_type->map_value(),
                         entry_path);
        }
        if (!s.ok()) return s;
      }
    } else if (field->is_repeated()) {
      if (value.IsNull()) continue;
      if (!value.IsSequence()) return Bad(field_path, "expected a list");
      for (size_t i = 0; i < value.size(); ++i) {
        absl::Status s = ParseValue(value[i], message, field,
                                    absl::StrCat(field_path, "[", i, "]"));
        if (!s.ok()) return s;
      }
    } else {
      if (reflection->HasField(*message, field) &&
          field->containing_oneof() == nullptr) {
        return Bad(field_path, "given twice");
      }
      if (const auto* oneof = field->containing_oneof();
          oneof != nullptr && reflection->HasOneof(*message, oneof)) {
        return Bad(field_path, absl::StrCat("only one of ", oneof->name(),
                                            " may be set"));
      }
      absl::Status s = ParseValue(value, message, field, field_path);
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

void EmitValue(YAML::Emitter& out, const Message& message,
               const FieldDescriptor* field, int index);

void EmitMessage(YAML::Emitter& out, const Message& message) {
  if (message.GetDescriptor() == google::protobuf::Timestamp::descriptor()) {
    out << google::protobuf::util::TimeUtil::ToString(
        static_cast<const google::protobuf::Timestamp&>(message));
    return;
  }
  const Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  out << YAML::BeginMap;
  for (const FieldDescriptor* field : fields) {
    out << YAML::Key << field->name() << YAML::Value;
    if (field->is_map()) {
      out << YAML::BeginMap;
      for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
        const Message& entry = reflection->GetRepeatedMessage(message, field, i);
        const auto* type = entry.GetDescriptor();
        out << YAML::Key;
        EmitValue(out, entry, type->map_key(), -1);
        out << YAML::Value;
        EmitValue(out, entry, type->map_value(), -1);
      }
      out << YAML::EndMap;
    } else if (field->is_repeated()) {
      out << YAML::BeginSeq;
      for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
        EmitValue(out, message, field, i);
      }
      out << YAML::EndSeq;
    } else {
      EmitValue(out, message, field, -1);
    }
  }
  out << YAML::EndMap;
}

// Emits field `field` of `message` (element `index` if repeated).
void EmitValue(YAML::Emitter& out, const Message& message,
               const FieldDescriptor* field, int index) {
  const Reflection* r = message.GetReflection();
  const bool rep = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_MESSAGE:
      EmitMessage(out, rep ? r->GetRepeatedMessage(message, field, index)
                           : r->GetMessage(message, field));
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string value = rep ? r->GetRepeatedString(message, field, index)
                                    : r->GetString(message, field);
      out << YAML::DoubleQuoted << value;
      break;
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      out << (rep ? r->GetRepeatedBool(message, field, index)
                  : r->GetBool(message, field));
      break;
    case FieldDescriptor::CPPTYPE_INT32:
      out << (rep ? r->GetRepeatedInt32(message, field, index)
                  : r->GetInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      out << (rep ? r->GetRepeatedInt64(message, field, index)
                  : r->GetInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      out << (rep ? r->GetRepeatedUInt32(message, field, index)
                  : r->GetUInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      out << (rep ? r->GetRepeatedUInt64(message, field, index)
                  : r->GetUInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      out << (rep ? r->GetRepeatedDouble(message, field, index)
                  : r->GetDouble(message, field));
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      out << (rep ? r->GetRepeatedFloat(message, field, index)
                  : r->GetFloat(message, field));
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* value = rep ? r->GetRepeatedEnum(message, field, index)
                              : r->GetEnum(message, field);
      out << absl::AsciiStrToLower(value->name());
      break;
    }
  }
}

}  // namespace

absl::Status YamlToMessage(const std::string& text, Message* message) {
  message->Clear();
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("not valid YAML or JSON: line ", e.mark.line + 1,
                     ", column ", e.mark.column + 1, ": ", e.msg));
  }
  // yaml-cpp reports a duplicated or malformed node lazily; keep its
  // exceptions inside this function.
  try {
    return ParseMessage(root, message, "");
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("not valid YAML or JSON: ", e.what()));
  }
}

std::string MessageToYaml(const Message& message) {
  YAML::Emitter out;
  out.SetIndent(2);
  EmitMessage(out, message);
  return std::string(out.c_str()) + "\n";
}

absl::StatusOr<v1::FlagFile> ParseFlagFile(const std::string& text) {
  v1::FlagFile file;
  absl::Status status = YamlToMessage(text, &file);
  if (!status.ok()) return status;
  return file;
}

}  // namespace cutover
