// PrometheusServer: a real Prometheus server (Debian's prometheus package,
// installed by scripts/install-deps.sh) for integration tests, on a free
// loopback port chosen when it is made (so its URL can be given to a
// daemon before it starts), scraping its targets every second, queried
// over its HTTP API. Started and stopped by the test, by its PID; the
// destructor kills it if it still runs.
//
// One per test; not thread-safe.
#ifndef CUTOVER_TESTS_INTEGRATION_PROMETHEUS_SERVER_H_
#define CUTOVER_TESTS_INTEGRATION_PROMETHEUS_SERVER_H_

#include <functional>
#include <map>
#include <string>

#include "google/protobuf/struct.pb.h"
#include "tests/integration/harness.h"

namespace cutover::testing {

inline constexpr char kPrometheusPath[] = "/usr/bin/prometheus";

// The whole text of the file at `path` ("" if it cannot be read).
std::string ReadText(const std::string& path);

class PrometheusServer {
 public:
  // Keeps its config, data and log in `dir`.
  explicit PrometheusServer(const std::string& dir);

  // Writes the config (scrape every second: job name -> "host:port";
  // `rule_file` loaded unless empty) and starts the server.
  bool Start(const std::map<std::string, std::string>& targets,
             const std::string& rule_file = "");
  // Waits (at most 60 s) for /-/ready.
  bool WaitReady();
  // Sends `signal` and waits for the exit (BackgroundProcess::Stop).
  int Stop(int signal) { return process_.Stop(signal); }

  // GET `path` as JSON; an empty Struct if it fails.
  google::protobuf::Struct GetJson(const std::string& path);
  // An instant query: each result's labels (as "k=v,...") -> value.
  std::map<std::string, double> Query(const std::string& promql);
  // Polls `promql` (at most 60 s) until `done` holds for its result; the
  // last result either way.
  std::map<std::string, double> QueryUntil(
      const std::string& promql,
      const std::function<bool(const std::map<std::string, double>&)>& done);

  // "http://127.0.0.1:PORT".
  std::string base_url() const;
  std::string log() const { return ReadText(dir_ + "/prometheus.log"); }

 private:
  std::string url(const std::string& path) const { return base_url() + path; }

  const std::string dir_;
  const int port_;
  BackgroundProcess process_;
};

}  // namespace cutover::testing

#endif  // CUTOVER_TESTS_INTEGRATION_PROMETHEUS_SERVER_H_
