#include "cli/apply_command.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "yaml/yaml_message.h"

namespace cutover::cli {
namespace {

constexpr char kApplyComment[] = "cutoverctl apply";

}  // namespace

void ApplyCommand::Register(CLI::App& app) {
  auto* apply = app.add_subcommand(
      "apply",
      "make flags and segments match a YAML or JSON file: all of it, as one "
      "revision, or nothing");
  apply->add_option("-f,--file", options_.file,
                    "the file (see config/flags.example.yaml)")
      ->required();
  apply->add_flag("--dry-run", options_.dry_run,
                  "have the daemon check the file and print what would "
                  "change; change nothing");
  apply->add_flag("--force", options_.force,
                  "allow stage skips, broken gates and stale reads (the "
                  "history records each)");
  apply->add_option("--expected-revision", options_.expected_revision,
                    "refuse (ABORTED) unless the store is at this revision "
                    "(the one a dry run printed)")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            int64_t revision = 0;
            if (!absl::SimpleAtoi(text, &revision) || revision < 0) {
              return "must be a store revision (a whole number, 0 or "
                     "more), got '" + text + "'";
            }
            return "";
          },
          "REVISION"));
  apply->callback([this] { context_.command = [this] { return Apply(); }; });
}

absl::Status ApplyCommand::Apply() {
  const std::string& path = options_.file;
  // A folder opens but reads as nothing: refused, not taken for an empty
  // file.
  std::error_code not_a_folder;
  if (std::filesystem::is_directory(path, not_a_folder)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read: a folder, not a file"));
  }
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read"));
  }
  std::stringstream text;
  text << in.rdbuf();
  auto file = ParseFlagFile(text.str());
  if (!file.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", file.status().message()));
  }
  // Everything else (keys twice, segments no one defines, each entry's
  // fields, stage moves, gates, stale reads) the daemon checks, in the
  // same call that commits, so a dry run and a real run cannot disagree.
  v1::ApplyRequest request;
  *request.mutable_segments() = std::move(*file->mutable_segments());
  *request.mutable_flags() = std::move(*file->mutable_flags());
  request.set_dry_run(options_.dry_run);
  request.set_force(options_.force);
  if (options_.expected_revision >= 0) {
    request.set_expected_revision(options_.expected_revision);
  }
  request.set_comment(kApplyComment);
  absl::StatusOr<v1::ApplyResponse> response = context_.admin->Apply(request);
  if (!response.ok()) {
    return absl::Status(response.status().code(),
                        absl::StrCat(path, ": ", response.status().message()));
  }
  PrintResults(*response);
  return absl::OkStatus();
}

void ApplyCommand::PrintResults(const v1::ApplyResponse& response) {
  int changed = 0;
  for (const v1::ApplyResult& result : response.results()) {
    const std::string what =
        absl::StrCat(result.segment() ? "segment " : "flag ", result.key());
    if (!result.has_change()) {
      context_.out << what << ": unchanged\n";
      continue;
    }
    ++changed;
    const v1::HistoryEntry& change = result.change();
    const bool created = change.action() == "create" ||
                         change.action() == "segment-create";
    context_.out << what << ": " << (created ? "create" : "update")
                 << (change.forced() ? " (FORCED)" : "") << "\n";
    for (const std::string& line : change.diff()) {
      context_.out << "    " << line << "\n";
    }
    for (const std::string& gate : change.overridden_gates()) {
      context_.out << "    forced past " << gate << "\n";
    }
  }
  if (options_.dry_run) {
    context_.out << "dry run: nothing changed; checked at revision "
                 << response.revision() << " (apply --expected-revision "
                 << response.revision()
                 << " commits only if nothing changed since)\n";
  } else if (response.committed()) {
    context_.out << "applied: " << changed << " change"
                 << (changed == 1 ? "" : "s") << " at revision "
                 << response.revision() << "\n";
  } else {
    context_.out << "nothing to change at revision " << response.revision()
                 << "\n";
  }
}

}  // namespace cutover::cli
