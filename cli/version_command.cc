#include "cli/version_command.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/version.h"

namespace cutover::cli {
namespace {

// `text` (lines ending with a newline) with every line but the first
// indented by `indent`, for nesting a rendered message in a larger one.
std::string IndentNested(absl::string_view text, absl::string_view indent) {
  return absl::StrReplaceAll(absl::StripSuffix(text, "\n"),
                             {{"\n", absl::StrCat("\n", indent)}});
}

// The versions as one JSON or YAML object: client_version, and server (the
// ServerInfo message in the API's mapping) when `server` is not null.
std::string Structured(Format format, const v1::ServerInfo* server) {
  const std::string client(Version());
  if (format == Format::kJson) {
    // One space per level, as the API messages' JSON is printed.
    std::string out = absl::StrCat("{\n \"client_version\": \"", client, "\"");
    if (server != nullptr) {
      absl::StrAppend(&out, ",\n \"server\": ",
                      IndentNested(Render(*server, format), " "));
    }
    return absl::StrCat(out, "\n}\n");
  }
  std::string out = absl::StrCat("client_version: ", client, "\n");
  if (server != nullptr) {
    absl::StrAppend(&out, "server:\n  ",
                    IndentNested(Render(*server, format), "  "), "\n");
  }
  return out;
}

}  // namespace

void VersionCommand::Register(CLI::App& app) {
  auto* version = app.add_subcommand(
      "version",
      "this cutoverctl's version and the server's (its store revision and "
      "uptime too)");
  version->add_flag("--client", client_only_,
                    "print the client's version only, without connecting");
  version->callback([this] {
    // The client's version is printed even when the daemon cannot be
    // reached, so this command connects by itself.
    context_.connect_first = false;
    context_.command = [this] { return Show(); };
  });
}

std::string ReplicaLine(const v1::ServerInfo& info, absl::Time now) {
  const v1::ReplicaInfo& replica = info.replica();
  std::string line =
      absl::StrCat("following ", replica.primary(), " at revision ",
                   info.revision(), ", ", replica.revision_lag(), " behind, ");
  if (replica.has_last_heard_time()) {
    const absl::Duration since =
        now - absl::FromUnixSeconds(replica.last_heard_time().seconds());
    absl::StrAppend(&line, "last heard ",
                    absl::FormatDuration(absl::Trunc(
                        std::max(since, absl::ZeroDuration()),
                        absl::Seconds(1))),
                    " ago");
  } else {
    absl::StrAppend(&line, "never heard from since the start");
  }
  if (!replica.connected()) absl::StrAppend(&line, " (disconnected)");
  if (!replica.synced()) absl::StrAppend(&line, " (not in sync yet: not ready)");
  return line;
}

absl::Status VersionCommand::Show() {
  std::ostream& out = context_.out;
  const bool table = context_.format == Format::kTable;
  if (table) out << "Client Version: " << Version() << "\n";
  absl::Status status = client_only_ ? absl::OkStatus() : context_.connect();
  absl::StatusOr<v1::ServerInfo> info;
  if (!client_only_ && status.ok()) {
    info = context_.admin->GetServerInfo(v1::GetServerInfoRequest());
    status = info.status();
  }
  if (!table) {
    out << Structured(context_.format, info.ok() ? &*info : nullptr);
    return status;
  }
  if (!client_only_ && status.ok()) {
    const absl::Time started =
        absl::FromUnixSeconds(info->start_time().seconds());
    const int64_t uptime = info->uptime_seconds();
    out << "Server Version: " << info->version() << "\n"
        << "Store Revision: " << info->revision() << "\n"
        << "Server Started: "
        << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", started,
                            absl::UTCTimeZone())
        << " (up "
        << (uptime > 0 ? absl::FormatDuration(absl::Seconds(uptime)) : "0s")
        << ")\n";
    if (info->has_replica()) {
      out << "Replica:        " << ReplicaLine(*info, absl::Now()) << "\n";
    }
  }
  return status;
}

}  // namespace cutover::cli
