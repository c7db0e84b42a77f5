#!/usr/bin/env bash
# start | stop | reset the moto emulator on 127.0.0.1:$MOTO_PORT.
set -euo pipefail
source "$(dirname "$0")/env.sh"
mkdir -p "$ROOT/.dev"
pidfile="$ROOT/.dev/moto-$MOTO_PORT.pid"
url="http://127.0.0.1:$MOTO_PORT"

case "${1:-start}" in
  start)
    if curl -fsS -o /dev/null "$url/moto-api/" 2>/dev/null; then
      echo "moto: already serving on $url"; exit 0
    fi
    "$ROOT/.venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" > "$ROOT/.dev/moto-$MOTO_PORT.log" 2>&1 &
    echo $! > "$pidfile"
    for _ in $(seq 1 100); do
      curl -fsS -o /dev/null "$url/moto-api/" 2>/dev/null && { echo "moto: serving on $url"; exit 0; }
      sleep 0.2
    done
    echo "moto: did not start; see .dev/moto-$MOTO_PORT.log" >&2; exit 1 ;;
  stop)
    # Only the emulator this script started: a stale pid file must not kill
    # whatever process has that pid now.
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile")
      if ps -p "$pid" -o args= 2>/dev/null | grep -q moto_server; then kill "$pid" 2>/dev/null || true; fi
      rm -f "$pidfile"
    fi ;;
  reset)
    curl -fsS -X POST "$url/moto-api/reset" > /dev/null ;;
  *) echo "usage: $0 start|stop|reset" >&2; exit 2 ;;
esac
