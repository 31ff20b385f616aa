// Building scrape-time metric families by hand, for the collectors that
// read a part of the daemon when Prometheus scrapes (the store and flags
// in server/prometheus_metrics.cc, guarded ramps in
// server/prometheus_metrics_ramps.cc, a replica's follower in
// server/follower.cc).
//
// Pure functions; thread-safe.
#ifndef CUTOVER_SERVER_PROMETHEUS_GAUGES_H_
#define CUTOVER_SERVER_PROMETHEUS_GAUGES_H_

#include <string>
#include <utility>
#include <vector>

#include "prometheus/metric_family.h"

namespace cutover::prometheus_gauges {

using Labels = std::vector<std::pair<std::string, std::string>>;

// An empty gauge family.
inline prometheus::MetricFamily GaugeFamily(std::string name,
                                            std::string help) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  return family;
}

// An empty counter family.
inline prometheus::MetricFamily CounterFamily(std::string name,
                                              std::string help) {
  prometheus::MetricFamily family =
      GaugeFamily(std::move(name), std::move(help));
  family.type = prometheus::MetricType::Counter;
  return family;
}

// Adds one sample with `labels` to `family` (a gauge or a counter).
inline void AddSample(prometheus::MetricFamily& family, const Labels& labels,
                      double value) {
  prometheus::ClientMetric metric;
  for (const auto& [name, label_value] : labels) {
    metric.label.push_back({name, label_value});
  }
  if (family.type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
}

}  // namespace cutover::prometheus_gauges

#endif  // CUTOVER_SERVER_PROMETHEUS_GAUGES_H_
