#!/usr/bin/env bash
# Installs the Debian packages, builds, and starts cutoverd in the
# foreground with its RocksDB store in ./cutover-data (Ctrl-C stops it).
# Extra arguments go to cutoverd, e.g. --config config/cutoverd.example.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh build
exec ./build/cutoverd --data-dir ./cutover-data "$@"
