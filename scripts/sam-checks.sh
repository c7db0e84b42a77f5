#!/usr/bin/env bash
# Every template check: each catches what the others miss. `sam build`
# compiles the four functions for arm64 with Cargo Lambda, exactly as a
# `sam deploy` would ship them.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
sam validate --lint
sam validate --region us-east-1
cfn-lint template.yaml
if [ "${SKIP_SAM_BUILD:-0}" != "1" ]; then
  # One cargo invocation for all four (shared dependency build); sam build
  # then finds them fresh and packages them as it would for `sam deploy`.
  cargo lambda build --release --arm64 --bin ingest --bin normalize --bin route --bin alert
  sam build
  for fn in Ingest Normalize Route Alert; do
    test -x ".aws-sam/build/${fn}Function/bootstrap" || { echo "sam build left no bootstrap for ${fn}Function" >&2; exit 1; }
  done
  ls -l target/lambda/*/bootstrap | awk '{printf "arm64 release %-34s %8.2f MiB\n", $9, $5/1048576}'
fi
