// PrometheusQuery: the instant queries of guarded ramps' PROMQL checks,
// sent to the user's Prometheus server over its HTTP API
// (GET <base>/api/v1/query?query=...) with libcurl, and their answers read
// as one number.
//
//   PrometheusQuery prometheus("http://127.0.0.1:9090", absl::Seconds(10));
//   std::atomic<bool> cancelled{false};
//   absl::StatusOr<double> v = prometheus.Query("sum(up)", cancelled);
//
// Anything but one number is an error whose message says why, for the
// ramp's inconclusive reason: Prometheus unreachable, an HTTP error, an
// error answer (Prometheus's own message), an empty result, more than one
// series, a value that is not a number. NaN is returned as a number: the
// check (core/ramp.h) decides what NaN means.
//
// Thread-safe: Query keeps no state between calls, so one PrometheusQuery
// may be shared; each call blocks at most the timeout, and less once
// `cancelled` turns true (then it fails with CANCELLED).
#ifndef CUTOVER_SERVER_PROMETHEUS_QUERY_H_
#define CUTOVER_SERVER_PROMETHEUS_QUERY_H_

#include <atomic>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cutover {

// The number in a Prometheus instant-query answer (the JSON body of
// /api/v1/query): a scalar, or a vector of exactly one series. UNAVAILABLE
// with the reason otherwise ("Prometheus error bad_data: ...", "empty
// result (no series)", "2 series, one expected", "not JSON: ...").
absl::StatusOr<double> ParsePrometheusAnswer(absl::string_view body);

class PrometheusQuery {
 public:
  // `base_url`: the server, e.g. "http://127.0.0.1:9090" (a trailing '/'
  // is allowed). `timeout`: the most one query takes, connecting included.
  PrometheusQuery(std::string base_url, absl::Duration timeout);

  // The query's value (ParsePrometheusAnswer), or UNAVAILABLE saying why
  // there is none ("Prometheus unreachable: ...", "Prometheus answered
  // HTTP 503", ...); CANCELLED once `cancelled` is true.
  absl::StatusOr<double> Query(const std::string& promql,
                               const std::atomic<bool>& cancelled) const;

 private:
  const std::string base_url_;
  const absl::Duration timeout_;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_PROMETHEUS_QUERY_H_
