#include "client/version.h"

// CUTOVER_VERSION is set for this file alone by CMakeLists.txt, from
// project(VERSION ...).
#ifndef CUTOVER_VERSION
#error "CUTOVER_VERSION must be defined by the build"
#endif

namespace cutover {

std::string_view Version() noexcept { return CUTOVER_VERSION; }

}  // namespace cutover
