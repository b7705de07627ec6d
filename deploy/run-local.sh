#!/usr/bin/env bash
# Runs advdemo on this machine as it runs on a server: K Streamlit replicas behind nginx, with cookie affinity.
#
#   deploy/run-local.sh [K]     start K replicas (default: one per core, nproc) and nginx, wait until they answer
#   deploy/run-local.sh stop    stop them all
#
# Environment:
#   ADVDEMO_PORT               nginx's port on 127.0.0.1 (default 8500): open http://127.0.0.1:$ADVDEMO_PORT/
#   ADVDEMO_REPLICA_BASE_PORT  replica i listens on 127.0.0.1:(base + i) (default: ADVDEMO_PORT + 1)
#   ADVDEMO_LISTEN             nginx's listen address (default 127.0.0.1:$ADVDEMO_PORT; 0.0.0.0:8500 for a class)
#   ADVDEMO_RUN_DIR            pids, logs and nginx's files (default deploy/run/)
#   ADVDEMO_HOME               the model store every replica shares (default ~/.advdemo), ADVDEMO_MNIST as usual
#   PYTHON                     the interpreter with the app's packages (default: python from PATH)
#   ADVDEMO_HEALTH_TIMEOUT     seconds to wait for each replica (default 120)
# nginx and the replicas run as the current user; nothing is written outside ADVDEMO_RUN_DIR and ADVDEMO_HOME.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
RUN="${ADVDEMO_RUN_DIR:-$REPO/deploy/run}"
PYTHON="${PYTHON:-python}"
PORT="${ADVDEMO_PORT:-8500}"
BASE="${ADVDEMO_REPLICA_BASE_PORT:-$((PORT + 1))}"
LISTEN="${ADVDEMO_LISTEN:-127.0.0.1:$PORT}"
TIMEOUT="${ADVDEMO_HEALTH_TIMEOUT:-120}"
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"

stop() {
  local stopped=0
  if [ -f "$RUN/nginx.pid" ]; then
    kill -QUIT "$(cat "$RUN/nginx.pid")" 2>/dev/null && stopped=1 || true
  fi
  for pidfile in "$RUN"/replica-*.pid; do
    [ -f "$pidfile" ] || continue
    kill -TERM "$(cat "$pidfile")" 2>/dev/null && stopped=1 || true
  done
  for pidfile in "$RUN"/replica-*.pid "$RUN/nginx.pid"; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  [ "$stopped" = 1 ] && echo "stopped" || echo "nothing was running"
}

wait_health() {  # URL NAME PID: until it answers "ok", the process dies or the time is up
  local deadline=$((SECONDS + TIMEOUT))
  until [ "$(curl -s --max-time 2 "$1" || true)" = ok ]; do
    if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then
      echo "$2 stopped while starting; its log:" >&2; tail -n 20 "$RUN/$2.log" >&2 || true; return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then echo "$2 did not answer $1 within ${TIMEOUT}s" >&2; return 1; fi
    sleep 0.5
  done
}

if [ "${1:-}" = stop ]; then stop; exit 0; fi
K="${1:-$(nproc)}"
case "$K" in ''|*[!0-9]*|0) echo "usage: $0 [K>=1] | stop" >&2; exit 2;; esac
command -v "$NGINX" >/dev/null || { echo "nginx is not installed (apt-get install nginx)" >&2; exit 1; }
mkdir -p "$RUN"
if ls "$RUN"/replica-*.pid >/dev/null 2>&1 || [ -f "$RUN/nginx.pid" ]; then
  echo "already running (pid files in $RUN): $0 stop first" >&2; exit 1
fi
# One cookie secret for every replica: Streamlit signs its XSRF cookie with it, so a browser moved to another replica
# (its own is down) keeps a valid cookie.
[ -s "$RUN/cookie-secret" ] || (umask 077; od -An -N24 -tx1 /dev/urandom | tr -d ' \n' > "$RUN/cookie-secret")
SECRET="$(cat "$RUN/cookie-secret")"

replicas=()
cd "$REPO"
for i in $(seq 0 $((K - 1))); do
  p=$((BASE + i))
  STREAMLIT_SERVER_COOKIE_SECRET="$SECRET" setsid "$PYTHON" -m streamlit run app.py --server.port "$p" \
    --server.headless true --server.address 127.0.0.1 --server.fileWatcherType none \
    --browser.gatherUsageStats false > "$RUN/replica-$i.log" 2>&1 < /dev/null &
  echo $! > "$RUN/replica-$i.pid"
  replicas+=("127.0.0.1:$p")
done
"$PYTHON" "$REPO/deploy/render_nginx.py" --listen "$LISTEN" --run "$RUN" "${replicas[@]}" > "$RUN/nginx.conf"
for i in $(seq 0 $((K - 1))); do
  wait_health "http://127.0.0.1:$((BASE + i))/_stcore/health" "replica-$i" "$(cat "$RUN/replica-$i.pid")" || { stop >/dev/null; exit 1; }
done
"$NGINX" -p "$RUN" -c "$RUN/nginx.conf" -e "$RUN/error.log" || { stop >/dev/null; exit 1; }
wait_health "http://127.0.0.1:$PORT/_stcore/health" nginx || { stop >/dev/null; exit 1; }
echo "advdemo: $K replicas (ports $BASE-$((BASE + K - 1))) behind http://$LISTEN/ ; logs in $RUN; stop: $0 stop"
