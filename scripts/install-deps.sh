#!/usr/bin/env bash
# Installs the Debian 12 packages cutover builds and tests with. Idempotent.
set -euo pipefail
PACKAGES=(
  build-essential cmake pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libre2-dev libssl-dev
  librocksdb-dev libsystemd-dev libcurl4-openssl-dev
  prometheus-cpp-dev
  catch2 libcli11-dev libyaml-cpp-dev libbenchmark-dev libsqlite3-dev
  prometheus openssl python3 curl procps jq
  clang libclang-rt-14-dev
  valgrind
  file lintian systemd     # cpack -G DEB (dpkg-shlibdeps), package checks, systemd-analyze
  python3-yaml             # the Kubernetes manifests' test reads kustomize's output
)
# `kubectl kustomize` for the Kubernetes manifests' test: Debian's
# kubernetes-client only when no kubectl is on the machine. Another
# package's kubectl (a vendor's) installs the same /usr/bin/kubectl, so
# both would conflict; any kubectl will do.
command -v kubectl > /dev/null || PACKAGES+=(kubernetes-client)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
