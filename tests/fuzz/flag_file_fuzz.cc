// libFuzzer target: the YAML/JSON flag file loader, ParseFlagFile
// (yaml/yaml_message.h), the function `cutoverctl apply -f` reads a
// FlagFile with, on arbitrary text.
//
// The loader must never crash and never let an exception out (yaml-cpp's
// included: catching them is the loader's job, so this target catches
// nothing and an escaping exception is a crash). What it accepts is then
// compiled as apply validates it, and decided for a few users. Invariants:
//
//   - a refusal is INVALID_ARGUMENT;
//   - what it accepts survives the protobuf wire format (serializes, parses
//     back, equal) — the daemon receives it that way;
//   - what it accepts survives MessageToYaml (`cutoverctl ... -o yaml`)
//     and parsing back: the same message;
//   - validation agrees with compilation; a compiled flag's decisions have a
//     valid stage with its plan, and a disabled flag decides off/DISABLED.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "convert/convert.h"
#include "core/currency.h"
#include "core/evaluate.h"
#include "core/model.h"
#include "core/stage.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "yaml/yaml_message.h"

namespace cutover {
namespace {

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "flag_file_fuzz: invariant violated: %s\n%s\n", what,
               detail.c_str());
  std::abort();
}

#define FUZZ_CHECK(cond, detail)        \
  do {                                  \
    if (!(cond)) Fail(#cond, (detail)); \
  } while (0)

void CheckDecision(const Flag& flag, const Decision& d) {
  const std::string what = std::string(StageName(d.stage)) + " " +
                           ReasonName(d.reason) + " for " + flag.key;
  FUZZ_CHECK(IsStage(d.stage), what);
  const StagePlan plan = PlanFor(d.stage);
  FUZZ_CHECK(d.plan.read_authoritative == plan.read_authoritative &&
                 d.plan.read_shadow == plan.read_shadow &&
                 d.plan.write_authoritative == plan.write_authoritative &&
                 d.plan.write_secondary == plan.write_secondary,
             what);
  if (!flag.enabled) {
    // The kill switch caps every user at the data-safe fallback stage.
    FUZZ_CHECK(d.stage <= FallbackStage(flag) && d.reason == Reason::kDisabled,
               what);
  } else {
    FUZZ_CHECK(d.reason == Reason::kRuleMatch || d.reason == Reason::kSplit ||
                   d.reason == Reason::kDefault,
               what);
  }
}

}  // namespace
}  // namespace cutover

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cutover;
  using google::protobuf::util::MessageDifferencer;
  const std::string text(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<v1::FlagFile> file = ParseFlagFile(text);
  if (!file.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(file.status()),
               file.status().ToString());
    return 0;
  }

  // The daemon gets the message over gRPC: it must serialize and parse back.
  std::string wire;
  FUZZ_CHECK(file->SerializeToString(&wire), file->DebugString());
  v1::FlagFile from_wire;
  FUZZ_CHECK(from_wire.ParseFromString(wire),
             "accepted text that does not survive the wire format:\n" +
                 file->DebugString());
  FUZZ_CHECK(MessageDifferencer::Equals(*file, from_wire), file->DebugString());

  // `-o yaml` output reads back as the same message.
  const std::string yaml = MessageToYaml(*file);
  absl::StatusOr<v1::FlagFile> again = ParseFlagFile(yaml);
  FUZZ_CHECK(again.ok(), again.status().ToString() + "\n" + yaml);
  FUZZ_CHECK(MessageDifferencer::Equals(*file, *again),
             "before:\n" + file->DebugString() + "yaml:\n" + yaml +
                 "after:\n" + again->DebugString());

  // As apply validates it, then evaluation.
  SegmentIndex segments;
  for (const v1::Segment& proto : file->segments()) {
    const Segment segment = FromProto(proto);
    const absl::Status valid = ValidateSegment(segment);
    auto compiled = CompileSegment(segment);
    FUZZ_CHECK(valid == compiled.status(), valid.ToString());
    if (compiled.ok()) segments.emplace(segment.key, *std::move(compiled));
  }
  std::vector<Context> contexts = {
      Context{"user-1", {{"region", "eu-west-1"}, {"tenant_id", "t-1"}}},
      Context{"", {}},
  };
  for (const auto& [key, segment] : segments) {
    for (const std::string& member : segment->segment().included) {
      contexts.push_back(Context{member, {}});
      break;
    }
  }
  for (const v1::Flag& proto : file->flags()) {
    const Flag flag = FromProto(proto);
    const absl::Status valid = ValidateFlag(flag);
    auto compiled = CompileFlag(flag);
    FUZZ_CHECK(valid == compiled.status(), valid.ToString());
    if (!compiled.ok()) continue;
    for (const Context& context : contexts) {
      CheckDecision(flag, Decide(**compiled, segments, context));
    }
  }
  return 0;
}
