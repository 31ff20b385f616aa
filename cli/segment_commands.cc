#include "cli/segment_commands.h"

#include "cli/parse.h"

namespace cutover::cli {

void SegmentCommands::Register(CLI::App& app) {
  auto* segments = app.add_subcommand("segments", "named groups of users");
  segments->require_subcommand(1);

  // create and update share their options; update changes only what is given.
  for (const bool create : {true, false}) {
    auto* command = segments->add_subcommand(
        create ? "create" : "update",
        create ? "define a segment" : "change the parts of a segment given");
    command->add_option("segment", options_.key, "segment key")->required();
    command->add_option("--include", options_.include,
                        "user keys, comma-separated");
    command->add_option("--exclude", options_.exclude,
                        "user keys, comma-separated");
    command->add_option("--if", options_.clauses,
                        "clause (repeatable; all must match)");
    command->add_option("--description", options_.description, "for people");
    command->add_option("-m,--comment", options_.write.comment, "why");
    command->callback([this, create, command] {
      context_.command = [this, create, command] {
        return Write(create, *command);
      };
    });
  }

  auto* get = segments->add_subcommand("get", "show a segment");
  get->add_option("segment", options_.key, "segment key")->required();
  get->callback([this] { context_.command = [this] { return Get(); }; });

  auto* list = segments->add_subcommand("list", "list segments");
  list->callback([this] { context_.command = [this] { return List(); }; });

  auto* remove = segments->add_subcommand("delete", "delete an unused segment");
  remove->add_option("segment", options_.key, "segment key")->required();
  AddWriteOptions(remove, &options_.write, /*with_force=*/false);
  remove->callback([this] { context_.command = [this] { return Delete(); }; });
}

absl::Status SegmentCommands::Write(bool create, const CLI::App& command) {
  v1::Segment segment;
  if (!create) {
    v1::GetSegmentRequest get;
    get.set_key(options_.key);
    absl::StatusOr<v1::Segment> current = context_.admin->GetSegment(get);
    if (!current.ok()) return current.status();
    segment = *std::move(current);
  }
  segment.set_key(options_.key);
  if (command.count("--description") > 0) {
    segment.set_description(options_.description);
  }
  if (command.count("--include") > 0) {
    segment.clear_included();
    for (const auto& user : SplitList(options_.include)) {
      segment.add_included(user);
    }
  }
  if (command.count("--exclude") > 0) {
    segment.clear_excluded();
    for (const auto& user : SplitList(options_.exclude)) {
      segment.add_excluded(user);
    }
  }
  if (command.count("--if") > 0) {
    segment.clear_clauses();
    for (const auto& text : options_.clauses) {
      auto clause = ParseClauseArg(text);
      if (!clause.ok()) return clause.status();
      *segment.add_clauses() = *clause;
    }
  }
  absl::StatusOr<v1::Segment> result;
  if (create) {
    v1::CreateSegmentRequest request;
    *request.mutable_segment() = segment;
    request.set_comment(options_.write.comment);
    result = context_.admin->CreateSegment(request);
  } else {
    v1::ReplaceSegmentRequest request;
    request.set_expected_version(segment.version());
    *request.mutable_segment() = segment;
    request.set_comment(options_.write.comment);
    result = context_.admin->ReplaceSegment(request);
  }
  if (!result.ok()) return result.status();
  context_.PrintChanged(*result);
  return absl::OkStatus();
}

absl::Status SegmentCommands::Get() {
  v1::GetSegmentRequest request;
  request.set_key(options_.key);
  absl::StatusOr<v1::Segment> segment = context_.admin->GetSegment(request);
  if (!segment.ok()) return segment.status();
  context_.Print(*segment);
  return absl::OkStatus();
}

absl::Status SegmentCommands::List() {
  absl::StatusOr<v1::ListSegmentsResponse> segments =
      context_.admin->ListSegments(v1::ListSegmentsRequest());
  if (!segments.ok()) return segments.status();
  context_.Print(*segments);
  return absl::OkStatus();
}

absl::Status SegmentCommands::Delete() {
  v1::DeleteSegmentRequest request;
  request.set_key(options_.key);
  request.set_expected_version(options_.write.expected_version);
  request.set_comment(options_.write.comment);
  absl::StatusOr<v1::Segment> segment = context_.admin->DeleteSegment(request);
  if (!segment.ok()) return segment.status();
  context_.out << "segment " << segment->key() << ": deleted\n";
  return absl::OkStatus();
}

}  // namespace cutover::cli
