#!/usr/bin/env bash
# Stop the services started by start.sh, by the PIDs in .services/run/*.pid:
# SIGTERM, wait up to STOP_TIMEOUT seconds (15), then SIGKILL. Removes the pid files.
# Safe to call when nothing runs.
#
#   scripts/services/stop.sh [kafka|mongo|all]...   (default: all)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
SVC="${SERVICES_DIR:-$REPO/.services}"
RUN="$SVC/run"
STOP_TIMEOUT="${STOP_TIMEOUT:-15}"

log() { echo "[services/stop] $*" >&2; }

names=()
(($#)) || set -- all
for arg in "$@"; do
  case "$arg" in
    kafka | mongo) names+=("$arg") ;;
    all) names+=(kafka mongo) ;;
    *) log "unknown service '$arg' (expected: kafka, mongo, all)"; exit 1 ;;
  esac
done

marker() { case "$1" in kafka) echo kafka.Kafka ;; mongo) echo MongoServerMain ;; esac; }

# ours PID NAME: true if PID is alive and is the java process start.sh launched for NAME
ours() {
  kill -0 "$1" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$(marker "$2")"
}

stop_one() {
  local name="$1" f="$RUN/$1.pid" pid i
  if [[ ! -f "$f" ]]; then
    log "$name: not running (no pid file)"
    return 0
  fi
  pid="$(cat "$f" 2>/dev/null || true)"
  if [[ ! "$pid" =~ ^[0-9]+$ ]] || ! ours "$pid" "$name"; then
    log "$name: not running (stale pid file)"
    rm -f "$f"
    return 0
  fi
  log "$name: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    ours "$pid" "$name" || break
    sleep 0.1
  done
  if ours "$pid" "$name"; then
    log "$name: still running after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      ours "$pid" "$name" || break
      sleep 0.1
    done
  fi
  rm -f "$f"
  log "$name: stopped"
}

# stop in parallel (Kafka's controlled shutdown takes a few seconds)
pids=()
for n in "${names[@]}"; do
  stop_one "$n" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit "$rc"
