// orders-demo: the orders service of the example, as a load generator. It
// opens the old database (SQLite) and the new one (RocksDB), asks cutoverd
// which stage each user is in, runs simulated users' requests through an
// OrdersRepository (Client + Migrator + TelemetryReporter), and prints one
// "key: value" line per fact on stdout. See examples/orders/README.md.
//
// Modes:
//   orders-demo ...                 the load: --requests requests, or with
//                                   --until-signal until SIGTERM/SIGINT
//                                   (SIGUSR1 starts the backfill in the
//                                   service, the reverse one with
//                                   --backfill-reverse; SIGUSR2 fixes the
//                                   --corrupt-new-every bug)
//   orders-demo backfill ...        runs the flag's backfill job to done
//                                   (SQLite -> RocksDB; with --reverse the
//                                   reverse job, RocksDB -> SQLite)
//   orders-demo check ...           compares the two tables row by row
//
// Exit codes: 0 after the run (failed requests are counted, not fatal; for
// check: the tables are identical), 1 if a database could not be opened or
// the backfill failed, 2 for bad usage, 3 if check found differences.
#include <signal.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/backfill.h"
#include "rpc/channel.h"
#include "client/client.h"
#include "client/migrator.h"
#include "convert/convert.h"
#include "client/telemetry_reporter.h"
#include "core/stage.h"
#include "examples/orders/corrupting_orders.h"
#include "examples/orders/orders_backfill.h"
#include "examples/orders/orders_repository.h"
#include "examples/orders/rocksdb_orders.h"
#include "examples/orders/sqlite_orders.h"
#include "examples/orders/traffic.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"

namespace {

using cutover::examples::CorruptingOrders;
using cutover::examples::OrdersRepository;
using cutover::examples::RocksDbOrders;
using cutover::examples::SqliteOrders;
using cutover::examples::TrafficOptions;

// Mismatches beyond this many are counted, not logged.
constexpr uint64_t kMaxMismatchLogs = 10;

void Print(const char* key, uint64_t value) {
  std::printf("%s: %llu\n", key, static_cast<unsigned long long>(value));
}

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "orders-demo: %s\n", message.c_str());
  return code;
}

void PrintBackfill(const cutover::BackfillOptions& options,
                   const cutover::BackfillProgress& progress) {
  std::printf("backfill.direction: %s\n",
              cutover::BackfillDirectionName(options.direction));
  std::printf("backfill.phase: %s\n",
              cutover::BackfillPhaseName(progress.phase));
  Print("backfill.rows_copied", static_cast<uint64_t>(progress.rows_copied));
  Print("backfill.rows_verified",
        static_cast<uint64_t>(progress.rows_verified));
  Print("backfill.rows_mismatched",
        static_cast<uint64_t>(progress.rows_mismatched));
  Print("backfill.rows_repaired",
        static_cast<uint64_t>(progress.rows_repaired));
  Print("backfill.pages_this_run",
        static_cast<uint64_t>(progress.pages_this_run));
  std::fflush(stdout);
}


// Compares the tables; prints the figures; 0 if identical, else 3.
int Check(cutover::examples::OrdersDatabase& old_db,
          cutover::examples::OrdersDatabase& new_db) {
  auto diff = cutover::examples::CompareDatabases(old_db, new_db);
  if (!diff.ok()) return Fail(1, diff.status().ToString());
  Print("check.old_rows", diff->old_rows);
  Print("check.new_rows", diff->new_rows);
  Print("check.missing_in_new", diff->missing_in_new);
  Print("check.only_in_new", diff->only_in_new);
  Print("check.different", diff->different);
  std::printf("check.identical: %s\n", diff->identical() ? "yes" : "no");
  for (const std::string& line : diff->samples) {
    std::fprintf(stderr, "orders-demo: check: %s\n", line.c_str());
  }
  return diff->identical() ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "orders-demo: an orders service migrating from SQLite to RocksDB "
      "under a cutover flag"};
  std::string server = "127.0.0.1:7400";
  std::string flag = "orders";
  std::string sqlite_path, rocksdb_path;
  TrafficOptions traffic;
  uint64_t corrupt_new_every = 0;
  int decide_deadline_ms = 5;
  std::string evaluation = "local";
  bool log_values = false;
  std::string metrics_listen;
  double metrics_linger_seconds = 0;
  std::string snapshot_file;
  app.add_option("--server", server, "cutoverd address (env CUTOVER_SERVER)")
      ->envname("CUTOVER_SERVER")
      ->capture_default_str();
  app.add_option("--flag", flag, "the migration flag of the orders table")
      ->capture_default_str();
  app.add_option("--sqlite", sqlite_path,
                 "the OLD database: a SQLite file (created if missing)")
      ->required();
  app.add_option("--rocksdb", rocksdb_path,
                 "the NEW database: a RocksDB folder (created if missing)")
      ->required();
  app.add_option("--users", traffic.users, "users u-0 .. u-N-1")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--requests", traffic.requests, "requests in all")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--threads", traffic.threads, "threads sending requests")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--write-ratio", traffic.write_ratio,
                 "share of requests that place an order (the rest list)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--corrupt-new-every", corrupt_new_every,
                 "write a wrong amount to NEW for every K-th order written "
                 "there (0: never), to see shadow reads catch it")
      ->capture_default_str();
  app.add_option("--seed", traffic.seed,
                 "random seed; also part of the order ids (o-SEED-N)")
      ->capture_default_str();
  app.add_option("--decide-deadline-ms", decide_deadline_ms,
                 "longest a decision waits for cutoverd on a cache miss")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--evaluation", evaluation,
                 "where decisions are made: local (from the flags the client "
                 "keeps in sync, no RPC per decision) or remote (cutoverd "
                 "decides; the client caches)")
      ->check(CLI::IsMember({"local", "remote"}))
      ->capture_default_str();
  app.add_flag("--log-values", log_values,
               "show the two lists in mismatch logs (row data)");
  app.add_option("--metrics-listen", metrics_listen,
                 "serve the client library's Prometheus metrics "
                 "(cutover_client_*) on this address, e.g. 127.0.0.1:9464");
  app.add_option("--metrics-linger", metrics_linger_seconds,
                 "keep serving metrics this many seconds after the run, so "
                 "a scrape sees the final counts")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--snapshot-file", snapshot_file,
                 "keep the client's synced flags in this file, so that a "
                 "restart while cutoverd is down serves the flags' last "
                 "known stages (reason STALE) instead of off; its folder "
                 "must exist");
  bool until_signal = false;
  int pause_ms = 0;
  bool read_repair = false;
  bool reverse = false;
  app.add_flag("--until-signal", until_signal,
               "run until SIGTERM or SIGINT instead of --requests; SIGUSR1 "
               "starts the backfill job in the service, SIGUSR2 stops the "
               "--corrupt-new-every bug (the fix is deployed)");
  app.add_flag("--backfill-reverse", reverse,
               "with --until-signal, SIGUSR1 starts the reverse backfill "
               "(RocksDB -> SQLite, the way back after complete) instead");
  app.add_option("--pause-ms", pause_ms,
                 "each thread waits this long after each request")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  double print_mix_seconds = 0;
  app.add_option("--print-mix", print_mix_seconds,
                 "every this many seconds, print on stderr the stages the "
                 "users were served in that time (\"orders-demo: mix: "
                 "shadow=120 live=30\"); 0: never")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_flag("--read-repair", read_repair,
               "in shadow, rewrite a user's orders into RocksDB from SQLite "
               "when the two lists differ");
  cutover::BackfillOptions backfill;  // flag_key and page_size after parse
  int page_size = 200;
  auto add_backfill_options = [&](CLI::App* command) {
    command->add_option("--page-size", page_size, "rows per page")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    command->add_option("--rows-per-second", backfill.max_rows_per_second,
                        "throttle (0: unthrottled)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    command->add_option("--verify-sample-rate", backfill.verify_sample_rate,
                        "share of pages the verify pass checks, (0, 1]")
        ->capture_default_str();
  };
  add_backfill_options(&app);
  app.fallthrough();
  CLI::App* backfill_command = app.add_subcommand(
      "backfill",
      "copy SQLite's orders into RocksDB under the flag's backfill job "
      "(resumes a job that stopped), then verify them; with --reverse, "
      "RocksDB's into SQLite under the flag's reverse job");
  add_backfill_options(backfill_command);
  backfill_command->add_flag(
      "--reverse", reverse,
      "run the reverse job: copy RocksDB's orders back into SQLite and "
      "verify them (the way back after the flag served complete; move "
      "users to rampdown first, so writes reach both databases)");
  CLI::App* check_command = app.add_subcommand(
      "check", "compare the two tables row by row (exit 3 if they differ)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (absl::Status valid = cutover::examples::ValidateTrafficOptions(traffic);
      !valid.ok()) {
    return Fail(2, std::string(valid.message()));
  }

  // With --until-signal the signals are taken by sigwait below: block them
  // before any thread starts (RocksDB's
  // and gRPC's included), so that every thread inherits the mask.
  sigset_t control_signals;
  sigemptyset(&control_signals);
  for (int signal : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2}) {
    sigaddset(&control_signals, signal);
  }
  if (until_signal) pthread_sigmask(SIG_BLOCK, &control_signals, nullptr);

  // The two databases.
  auto old_db = SqliteOrders::Open(sqlite_path);
  if (!old_db.ok()) return Fail(1, old_db.status().ToString());
  auto rocksdb = RocksDbOrders::Open(rocksdb_path);
  if (!rocksdb.ok()) return Fail(1, rocksdb.status().ToString());
  if (*check_command) return Check(**old_db, **rocksdb);
  backfill.flag_key = flag;
  backfill.page_size = static_cast<size_t>(page_size);
  backfill.actor = "orders-demo-backfill";
  backfill.direction = reverse ? cutover::BackfillOptions::Direction::kReverse
                               : cutover::BackfillOptions::Direction::kForward;
  // The job's source and destination: SQLite -> RocksDB, or back. The
  // backfill writes RocksDB directly: it does not share the service's
  // (possibly buggy, --corrupt-new-every) write path.
  cutover::examples::OrdersDatabase* backfill_from = old_db->get();
  cutover::examples::OrdersDatabase* backfill_to = rocksdb->get();
  if (reverse) std::swap(backfill_from, backfill_to);
  if (*backfill_command) {
    cutover::ChannelOptions channel_options;
    channel_options.server = server;
    if (const char* token = std::getenv("CUTOVER_TOKEN")) {
      channel_options.token = token;
    }
    auto channel = cutover::MakeChannel(channel_options);
    if (!channel.ok()) return Fail(2, channel.status().ToString());
    auto driver = cutover::BackfillDriver::Create(*channel, backfill);
    if (!driver.ok()) return Fail(2, driver.status().ToString());
    auto progress = (*driver)->Run(
        cutover::examples::OrdersBackfillSource(backfill_from, backfill_to));
    if (!progress.ok()) return Fail(1, progress.status().ToString());
    PrintBackfill(backfill, *progress);
    return 0;
  }
  CorruptingOrders new_db(rocksdb->get(), corrupt_new_every);


  // The service's own metrics registry: the client library's counters go
  // here and, with --metrics-listen, are served for Prometheus. Declared
  // before the client and reporter, which keep pointers into it.
  auto metrics = std::make_shared<prometheus::Registry>();

  // The cutover client, and the reporter sharing its channel.
  cutover::ClientOptions client_options;
  client_options.server = server;
  client_options.decide_deadline = absl::Milliseconds(decide_deadline_ms);
  client_options.snapshot_file = snapshot_file;
  client_options.evaluation = evaluation == "local"
                                  ? cutover::ClientOptions::Evaluation::kLocal
                                  : cutover::ClientOptions::Evaluation::kRemote;
  auto client = cutover::Client::Create(client_options);
  if (!client.ok()) return Fail(2, client.status().ToString());
  cutover::TelemetryReporter::Options reporter_options;
  reporter_options.client_name = "orders-demo";
  cutover::TelemetryReporter reporter((*client)->channel(), reporter_options);
  (*client)->RegisterMetrics(*metrics);
  reporter.RegisterMetrics(*metrics);
  std::unique_ptr<prometheus::Exposer> exposer;
  if (!metrics_listen.empty()) {
    try {
      exposer = std::make_unique<prometheus::Exposer>(metrics_listen);
    } catch (const std::exception& e) {
      return Fail(1, "cannot serve metrics on " + metrics_listen + ": " +
                         e.what());
    }
    exposer->RegisterCollectable(metrics);
    std::fprintf(stderr, "orders-demo: metrics on port %d\n",
                 exposer->GetListeningPorts().front());
  }

  cutover::MigratorOptions migrator_options;
  migrator_options.log_values_on_mismatch = log_values;
  auto mismatch_logs = std::make_shared<std::atomic<uint64_t>>(0);
  migrator_options.on_mismatch = [mismatch_logs](
                                     const cutover::MismatchInfo& info) {
    const uint64_t n = mismatch_logs->fetch_add(1) + 1;
    if (n > kMaxMismatchLogs) return;
    std::string line = "orders-demo: mismatch: flag " + info.flag_key +
                       ", stage " + cutover::StageName(info.stage) +
                       ", user " + info.targeting_key;
    if (info.missing != cutover::Origin::kNone) {
      line += std::string(", missing in ") + cutover::OriginName(info.missing);
    }
    if (info.old_value) line += ", old [" + *info.old_value + "]";
    if (info.new_value) line += ", new [" + *info.new_value + "]";
    if (n == kMaxMismatchLogs) line += " (further mismatches are not logged)";
    std::fprintf(stderr, "%s\n", line.c_str());
  };
  cutover::Migrator migrator(
      client->get(),
      [&reporter](const cutover::OpRecord& record) { reporter.Record(record); },
      migrator_options);
  OrdersRepository repository(client->get(), &migrator, old_db->get(),
                              &new_db, flag);
  repository.set_read_repair(read_repair);

  // Remote evaluation: warm the decision cache for every user in one round
  // trip or a few. (Local evaluation has nothing to warm.)
  if (client_options.evaluation ==
      cutover::ClientOptions::Evaluation::kRemote) {
    std::vector<cutover::Context> contexts;
    for (int u = 0; u < traffic.users; ++u) {
      contexts.push_back({"u-" + std::to_string(u), {}});
    }
    (*client)->Prefetch(flag, contexts);
  }

  traffic.pause = absl::Milliseconds(pause_ms);
  std::atomic<bool> stop{false};
  std::thread control;   // sigwait: stop, backfill, fix
  std::thread backfill_thread;
  std::unique_ptr<cutover::BackfillDriver> service_backfill;
  if (until_signal) {
    traffic.stop = &stop;
    control = std::thread([&] {
      while (true) {
        int signal = 0;
        if (sigwait(&control_signals, &signal) != 0) continue;
        if (signal == SIGUSR1 && !backfill_thread.joinable()) {
          auto driver =
              cutover::BackfillDriver::Create((*client)->channel(), backfill);
          if (!driver.ok()) {
            std::fprintf(stderr, "orders-demo: backfill: %s\n",
                         driver.status().ToString().c_str());
            continue;
          }
          service_backfill = *std::move(driver);
          std::fprintf(stderr, "orders-demo: %sbackfill started\n",
                       reverse ? "reverse " : "");
          backfill_thread = std::thread([&, driver = service_backfill.get()] {
            auto progress = driver->Run(cutover::examples::OrdersBackfillSource(
                backfill_from, backfill_to));
            if (progress.ok()) {
              std::fprintf(stderr, "orders-demo: backfill done: %lld rows "
                           "copied, %lld mismatched, %lld repaired\n",
                           static_cast<long long>(progress->rows_copied),
                           static_cast<long long>(progress->rows_mismatched),
                           static_cast<long long>(progress->rows_repaired));
            } else {
              std::fprintf(stderr, "orders-demo: backfill failed: %s\n",
                           progress.status().ToString().c_str());
            }
          });
        } else if (signal == SIGUSR2) {
          new_db.set_enabled(false);
          std::fprintf(stderr, "orders-demo: new-database bug fixed\n");
        } else if (signal == SIGTERM || signal == SIGINT) {
          if (service_backfill != nullptr) service_backfill->Stop();
          stop.store(true);
          return;
        }
      }
    });
  }

  // --print-mix: the stage mix of each period, while the load runs.
  std::atomic<bool> traffic_done{false};
  std::thread mix_thread;
  if (print_mix_seconds > 0) {
    mix_thread = std::thread([&] {
      const absl::Duration period = absl::Seconds(print_mix_seconds);
      cutover::examples::RepositoryStats before = repository.stats();
      absl::Time next = absl::Now() + period;
      while (!traffic_done.load()) {
        if (absl::Now() < next) {
          absl::SleepFor(absl::Milliseconds(10));
          continue;
        }
        next = absl::Now() + period;
        const cutover::examples::RepositoryStats now = repository.stats();
        std::fprintf(stderr, "orders-demo: mix: %s\n",
                     cutover::examples::StageMix(before, now).c_str());
        before = now;
      }
    });
  }

  const absl::Time start = absl::Now();
  const cutover::examples::TrafficResult result =
      cutover::examples::RunTraffic(repository, traffic);
  const absl::Duration elapsed = absl::Now() - start;
  traffic_done.store(true);
  if (mix_thread.joinable()) mix_thread.join();
  if (control.joinable()) control.join();
  if (backfill_thread.joinable()) backfill_thread.join();
  for (const std::string& error : result.sample_errors) {
    std::fprintf(stderr, "orders-demo: request failed: %s\n", error.c_str());
  }
  // Send what is left before reading the reporter's counters; the load is
  // over, so the client stops too (its last local decision counts go to
  // the daemon, its counters to the exported metrics).
  reporter.Flush();
  (*client)->Shutdown();

  const cutover::examples::RepositoryStats repo = repository.stats();
  const cutover::MigratorStats migrated = migrator.stats();
  const cutover::ClientStats decided = (*client)->stats();
  const cutover::TelemetryStats reported = reporter.stats();
  std::printf("flag: %s\n", flag.c_str());
  Print("requests", result.requests);
  Print("failed_requests", result.failed_requests);
  Print("orders_placed", result.orders_placed);
  Print("lists", result.lists);
  for (int s = static_cast<int>(cutover::kFirstStage);
       s <= static_cast<int>(cutover::kLastStage); ++s) {
    const std::string key =
        std::string("decisions.") +
        cutover::StageName(static_cast<cutover::Stage>(s));
    Print(key.c_str(), repo.decisions_by_stage[static_cast<size_t>(s)]);
  }
  Print("decision_errors", repo.decision_errors);
  Print("migrator.reads", migrated.reads);
  Print("migrator.writes", migrated.writes);
  Print("migrator.comparisons", migrated.comparisons);
  Print("migrator.mismatches", migrated.mismatches);
  Print("migrator.shadow_errors", migrated.shadow_errors);
  Print("migrator.authoritative_errors", migrated.authoritative_errors);
  Print("migrator.repairs", migrated.repairs);
  Print("migrator.repair_errors", migrated.repair_errors);
  Print("corrupted_new_writes", new_db.corrupted());
  Print("client.local_decisions", decided.local_decisions);
  Print("client.cache_hits", decided.cache_hits);
  Print("client.cache_misses", decided.cache_misses);
  Print("client.errors", decided.errors);
  // Decisions served while the daemon could not answer (reason STALE):
  // evaluated from the synced state, or an expired cached decision.
  Print("client.local_serves", decided.local_serves);
  Print("client.stale_serves", decided.stale_serves);
  Print("telemetry.recorded", reported.recorded);
  Print("telemetry.batches_sent", reported.batches_sent);
  Print("telemetry.dropped", reported.dropped);
  Print("telemetry.send_failures", reported.send_failures);
  std::printf("elapsed_seconds: %.3f\n", absl::ToDoubleSeconds(elapsed));
  std::fflush(stdout);
  if (exposer != nullptr && metrics_linger_seconds > 0) {
    absl::SleepFor(absl::Seconds(metrics_linger_seconds));
  }
  return 0;
}
