// How cutoverctl prints API messages: `-o table` (for people), `-o json`
// (the protobuf JSON mapping, snake_case names) or `-o yaml` (the same
// fields as YAML, as `apply -f` reads them).
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CLI_OUTPUT_H_
#define CUTOVER_CLI_OUTPUT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/message.h"

namespace cutover::cli {

enum class Format { kTable, kJson, kYaml };

// "table", "json", "yaml"; INVALID_ARGUMENT otherwise.
absl::StatusOr<Format> ParseFormat(const std::string& text);

// The message rendered in `format`, ending with a newline. Table form
// exists for Flag, ListFlagsResponse, DecideResponse, GetHistoryResponse,
// Segment, ListSegmentsResponse, FlagStatus, ListFlagStatusResponse,
// BackfillJob and ListBackfillsResponse;
// other messages print as YAML.
std::string Render(const google::protobuf::Message& message, Format format);

// One line describing a serve: "live", or "live 5%, shadow 95%".
std::string FormatServe(const v1::Serve& serve);
// One line describing a clause: "tenant in acme, globex".
std::string FormatClause(const v1::Clause& clause);
// What a flag's kill switch serves: "dualwrite (computed)" or "live (set)".
std::string FallbackText(const v1::Flag& flag);
// A disabled flag: "DISABLED (kill switch: nobody past dualwrite)".
std::string DisabledText(const v1::Flag& flag);
// One line per stale database ("old is stale since version 7 (complete
// served to 100% by the default serve)"); empty when both are current.
std::vector<std::string> CurrencyLines(const v1::Flag& flag);

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_OUTPUT_H_
