// The version of the cutover client library linked into the program: the
// project's one version (CMake project(VERSION ...)), the same that
// `cutoverd --version`, `cutoverctl --version`, the daemon's
// cutover_build_info metric, the CMake package (cutover_VERSION), the
// pkg-config file and the Debian packages carry (docs/install.md).
//
// A function rather than a macro so that it names the library actually
// linked, not the headers a program was compiled against.
//
// Thread-safe (a constant).
#ifndef CUTOVER_CLIENT_VERSION_H_
#define CUTOVER_CLIENT_VERSION_H_

#include <string_view>

namespace cutover {

// "MAJOR.MINOR.PATCH", e.g. "0.1.0".
std::string_view Version() noexcept;

}  // namespace cutover

#endif  // CUTOVER_CLIENT_VERSION_H_
