#include "cli/serve_commands.h"

#include "cli/parse.h"

namespace cutover::cli {

void ServeCommands::RegisterRules(CLI::App& app) {
  auto* rules = app.add_subcommand("rules", "targeting rules of a flag");
  rules->require_subcommand(1);

  auto* add = rules->add_subcommand("add", "add a rule");
  add->add_option("flag", options_.key, "flag key")->required();
  add->add_option("--if", options_.clauses,
                  "clause, e.g. 'tenant in acme,globex' or 'in_segment "
                  "internal' (repeatable; all must match)")
      ->required();
  add->add_option("--serve", options_.serve,
                  "a stage, or a rollout like live=5,shadow=95")
      ->required();
  add->add_option("--id", options_.rule_id, "rule id (default rule-N)");
  add->add_option("--index", options_.index, "position (default: last)");
  add->add_option("--description", options_.description, "for people");
  AddWriteOptions(add, &options_.write);
  add->callback([this] { context_.command = [this] { return AddRule(); }; });

  auto* remove = rules->add_subcommand("remove", "remove a rule by id");
  remove->add_option("flag", options_.key, "flag key")->required();
  remove->add_option("rule", options_.rule_id, "rule id")->required();
  AddWriteOptions(remove, &options_.write);
  remove->callback(
      [this] { context_.command = [this] { return RemoveRule(); }; });
}

void ServeCommands::RegisterStageAndRollout(CLI::App& app) {
  auto* stage = app.add_subcommand("stage", "serve one stage to everyone not "
                                            "matched by a rule");
  stage->add_option("flag", options_.key, "flag key")->required();
  stage->add_option("stage", options_.stage,
                    "off, dualwrite, shadow, live, rampdown or complete")
      ->required();
  AddWriteOptions(stage, &options_.write);
  stage->callback([this] { context_.command = [this] { return SetStage(); }; });

  auto* rollout = app.add_subcommand(
      "rollout", "serve a percentage rollout, e.g. live=5 shadow=95");
  rollout->add_option("flag", options_.key, "flag key")->required();
  rollout->add_option("splits", options_.splits,
                      "STAGE=PERCENT ... adding up to 100")
      ->required();
  AddWriteOptions(rollout, &options_.write);
  rollout->callback(
      [this] { context_.command = [this] { return SetRollout(); }; });
}

absl::Status ServeCommands::SetStage() {
  auto parsed = ParseStageArg(options_.stage);
  if (!parsed.ok()) return parsed.status();
  v1::SetStageRequest request;
  request.set_key(options_.key);
  request.set_stage(*parsed);
  request.set_force(options_.write.force);
  request.set_expected_version(options_.write.expected_version);
  request.set_comment(options_.write.comment);
  absl::StatusOr<v1::Flag> flag = context_.admin->SetStage(request);
  if (!flag.ok()) return flag.status();
  context_.PrintChanged(*flag);
  return absl::OkStatus();
}

absl::Status ServeCommands::SetRollout() {
  auto parsed = ParseRolloutArgs(options_.splits);
  if (!parsed.ok()) return parsed.status();
  v1::SetRolloutRequest request;
  request.set_key(options_.key);
  *request.mutable_rollout() = *parsed;
  request.set_force(options_.write.force);
  request.set_expected_version(options_.write.expected_version);
  request.set_comment(options_.write.comment);
  absl::StatusOr<v1::Flag> flag = context_.admin->SetRollout(request);
  if (!flag.ok()) return flag.status();
  context_.PrintChanged(*flag);
  return absl::OkStatus();
}

absl::Status ServeCommands::AddRule() {
  v1::AddRuleRequest request;
  request.set_key(options_.key);
  v1::Rule* rule = request.mutable_rule();
  rule->set_id(options_.rule_id);
  rule->set_description(options_.description);
  for (const auto& text : options_.clauses) {
    auto clause = ParseClauseArg(text);
    if (!clause.ok()) return clause.status();
    *rule->add_clauses() = *clause;
  }
  auto serve = ParseServeArg(options_.serve);
  if (!serve.ok()) return serve.status();
  *rule->mutable_serve() = *serve;
  request.set_index(options_.index);
  request.set_force(options_.write.force);
  request.set_expected_version(options_.write.expected_version);
  request.set_comment(options_.write.comment);
  absl::StatusOr<v1::Flag> flag = context_.admin->AddRule(request);
  if (!flag.ok()) return flag.status();
  context_.PrintChanged(*flag);
  return absl::OkStatus();
}

absl::Status ServeCommands::RemoveRule() {
  v1::RemoveRuleRequest request;
  request.set_key(options_.key);
  request.set_rule_id(options_.rule_id);
  request.set_expected_version(options_.write.expected_version);
  request.set_comment(options_.write.comment);
  request.set_force(options_.write.force);
  absl::StatusOr<v1::Flag> flag = context_.admin->RemoveRule(request);
  if (!flag.ok()) return flag.status();
  context_.PrintChanged(*flag);
  return absl::OkStatus();
}

}  // namespace cutover::cli
