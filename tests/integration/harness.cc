#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

extern char** environ;

namespace cutover::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<char*> ArgvOf(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  return argv;
}

// Waits for `pid` until `deadline`; SIGKILLs it past the deadline. Returns
// the exit code, or -signal.
int WaitFor(pid_t pid, Clock::time_point deadline) {
  int status = 0;
  while (true) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (Clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base != nullptr && *base ? base : "/tmp") + "/cutover-test-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) std::abort();
  path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

RunResult RunProgram(const std::vector<std::string>& args,
                     double timeout_seconds, const std::string& stdin_text) {
  int out_pipe[2], err_pipe[2], in_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0 ||
      pipe2(in_pipe, O_CLOEXEC) != 0) {
    return {};
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  pid_t pid = -1;
  auto argv = ArgvOf(args);
  const int spawned =
      posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  RunResult result;
  if (spawned != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    close(err_pipe[0]);
    result.err = "spawn failed";
    return result;
  }
  if (!stdin_text.empty()) {
    (void)!write(in_pipe[1], stdin_text.data(), stdin_text.size());
  }
  close(in_pipe[1]);

  const auto deadline =
      Clock::now() + std::chrono::milliseconds(
                         static_cast<int64_t>(timeout_seconds * 1000));
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0 && Clock::now() < deadline) {
    if (poll(fds, 2, 50) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  result.exit_code = WaitFor(pid, deadline);
  return result;
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0) Stop(SIGKILL);
}

bool BackgroundProcess::Start(const std::vector<std::string>& args,
                              const std::string& log_file) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_file.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  auto argv = ArgvOf(args);
  const int spawned =
      posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) pid_ = -1;
  return spawned == 0;
}

int BackgroundProcess::Stop(int signal) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  const int code = WaitFor(pid_, Clock::now() + std::chrono::seconds(20));
  pid_ = -1;
  return code;
}

bool BackgroundProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) pid_ = -1;
  return pid_ > 0;
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

SilentLoopbackPort::SilentLoopbackPort() {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      listen(fd_, 64) == 0 &&
      getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port_ = ntohs(address.sin_port);
  }
}

SilentLoopbackPort::~SilentLoopbackPort() {
  if (fd_ >= 0) close(fd_);
}

std::string SilentLoopbackPort::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) !=
      0) {
    close(fd);
    return -1;
  }
  return fd;
}

RunResult HttpGet(const std::string& url, double timeout_seconds) {
  return RunProgram({"/usr/bin/curl", "-sS", "--fail", "--max-time",
                     std::to_string(static_cast<int>(timeout_seconds)), url},
                    timeout_seconds + 5);
}

std::unique_ptr<AdminClient> ConnectAdmin(const std::string& address,
                                          absl::Duration deadline,
                                          const std::string& actor) {
  AdminClientOptions options;
  options.channel.server = address;
  options.deadline = deadline;
  options.actor = actor;
  // Plaintext without files: nothing that can fail.
  absl::StatusOr<std::unique_ptr<AdminClient>> admin =
      AdminClient::Create(std::move(options));
  if (!admin.ok()) std::abort();
  return *std::move(admin);
}

std::string CutoverdPath() { return CUTOVERD_PATH; }
std::string CutoverctlPath() { return CUTOVERCTL_PATH; }

RunResult RunCli(const std::string& server,
                 const std::vector<std::string>& args) {
  std::vector<std::string> argv = {CutoverctlPath(), "--server", server,
                                   "--actor", "test-operator"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv, 60);
}

DaemonProcess::DaemonProcess(std::string data_dir,
                             std::vector<std::string> extra_args)
    : data_dir_(std::move(data_dir)),
      extra_args_(std::move(extra_args)),
      ready_file_(data_dir_ + ".ready"),
      stderr_file_(data_dir_ + ".stderr") {}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) Stop(SIGKILL);
  std::remove(ready_file_.c_str());
  std::remove(stderr_file_.c_str());
}

bool DaemonProcess::Start() {
  std::remove(ready_file_.c_str());
  std::vector<std::string> args = {CutoverdPath(), "--data-dir", data_dir_,
                                   "--listen",     listen_,
                                   "--ready-file", ready_file_};
  const auto given = [this](const char* flag) {
    return std::find(extra_args_.begin(), extra_args_.end(), flag) !=
           extra_args_.end();
  };
  // Tests run without authentication and with metrics on a free port
  // unless they configure them themselves (the command line overrides
  // the config file).
  if (!given("--auth")) args.insert(args.end(), {"--auth", "none"});
  if (!given("--metrics-listen")) {
    args.insert(args.end(), {"--metrics-listen", "127.0.0.1:0"});
  }
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  args.insert(args.begin(), launcher_.begin(), launcher_.end());
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, stderr_file_.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  auto argv = ArgvOf(args);
  const int spawned =
      posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    pid_ = -1;
    return false;
  }
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline) {
    std::ifstream ready(ready_file_);
    if (ready >> port_ >> metrics_port_) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Stop(SIGKILL);
  return false;
}

int DaemonProcess::Stop(int signal) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  const int code = WaitFor(pid_, Clock::now() + std::chrono::seconds(20));
  pid_ = -1;
  return code;
}

std::string DaemonProcess::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::string DaemonProcess::last_stderr() const { return ReadFile(stderr_file_); }

bool ReplaceFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".new";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

RunResult MakeTestPki(const std::string& dir) {
  const std::string script = R"(set -e
cd ")" + dir + R"("
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key; key other-ca.key; key server.key; key client.key
openssl req -x509 -key ca.key -out ca.pem -days 2 -subj /CN=cutover-test-ca
openssl req -x509 -key other-ca.key -out other-ca.pem -days 2 -subj /CN=other-ca
openssl req -new -key server.key -out server.csr -subj /CN=localhost
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext 2>/dev/null
openssl req -new -key client.key -out client.csr -subj /CN=deployer
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 2>/dev/null
openssl x509 -req -in client.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial -out client-other.pem -days 2 2>/dev/null
mkdir -p db/new; : > db/index.txt; echo 01 > db/serial
cat > ca.cnf <<'EOF'
[ ca ]
default_ca = test
[ test ]
dir = ./db
database = $dir/index.txt
new_certs_dir = $dir/new
serial = $dir/serial
default_md = sha256
policy = any
[ any ]
commonName = supplied
EOF
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in client.csr -out client-expired.pem -startdate 20200101000000Z -enddate 20200102000000Z -notext 2>/dev/null
)";
  return RunProgram({"/bin/sh", "-c", script}, 60);
}

}  // namespace cutover::testing
