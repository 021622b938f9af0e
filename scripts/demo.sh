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

# The sandbox keeps its objects between runs: a second demo starts where the first ended
# (its Jobs, pod restarts and Warnings). Say so, and offer a fresh start.
if [ -s "$STATE/objects.json" ]; then
  echo "$STATE holds the cluster of an earlier make demo: its Jobs, restarts and Warnings are still there."
  fresh=${FRESH:-}
  if [ -z "$fresh" ] && [ -t 0 ]; then
    read -r -p "Start from an empty cluster instead? [y/N] " fresh
  fi
  case "$fresh" in
    [yY1]*)
      echo "+ rm -rf $STATE/*    # a fresh start"
      find "$STATE" -mindepth 1 -maxdepth 1 ! -name lock -exec rm -rf {} +
      ;;
    *) echo "Keeping it (make demo FRESH=1 starts from an empty cluster)." ;;
  esac
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
