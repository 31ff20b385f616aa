#include "tests/integration/prometheus_server.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"

namespace cutover::testing {
namespace {

// Percent-encodes a PromQL expression for a query string.
std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += absl::StrFormat("%%%02X", c);
    }
  }
  return out;
}

}  // namespace

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

PrometheusServer::PrometheusServer(const std::string& dir)
    : dir_(dir), port_(FreeLoopbackPort()) {}

bool PrometheusServer::Start(const std::map<std::string, std::string>& targets,
                             const std::string& rule_file) {
  {
    std::ofstream config(dir_ + "/prometheus.yml");
    config << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n";
    if (!rule_file.empty()) {
      config << "rule_files:\n  - " << rule_file << "\n";
    }
    config << "scrape_configs:\n";
    for (const auto& [job, target] : targets) {
      config << "  - job_name: " << job << "\n"
             << "    static_configs:\n      - targets: ['" << target
             << "']\n";
    }
  }
  return process_.Start(
      {kPrometheusPath, "--config.file=" + dir_ + "/prometheus.yml",
       "--storage.tsdb.path=" + dir_ + "/tsdb",
       absl::StrCat("--web.listen-address=127.0.0.1:", port_),
       "--log.level=warn"},
      dir_ + "/prometheus.log");
}

bool PrometheusServer::WaitReady() {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline && process_.Running()) {
    if (HttpGet(url("/-/ready"), 2).exit_code == 0) return true;
    absl::SleepFor(absl::Milliseconds(200));
  }
  return false;
}

google::protobuf::Struct PrometheusServer::GetJson(const std::string& path) {
  google::protobuf::Struct json;
  const RunResult got = HttpGet(url(path), 10);
  if (got.exit_code == 0) {
    (void)google::protobuf::util::JsonStringToMessage(got.out, &json);
  }
  return json;
}

std::map<std::string, double> PrometheusServer::Query(
    const std::string& promql) {
  std::map<std::string, double> out;
  const auto json = GetJson("/api/v1/query?query=" + UrlEncode(promql));
  const auto& fields = json.fields();
  if (!fields.count("data")) return out;
  const auto& data = fields.at("data").struct_value().fields();
  if (!data.count("result")) return out;
  for (const auto& item : data.at("result").list_value().values()) {
    const auto& result = item.struct_value().fields();
    std::string labels;
    for (const auto& [name, value] :
         std::map<std::string, google::protobuf::Value>(
             result.at("metric").struct_value().fields().begin(),
             result.at("metric").struct_value().fields().end())) {
      absl::StrAppend(&labels, labels.empty() ? "" : ",", name, "=",
                      value.string_value());
    }
    const auto& pair = result.at("value").list_value().values();
    out[labels] = std::strtod(pair[1].string_value().c_str(), nullptr);
  }
  return out;
}

std::map<std::string, double> PrometheusServer::QueryUntil(
    const std::string& promql,
    const std::function<bool(const std::map<std::string, double>&)>& done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  std::map<std::string, double> result;
  while (absl::Now() < deadline) {
    result = Query(promql);
    if (done(result)) break;
    absl::SleepFor(absl::Milliseconds(250));
  }
  return result;
}

std::string PrometheusServer::base_url() const {
  return absl::StrCat("http://127.0.0.1:", port_);
}

}  // namespace cutover::testing
