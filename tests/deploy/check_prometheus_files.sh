#!/usr/bin/env bash
# Checks the Prometheus files under deploy/prometheus with promtool:
#   promtool check config deploy/prometheus/prometheus.yml
#   promtool check rules  deploy/prometheus/alerts.yml
#   promtool test rules   alerts_test.yml   (from deploy/prometheus)
#
# Usage: tests/deploy/check_prometheus_files.sh [REPOSITORY_ROOT]
# (default: the repository this script is in). Exits non-zero if promtool
# is missing or any check fails; never skips.
set -euo pipefail

script="${BASH_SOURCE[0]}"
case "${script}" in
  */*) script_dir="$(cd "${script%/*}" && pwd)" ;;
  *) script_dir="$(pwd)" ;;
esac
root="${1:-${script_dir}/../..}"
dir="${root}/deploy/prometheus"

if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not found: install Debian's prometheus package (scripts/install-deps.sh does)" >&2
  exit 1
fi
if [ ! -d "${dir}" ]; then
  echo "no such directory: ${dir}" >&2
  exit 1
fi

failed=0
run() {
  echo "+ (cd ${dir} && $*)"
  if ! (cd "${dir}" && "$@"); then
    echo "FAILED: $*" >&2
    failed=1
  fi
}

run promtool check config prometheus.yml
run promtool check rules alerts.yml
run promtool test rules alerts_test.yml

if [ "${failed}" -ne 0 ]; then
  echo "check_prometheus_files: FAILED" >&2
  exit 1
fi
echo "check_prometheus_files: all checks passed"
