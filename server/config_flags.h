// ConfigFlags: cutoverd's command-line options that override config keys,
// made from the (command_line) options of cutover.config.v1.DaemonConfig
// (proto/cutover/config/v1/daemon_config.proto), so that a key and its flag
// are described in one place. ResolveConfig puts the defaults, the config
// file and the flags together, in that order, into the DaemonConfig the
// daemon runs with.
//
//   CLI::App app{"cutoverd"};
//   app.add_option("--config", config_path, "...");
//   ConfigFlags flags(&app);           // --data-dir, --listen, --auth, ...
//   app.parse(argc, argv);
//   absl::StatusOr<DaemonConfig> config = ResolveConfig(config_path, flags);
//
// A ConfigFlags belongs to the CLI::App it was given (which keeps pointers
// into it) and must outlive its parse; not thread-safe.
#ifndef CUTOVER_SERVER_CONFIG_FLAGS_H_
#define CUTOVER_SERVER_CONFIG_FLAGS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cutover/config/v1/daemon_config.pb.h"
#include "server/config.h"

namespace CLI {
class App;
}  // namespace CLI

namespace cutover {

class ConfigFlags {
 public:
  // Adds to `app` one option per field of DaemonConfig, or of a message in
  // it, that has a (command_line) option, in field order.
  explicit ConfigFlags(CLI::App* app);
  ~ConfigFlags();
  ConfigFlags(const ConfigFlags&) = delete;
  ConfigFlags& operator=(const ConfigFlags&) = delete;

  // After the app has parsed: sets in `config` every field whose option was
  // given (a text option given empty counts as not given; a bool option
  // only turns its field on).
  void ApplyTo(config::v1::DaemonConfig* config) const;

 private:
  struct Flag;
  std::vector<std::unique_ptr<Flag>> flags_;
};

// The config cutoverd runs with: the defaults, then the file at
// `config_path` unless it is empty (LoadConfigFile: the file must be valid
// on its own), then the flags given, then ValidateConfig once more.
// NOT_FOUND for an unreadable file, INVALID_ARGUMENT naming the key.
absl::StatusOr<DaemonConfig> ResolveConfig(const std::string& config_path,
                                           const ConfigFlags& flags);

}  // namespace cutover

#endif  // CUTOVER_SERVER_CONFIG_FLAGS_H_
