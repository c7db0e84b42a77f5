# The two commands a new teammate needs: `make dev` and `make test`.
# Everything else is a step of those two, runnable on its own.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ENV := source scripts/env.sh
TEST_MOTO_PORT ?= 4599
# make rss resets its emulator between windows: never the one make dev or make test uses.
RSS_MOTO_PORT ?= 4600

.PHONY: help bootstrap dev dev-smoke test lint fixtures invoke-fixtures sam-checks \
        bench build-arm64 sizes coldstart rss storm storm-cost moto-start moto-stop clean fuzz fuzz-check

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

bootstrap: ## install the pinned tooling (.venv: moto, cargo-lambda, sam, cfn-lint) and Rust components
	@scripts/bootstrap.sh

dev: bootstrap ## run the whole pipeline locally on moto, post the demo webhooks, serve until Ctrl-C (RUST_LOG=info for the JSON logs)
	@$(ENV); scripts/moto.sh start; trap 'scripts/moto.sh stop' EXIT INT TERM; \
	  RUST_LOG=$${RUST_LOG:-warn} cargo run -q -p devstack -- up --demo --stack-name community-events --port $${DEV_PORT:-3000} $(DEV_ARGS)

test: bootstrap ## everything: fmt, clippy, unit + emulator tests, fuzz targets compile, fixture invokes, SAM/cfn checks, sam build
	@$(ENV); export MOTO_PORT=$(TEST_MOTO_PORT) AWS_ENDPOINT_URL=http://127.0.0.1:$(TEST_MOTO_PORT); \
	  scripts/moto.sh start; trap 'scripts/moto.sh stop' EXIT INT TERM; \
	  $(MAKE) --no-print-directory lint && \
	  cargo test --workspace --all-targets && \
	  $(MAKE) --no-print-directory fuzz-check && \
	  cargo run -q -p devstack -- fixtures --check && \
	  scripts/invoke-fixtures.sh && \
	  $(MAKE) --no-print-directory dev-smoke && \
	  scripts/sam-checks.sh

dev-smoke: ## the `make dev` demo end to end, then exit (part of make test; needs moto: make moto-start)
	@$(ENV); mkdir -p .dev; RUST_LOG=$${RUST_LOG:-error} cargo run -q -p devstack -- up --demo --exit-after-demo \
	  --stack-name dev-smoke-$$$$ --port $${DEV_SMOKE_PORT:-3987} > .dev/dev-smoke.log 2>&1 \
	  || { tail -80 .dev/dev-smoke.log; exit 1; }; \
	  grep -E '^(8|9)\.|Slack #|resolved:|no new ticket' .dev/dev-smoke.log

lint: ## rustfmt and clippy, warnings are errors
	@$(ENV); cargo fmt --all -- --check && cargo clippy --workspace --all-targets -- -D warnings

fixtures: ## regenerate events/ from events/payloads (signed with the dev secret)
	@$(ENV); cargo run -q -p devstack -- fixtures

invoke-fixtures: bootstrap ## every events/ fixture through cargo lambda watch + invoke (needs moto)
	@$(ENV); scripts/moto.sh start; scripts/invoke-fixtures.sh

sam-checks: bootstrap ## sam validate --lint, sam validate, cfn-lint, sam build
	@scripts/sam-checks.sh

bench: ## criterion benchmarks (numbers go to BENCHMARKS.md)
	@$(ENV); cargo bench -p platforms --bench github --bench platforms

build-arm64: bootstrap ## release arm64 binaries for Lambda (target/lambda/<fn>/bootstrap)
	@$(ENV); cargo lambda build --release --arm64 --bin ingest --bin normalize --bin route --bin alert

sizes: build-arm64 ## arm64 release binary sizes
	@ls -l target/lambda/*/bootstrap | awk '{printf "%-40s %8.2f MiB\n", $$9, $$5/1048576}'

coldstart: bootstrap ## exec → first invocation against a local Lambda Runtime API (x86_64 release build)
	@$(ENV); scripts/moto.sh start; cargo build -q --release --bin ingest --bin normalize --bin route --bin alert && \
	  cargo run -q -p devstack -- coldstart --runs $${RUNS:-20}

rss: bootstrap ## peak RSS of each function, one warm process over a replay (EVENTS=10000; x86_64 release build; its own moto)
	@$(ENV); export MOTO_PORT=$(RSS_MOTO_PORT) AWS_ENDPOINT_URL=http://127.0.0.1:$(RSS_MOTO_PORT); \
	  scripts/moto.sh start; trap 'scripts/moto.sh stop' EXIT INT TERM; \
	  cargo build -q --release --bin ingest --bin normalize --bin route --bin alert && \
	  cargo run -q -p devstack -- rss --events $${EVENTS:-10000}

storm: bootstrap ## the full duplicate storm (STORM_EVENTS=1000) and the full fault run (STORM_FAULT_EVENTS=1000 at STORM_FAULT_RATE=0.2), then the cost per million events
	@$(ENV); export MOTO_PORT=$(TEST_MOTO_PORT) AWS_ENDPOINT_URL=http://127.0.0.1:$(TEST_MOTO_PORT); \
	  scripts/moto.sh start; trap 'scripts/moto.sh stop' EXIT INT TERM; \
	  STORM_EVENTS=$${STORM_EVENTS:-1000} STORM_FAULT_EVENTS=$${STORM_FAULT_EVENTS:-1000} cargo test -p devstack --test storm -- --nocapture --test-threads 1 && \
	  python3 scripts/storm-cost.py target/storm/requests-$${STORM_EVENTS:-1000}.json

storm-cost: ## AWS requests per event and $ per million events from a storm's counts (make storm writes requests-1000.json, make test requests-300.json)
	@python3 scripts/storm-cost.py target/storm/requests-$${STORM_EVENTS:-1000}.json

moto-start: ; @scripts/moto.sh start
moto-stop: ; @scripts/moto.sh stop

clean: ## remove build output and the local stack state
	@cargo clean; rm -rf .dev .aws-sam

fuzz: ## run every fuzz target for FUZZ_SECONDS (default 30) each
	@$(ENV); scripts/fuzz.sh

fuzz-check: ## typecheck the fuzz targets on stable (no instrumentation), to catch bitrot
	@$(ENV); cargo check --locked --manifest-path fuzz/Cargo.toml --bins
