#!/usr/bin/env bash
# `make demo`: the whole stack on the sandbox (a simulated cluster that runs pods as local
# processes), opened in the TUI. Quitting the TUI stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.venv/bin}
STATE=${STATE:-.sandbox}
OVERLAY=${OVERLAY:-minikube}
export KUBECONFIG="$PWD/$STATE/kubeconfig"

mkdir -p "$STATE"
# iris-sandbox locks its state folder; checking first keeps the running one's files intact.
if ! flock -n "$STATE/lock" true; then
  echo "A sandbox is already running on $STATE (another make demo?): quit it first."
  exit 1
fi
rm -f "$STATE/ready"
"$BIN/iris-sandbox" --state "$STATE" >"$STATE/sandbox.log" 2>&1 &
sandbox_pid=$!
trap 'kill -TERM "$sandbox_pid" 2>/dev/null; wait "$sandbox_pid" 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 100); do
  [ -f "$STATE/ready" ] && break
  kill -0 "$sandbox_pid" 2>/dev/null || { echo "the sandbox did not start:"; cat "$STATE/sandbox.log"; exit 1; }
  sleep 0.1
done
[ -f "$STATE/ready" ] || { echo "the sandbox did not start in 10 s; see $STATE/sandbox.log"; exit 1; }

echo "Sandbox: a SIMULATED cluster at $(cat "$STATE/ready"), pods run as local processes."
echo "+ kubectl delete job iris-train-job -n ml-course --ignore-not-found"
kubectl delete job iris-train-job -n ml-course --ignore-not-found
echo "+ kubectl apply --server-side --force-conflicts -k overlays/$OVERLAY"
kubectl apply --server-side --force-conflicts -k "overlays/$OVERLAY"

"$BIN/iris-tui" --namespace ml-course --overlay "$OVERLAY"
