#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for FUZZ_SECONDS (default 30) each, then
# prints one line per target: executions, corpus size, coverage. Exits
# non-zero if any target crashed, naming the crashing input and the panic.
#
#   FUZZ_SECONDS=20 make fuzz            # or: scripts/fuzz.sh [target...]
#   FUZZ_RSS_MB=1024 FUZZ_TIMEOUT=10     # per-input memory (MiB) and time (s) limits
#   FUZZ_SANITIZER=address               # opt in to ASan (see below)
#
# Toolchain: only stable Rust is available here, and cargo-fuzz works on it.
# With `--sanitizer none` cargo-fuzz passes only stable flags (the SanitizerCoverage
# instrumentation is `-Cpasses=sancov-module` plus `-Cllvm-args`), so no nightly
# is needed. ASan needs `-Zsanitizer=address`, a nightly-only flag; stable rustc
# accepts it under RUSTC_BOOTSTRAP=1 (its ASan runtime ships with the stable
# toolchain), so FUZZ_SANITIZER=address sets that. It is off by default: the
# code under test is safe Rust (`unsafe_code = "forbid"`), so the findings are
# panics and broken invariants, which need no sanitizer, and ASan halves the
# executions per second. `-a` keeps debug assertions and overflow checks on.
#
# Seeds are made at run time into fuzz/corpus/<target>/ (gitignored) from
# events/payloads/<platform>/*.json. The read-only reference corpus
# ../shared/corpus/<platform>/, when present, is passed to libFuzzer as an
# extra input directory (libFuzzer writes only to the first), never copied.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

CARGO_FUZZ_VERSION=0.13.2
TOOLS="$ROOT/fuzz/.tools"
export PATH="$TOOLS/bin:$PATH"
SECONDS_EACH="${FUZZ_SECONDS:-30}"
RSS_MB="${FUZZ_RSS_MB:-1024}"
TIMEOUT="${FUZZ_TIMEOUT:-10}"
SANITIZER="${FUZZ_SANITIZER:-none}"
SHARED_CORPUS="$ROOT/../shared/corpus"
LOGS="$ROOT/fuzz/target/logs"
ALL_TARGETS=(edge_github edge_slack edge_discord edge_discourse edge_relay
             adapt_github adapt_slack adapt_discord adapt_discourse adapt_relay
             envelope_decode)
if (($#)); then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into fuzz/.tools" >&2
  cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$TOOLS"
fi
# The same flags for build and run, so `cargo fuzz run` finds the build fresh.
FUZZ_FLAGS=(--sanitizer "$SANITIZER" --release --debug-assertions)
if [[ "$SANITIZER" != none ]]; then
  export RUSTC_BOOTSTRAP=1
  # Its own target dir, so switching sanitizers does not rebuild the other.
  FUZZ_FLAGS+=(--target-dir "fuzz/target/$SANITIZER")
fi

# Which payload folder seeds which target.
platform_of() {
  case "$1" in
    *_github) echo github ;;
    *_slack) echo slack ;;
    *_discord) echo discord ;;
    *_discourse) echo discourse ;;
    *_relay) echo relay ;;
  esac
}

# An envelope around one payload file, as ingest would enqueue it.
envelope_seed() {
  local platform="$1" file="$2" name event
  name="$(basename "$file" .json)"
  event="${name%%.*}"
  case "$platform/$name" in
    discord/webhook_event.*) event="${name#webhook_event.}"; event="${event%%.*}" ;;
    discord/*) event=interaction ;;
  esac
  printf '{"v":1,"platform":"%s","deliveryId":"seed-%s","eventName":"%s","receivedAt":"2026-11-23T10:00:00Z","payload":' \
    "$platform" "${name//[^A-Za-z0-9_.-]/-}" "$event"
  cat "$file"
  printf '}'
}

prepare_seeds() {
  local target="$1" platform dir file
  dir="fuzz/corpus/$target"
  mkdir -p "$dir"
  if [[ "$target" == envelope_decode ]]; then
    for platform in github slack discord discourse relay; do
      for file in events/payloads/"$platform"/*.json "$SHARED_CORPUS/$platform"/*.json; do
        [[ -f "$file" && "$file" != *.request.json ]] || continue
        envelope_seed "$platform" "$file" > "$dir/seed-$platform-$(basename "$file")"
      done
    done
    return
  fi
  platform="$(platform_of "$target")"
  for file in events/payloads/"$platform"/*.json; do
    [[ -f "$file" ]] || continue
    cp "$file" "$dir/seed-$(basename "$file")"
  done
}

# Read-only extra input directories for a target.
extra_corpora() {
  local platform
  if [[ "$1" == envelope_decode ]]; then return; fi
  platform="$(platform_of "$1")"
  if [[ -d "$SHARED_CORPUS/$platform" ]]; then echo "$SHARED_CORPUS/$platform"; fi
  # Gateway objects are what a relay body's `data` carries.
  if [[ "$1" == adapt_relay && -d "$SHARED_CORPUS/discord" ]]; then echo "$SHARED_CORPUS/discord"; fi
}

echo "building ${#TARGETS[@]} fuzz targets (sanitizer: $SANITIZER)" >&2
if ((${#TARGETS[@]} == ${#ALL_TARGETS[@]})); then
  cargo fuzz build "${FUZZ_FLAGS[@]}"
else
  for target in "${TARGETS[@]}"; do cargo fuzz build "${FUZZ_FLAGS[@]}" "$target"; done
fi

mkdir -p "$LOGS"
crashed=()
rows=()
for target in "${TARGETS[@]}"; do
  prepare_seeds "$target"
  mapfile -t extra < <(extra_corpora "$target")
  log="$LOGS/$target.log"
  echo "fuzzing $target for ${SECONDS_EACH}s (log: ${log#"$ROOT"/})" >&2
  status=ok
  if ! cargo fuzz run "${FUZZ_FLAGS[@]}" "$target" "fuzz/corpus/$target" "${extra[@]}" -- \
      -max_total_time="$SECONDS_EACH" -rss_limit_mb="$RSS_MB" -timeout="$TIMEOUT" \
      -dict=fuzz/webhooks.dict -print_final_stats=1 > "$log" 2>&1; then
    # A crash leaves its input behind; anything else (a build broken by a
    # change in platforms, a bad flag) is a failure of the run itself.
    if grep -q 'Test unit written to' "$log"; then status=CRASH; else status=FAILED; fi
    crashed+=("$target")
  fi
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)"
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)"
  [[ -n "$done_line" ]] || done_line="$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -1 || true)"
  corp="$(grep -o 'corp: [0-9]*/[0-9A-Za-z]*' <<<"$done_line" | cut -d' ' -f2 || true)"
  cov="$(grep -o 'cov: [0-9]*' <<<"$done_line" | cut -d' ' -f2 || true)"
  rate="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)"
  rows+=("$(printf '%-16s %-6s %12s %10s %14s %8s' "$target" "$status" "${execs:--}" "${rate:--}" "${corp:--}" "${cov:--}")")
  if [[ "$status" == CRASH ]]; then
    echo "  $target crashed:" >&2
    grep -A3 'panicked at' "$log" | head -4 | cut -c1-400 | sed 's/^/    /' >&2 || true
    grep -E 'Test unit written to|^SUMMARY' "$log" | sed 's/^/    /' >&2 || true
  elif [[ "$status" == FAILED ]]; then
    echo "  $target did not run:" >&2
    grep -E '^error' "$log" | head -5 | sed 's/^/    /' >&2 || tail -5 "$log" | sed 's/^/    /' >&2
  fi
done

echo
printf '%-16s %-6s %12s %10s %14s %8s\n' target status executions exec/s corpus cov
printf '%s\n' "${rows[@]}"
echo "(corpus = inputs/bytes kept in fuzz/corpus/<target>; logs in fuzz/target/logs)"
if ((${#crashed[@]})); then
  echo "failed: ${crashed[*]}; crashing inputs are in fuzz/artifacts/<target>/;" \
       "reproduce one with: fuzz/.tools/bin/cargo-fuzz run ${FUZZ_FLAGS[*]} <target> <artifact>" \
       "(FUZZ_TRACE=1 prints each decision)" >&2
  exit 1
fi
