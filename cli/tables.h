// The table form (-o table) of the API messages that have one: aligned
// fields for one object, columns for lists. Render (cli/output.h) prints
// everything else as YAML.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CLI_TABLES_H_
#define CUTOVER_CLI_TABLES_H_

#include <optional>
#include <string>

#include "google/protobuf/message.h"

namespace cutover::cli {

// `message` as a table, ending with a newline, if its type has a table
// form (see Render); nullopt otherwise.
std::optional<std::string> RenderTable(
    const google::protobuf::Message& message);

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_TABLES_H_
