# Install rules, the exported CMake package `cutover` and the pkg-config file
# `cutover-client` (docs/install.md). Included by CMakeLists.txt once every
# target exists.
#
# Three components, one Debian package each (cmake/package.cmake):
#   cutoverd    the daemon, its systemd unit, its default config (/etc for
#               the prefix /usr), its state folder, the config's .proto,
#               its manual page cutoverd(8)
#   cutoverctl  the admin CLI, the example flags file, its manual page
#               cutoverctl(1)
#   dev         libcutover-client-dev: the client library's public headers
#               and static libraries, the CMake package, the pkg-config
#               file and the API's .proto files (for other languages)
#
# The libraries are static (docs/install.md, "Static, not shared"); the
# public headers are the client's and the core types they expose, none of
# the server's and no generated protobuf header (the generated code is
# compiled into libcutover_proto.a, which the client library links).
include(CMakePackageConfigHelpers)

set(CUTOVER_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/cutover)

# --- dev: headers, libraries, CMake package, pkg-config file, .proto -------
# What `#include "client/client.h"` reaches, and nothing more: the test
# tests/consumer/ compiles every one of them with only the install prefix.
set(CUTOVER_PUBLIC_HEADERS
  client/backfill.h
  rpc/channel.h
  client/client.h
  client/decision_cache.h
  client/decision_source.h
  client/migrator.h
  client/telemetry_reporter.h
  client/version.h
  core/evaluate.h
  core/migration_ops.h
  core/model.h
  core/stage.h
)
foreach(header IN LISTS CUTOVER_PUBLIC_HEADERS)
  get_filename_component(folder ${header} DIRECTORY)
  install(FILES ${header}
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cutover/${folder}
          COMPONENT dev)
endforeach()

# Exported as cutover::core, cutover::client and, for the linker only,
# cutover::proto, cutover::convert, cutover::rpc (static archives carry no
# dependencies of their own, so the ones the client library links must be
# installed and named too).
set_target_properties(cutover_core PROPERTIES EXPORT_NAME core)
set_target_properties(cutover_proto PROPERTIES EXPORT_NAME proto)
set_target_properties(cutover_convert PROPERTIES EXPORT_NAME convert)
set_target_properties(cutover_rpc PROPERTIES EXPORT_NAME rpc)
set_target_properties(cutover_client PROPERTIES EXPORT_NAME client)
install(TARGETS ${CUTOVER_CLIENT_LIBRARIES}
        EXPORT cutoverTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
# `cmake --install --strip` and cpack (CPACK_STRIP_FILES) strip the
# programs; the archives lose their debug information only, as Debian's
# dh_strip does for static libraries (their symbols are what links).
foreach(library IN LISTS CUTOVER_CLIENT_LIBRARIES)
  install(CODE "
    if(CMAKE_INSTALL_DO_STRIP)
      execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug
        \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/lib${library}.a\"
        COMMAND_ERROR_IS_FATAL ANY)
    endif()" COMPONENT dev)
endforeach()
install(EXPORT cutoverTargets
        NAMESPACE cutover::
        DESTINATION ${CUTOVER_CMAKE_DIR}
        COMPONENT dev)
configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/cutoverConfig.cmake.in
  ${CMAKE_BINARY_DIR}/cmake/cutoverConfig.cmake
  INSTALL_DESTINATION ${CUTOVER_CMAKE_DIR})
# 0.x: a minor release may change the API, so only the same MAJOR.MINOR
# satisfies find_package(cutover 0.1).
write_basic_package_version_file(
  ${CMAKE_BINARY_DIR}/cmake/cutoverConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/cutoverConfig.cmake
              ${CMAKE_BINARY_DIR}/cmake/cutoverConfigVersion.cmake
        DESTINATION ${CUTOVER_CMAKE_DIR}
        COMPONENT dev)

# pkg-config: the prefix is found from the .pc file's own place, so the
# file is right wherever the tree is installed (cmake --install --prefix).
file(RELATIVE_PATH CUTOVER_PC_TO_PREFIX
     /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" CUTOVER_PC_TO_PREFIX "${CUTOVER_PC_TO_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/cutover-client.pc.in
               ${CMAKE_BINARY_DIR}/cmake/cutover-client.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/cmake/cutover-client.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
        COMPONENT dev)

# The API, for clients in other languages.
install(FILES ${PROTO_SRC} ${CLIENT_SNAPSHOT_PROTO}
        DESTINATION ${CMAKE_INSTALL_DATADIR}/cutover/proto/cutover/v1
        COMPONENT dev)

# --- manual pages ---------------------------------------------------------------
# Written by hand in docs/man/; the build puts the project's version in
# (@PROJECT_VERSION@) and compresses them as Debian installs manual pages
# (gzip -9n: no name or time in the header, the same bytes every build).
# tests/man/check_man_pages.sh renders the configured pages.
set(CUTOVER_MAN_PAGES cutoverd.8 cutoverctl.1)
set(CUTOVER_MAN_GZ)
foreach(page IN LISTS CUTOVER_MAN_PAGES)
  configure_file(${CMAKE_SOURCE_DIR}/docs/man/${page}
                 ${CMAKE_BINARY_DIR}/man/${page} @ONLY)
  add_custom_command(
    OUTPUT ${CMAKE_BINARY_DIR}/man/${page}.gz
    COMMAND gzip -9nkf ${CMAKE_BINARY_DIR}/man/${page}
    DEPENDS ${CMAKE_BINARY_DIR}/man/${page}
    COMMENT "Compressing the manual page ${page}"
    VERBATIM)
  list(APPEND CUTOVER_MAN_GZ ${CMAKE_BINARY_DIR}/man/${page}.gz)
endforeach()
add_custom_target(man_pages ALL DEPENDS ${CUTOVER_MAN_GZ})
install(FILES ${CMAKE_BINARY_DIR}/man/cutoverd.8.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man8
        COMPONENT cutoverd)
install(FILES ${CMAKE_BINARY_DIR}/man/cutoverctl.1.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
        COMPONENT cutoverctl)

# --- cutoverctl ---------------------------------------------------------------
install(TARGETS cutoverctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        COMPONENT cutoverctl)
install(FILES config/flags.example.yaml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/cutoverctl/examples
        COMPONENT cutoverctl)

# --- cutoverd -----------------------------------------------------------------
install(TARGETS cutoverd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        COMPONENT cutoverd)
install(FILES config/cutoverd.example.yaml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/cutoverd/examples
        COMPONENT cutoverd)
# The config's reference (every key, its default and rule).
install(FILES ${CONFIG_PROTO_SRC}
        DESTINATION ${CMAKE_INSTALL_DATADIR}/cutover/proto/cutover/config/v1
        COMPONENT cutoverd)
# The default config (a conffile in the Debian package), the systemd unit
# and the state folder. For the prefix /usr (the Debian packages, and
# scripts/build.sh's builds) they go where Debian 12 keeps them:
# /etc/cutover, /var/lib/cutover, /lib/systemd/system. For any other prefix,
# under it (systemd also reads <prefix>/lib/systemd/system for /usr/local),
# and the state folder is StateDirectory='s /var/lib/cutover.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(CUTOVER_CONFIG_DIR /etc/cutover)
  set(CUTOVER_SYSTEMD_UNIT_DIR /lib/systemd/system)
  # The unit's StateDirectory= makes it too; the package's postinst gives
  # it to the cutover user, mode 0750.
  install(DIRECTORY DESTINATION /var/lib/cutover COMPONENT cutoverd)
else()
  set(CUTOVER_CONFIG_DIR ${CMAKE_INSTALL_SYSCONFDIR}/cutover)
  set(CUTOVER_SYSTEMD_UNIT_DIR lib/systemd/system)
endif()
install(FILES deploy/systemd/cutoverd.yaml
        DESTINATION ${CUTOVER_CONFIG_DIR}
        COMPONENT cutoverd)
# deploy/systemd/cutoverd.service names /usr/bin and /etc/cutover; for
# another prefix the installed copy names that prefix's.
file(READ ${CMAKE_SOURCE_DIR}/deploy/systemd/cutoverd.service CUTOVER_UNIT)
string(REPLACE "/usr/bin/" "${CMAKE_INSTALL_FULL_BINDIR}/"
       CUTOVER_UNIT "${CUTOVER_UNIT}")
string(REPLACE "/etc/cutover/" "${CMAKE_INSTALL_FULL_SYSCONFDIR}/cutover/"
       CUTOVER_UNIT "${CUTOVER_UNIT}")
file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/deploy/cutoverd.service
     CONTENT "${CUTOVER_UNIT}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${CMAKE_SOURCE_DIR}/deploy/systemd/cutoverd.service)
install(FILES ${CMAKE_BINARY_DIR}/deploy/cutoverd.service
        DESTINATION ${CUTOVER_SYSTEMD_UNIT_DIR}
        COMPONENT cutoverd)
