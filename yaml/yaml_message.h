// YAML <-> protobuf, guided by the message descriptor, for the files and
// output people read and write: `cutoverctl apply -f flags.yaml` and
// `-o yaml`. JSON input is accepted too (YAML is a superset).
//
// Field names may be snake_case (as in the .proto) or lowerCamelCase (the
// JSON mapping). Enum values may be written in any case ("live", "LIVE").
// Errors are INVALID_ARGUMENT naming the path of the bad node, e.g.
// "flags[0].default_serve.rollout.splits[1].weight: not an unsigned
// integer: 'five'". Unknown fields are errors, so a typo never passes
// silently. A text field written with no value (`key:`) is empty text.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_YAML_YAML_MESSAGE_H_
#define CUTOVER_YAML_YAML_MESSAGE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/message.h"

namespace cutover {

// Parses YAML (or JSON) text into `message` (cleared first).
absl::Status YamlToMessage(const std::string& text,
                           google::protobuf::Message* message);

// Renders `message` as block-style YAML with snake_case names and lowercase
// enum values; fields at their default value are left out.
std::string MessageToYaml(const google::protobuf::Message& message);

// Reads a flag file (see cutover.v1.FlagFile), e.g. config/flags.example.yaml.
absl::StatusOr<v1::FlagFile> ParseFlagFile(const std::string& text);

}  // namespace cutover

#endif  // CUTOVER_YAML_YAML_MESSAGE_H_
