// A reader of the Prometheus text exposition format for tests: samples by
// name and labels, and each family's TYPE. Enough for what prometheus-cpp
// writes (no escaped quotes in our label values, no timestamps); promtool
// check metrics is the authority on the format itself.
#ifndef CUTOVER_TESTS_PROMETHEUS_TEXT_H_
#define CUTOVER_TESTS_PROMETHEUS_TEXT_H_

#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace cutover::testing {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;  // family name -> "counter", ...

  // The value of the one sample with `name` whose labels include `labels`
  // (nullopt if none; the first if several).
  std::optional<double> Value(
      const std::string& name,
      const std::map<std::string, std::string>& labels = {}) const {
    for (const Sample& sample : samples) {
      if (Matches(sample, name, labels)) return sample.value;
    }
    return std::nullopt;
  }

  // The sum of the samples with `name` whose labels include `labels`
  // (nullopt if none), e.g. a counter over every label but one.
  std::optional<double> Sum(
      const std::string& name,
      const std::map<std::string, std::string>& labels = {}) const {
    std::optional<double> sum;
    for (const Sample& sample : samples) {
      if (Matches(sample, name, labels)) sum = sum.value_or(0) + sample.value;
    }
    return sum;
  }

  static bool Matches(const Sample& sample, const std::string& name,
                      const std::map<std::string, std::string>& labels) {
    if (sample.name != name) return false;
    for (const auto& [key, value] : labels) {
      auto it = sample.labels.find(key);
      if (it == sample.labels.end() || it->second != value) return false;
    }
    return true;
  }

  // "name{a=\"1\",b=\"2\"}" for a sample, to compare two scrapes.
  static std::string Id(const Sample& sample) {
    std::string id = sample.name + "{";
    for (const auto& [key, value] : sample.labels) {
      id += key + "=\"" + value + "\",";
    }
    return id + "}";
  }
};

// Parses `text`; returns false (with the line in *bad_line) on a line it
// cannot read.
inline bool ParseExposition(const std::string& text, Exposition* out,
                            std::string* bad_line) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream words(line.substr(7));
      std::string name, type;
      words >> name >> type;
      out->types[name] = type;
      continue;
    }
    if (line[0] == '#') continue;
    Sample sample;
    size_t pos = line.find_first_of("{ ");
    if (pos == std::string::npos) {
      *bad_line = line;
      return false;
    }
    sample.name = line.substr(0, pos);
    if (line[pos] == '{') {
      const size_t close = line.find('}', pos);
      if (close == std::string::npos) {
        *bad_line = line;
        return false;
      }
      std::string labels = line.substr(pos + 1, close - pos - 1);
      size_t at = 0;
      while (at < labels.size()) {
        const size_t eq = labels.find("=\"", at);
        const size_t end = labels.find('"', eq + 2);
        if (eq == std::string::npos || end == std::string::npos) {
          *bad_line = line;
          return false;
        }
        sample.labels[labels.substr(at, eq - at)] =
            labels.substr(eq + 2, end - eq - 2);
        at = end + 1;
        if (at < labels.size() && labels[at] == ',') ++at;
      }
      pos = close + 1;
    }
    const std::string value = line.substr(pos + 1);
    char* end = nullptr;
    sample.value = std::strtod(value.c_str(), &end);
    if (end == value.c_str()) {
      *bad_line = line;
      return false;
    }
    out->samples.push_back(std::move(sample));
  }
  return true;
}

}  // namespace cutover::testing

#endif  // CUTOVER_TESTS_PROMETHEUS_TEXT_H_
