#include "rpc/channel.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/channel.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/client_interceptor.h"
#include "rpc/pem_file.h"

namespace cutover {
namespace {

constexpr int kMaxResponseBytes = 64 << 20;

// The channel's service config: the load-balancing policy, and retries of
// the two calls that only read when the daemon they reached went away
// (UNAVAILABLE): a replica killed mid-call costs a retry, not a fallback.
// Backoffs are short because Decide's own deadline is milliseconds.
// Attempts are gRPC's most (5): while a killed replica is still in the
// round-robin picker, concurrent calls can send a retry back to it. The
// throttle stops retries while most calls fail (every daemon down): once
// failures outnumber a tenth of the successes by 50. With 10 tokens
// (6 failures) the calls in flight on one killed replica under four
// threads' load sometimes used the budget up, and a call fell back.
std::string ServiceConfigJson(ChannelOptions::LoadBalancing load_balancing) {
  const char* policy =
      load_balancing == ChannelOptions::LoadBalancing::kRoundRobin
          ? "round_robin"
          : "pick_first";
  return absl::StrCat(R"({"loadBalancingConfig": [{")", policy, R"(": {}}],
    "methodConfig": [{
      "name": [{"service": "cutover.v1.Evaluation", "method": "Decide"},
               {"service": "cutover.v1.Evaluation", "method": "DecideBatch"}],
      "retryPolicy": {
        "maxAttempts": 5,
        "initialBackoff": "0.001s",
        "maxBackoff": "0.005s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"]
      }
    }],
    "retryThrottling": {"maxTokens": 100, "tokenRatio": 0.1}
  })");
}

// Adds the bearer token to the initial metadata of every call.
class TokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit TokenInterceptor(const std::string* authorization)
      : authorization_(authorization) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::
                PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert(
          {"authorization", *authorization_});
    }
    methods->Proceed();
  }

 private:
  const std::string* const authorization_;
};

class TokenInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TokenInterceptorFactory(const std::string& token)
      : authorization_(absl::StrCat("Bearer ", token)) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new TokenInterceptor(&authorization_);
  }

 private:
  const std::string authorization_;
};

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(
    const ChannelOptions& options) {
  const bool has_cert = !options.tls_cert_file.empty();
  if (has_cert != !options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "tls-cert: a client certificate needs its key (tls-key), and a key "
        "its certificate");
  }
  if (options.tls_ca_file.empty()) {
    if (has_cert) {
      return absl::InvalidArgumentError(
          "tls-cert: mutual TLS needs tls-ca (the CA of the daemon's "
          "certificate)");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  auto ca = ReadPemFile(options.tls_ca_file, "tls-ca");
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *ca;
  if (has_cert) {
    auto cert = ReadPemFile(options.tls_cert_file, "tls-cert");
    if (!cert.ok()) return cert.status();
    auto key = ReadPemFile(options.tls_key_file, "tls-key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

std::string TokenFromEnvironment() {
  const char* token = std::getenv("CUTOVER_TOKEN");
  return token != nullptr ? token : "";
}

absl::StatusOr<std::string> TokenFromFile(const std::string& path,
                                          const char* option) {
  std::ifstream in(path);
  std::string token;
  if (!in || !std::getline(in, token) || token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(option, ": cannot read a token from ", path));
  }
  return token;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const ChannelOptions& options) {
  auto credentials = Credentials(options);
  if (!credentials.ok()) return credentials.status();
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
  if (!options.token.empty()) {
    interceptors.push_back(
        std::make_unique<TokenInterceptorFactory>(options.token));
  }
  grpc::ChannelArguments arguments;
  // History of large segments and big lists exceed gRPC's default 4 MiB.
  arguments.SetMaxReceiveMessageSize(kMaxResponseBytes);
  arguments.SetServiceConfigJSON(ServiceConfigJson(options.load_balancing));
  if (options.reconnect_initial_backoff > absl::ZeroDuration()) {
    const int initial = static_cast<int>(
        absl::ToInt64Milliseconds(options.reconnect_initial_backoff));
    arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, initial);
    arguments.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, initial);
  }
  if (options.reconnect_max_backoff > absl::ZeroDuration()) {
    arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                     static_cast<int>(absl::ToInt64Milliseconds(
                         options.reconnect_max_backoff)));
  }
  if (options.keepalive_time > absl::ZeroDuration()) {
    arguments.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
                     static_cast<int>(absl::ToInt64Milliseconds(
                         options.keepalive_time)));
    arguments.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                     static_cast<int>(absl::ToInt64Milliseconds(
                         options.keepalive_timeout)));
    // Also with no call open (a round-robin address between calls), and
    // with no limit on pings between data frames (gRPC stops at 2).
    arguments.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    arguments.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  if (options.own_connection) {
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  }
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      options.server, *credentials, arguments, std::move(interceptors));
}

std::chrono::system_clock::time_point DeadlineIn(absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

}  // namespace cutover
