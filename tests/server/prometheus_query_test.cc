// PrometheusQuery: the answers of Prometheus's instant-query API read as
// one number, or refused with the reason a ramp shows (an empty result,
// NaN as a number for the check to judge, two series, a scalar, an error
// answer); and queries to a server that is not there, or that never
// answers (cancelled), fail rather than hang.
#include "server/prometheus_query.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/integration/harness.h"

namespace cutover {
namespace {

// An instant vector answer with `series` (the JSON of each).
std::string Vector(const std::string& series) {
  return absl::StrCat(
      R"({"status":"success","data":{"resultType":"vector","result":[)",
      series, "]}}");
}

std::string Series(const std::string& job, const std::string& value) {
  return absl::StrCat(R"({"metric":{"job":")", job,
                      R"("},"value":[1765000000.123,")", value, R"("]})");
}

// The reason `body` is refused ("" if it is not).
std::string Refusal(const std::string& body) {
  absl::StatusOr<double> value = ParsePrometheusAnswer(body);
  if (value.ok()) return "";
  CHECK(value.status().code() == absl::StatusCode::kUnavailable);
  return std::string(value.status().message());
}

TEST_CASE("ParsePrometheusAnswer: one series is its value", "[promql]") {
  absl::StatusOr<double> value =
      ParsePrometheusAnswer(Vector(Series("cutoverd", "0.25")));
  REQUIRE(value.ok());
  CHECK(*value == 0.25);
}

TEST_CASE("ParsePrometheusAnswer: a scalar is its value", "[promql]") {
  absl::StatusOr<double> value = ParsePrometheusAnswer(
      R"({"status":"success","data":{"resultType":"scalar",)"
      R"("result":[1765000000.5,"42"]}})");
  REQUIRE(value.ok());
  CHECK(*value == 42);
}

TEST_CASE("ParsePrometheusAnswer: NaN and +Inf are numbers for the check",
          "[promql]") {
  absl::StatusOr<double> nan =
      ParsePrometheusAnswer(Vector(Series("cutoverd", "NaN")));
  REQUIRE(nan.ok());
  CHECK(std::isnan(*nan));
  absl::StatusOr<double> inf =
      ParsePrometheusAnswer(Vector(Series("cutoverd", "+Inf")));
  REQUIRE(inf.ok());
  CHECK(std::isinf(*inf));
}

TEST_CASE("ParsePrometheusAnswer: anything but one number is refused, "
          "saying why",
          "[promql]") {
  CHECK(Refusal(Vector("")) == "empty result (no series)");
  CHECK(Refusal(Vector(Series("a", "1") + "," + Series("b", "2"))) ==
        "2 series, one expected");
  CHECK(absl::StrContains(
      Refusal(R"({"status":"error","errorType":"bad_data",)"
              R"("error":"1:5: parse error: unexpected \")\""})"),
      "Prometheus error bad_data: 1:5: parse error"));
  CHECK(Refusal(R"({"status":"success","data":{"resultType":"matrix",)"
                R"("result":[]}})") ==
        "a matrix result, a vector or scalar expected");
  CHECK(Refusal(Vector(Series("cutoverd", "many"))) ==
        "a value that is not a number: 'many'");
  CHECK(absl::StartsWith(Refusal("<html>502 Bad Gateway</html>"),
                         "not JSON: "));
  CHECK(Refusal(R"({"status":"success"})") == "an answer without data");
}

TEST_CASE("PrometheusQuery: a server that is not there is unreachable",
          "[promql]") {
  // A port that was free a moment ago: nothing listens.
  const int port = testing::FreeLoopbackPort();
  PrometheusQuery prometheus(absl::StrCat("http://127.0.0.1:", port),
                             absl::Seconds(10));
  std::atomic<bool> cancelled{false};
  absl::StatusOr<double> value = prometheus.Query("up", cancelled);
  REQUIRE_FALSE(value.ok());
  CHECK(value.status().code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StartsWith(value.status().message(), "Prometheus unreachable: "));
}

TEST_CASE("PrometheusQuery: a server that never answers fails at the "
          "timeout, or when cancelled",
          "[promql]") {
  testing::SilentLoopbackPort silent;
  REQUIRE(silent.port() != 0);
  const std::string url = absl::StrCat("http://", silent.address());
  std::atomic<bool> cancelled{false};

  SECTION("timeout") {
    PrometheusQuery prometheus(url, absl::Milliseconds(500));
    absl::StatusOr<double> value = prometheus.Query("up", cancelled);
    REQUIRE_FALSE(value.ok());
    CHECK(absl::StartsWith(value.status().message(),
                           "Prometheus unreachable: "));
  }
  SECTION("cancelled") {
    // The timeout is far; the cancellation ends the query.
    PrometheusQuery prometheus(url, absl::Seconds(300));
    std::thread canceller([&] {
      absl::SleepFor(absl::Milliseconds(300));
      cancelled = true;
    });
    absl::StatusOr<double> value = prometheus.Query("up", cancelled);
    canceller.join();
    REQUIRE_FALSE(value.ok());
    CHECK(value.status().code() == absl::StatusCode::kCancelled);
  }
}

}  // namespace
}  // namespace cutover
