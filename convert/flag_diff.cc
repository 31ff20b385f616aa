#include "convert/flag_diff.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"

namespace cutover {
namespace {

// Fields the server sets on every write; a diff of them says nothing. A
// flag's currency is output only too; the history says in words when it
// turns (core/currency.h CurrencyChanges).
constexpr const char* kOutputOnlyFields[] = {"version", "revision",
                                             "update_time", "updated_by",
                                             "currency"};

}  // namespace

std::vector<std::string> DiffMessages(const google::protobuf::Message& before,
                                      const google::protobuf::Message& after) {
  using google::protobuf::util::MessageDifferencer;
  std::string text;
  {
    google::protobuf::io::StringOutputStream stream(&text);
    MessageDifferencer::StreamReporter reporter(&stream);
    MessageDifferencer differencer;
    const auto* descriptor = after.GetDescriptor();
    for (const char* name : kOutputOnlyFields) {
      if (const auto* field = descriptor->FindFieldByName(name)) {
        differencer.IgnoreField(field);
      }
    }
    differencer.ReportDifferencesTo(&reporter);
    differencer.Compare(before, after);
  }
  std::vector<std::string> lines;
  size_t more = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    // The reporter also lists the fields we told it to ignore.
    if (absl::StartsWith(line, "ignored:")) continue;
    if (lines.size() < kMaxDiffLines) {
      lines.emplace_back(line);
    } else {
      more += 1;
    }
  }
  if (more > 0) {
    lines.push_back(absl::StrCat("... and ", more, " more changes"));
  }
  return lines;
}

}  // namespace cutover
