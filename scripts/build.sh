#!/usr/bin/env bash
# Configures and builds cutover into ./build (or $1), with the sanitizer
# build when CUTOVER_SANITIZE=ON is in the environment. The install prefix
# is /usr, as the Debian packages need (`cpack -G DEB` in the build folder;
# docs/install.md): `cmake --install` elsewhere takes --prefix.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
  -DCUTOVER_SANITIZE="${CUTOVER_SANITIZE:-OFF}" -DCMAKE_INSTALL_PREFIX=/usr \
  > "$BUILD_DIR.cmake.log" 2>&1 \
  || { cat "$BUILD_DIR.cmake.log"; exit 1; }
cmake --build "$BUILD_DIR" -j "${CUTOVER_JOBS:-2}"
