#!/usr/bin/env bash
# Installs the Debian packages, builds, and starts cutoverd in the
# foreground with its RocksDB store in ./cutover-data (Ctrl-C stops it).
# The first run makes an admin token: ./cutover-admin.token holds it (mode
# 600) and ./cutover-tokens the hash cutoverd accepts (docs/security.md).
# Extra arguments go to cutoverd, e.g. --config config/cutoverd.example.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh build
if [ ! -s cutover-admin.token ] || [ ! -s cutover-tokens ]; then
  made=$(umask 077; ./build/cutoverctl token new --name local-admin --role admin)
  (umask 077
   sed -n 's/^token: //p' <<<"$made" > cutover-admin.token
   sed -n 's/^token_file line: //p' <<<"$made" > cutover-tokens)
fi
echo "run-daemon: in another shell: export CUTOVER_TOKEN=\$(cat $PWD/cutover-admin.token)"
exec ./build/cutoverd --data-dir ./cutover-data --token-file ./cutover-tokens "$@"
