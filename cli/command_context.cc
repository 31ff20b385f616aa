#include "cli/command_context.h"

namespace cutover::cli {

void CommandContext::Print(const google::protobuf::Message& message) const {
  out << Render(message, format);
}

void CommandContext::PrintChanged(const v1::Flag& flag) const {
  if (format != Format::kTable) return Print(flag);
  out << flag.key() << ": version " << flag.version() << ", "
      << (flag.enabled() ? "" : DisabledText(flag) + ", ")
      << (flag.archived() ? "archived, " : "") << "default "
      << FormatServe(flag.default_serve()) << ", " << flag.rules_size()
      << (flag.rules_size() == 1 ? " rule" : " rules") << "\n";
  for (const std::string& line : CurrencyLines(flag)) {
    out << "  " << line << "\n";
  }
}

void CommandContext::PrintChanged(const v1::Segment& segment) const {
  if (format != Format::kTable) return Print(segment);
  out << "segment " << segment.key() << ": version " << segment.version()
      << ", " << segment.included_size() << " included, "
      << segment.excluded_size() << " excluded, " << segment.clauses_size()
      << " clauses\n";
}

void AddWriteOptions(CLI::App* command, WriteOptions* options,
                     bool with_force) {
  if (with_force) {
    command->add_flag("--force", options->force,
                      "allow a move that skips a stage, that a gate refuses "
                      "or that makes users read a stale database (the "
                      "history records it)");
  }
  command->add_option("--expected-version", options->expected_version,
                      "refuse (ABORTED) unless the flag is at this version");
  command->add_option("-m,--comment", options->comment,
                      "why, recorded in the history");
}

}  // namespace cutover::cli
