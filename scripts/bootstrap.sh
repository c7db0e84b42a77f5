#!/usr/bin/env bash
# Installs what the project needs, idempotently: the Python venv with the
# pinned emulator and AWS tooling, and the Rust pieces (rustfmt, clippy, the
# arm64 target for Lambda builds). Safe to run on every `make`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

stamp=.venv/.requirements.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: creating .venv with $(tr '\n' ' ' < <(grep -v '^#' requirements-dev.txt))"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

if command -v rustup >/dev/null 2>&1; then
  installed=$(rustup component list --installed 2>/dev/null || true)
  for component in rustfmt clippy; do
    grep -q "^$component" <<<"$installed" || rustup component add "$component"
  done
  rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$' || rustup target add aarch64-unknown-linux-gnu
fi
