#include "tests/bench/bench_util.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rpc/channel.h"
#include "credentials/token_hash.h"

namespace cutover::bench {
namespace {

// The benchmarks are gRPC clients as a service on Debian should run them
// (client/client.h): without absl::Mutex deadlock detection, which
// Debian's Abseil leaves on and which cutoverd turns off.
const bool kDeadlockDetectionOff = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

double Micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

// Counts running callers down to zero, for the load generators to wait on.
class Countdown {
 public:
  explicit Countdown(int64_t n) : left_(n) {}
  void Done() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--left_ == 0) cv_.notify_all();
  }
  // False if `limit` passed first.
  bool Wait(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, [this] { return left_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t left_;
};

// One closed-loop caller: starts its next call from the completion of the
// last one (on a gRPC callback thread) until told to stop.
class Caller {
 public:
  Caller(grpc::GenericStub* stub, const std::string* method,
         const grpc::ByteBuffer* request, const std::atomic<bool>* stop,
         Countdown* running)
      : stub_(stub),
        method_(method),
        request_(request),
        stop_(stop),
        running_(running) {}

  void Start() {
    // The context of the call that just completed is still in use by its
    // callback: keep it one more round.
    previous_ = std::move(context_);
    context_ = std::make_unique<grpc::ClientContext>();
    started_ = Clock::now();
    stub_->UnaryCall(context_.get(), *method_, grpc::StubOptions(), request_,
                     &response_,
                     [this](const grpc::Status& status) { Done(status); });
  }

  int64_t calls = 0;
  int64_t failures = 0;
  std::vector<double> latencies_us;

 private:
  void Done(const grpc::Status& status) {
    if (status.ok()) {
      ++calls;
      latencies_us.push_back(Micros(Clock::now() - started_));
    } else {
      ++failures;
    }
    if (!stop_->load(std::memory_order_relaxed)) {
      Start();
    } else {
      running_->Done();
    }
  }

  grpc::GenericStub* const stub_;
  const std::string* const method_;
  const grpc::ByteBuffer* const request_;
  const std::atomic<bool>* const stop_;
  Countdown* const running_;
  std::unique_ptr<grpc::ClientContext> context_, previous_;
  grpc::ByteBuffer response_;
  Clock::time_point started_;
};

}  // namespace

std::string Arg(int argc, char** argv, const std::string& name,
                const std::string& fallback) {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind(prefix, 0) == 0) return arg.substr(prefix.size());
  }
  return fallback;
}

std::vector<int> IntList(const std::string& text) {
  std::vector<int> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) values.push_back(std::stoi(item));
  }
  return values;
}

double MicrosSince(Clock::time_point start) {
  return Micros(Clock::now() - start);
}

double Quantile(std::vector<double>& values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1,
                                static_cast<size_t>(q * values.size()));
  return values[index];
}

ProcessCpu ProcessCpu::Of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  // Fields after the command name (which may hold spaces) in parentheses:
  // minflt, utime and stime are the 10th, 14th and 15th fields of the line.
  ProcessCpu cpu;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return cpu;
  std::stringstream fields(line.substr(close + 2));
  std::string field;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 10) cpu.minor_faults = std::stoll(field);
    if (i == 14) cpu.user = std::stod(field) / tick;
    if (i == 15) cpu.system = std::stod(field) / tick;
  }
  return cpu;
}

ProcessCpu& ProcessCpu::operator+=(const ProcessCpu& more) {
  user += more.user;
  system += more.system;
  minor_faults += more.minor_faults;
  return *this;
}

ProcessCpu ProcessCpu::operator-(const ProcessCpu& earlier) const {
  ProcessCpu d;
  d.user = user - earlier.user;
  d.system = system - earlier.system;
  d.minor_faults = minor_faults - earlier.minor_faults;
  return d;
}

double ProcessRssMiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stod(line.substr(6)) / 1024.0;  // kB
    }
  }
  return 0;
}

std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address,
                                          const std::string& token) {
  ChannelOptions options;
  options.server = address;
  options.own_connection = true;
  options.token = token;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(options);
  if (!channel.ok()) std::abort();  // plaintext without files cannot fail
  return *std::move(channel);
}

std::unique_ptr<AdminClient> OwnAdminClient(const std::string& address,
                                            const std::string& token) {
  AdminClientOptions options;
  options.channel.server = address;
  options.channel.own_connection = true;
  options.channel.token = token;
  options.deadline = absl::Seconds(30);
  options.wait_for_ready = true;
  absl::StatusOr<std::unique_ptr<AdminClient>> admin =
      AdminClient::Create(std::move(options));
  if (!admin.ok()) std::abort();  // plaintext without files cannot fail
  return *std::move(admin);
}

grpc::ByteBuffer Serialize(const google::protobuf::Message& message) {
  const std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

BenchDaemon::BenchDaemon(std::vector<std::string> extra_args, Auth auth) {
  const std::string config = dir_.path() + "/cutoverd.yaml";
  std::ofstream(config) << "max_watch_streams_per_peer: 100000\n";
  extra_args.insert(extra_args.begin(), {"--config", config});
  if (auth == Auth::kTokens) {
    reader_token_ = NewToken();
    admin_token_ = NewToken();
    const std::string tokens = dir_.path() + "/tokens";
    std::ofstream(tokens) << "bench-reader reader "
                          << TokenSha256Hex(reader_token_)
                          << "\nbench-admin admin "
                          << TokenSha256Hex(admin_token_) << "\n";
    extra_args.insert(extra_args.end(),
                      {"--auth", "tokens", "--token-file", tokens});
  }
  daemon_ = std::make_unique<testing::DaemonProcess>(dir_.path() + "/data",
                                                     std::move(extra_args));
}

bool BenchDaemon::Start() {
  if (!daemon_->Start()) {
    std::fprintf(stderr, "cannot start cutoverd: %s\n",
                 daemon_->last_stderr().c_str());
    return false;
  }
  admin_ = OwnAdminClient(daemon_->address(), admin_token_);
  return true;
}

int BenchDaemon::Stop() { return daemon_->Stop(SIGTERM); }

v1::Flag RolloutFlag(const std::string& key) {
  v1::Flag flag;
  flag.set_key(key);
  flag.set_old_target("postgres-" + key);
  flag.set_new_target("dynamodb-" + key);
  flag.set_enabled(true);
  auto* rollout = flag.mutable_default_serve()->mutable_rollout();
  auto* live = rollout->add_splits();
  live->set_stage(v1::LIVE);
  live->set_weight(5000);
  auto* shadow = rollout->add_splits();
  shadow->set_stage(v1::SHADOW);
  shadow->set_weight(95000);
  return flag;
}

bool BenchDaemon::CreateRolloutFlag(const std::string& key) {
  v1::CreateFlagRequest request;
  request.set_force(true);
  *request.mutable_flag() = RolloutFlag(key);
  const absl::Status status = admin_->CreateFlag(request).status();
  if (!status.ok()) {
    std::fprintf(stderr, "CreateFlag %s: %s\n", key.c_str(),
                 std::string(status.message()).c_str());
  }
  return status.ok();
}

bool BenchDaemon::SetStage(const std::string& key, v1::Stage stage) {
  v1::SetStageRequest request;
  request.set_key(key);
  request.set_stage(stage);
  request.set_force(true);
  return admin_->SetStage(request).ok();
}

v1::DecideRequest DecideRequestFor(const std::string& key,
                                   const std::string& user) {
  v1::DecideRequest request;
  request.set_flag_key(key);
  request.mutable_context()->set_targeting_key(user);
  (*request.mutable_context()->mutable_attributes())["tenant"] = "acme";
  return request;
}

LoadResult RunClosedLoop(grpc::GenericStub& stub, const std::string& method,
                         const grpc::ByteBuffer& request, int callers,
                         double seconds) {
  return RunClosedLoop(std::vector<grpc::GenericStub*>{&stub}, method, request,
                       callers, seconds);
}

LoadResult RunClosedLoop(const std::vector<grpc::GenericStub*>& stubs,
                         const std::string& method,
                         const grpc::ByteBuffer& request, int callers,
                         double seconds) {
  std::atomic<bool> stop{false};
  Countdown running(callers);
  std::vector<std::unique_ptr<Caller>> all;
  for (int i = 0; i < callers; ++i) {
    all.push_back(std::make_unique<Caller>(stubs[i % stubs.size()], &method,
                                           &request, &stop, &running));
  }
  const auto start = Clock::now();
  for (auto& caller : all) caller->Start();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  const auto end = Clock::now();
  LoadResult result;
  if (!running.Wait(std::chrono::seconds(30))) {
    std::fprintf(stderr, "calls still running after 30 s\n");
    std::abort();  // the callers would outlive this frame
  }
  result.seconds = std::chrono::duration<double>(end - start).count();
  for (auto& caller : all) {
    result.calls += caller->calls;
    result.failures += caller->failures;
    result.latencies_us.insert(result.latencies_us.end(),
                               caller->latencies_us.begin(),
                               caller->latencies_us.end());
  }
  return result;
}

LoadResult RunOpenLoop(grpc::GenericStub& stub, const std::string& method,
                       const grpc::ByteBuffer& request, double rate,
                       double seconds) {
  struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer response;
    Clock::time_point scheduled;
  };
  const int64_t total = std::max<int64_t>(1, static_cast<int64_t>(rate * seconds));
  std::vector<std::unique_ptr<Call>> calls(total);
  std::vector<double> latencies(total, -1);
  std::atomic<int64_t> failures{0};
  Countdown in_flight(total);
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / rate));
  const auto start = Clock::now();
  for (int64_t i = 0; i < total; ++i) {
    calls[i] = std::make_unique<Call>();
    Call* call = calls[i].get();
    call->scheduled = start + interval * i;
    std::this_thread::sleep_until(call->scheduled);
    stub.UnaryCall(&call->context, method, grpc::StubOptions(), &request,
                   &call->response,
                   [&, call, i](const grpc::Status& status) {
                     if (status.ok()) {
                       latencies[i] = Micros(Clock::now() - call->scheduled);
                     } else {
                       ++failures;
                     }
                     in_flight.Done();
                   });
  }
  LoadResult result;
  result.seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  if (!in_flight.Wait(std::chrono::seconds(10))) {
    std::fprintf(stderr, "open-loop calls still running after 10 s\n");
    std::abort();  // their callbacks refer to this frame
  }
  result.failures = failures;
  for (double latency : latencies) {
    if (latency >= 0) result.latencies_us.push_back(latency);
  }
  result.calls = static_cast<int64_t>(result.latencies_us.size());
  return result;
}

void LoadResult::Add(const LoadResult& other) {
  calls += other.calls;
  failures += other.failures;
  seconds += other.seconds;
  latencies_us.insert(latencies_us.end(), other.latencies_us.begin(),
                      other.latencies_us.end());
}

size_t RoundOrder(int round, size_t turn, size_t loads) {
  return round % 2 == 0 ? turn : loads - 1 - turn;
}

std::vector<LoadResult> RunRounds(const std::vector<Load>& loads, int callers,
                                  double rate, double seconds, int rounds) {
  std::vector<LoadResult> results(loads.size());
  const double slice = seconds / rounds;
  for (int round = 0; round < rounds; ++round) {
    for (size_t turn = 0; turn < loads.size(); ++turn) {
      const size_t i = RoundOrder(round, turn, loads.size());
      const Load& load = loads[i];
      LoadResult r =
          rate > 0 ? RunOpenLoop(*load.stub, load.method, *load.request, rate,
                                 slice)
                   : RunClosedLoop(*load.stub, load.method, *load.request,
                                   callers, slice);
      results[i].round_rates.push_back(r.per_second());
      results[i].Add(r);
    }
  }
  return results;
}

double MedianRatio(const LoadResult& a, const LoadResult& b) {
  std::vector<double> ratios;
  for (size_t i = 0; i < a.round_rates.size() && i < b.round_rates.size();
       ++i) {
    if (b.round_rates[i] > 0) ratios.push_back(a.round_rates[i] / b.round_rates[i]);
  }
  return Quantile(ratios, 0.5);
}

void ReportLoad(const char* what, int callers, LoadResult& r,
                LoadResult* reference, const char* versus) {
  std::printf("%-28s callers %3d  %9.0f calls/s  p50 %8.1f us  p99 %8.1f us",
              what, callers, r.per_second(), r.p50(), r.p99());
  if (r.failures > 0) std::printf("  FAILURES %lld", (long long)r.failures);
  if (reference != nullptr) {
    std::printf("  vs %s: throughput %.2f  p99 %.2f", versus,
                MedianRatio(r, *reference), r.p99() / reference->p99());
  }
  std::printf("\n");
  std::fflush(stdout);
}

// One Watch stream: notes when each version of the watched flag first
// arrives.
class WatchStreams::Stream final
    : public grpc::ClientReadReactor<v1::WatchEvent> {
 public:
  Stream(v1::Evaluation::Stub* stub, const std::string& flag_key,
         int64_t max_version)
      : seen_(static_cast<size_t>(max_version) + 1) {
    request_.add_flag_keys(flag_key);
    stub->async()->Watch(&context_, &request_, this);
    StartRead(&event_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    const int64_t now = Clock::now().time_since_epoch().count();
    if (event_.kind() == v1::WatchEvent::SYNCED) synced_ = true;
    if (event_.has_flag()) {
      const int64_t version = event_.flag().version();
      if (version >= 0 && version < static_cast<int64_t>(seen_.size())) {
        int64_t unset = 0;
        seen_[version].compare_exchange_strong(unset, now);
      }
    }
    StartRead(&event_);
  }

  void OnDone(const grpc::Status&) override {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }

  void Cancel() { context_.TryCancel(); }
  bool WaitDone(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, [this] { return done_; });
  }
  bool synced() const { return synced_; }
  // When `version` arrived (steady clock ticks), 0 if not yet.
  int64_t seen(int64_t version) const {
    return version < static_cast<int64_t>(seen_.size()) ? seen_[version].load()
                                                       : 0;
  }

 private:
  grpc::ClientContext context_;
  v1::WatchRequest request_;
  v1::WatchEvent event_;
  std::atomic<bool> synced_{false};
  std::vector<std::atomic<int64_t>> seen_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

// The streams are callback-API reactors, many to a channel: raw Evaluation
// stubs, which AdminClient (blocking calls) does not replace.
WatchStreams::WatchStreams(const std::string& address, int count,
                           const std::string& flag_key, int64_t max_version,
                           const std::string& token) {
  constexpr int kStreamsPerChannel = 100;
  std::vector<std::unique_ptr<v1::Evaluation::Stub>> stubs;
  for (int i = 0; i < count; ++i) {
    if (i % kStreamsPerChannel == 0) {
      channels_.push_back(OwnChannel(address, token));
      stubs.push_back(v1::Evaluation::NewStub(channels_.back()));
    }
    streams_.push_back(
        std::make_unique<Stream>(stubs.back().get(), flag_key, max_version));
  }
  const auto limit = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < limit) {
    if (std::all_of(streams_.begin(), streams_.end(),
                    [](const auto& s) { return s->synced(); })) {
      ok_ = true;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

WatchStreams::~WatchStreams() {
  for (auto& stream : streams_) stream->Cancel();
  for (auto& stream : streams_) {
    if (!stream->WaitDone(std::chrono::seconds(20))) std::abort();
  }
}

int WatchStreams::count() const { return static_cast<int>(streams_.size()); }

Clock::time_point WatchStreams::WaitAllSaw(int64_t version, int timeout_ms) {
  const auto limit = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < limit) {
    int64_t last = 0;
    bool all = true;
    for (const auto& stream : streams_) {
      const int64_t seen = stream->seen(version);
      if (seen == 0) {
        all = false;
        break;
      }
      last = std::max(last, seen);
    }
    if (all) return Clock::time_point(Clock::duration(last));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Clock::time_point{};
}

}  // namespace cutover::bench
