#!/usr/bin/env bash
# Validate a repository's Kubernetes manifests against a mock cloud: plan, apply, check that a second plan is
# empty, read the status back, delete, and check that nothing is left. No cloud account, no network.
#
#   examples/ci/validate.sh aws   k8s/ more/service.yaml   # moto-backed AWS: `cloudlb mock-server aws`
#   examples/ci/validate.sh local k8s/                     # the local provider: `cloudlb serve`
#
# Environment: CLOUDLB_CI_NODES (default: nodes.yaml next to this script) adds stand-in Nodes; set it empty when
# the manifests bring their own. CLOUDLB (default: cloudlb) is the command to run; a wrapper script must exec it,
# so that the signal which stops the server reaches it. Exit status 0 means every
# LoadBalancer Service in the manifests planned, applied, converged and deleted cleanly.
set -euo pipefail

usage() { echo "usage: $0 aws|local MANIFEST_FILE_OR_DIR..." >&2; exit 2; }
[ $# -ge 2 ] || usage
provider=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
nodes=${CLOUDLB_CI_NODES-$here/nodes.yaml}
cloudlb=${CLOUDLB:-cloudlb}
cluster=ci
work=$(mktemp -d)
server_pid=

stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" || { echo "error: the $provider mock exited with $?; its log:" >&2; cat "$work/server.log" >&2; exit 1; }
    server_pid=
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT

# wait_for WHAT TEST...: poll TEST for up to 60 s while the server lives.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 600); do
    "$@" && return 0
    kill -0 "$server_pid" 2>/dev/null || { echo "error: the $provider mock died; its log:" >&2; cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "error: no $what after 60 s; the log:" >&2
  cat "$work/server.log" >&2
  exit 1
}

files=("$@")
[ -z "$nodes" ] || files+=("$nodes")
# Bad manifests fail here, before any server starts, with errors that name the user's files.
rendered=()
for path in "${files[@]}"; do rendered+=(-f "$path"); done
echo "+ cloudlb render ${rendered[*]}" >&2
"$cloudlb" render "${rendered[@]}" >/dev/null

case $provider in
aws)
  seeds=()
  for path in "${files[@]}"; do seeds+=(--seed "$path"); done
  "$cloudlb" mock-server aws --cluster "$cluster" --work-dir "$work/aws" "${seeds[@]}" >"$work/server.out" 2>"$work/server.log" &
  server_pid=$!
  # The first stdout line is the config, written whole; a complete line ends in a newline.
  has_config() { [ "$(wc -l <"$work/server.out")" -ge 1 ]; }
  wait_for "config line" has_config
  head -n 1 "$work/server.out" >"$work/cloudlb.json"
  # The seeded copy of the manifests: every Node's spec.providerID names its EC2 instance.
  files=("$work/aws/seeded.yaml")
  ;;
local)
  "$cloudlb" serve --state-dir "$work/state" >"$work/server.out" 2>"$work/server.log" &
  server_pid=$!
  wait_for "local API" test -s "$work/state/api.json"
  printf '{"provider": "local", "cluster": "%s", "options": {"state_dir": "%s"}}\n' "$cluster" "$work/state" >"$work/cloudlb.json"
  ;;
*)
  usage
  ;;
esac

run() {
  echo "+ cloudlb $*" >&2
  "$cloudlb" "$@" --config "$work/cloudlb.json"
}
manifests=()
for path in "${files[@]}"; do manifests+=(-f "$path"); done

run plan "${manifests[@]}"
run apply "${manifests[@]}"
# Converged: planning again must find nothing to change.
run plan "${manifests[@]}" -o json >"$work/replan.json"
python3 - "$work/replan.json" <<'PY'
import json, sys
drifted = [r["service"] for r in json.load(open(sys.argv[1])) if not r["plan"]["empty"]]
if drifted:
    sys.exit(f"error: still changes to make after apply: {', '.join(drifted)}")
PY
run get "${manifests[@]}"
run delete "${manifests[@]}"
run list -o json >"$work/left.json"
python3 - "$work/left.json" <<'PY'
import json, sys
left = json.load(open(sys.argv[1]))
if left:
    sys.exit(f"error: load balancers left after delete: {left}")
PY
stop_server
echo "ok: the manifests plan, apply, converge and delete cleanly on $provider" >&2
