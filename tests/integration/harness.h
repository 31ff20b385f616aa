// Test harness for integration tests: temporary folders, running programs
// with captured output and a time limit, a real cutoverd process on a free
// loopback port (port 0, read back from its --ready-file), and the
// AdminClient that talks to it.
//
// Every process started here is ended by the harness (destructors send
// SIGKILL and reap), and every wait is bounded.
#ifndef CUTOVER_TESTS_INTEGRATION_HARNESS_H_
#define CUTOVER_TESTS_INTEGRATION_HARNESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "client/admin_client.h"

namespace cutover::testing {

// A fresh folder under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct RunResult {
  int exit_code = -1;  // -1 if killed by a signal or timed out
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] a path) with `stdin_text` on its standard input,
// waits at most `timeout_seconds`, and returns its exit code and output.
RunResult RunProgram(const std::vector<std::string>& argv,
                     double timeout_seconds = 60,
                     const std::string& stdin_text = "");

// Path of the built binaries (set by tests/CMakeLists.txt).
std::string CutoverdPath();
std::string CutoverctlPath();

// Runs cutoverctl against `server` ("127.0.0.1:PORT") with `args`.
RunResult RunCli(const std::string& server,
                 const std::vector<std::string>& args);

// A program running in the background (e.g. a Prometheus server), its
// standard output and error appended to `log_file`.
class BackgroundProcess {
 public:
  BackgroundProcess() = default;
  ~BackgroundProcess();  // SIGKILL and reap if still running
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  // Starts `argv` (argv[0] a path). False if it cannot be spawned.
  bool Start(const std::vector<std::string>& argv,
             const std::string& log_file);
  // Sends `signal` and waits (at most 20 s, then SIGKILL) for the exit.
  // Returns the exit code, or -signal if a signal ended it.
  int Stop(int signal);
  // Whether it has not exited (reaps it if it has).
  bool Running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
// released), for programs that cannot report the port they chose.
int FreeLoopbackPort();

// A listening TCP port on 127.0.0.1 that never answers: connections are
// made (the kernel completes the handshake) and nothing is ever read or
// sent, like a daemon that hangs. port() is 0 if it could not be opened.
class SilentLoopbackPort {
 public:
  SilentLoopbackPort();
  ~SilentLoopbackPort();
  SilentLoopbackPort(const SilentLoopbackPort&) = delete;
  SilentLoopbackPort& operator=(const SilentLoopbackPort&) = delete;
  int port() const { return port_; }
  std::string address() const;

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A TCP connection to 127.0.0.1:`port` (the caller closes it), every socket
// operation on it bounded by a 10 s timeout; -1 if refused.
int ConnectLoopback(int port);

// Makes a test PKI in `dir` with the openssl command: ca.pem/ca.key; a
// server certificate for 127.0.0.1 and localhost (server.pem/server.key);
// a client key (client.key) with certificates for CN "deployer" from the
// CA (client.pem), from another CA (other-ca.pem; client-other.pem), and
// from the CA but long expired (client-expired.pem). All P-256, valid two
// days. exit_code 0 on success.
RunResult MakeTestPki(const std::string& dir);

// Writes `text` to a new file beside `path` and renames it over `path`, as
// config tools and editors replace a file (readers see the old file or the
// new one, whole). False if it could not.
bool ReplaceFile(const std::string& path, const std::string& text);

// GET `url` with curl (at most `timeout_seconds`); exit_code 0 and the body
// in `out` on an HTTP success.
RunResult HttpGet(const std::string& url, double timeout_seconds = 10);

// An AdminClient for the test daemon at `address` ("127.0.0.1:PORT"):
// plaintext, no token, every call bounded by `deadline`, `actor` sent for
// the history (none if empty).
std::unique_ptr<AdminClient> ConnectAdmin(
    const std::string& address, absl::Duration deadline = absl::Seconds(10),
    const std::string& actor = "");

// A cutoverd child process with its own data folder.
class DaemonProcess {
 public:
  // `extra_args` are appended to cutoverd's command line; without an
  // "--auth" among them, "--auth none" is added (no authentication).
  explicit DaemonProcess(std::string data_dir,
                         std::vector<std::string> extra_args = {});
  ~DaemonProcess();  // SIGKILL and reap if still running
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // Starts cutoverd on 127.0.0.1:0 and waits (at most 20 s) until it
  // serves. Returns false (with the daemon's stderr in last_stderr()) if it
  // exits or does not become ready.
  bool Start();
  // Sends `signal` and waits (at most 20 s, then SIGKILL) for the exit.
  // Returns the exit code, or -signal if a signal ended it.
  int Stop(int signal);
  bool running() const { return pid_ > 0; }
  // Later Starts listen on the port of the current one (so clients with a
  // fixed address reconnect to the restarted daemon).
  void KeepPort() { listen_ = address(); }
  // Later Starts run cutoverd through `launcher`: a program and its
  // arguments that ends by exec'ing the rest of its command line in the
  // same process (e.g. {"/usr/bin/prlimit", "--fsize=65536", "--"}), so
  // pid() is still cutoverd's. Empty (the default): cutoverd directly.
  void SetLauncher(std::vector<std::string> launcher) {
    launcher_ = std::move(launcher);
  }

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  pid_t pid() const { return pid_; }
  std::string address() const;
  std::string last_stderr() const;

 private:
  std::string data_dir_;
  std::vector<std::string> extra_args_;
  std::vector<std::string> launcher_;
  std::string listen_ = "127.0.0.1:0";
  std::string ready_file_;
  std::string stderr_file_;
  pid_t pid_ = -1;
  int port_ = 0;
  int metrics_port_ = 0;
};

}  // namespace cutover::testing

#endif  // CUTOVER_TESTS_INTEGRATION_HARNESS_H_
