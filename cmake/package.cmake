# Debian packages with CPack: `cpack -G DEB` in a build configured with
# -DCMAKE_INSTALL_PREFIX=/usr (scripts/build.sh does) makes, one per
# component of cmake/install.cmake:
#   cutoverd_<version>-1_<arch>.deb               the daemon, systemd unit,
#                                                 /etc/cutover/cutoverd.yaml
#                                                 (conffile), user, state
#   cutoverctl_<version>-1_<arch>.deb             the admin CLI
#   libcutover-client-dev_<version>-1_<arch>.deb  headers, static libraries,
#                                                 CMake package, pkg-config
# Descriptions: the first line is the synopsis.
# Programs' dependencies come from dpkg-shlibdeps (the Debian packages of the
# shared libraries they link); the -dev package's are the -dev packages its
# CMake package finds. tests/package/deb_test.sh builds, checks, installs
# (into a throwaway root) and runs them.
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "Debian packages: not set up, they need "
                 "-DCMAKE_INSTALL_PREFIX=/usr (now ${CMAKE_INSTALL_PREFIX})")
  return()
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cutover)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# The Maintainer field: whoever builds packages for their machines says who
# answers for them (-DCUTOVER_PACKAGE_MAINTAINER="Ops <ops@example.com>").
set(CUTOVER_PACKAGE_MAINTAINER "cutover maintainers <cutover@example.org>"
    CACHE STRING "Maintainer of the Debian packages (name <email>)")
set(CPACK_PACKAGE_CONTACT "${CUTOVER_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "flag server for database migrations")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_COMPONENTS_ALL cutoverd cutoverctl dev)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)

set(CUTOVER_DEBIAN_DIR ${CMAKE_SOURCE_DIR}/deploy/debian)

set(CPACK_DEBIAN_CUTOVERD_PACKAGE_NAME cutoverd)
set(CPACK_DEBIAN_CUTOVERD_PACKAGE_SECTION net)
# useradd (postinst), beside what dpkg-shlibdeps finds.
set(CPACK_DEBIAN_CUTOVERD_PACKAGE_DEPENDS passwd)
set(CPACK_DEBIAN_CUTOVERD_PACKAGE_CONTROL_EXTRA
    ${CUTOVER_DEBIAN_DIR}/cutoverd/conffiles
    ${CUTOVER_DEBIAN_DIR}/cutoverd/postinst
    ${CUTOVER_DEBIAN_DIR}/cutoverd/prerm
    ${CUTOVER_DEBIAN_DIR}/cutoverd/postrm)
set(CPACK_DEBIAN_CUTOVERD_DESCRIPTION
"flag server for database migrations (daemon)
cutoverd keeps migration flags and percentage-rollout rules in RocksDB and
answers, per user, which database to read from and write to. It serves
gRPC on 127.0.0.1:7400 and Prometheus metrics on 127.0.0.1:7401 as the
cutoverd systemd service, as the cutover user, with its store in
/var/lib/cutover and its settings in /etc/cutover/cutoverd.yaml.")

set(CPACK_DEBIAN_CUTOVERCTL_PACKAGE_NAME cutoverctl)
set(CPACK_DEBIAN_CUTOVERCTL_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_CUTOVERCTL_DESCRIPTION
"flag server for database migrations (admin CLI)
cutoverctl creates migration flags, moves them through their stages
(off, dualwrite, shadow, live, rampdown, complete), rolls back, runs
declarative apply files and shows history and status, over gRPC with a
bearer token.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libcutover-client-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libgrpc++-dev, libprotobuf-dev, libabsl-dev, libre2-dev, prometheus-cpp-dev")
set(CPACK_DEBIAN_DEV_PACKAGE_SUGGESTS "cmake, pkg-config")
set(CPACK_DEBIAN_DEV_DESCRIPTION
"flag server for database migrations (C++ client library)
The static client library of cutover: cutover::Client (cached decisions
kept current over a Watch stream, served from the last synced state when
the daemon cannot answer), cutover::Migrator (dual write, shadow read,
compare), cutover::TelemetryReporter and cutover::BackfillDriver
(resumable, verified copy of the old rows), with their headers, a CMake
package (find_package(cutover)), a pkg-config file (cutover-client) and
the API's .proto files for clients in other languages.")

include(CPack)
