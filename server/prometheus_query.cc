#include "server/prometheus_query.h"

#include <curl/curl.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace cutover {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// The most of an answer that is read; a larger one is refused.
constexpr size_t kMaxAnswerBytes = 1 << 20;

absl::Status Unavailable(absl::string_view why) {
  return absl::UnavailableError(why);
}

// The field `name` of `object`, or nullptr.
const Value* Field(const Struct& object, const std::string& name) {
  auto it = object.fields().find(name);
  return it == object.fields().end() ? nullptr : &it->second;
}

// A sample [time, "value"]: the value (Prometheus writes it as a string,
// "NaN" and "+Inf" included).
absl::StatusOr<double> SampleValue(const Value& sample) {
  if (sample.kind_case() != Value::kListValue ||
      sample.list_value().values_size() != 2 ||
      sample.list_value().values(1).kind_case() != Value::kStringValue) {
    return Unavailable("a sample that is not [time, \"value\"]");
  }
  const std::string& text = sample.list_value().values(1).string_value();
  double value = 0;
  if (!absl::SimpleAtod(text, &value)) {
    return Unavailable(absl::StrCat("a value that is not a number: '",
                                    text.substr(0, 40), "'"));
  }
  return value;
}

// libcurl's callbacks -------------------------------------------------------

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  auto* body = static_cast<std::string*>(out);
  const size_t bytes = size * count;
  if (body->size() + bytes > kMaxAnswerBytes) return 0;  // fails the transfer
  body->append(data, bytes);
  return bytes;
}

int StopIfCancelled(void* cancelled, curl_off_t, curl_off_t, curl_off_t,
                    curl_off_t) {
  return static_cast<const std::atomic<bool>*>(cancelled)->load() ? 1 : 0;
}

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct CurlTextDeleter {
  void operator()(char* text) const { curl_free(text); }
};

}  // namespace

absl::StatusOr<double> ParsePrometheusAnswer(absl::string_view body) {
  Struct answer;
  if (const auto parsed = google::protobuf::util::JsonStringToMessage(
          std::string(body), &answer);
      !parsed.ok()) {
    return Unavailable(absl::StrCat("not JSON: ", parsed.ToString()));
  }
  const Value* status = Field(answer, "status");
  if (status == nullptr || status->string_value() != "success") {
    const Value* type = Field(answer, "errorType");
    const Value* error = Field(answer, "error");
    return Unavailable(absl::StrCat(
        "Prometheus error", type != nullptr ? " " : "",
        type != nullptr ? type->string_value() : "", ": ",
        error != nullptr ? error->string_value() : "no status success"));
  }
  const Value* data = Field(answer, "data");
  if (data == nullptr || data->kind_case() != Value::kStructValue) {
    return Unavailable("an answer without data");
  }
  const Value* type = Field(data->struct_value(), "resultType");
  const Value* result = Field(data->struct_value(), "result");
  const std::string result_type = type != nullptr ? type->string_value() : "";
  if (result == nullptr) return Unavailable("an answer without a result");
  if (result_type == "scalar") return SampleValue(*result);
  if (result_type != "vector") {
    return Unavailable(absl::StrCat("a ", result_type.empty() ? "?" : result_type,
                                    " result, a vector or scalar expected"));
  }
  if (result->kind_case() != Value::kListValue) {
    return Unavailable("a vector result that is not a list");
  }
  const int series = result->list_value().values_size();
  if (series == 0) return Unavailable("empty result (no series)");
  if (series > 1) {
    return Unavailable(absl::StrCat(series, " series, one expected"));
  }
  const Value& only = result->list_value().values(0);
  const Value* sample = only.kind_case() == Value::kStructValue
                            ? Field(only.struct_value(), "value")
                            : nullptr;
  if (sample == nullptr) return Unavailable("a series without a value");
  return SampleValue(*sample);
}

PrometheusQuery::PrometheusQuery(std::string base_url, absl::Duration timeout)
    : base_url_(absl::StripSuffix(base_url, "/")), timeout_(timeout) {
  InitCurlOnce();
}

absl::StatusOr<double> PrometheusQuery::Query(
    const std::string& promql, const std::atomic<bool>& cancelled) const {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::unique_ptr<char, CurlTextDeleter> escaped(curl_easy_escape(
      curl.get(), promql.data(), static_cast<int>(promql.size())));
  if (escaped == nullptr) return absl::InternalError("curl_easy_escape failed");
  const std::string url =
      absl::StrCat(base_url_, "/api/v1/query?query=", escaped.get());
  std::string body;
  char error[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(timeout_)));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &StopIfCancelled);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA,
                   const_cast<std::atomic<bool>*>(&cancelled));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  const CURLcode code = curl_easy_perform(c);
  if (code == CURLE_ABORTED_BY_CALLBACK) {
    return absl::CancelledError("the query was cancelled");
  }
  if (code != CURLE_OK) {
    return Unavailable(absl::StrCat("Prometheus unreachable: ",
                                    error[0] != '\0' ? error
                                                     : curl_easy_strerror(code)));
  }
  long http = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
  absl::StatusOr<double> value = ParsePrometheusAnswer(body);
  if (http != 200) {
    // Prometheus explains a refused query (400, 422) in an error answer.
    return Unavailable(absl::StrCat(
        "Prometheus answered HTTP ", http,
        value.ok() ? "" : absl::StrCat(": ", value.status().message())));
  }
  return value;
}

}  // namespace cutover
