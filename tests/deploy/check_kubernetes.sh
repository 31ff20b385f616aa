#!/usr/bin/env bash
# The Kubernetes base (deploy/kubernetes/): `kubectl kustomize` builds it,
# every object it makes validates against the Kubernetes schemas (the
# pinned npm kubernetes-models packages of tests/deploy/kubernetes/, with
# tests/deploy/kubernetes/validate.js, which also checks the base's shape
# and that a broken object fails), and the real cutoverd starts with the
# base's config file and token file (their keys and lines are ones it
# accepts). No cluster is needed or contacted.
#
# Usage: check_kubernetes.sh SOURCE_DIR CUTOVERD
# Installs the npm packages with `npm ci` (package-lock.json: exact
# versions and integrity hashes) into a temporary folder, removed on exit
# with the daemon it started. Fails (exit 1) if kubectl, node, npm or the
# npm registry is missing: never skipped silently.
set -euo pipefail
SOURCE="$1"
CUTOVERD="$2"
here="$SOURCE/tests/deploy/kubernetes"

fail() { echo "kubernetes: FAIL: $*" >&2; exit 1; }
command -v kubectl > /dev/null ||
  fail "kubectl is needed (scripts/install-deps.sh installs it)"
command -v node > /dev/null && command -v npm > /dev/null ||
  fail "node and npm are needed (Node 20)"

work="$(mktemp -d "${TMPDIR:-/tmp}/cutover-kubernetes.XXXXXX")"
daemon_pid=""
cleanup() {
  if [[ -n "$daemon_pid" ]] && kill -0 "$daemon_pid" 2> /dev/null; then
    kill -KILL "$daemon_pid" 2> /dev/null || true
    wait "$daemon_pid" 2> /dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== kubectl kustomize deploy/kubernetes"
kubectl kustomize "$SOURCE/deploy/kubernetes" > "$work/manifests.yaml" ||
  fail "kubectl kustomize could not build deploy/kubernetes"
python3 - "$work/manifests.yaml" "$work/manifests.json" << 'PY'
import json, sys, yaml
with open(sys.argv[1]) as f:
    objects = [o for o in yaml.safe_load_all(f) if o is not None]
with open(sys.argv[2], "w") as f:
    json.dump(objects, f)
PY

echo "== npm ci (kubernetes-models $(node -p 'require(process.argv[1]).dependencies["kubernetes-models"]' "$here/package.json"))"
cp "$here/package.json" "$here/package-lock.json" "$work/"
if ! (cd "$work" && timeout 300 npm ci --no-audit --no-fund --ignore-scripts \
        --loglevel=error > "$work/npm.log" 2>&1); then
  cat "$work/npm.log" >&2
  fail "npm ci could not install the pinned packages (is the npm registry reachable?)"
fi
echo "== every object against the Kubernetes schemas"
NODE_PATH="$work/node_modules" node "$here/validate.js" "$work/manifests.json"

echo "== cutoverd starts with the base's config and token file"
# The pod's paths and addresses swapped for the test's (command-line flags
# win over the file): what is checked is that every key of the file, and
# the Secret's token line, is one cutoverd accepts.
python3 - "$work/manifests.json" "$work" << 'PY'
import json, sys
objects = json.load(open(sys.argv[1]))
config = next(o for o in objects if o["kind"] == "ConfigMap")
secret = next(o for o in objects
              if o["kind"] == "Secret" and o["metadata"]["name"] == "cutoverd-tokens")
open(sys.argv[2] + "/cutoverd.yaml", "w").write(config["data"]["cutoverd.yaml"])
open(sys.argv[2] + "/tokens", "w").write(secret["stringData"]["tokens"])
PY
"$CUTOVERD" --config "$work/cutoverd.yaml" --data-dir "$work/data" \
  --listen 127.0.0.1:0 --metrics-listen off --token-file "$work/tokens" \
  --ready-file "$work/ready" > "$work/cutoverd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 200); do
  [[ -s "$work/ready" ]] && break
  kill -0 "$daemon_pid" 2> /dev/null || break
  sleep 0.1
done
[[ -s "$work/ready" ]] || { cat "$work/cutoverd.log" >&2; fail "cutoverd did not start with the base's config"; }
echo "kubernetes: OK"
