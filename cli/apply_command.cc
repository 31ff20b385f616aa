#include "cli/apply_command.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "convert/convert.h"
#include "convert/flag_diff.h"
#include "core/currency.h"
#include "core/evaluate.h"
#include "core/stage_moves.h"
#include "yaml/yaml_message.h"

namespace cutover::cli {
namespace {

constexpr char kApplyComment[] = "cutoverctl apply";

}  // namespace

void ApplyCommand::Register(CLI::App& app) {
  auto* apply = app.add_subcommand(
      "apply", "make flags and segments match a YAML or JSON file");
  apply->add_option("-f,--file", options_.file,
                    "the file (see config/flags.example.yaml)")
      ->required();
  apply->add_flag("--dry-run", options_.dry_run,
                  "print what would change; change nothing");
  apply->add_flag("--force", options_.force,
                 "allow stage skips, broken gates and stale reads");
  apply->callback([this] { context_.command = [this] { return Apply(); }; });
}

void ApplyCommand::PrintDiff(const std::string& what,
                             const std::vector<std::string>& diff) {
  context_.out << what << "\n";
  for (const auto& line : diff) context_.out << "    " << line << "\n";
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
  // Check the file as a whole, then every entry, before changing anything.
  if (absl::Status s = CheckFileShape(*file); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  for (int i = 0; i < file->segments_size(); ++i) {
    absl::Status s = ValidateSegment(FromProto(file->segments(i)));
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": segments[", i, "].", s.message()));
    }
  }
  for (int i = 0; i < file->flags_size(); ++i) {
    absl::Status s = ValidateFlag(FromProto(file->flags(i)));
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": flags[", i, "].", s.message()));
    }
  }
  // Segments first: flags' rules may name them.
  for (const auto& segment : file->segments()) {
    if (absl::Status s = ApplySegment(segment); !s.ok()) return s;
  }
  for (const auto& flag : file->flags()) {
    if (absl::Status s = ApplyFlag(flag); !s.ok()) return s;
  }
  if (options_.dry_run) context_.out << "dry run: nothing changed\n";
  return absl::OkStatus();
}

absl::Status ApplyCommand::CheckFileShape(const v1::FlagFile& file) const {
  // The same key twice is a mistake in the file, not "the last one wins".
  absl::flat_hash_map<std::string, int> segments;
  for (int i = 0; i < file.segments_size(); ++i) {
    const auto [it, added] = segments.emplace(file.segments(i).key(), i);
    if (!added) {
      return absl::InvalidArgumentError(absl::StrCat(
          "segments[", i, "].key: '", file.segments(i).key(),
          "' is already the key of segments[", it->second, "]"));
    }
  }
  absl::flat_hash_map<std::string, int> flags;
  for (int i = 0; i < file.flags_size(); ++i) {
    const auto [it, added] = flags.emplace(file.flags(i).key(), i);
    if (!added) {
      return absl::InvalidArgumentError(absl::StrCat(
          "flags[", i, "].key: '", file.flags(i).key(),
          "' is already the key of flags[", it->second, "]"));
    }
  }
  // Every segment a rule names is in the file or in the store.
  for (int f = 0; f < file.flags_size(); ++f) {
    const v1::Flag& flag = file.flags(f);
    for (int r = 0; r < flag.rules_size(); ++r) {
      const v1::Rule& rule = flag.rules(r);
      for (int c = 0; c < rule.clauses_size(); ++c) {
        const v1::Clause& clause = rule.clauses(c);
        if (clause.op() != v1::IN_SEGMENT) continue;
        for (int v = 0; v < clause.values_size(); ++v) {
          const std::string& key = clause.values(v);
          if (segments.contains(key)) continue;
          v1::GetSegmentRequest get;
          get.set_key(key);
          absl::Status found = context_.admin->GetSegment(get).status();
          if (absl::IsNotFound(found)) {
            return absl::InvalidArgumentError(absl::StrCat(
                "flags[", f, "].rules[", r, "].clauses[", c, "].values[", v,
                "]: segment '", key,
                "' is neither in the file nor in the store"));
          }
          if (!found.ok()) return found;
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyCommand::ApplySegment(const v1::Segment& desired) {
  const AdminClient& admin = *context_.admin;
  const std::string what = absl::StrCat("segment ", desired.key());
  v1::GetSegmentRequest get;
  get.set_key(desired.key());
  absl::StatusOr<v1::Segment> current = admin.GetSegment(get);
  if (absl::IsNotFound(current.status())) {
    PrintDiff(what + ": create", DiffMessages(v1::Segment(), desired));
    if (options_.dry_run) return absl::OkStatus();
    v1::CreateSegmentRequest request;
    *request.mutable_segment() = desired;
    request.set_comment(kApplyComment);
    return admin.CreateSegment(request).status();
  }
  if (!current.ok()) return current.status();
  const auto diff = DiffMessages(*current, desired);
  if (diff.empty()) {
    context_.out << what << ": unchanged\n";
    return absl::OkStatus();
  }
  PrintDiff(what + ": update", diff);
  if (options_.dry_run) return absl::OkStatus();
  v1::ReplaceSegmentRequest request;
  *request.mutable_segment() = desired;
  request.set_expected_version(current->version());
  request.set_comment(kApplyComment);
  return admin.ReplaceSegment(request).status();
}

absl::Status ApplyCommand::ApplyFlag(const v1::Flag& desired) {
  const AdminClient& admin = *context_.admin;
  const std::string what = absl::StrCat("flag ", desired.key());
  v1::GetFlagRequest get;
  get.set_key(desired.key());
  absl::StatusOr<v1::Flag> got = admin.GetFlag(get);
  const bool exists = got.ok();
  if (!exists && !absl::IsNotFound(got.status())) return got.status();
  const v1::Flag current = exists ? *got : v1::Flag();
  if (exists && current.archived()) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " is archived; archived flags cannot change"));
  }
  const auto diff = DiffMessages(current, desired);
  if (exists && diff.empty()) {
    context_.out << what << ": unchanged\n";
    return absl::OkStatus();
  }
  if (options_.dry_run && !options_.force) {
    // The same check the server makes, so a dry run tells the truth.
    const Flag before = FromProto(current);
    const Flag after = FromProto(desired);
    absl::Status move = CheckStageMove(exists ? &before : nullptr, after);
    if (!move.ok()) {
      return absl::Status(move.code(),
                          absl::StrCat(what, ": ", move.message()));
    }
    const Currency currency = NextCurrency(exists ? &before : nullptr, after,
                                           before.version + 1, absl::Now());
    const std::vector<std::string> stale_reads =
        StaleReads(exists ? &before : nullptr, after, currency);
    if (!stale_reads.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, ": ", absl::StrJoin(stale_reads, "; "),
          " (force overrides, and the history records it)"));
    }
  }
  PrintDiff(what + (exists ? ": update" : ": create"), diff);
  if (options_.dry_run) return absl::OkStatus();
  absl::Status written;
  if (!exists) {
    v1::CreateFlagRequest request;
    *request.mutable_flag() = desired;
    request.set_force(options_.force);
    request.set_comment(kApplyComment);
    written = admin.CreateFlag(request).status();
  } else {
    v1::ReplaceFlagRequest request;
    *request.mutable_flag() = desired;
    request.set_expected_version(current.version());
    request.set_force(options_.force);
    request.set_comment(kApplyComment);
    written = admin.ReplaceFlag(request).status();
  }
  if (!written.ok()) {
    return absl::Status(written.code(),
                        absl::StrCat(what, ": ", written.message()));
  }
  return absl::OkStatus();
}

}  // namespace cutover::cli
