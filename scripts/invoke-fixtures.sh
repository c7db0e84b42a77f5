#!/usr/bin/env bash
# Runs every fixture in events/manifest.json through the real function
# binaries: `cargo lambda watch` emulates the Lambda runtime API and
# `cargo lambda invoke` sends each event; each answer is checked against the
# manifest's expectation. Needs moto running (scripts/moto.sh start).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
port="${INVOKE_PORT:-9011}"
stack="${STACK_NAME:-community-events}"
mkdir -p .dev

# The functions' environment, resolved from template.yaml on the emulator.
cargo run -q -p devstack -- provision --stack-name "$stack" > .dev/lambda.env
cargo build -q --bin ingest --bin normalize --bin route --bin alert
# Slack, Discord and relay fixtures carry a signed timestamp that is only
# valid for 5 minutes; send copies re-signed now (the stale one stays stale).
cargo run -q -p devstack -- fixtures --fresh-dir .dev/fresh > /dev/null

cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --env-file .dev/lambda.env \
  --ignore-changes --quiet > .dev/lambda-watch.log 2>&1 &
watch_pid=$!
trap 'kill $watch_pid 2>/dev/null || true; wait $watch_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done

failures=0
total=0
while IFS=$'\t' read -r function event expect fresh; do
  total=$((total + 1))
  data="$event"
  [ "$fresh" = "fresh" ] && data=".dev/fresh/$(basename "$event")"
  answer=$(cargo lambda invoke "$function" --invoke-address 127.0.0.1 --invoke-port "$port" \
             --data-file "$data" --output-format json 2>&1) || true
  if python3 - "$expect" "$answer" <<'PY'
import json, sys
expect, raw = json.loads(sys.argv[1]), sys.argv[2]
try:
    answer = json.loads(raw)
except ValueError:
    sys.exit(1)
for key, want in expect.items():
    got = answer.get(key)
    if key == "batchItemFailures":
        got = got or []
    if got != want:
        sys.exit(1)
PY
  then
    echo "ok   $function $event"
  else
    echo "FAIL $function $event: expected $expect, got: $answer"
    failures=$((failures + 1))
  fi
done < <(python3 -c '
import json
for e in json.load(open("events/manifest.json")):
    print(e["function"], e["event"], json.dumps(e["expect"]), "fresh" if e.get("fresh") else "-", sep="\t")')

echo "$((total - failures)) passed, $failures failed"
[ "$failures" -eq 0 ] || { echo "--- cargo lambda watch log ---"; tail -50 .dev/lambda-watch.log; exit 1; }
