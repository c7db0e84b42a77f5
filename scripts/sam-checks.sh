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
  sam build
fi
