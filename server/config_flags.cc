#include "server/config_flags.h"

#include <cstdint>
#include <limits>
#include <utility>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "google/protobuf/descriptor.h"

namespace cutover {
namespace {

namespace pb = config::v1;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Parses `text` as a value of the number field `field` and, if `message` is
// not null, sets it there. False if `text` is not such a number.
bool SetNumber(Message* message, const FieldDescriptor* field,
               const std::string& text) {
  const Reflection* r = message != nullptr ? message->GetReflection() : nullptr;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t value;
      if (!absl::SimpleAtoi(text, &value)) return false;
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_INT32) {
        if (value < std::numeric_limits<int32_t>::min() ||
            value > std::numeric_limits<int32_t>::max()) {
          return false;
        }
        if (r != nullptr) {
          r->SetInt32(message, field, static_cast<int32_t>(value));
        }
      } else if (r != nullptr) {
        r->SetInt64(message, field, value);
      }
      return true;
    }
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t value;
      if (!absl::SimpleAtoi(text, &value)) return false;
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32) {
        if (value > std::numeric_limits<uint32_t>::max()) return false;
        if (r != nullptr) {
          r->SetUInt32(message, field, static_cast<uint32_t>(value));
        }
      } else if (r != nullptr) {
        r->SetUInt64(message, field, value);
      }
      return true;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double value;
      if (!absl::SimpleAtod(text, &value)) return false;
      if (r != nullptr) {
        field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE
            ? r->SetDouble(message, field, value)
            : r->SetFloat(message, field, static_cast<float>(value));
      }
      return true;
    }
    default:
      return false;
  }
}

}  // namespace

// One command-line option and where its value goes.
struct ConfigFlags::Flag {
  // From a field of DaemonConfig down to the field the option sets.
  std::vector<const FieldDescriptor*> path;
  pb::CommandLine spec;
  std::string value;  // text, enum and number options
  bool on = false;    // bool options
};

ConfigFlags::ConfigFlags(CLI::App* app) {
  // Depth first, in field order, through the singular messages.
  std::vector<const FieldDescriptor*> path;
  auto visit = [&](const Descriptor* descriptor, auto& self) -> void {
    for (int i = 0; i < descriptor->field_count(); ++i) {
      const FieldDescriptor* field = descriptor->field(i);
      path.push_back(field);
      if (field->options().HasExtension(pb::command_line)) {
        auto flag = std::make_unique<Flag>();
        flag->path = path;
        flag->spec = field->options().GetExtension(pb::command_line);
        flags_.push_back(std::move(flag));
      } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                 !field->is_repeated()) {
        self(field->message_type(), self);
      }
      path.pop_back();
    }
  };
  visit(pb::DaemonConfig::descriptor(), visit);

  for (const auto& flag : flags_) {
    const FieldDescriptor* field = flag->path.back();
    const std::string& name = flag->spec.flag();
    const std::string& help = flag->spec.help();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_BOOL:
        app->add_flag(name, flag->on, help);
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        app->add_option(name, flag->value, help);
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        std::vector<std::string> values;
        for (int i = 0; i < field->enum_type()->value_count(); ++i) {
          const auto* value = field->enum_type()->value(i);
          if (value->number() != 0) {
            values.push_back(absl::AsciiStrToLower(value->name()));
          }
        }
        app->add_option(name, flag->value, help)
            ->check(CLI::IsMember(std::move(values)));
        break;
      }
      default: {
        const bool integral =
            field->cpp_type() != FieldDescriptor::CPPTYPE_DOUBLE &&
            field->cpp_type() != FieldDescriptor::CPPTYPE_FLOAT;
        app->add_option(name, flag->value, help)
            ->type_name(integral ? "INT" : "NUMBER")
            ->check(CLI::Validator(
                [field, integral](std::string& text) -> std::string {
                  if (SetNumber(nullptr, field, text)) return "";
                  return integral ? "not an integer: " + text
                                  : "not a number: " + text;
                },
                ""));
        break;
      }
    }
  }
}

ConfigFlags::~ConfigFlags() = default;

void ConfigFlags::ApplyTo(pb::DaemonConfig* config) const {
  for (const auto& flag : flags_) {
    const FieldDescriptor* field = flag->path.back();
    const bool bool_field = field->cpp_type() == FieldDescriptor::CPPTYPE_BOOL;
    if (bool_field ? !flag->on : flag->value.empty()) continue;
    Message* message = config;
    for (size_t i = 0; i + 1 < flag->path.size(); ++i) {
      message = message->GetReflection()->MutableMessage(message, flag->path[i]);
    }
    const Reflection* r = message->GetReflection();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_BOOL:
        r->SetBool(message, field, true);
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        r->SetString(message, field,
                     flag->spec.has_off() && flag->value == flag->spec.off()
                         ? ""
                         : flag->value);
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        // The option's check admitted only the enum's values.
        r->SetEnum(message, field,
                   field->enum_type()->FindValueByName(
                       absl::AsciiStrToUpper(flag->value)));
        break;
      default:
        SetNumber(message, field, flag->value);  // checked by the option
        break;
    }
  }
}

absl::StatusOr<DaemonConfig> ResolveConfig(const std::string& config_path,
                                           const ConfigFlags& flags) {
  pb::DaemonConfig config;
  if (!config_path.empty()) {
    auto loaded = LoadConfigFile(config_path);
    if (!loaded.ok()) return loaded.status();
    config = *std::move(loaded);
  }
  flags.ApplyTo(&config);
  if (absl::Status valid = ValidateConfig(config); !valid.ok()) return valid;
  return ToDaemonConfig(config);
}

}  // namespace cutover
