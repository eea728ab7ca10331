# Tessera build, dev-server and test entry points.
#
#   make dev         install what is missing, build, migrate the local D1, serve on 127.0.0.1:PORT (default 8787)
#   make test        everything CI runs: test-native + test-e2e (with the bounded adversarial suite)
#   make test-native cargo fmt --check, clippy (host and wasm32, -D warnings), cargo test
#   make test-e2e    the release build, the test builds (full and edge) + Miniflare end-to-end specs (vitest), tests/adversarial/ bounded
#   make test-security the full adversarial suite (RELIABILITY.md): long schemathesis, tenant
#                    matrix, fault sweep and race runs, long property tests, and any test that
#                    demonstrates a hole still being fixed (none today)
#   make build       release worker builds and the console: build/ (the full Worker, wrangler.toml),
#                    build-edge/ (the edge Worker of a split deployment, wrangler.edge.toml) and
#                    console/dist/: what is deployed (also wrangler's [build] command);
#                    WASM_OPT=0 skips wasm-opt
#   make console     only the console (console/ → console/dist/console/: Vite, type-checked)
#   make build-test  the same with the `test-hooks` feature into build-test/, without wasm-opt
#                    (the specs' build: it honours TESSERA_TEST_CLOCK and
#                    TESSERA_TEST_PBKDF2_ITERATIONS), and the edge Worker's into build-test-edge/
#   make test-console the console: its unit tests, then Playwright + Debian's Chromium against the
#                    test build under Miniflare (the console, and a tenant's OAuth pages;
#                    installs chromium with apt-get when missing)
#   make console-screenshots  the same browser run, writing docs/console/*.png
#   make tools       only install the toolchain pieces (idempotent)
#   make venv        only the project's Python virtualenv (.venv/: schemathesis, pinned)
#
# Needs only rustup/cargo, node/npm, make and git: every other tool is installed on first use
# into the cargo bin directory, node_modules/ or .venv/, at the versions pinned by Cargo.lock,
# package-lock.json and tests/adversarial/schemathesis/requirements.txt, and skipped on later
# runs when the installed version already matches. Python 3.11 or newer with its venv module
# and Debian's Chromium are installed with apt-get (as root, or through sudo) when missing.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PORT ?= 8787
WASM_TARGET := wasm32-unknown-unknown

# Where `cargo install` puts binaries. We call them by absolute path, so the cargo bin
# directory need not be on PATH.
CARGO_HOME ?= $(HOME)/.cargo
CARGO_BIN := $(if $(CARGO_INSTALL_ROOT),$(CARGO_INSTALL_ROOT),$(CARGO_HOME))/bin

# The one source of truth for both versions is Cargo.lock: worker-build must match the
# `worker` crate and the wasm-bindgen CLI must match the `wasm-bindgen` crate exactly.
lock_version = $(shell awk '$$0 == "name = \"$(1)\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
WORKER_BUILD_VERSION := $(call lock_version,worker)
WASM_BINDGEN_VERSION := $(call lock_version,wasm-bindgen)
ifeq ($(WORKER_BUILD_VERSION),)
$(error could not read the version of the `worker` crate from Cargo.lock)
endif
ifeq ($(WASM_BINDGEN_VERSION),)
$(error could not read the version of the `wasm-bindgen` crate from Cargo.lock)
endif

# `cargo install --locked` first (the tool's own tested dependency set); if the registry here
# cannot resolve that lock file (e.g. a mirror missing a dependency version it pins), retry
# without --locked so cargo picks the newest compatible versions it can see.
cargo_install = cargo install $(1) --version '=$(2)' --locked --force || { \
	  echo "==> cargo install $(1) --locked failed; retrying without --locked"; \
	  cargo install $(1) --version '=$(2)' --force; }

WORKER_BUILD := $(CARGO_BIN)/worker-build
WASM_BINDGEN := $(CARGO_BIN)/wasm-bindgen
NODE_BIN := $(CURDIR)/node_modules/.bin
WRANGLER := $(NODE_BIN)/wrangler
VITEST := $(NODE_BIN)/vitest
NPM_STAMP := node_modules/.tessera-npm-ci.stamp

# worker-build would download wasm-bindgen, wasm-opt (GitHub releases) and esbuild itself;
# point it at the pinned local copies instead: wasm-bindgen from cargo, wasm-opt from npm's
# `binaryen` (same version 132 worker-build 0.8.7 would fetch), esbuild from npm (0.28.2,
# the version worker-build 0.8.7 would fetch).
WORKER_BUILD_ENV := WASM_BINDGEN_BIN=$(WASM_BINDGEN) WASM_OPT_BIN=$(NODE_BIN)/wasm-opt ESBUILD_BIN=$(NODE_BIN)/esbuild

# No telemetry or update checks from wrangler (no network but the registries here).
export WRANGLER_SEND_METRICS := false
export WRANGLER_SEND_ERROR_REPORTS := false

RUST_SOURCES := $(shell find src -type f 2>/dev/null) Cargo.toml Cargo.lock
# Two checked edits of the JavaScript worker-build generates, after every worker-build run:
# Rust futures woken by promise jobs, a plain handler object as the default export (the
# script's header says why; BENCHMARKS.md what they saved).
LEAN_GLUE_SCRIPT := scripts/lean-glue.mjs
LEAN_GLUE := node $(LEAN_GLUE_SCRIPT)
# A deployable wasm must not carry the specs' hooks (their header names are in the test build's
# data): a stale or mixed-up cargo output fails the build instead of being deployed.
# (grep: 1 is "not found", the only pass; 0 is found, 2 an unreadable file.)
no_test_hooks = @found=0; grep -q -e 'X-Tessera-Test' -e 'TESSERA_TEST_' $(1) || found=$$?; \
	if [ "$$found" != 1 ]; then echo "$(1) carries the test hooks or cannot be read: rebuild it" >&2; exit 1; fi
BUILD_OUT := build/index.js
BUILD_TEST_OUT := build-test/index.js
BUILD_EDGE_OUT := build-edge/index.js
BUILD_TEST_EDGE_OUT := build-test-edge/index.js
# The console (console/): its sources and the page Vite writes (wrangler.toml's [assets]).
CONSOLE_BIN := $(CURDIR)/console/node_modules/.bin
CONSOLE_NPM_STAMP := console/node_modules/.tessera-npm-ci.stamp
CONSOLE_SOURCES := $(shell find console/src -type f 2>/dev/null) console/index.html \
	console/vite.config.ts console/tsconfig.json
CONSOLE_OUT := console/dist/console/index.html
# The test build shares the release build's cargo target directory: its dependencies are the
# same crates at the same features (only `tessera` differs, by `test-hooks`), compiled once —
# about a minute of a clean `make test` on 2 cores. Cargo caches both builds of `tessera`
# side by side; worker-build copies its wasm out right after cargo, so the two builds must not
# run at the same time (this Makefile runs its recipes one at a time: .NOTPARALLEL below).
TEST_TARGET_DIR := $(CURDIR)/target
.NOTPARALLEL:

# WASM_OPT=0 skips wasm-opt for quicker local rebuilds (a larger, slower wasm; tests still run
# it). Changing it triggers a rebuild: the flags are kept in a stamp that is rewritten only
# when they differ.
WASM_OPT ?= 1
WORKER_BUILD_FLAGS := --release$(if $(filter 0,$(WASM_OPT)), --no-opt)
FLAGS_STAMP := target/.worker-build-flags

.PHONY: help dev test test-native test-e2e test-security build build-test lint fmt-check clippy \
        cargo-test e2e tools rust-tools worker-build-cli wasm-bindgen-cli npm-deps venv dev-vars \
        migrate-local clean FORCE console console-deps console-unit test-console \
        console-screenshots chromium

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# ---------------------------------------------------------------- tools (idempotent installs)

tools: rust-tools worker-build-cli wasm-bindgen-cli npm-deps

rust-tools:
	@if ! rustup target list --installed | grep -qx '$(WASM_TARGET)'; then \
	  echo "==> rustup target add $(WASM_TARGET)"; rustup target add $(WASM_TARGET); fi
	@for c in rustfmt clippy; do \
	  if ! rustup component list --installed | grep -q "^$$c"; then \
	    echo "==> rustup component add $$c"; rustup component add $$c; fi; done

worker-build-cli:
	@have="$$($(WORKER_BUILD) --version 2>/dev/null || true)"; \
	if [ "$$have" = "$(WORKER_BUILD_VERSION)" ]; then \
	  echo "==> worker-build $(WORKER_BUILD_VERSION) already installed"; \
	else \
	  echo "==> installing worker-build $(WORKER_BUILD_VERSION) (found: $${have:-none})"; \
	  $(call cargo_install,worker-build,$(WORKER_BUILD_VERSION)); \
	fi

wasm-bindgen-cli:
	@have="$$($(WASM_BINDGEN) --version 2>/dev/null | awk '{print $$2}' || true)"; \
	if [ "$$have" = "$(WASM_BINDGEN_VERSION)" ]; then \
	  echo "==> wasm-bindgen $(WASM_BINDGEN_VERSION) already installed"; \
	else \
	  echo "==> installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) (found: $${have:-none})"; \
	  $(call cargo_install,wasm-bindgen-cli,$(WASM_BINDGEN_VERSION)); \
	fi

npm-deps: $(NPM_STAMP)

# `npm ci` only when package.json or the lock file changed since the last install.
$(NPM_STAMP): package.json package-lock.json
	@echo "==> npm ci"
	npm ci --no-audit --no-fund
	@touch $@

# The adversarial suite's schemathesis, in a project-local virtualenv, at the versions of the
# requirements file (every package pinned); reinstalled only when that file changes. Debian
# ships Python without its venv module (and a minimal install without python3): when
# `python3 -m venv` fails, python3 and python3-venv are installed with apt-get, as root or
# through sudo (like the `chromium` target), and the virtualenv is made again.
VENV := .venv
SCHEMATHESIS_REQUIREMENTS := tests/adversarial/schemathesis/requirements.txt
VENV_STAMP := $(VENV)/.tessera-requirements.stamp

venv: $(VENV_STAMP)

$(VENV_STAMP): $(SCHEMATHESIS_REQUIREMENTS)
	@echo "==> python3 -m venv $(VENV) + pip install -r $(SCHEMATHESIS_REQUIREMENTS)"
	@if ! { command -v python3 >/dev/null && python3 -m venv $(VENV) >/dev/null 2>&1; }; then \
	  rm -rf $(VENV); \
	  if command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null; }; then \
	    echo "==> apt-get install python3 python3-venv (python3 -m venv failed)"; \
	    sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	    $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends python3 python3-venv; \
	  else echo "python3 -m venv failed: install Python 3.11+ and its venv module (Debian: apt-get install python3-venv)"; exit 1; fi; \
	  python3 -m venv $(VENV); \
	fi
	@python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "schemathesis needs Python 3.11 or newer (python3 is $$(python3 --version))"; rm -rf $(VENV); exit 1; }
	$(VENV)/bin/pip install --disable-pip-version-check --quiet -r $(SCHEMATHESIS_REQUIREMENTS)
	@touch $@

# ---------------------------------------------------------------- build

build: $(BUILD_OUT) $(BUILD_EDGE_OUT) $(CONSOLE_OUT)

# One wasm-opt pass, ours: worker-build's own (-O with --debuginfo, which keeps the name
# section) is skipped, and a single -Oz pass that also strips the name and producers sections
# (nothing in the worker reads them) makes a module within 0.1 % of the size of the two passes
# in about three quarters of their time (measured: 2 min 35 s against 3 min 23 s on 2 cores,
# 793,526 against 792,737 bytes gzipped).
WASM_FEATURES := --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
	--enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling

$(BUILD_OUT): $(RUST_SOURCES) $(LEAN_GLUE_SCRIPT) Makefile $(FLAGS_STAMP) | tools
	@echo "==> worker-build --release --no-opt, then wasm-opt -Oz$(if $(filter 0,$(WASM_OPT)), (skipped: WASM_OPT=0))"
	$(WORKER_BUILD_ENV) $(WORKER_BUILD) --release --no-opt
	$(LEAN_GLUE) build/index.js
	$(if $(filter 0,$(WASM_OPT)),,$(NODE_BIN)/wasm-opt build/index_bg.wasm -Oz --strip-debug --strip-producers $(WASM_FEATURES) -o build/index_bg.wasm)
	$(call no_test_hooks,build/index_bg.wasm)
	@touch $@

# The edge Worker (`--features edge`, see Cargo.toml): the same, without the operator routes.
$(BUILD_EDGE_OUT): $(RUST_SOURCES) $(LEAN_GLUE_SCRIPT) Makefile $(FLAGS_STAMP) | tools
	@echo "==> worker-build --release --no-opt --features edge, then wasm-opt -Oz$(if $(filter 0,$(WASM_OPT)), (skipped: WASM_OPT=0))"
	$(WORKER_BUILD_ENV) $(WORKER_BUILD) --release --no-opt --out-dir build-edge -- --features edge
	$(LEAN_GLUE) build-edge/index.js
	$(if $(filter 0,$(WASM_OPT)),,$(NODE_BIN)/wasm-opt build-edge/index_bg.wasm -Oz --strip-debug --strip-producers $(WASM_FEATURES) -o build-edge/index_bg.wasm)
	$(call no_test_hooks,build-edge/index_bg.wasm)
	@touch $@

build-test: $(BUILD_TEST_OUT) $(BUILD_TEST_EDGE_OUT)

# The specs' build skips wasm-opt (about two minutes of make test on 2 cores): its size and
# speed are the deployed build's business (tests/e2e/deploy.spec.ts runs build/, make bench
# measures it); the specs need its behaviour, which wasm-opt does not change.
$(BUILD_TEST_OUT): $(RUST_SOURCES) $(LEAN_GLUE_SCRIPT) Makefile | tools
	@echo "==> worker-build --release --no-opt --features test-hooks"
	$(WORKER_BUILD_ENV) $(WORKER_BUILD) --release --no-opt --out-dir build-test -- --features test-hooks --target-dir $(TEST_TARGET_DIR)
	$(LEAN_GLUE) build-test/index.js
	@touch $@

# The edge Worker's test build: tests/e2e/split.spec.ts runs it in front of build-test/.
$(BUILD_TEST_EDGE_OUT): $(RUST_SOURCES) $(LEAN_GLUE_SCRIPT) Makefile | tools
	@echo "==> worker-build --release --no-opt --features test-hooks,edge"
	$(WORKER_BUILD_ENV) $(WORKER_BUILD) --release --no-opt --out-dir build-test-edge -- --features test-hooks,edge --target-dir $(TEST_TARGET_DIR)
	$(LEAN_GLUE) build-test-edge/index.js
	@touch $@

$(FLAGS_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(WORKER_BUILD_FLAGS)' | cmp -s - $@ || echo '$(WORKER_BUILD_FLAGS)' > $@

FORCE:

# ---------------------------------------------------------------- the console (console/)
#
# A Preact + TypeScript single-page app built by Vite into console/dist/console/, which
# wrangler.toml's [assets] serves at /console/ through the worker. Its own package.json and
# lock file (pinned, `npm ci`, no install scripts); nothing of it runs in the worker.

console-deps: $(CONSOLE_NPM_STAMP)

$(CONSOLE_NPM_STAMP): console/package.json console/package-lock.json
	@echo "==> npm ci (console/)"
	cd console && npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

console: $(CONSOLE_OUT)

# Type-checked first (tsc --noEmit), then bundled; the page names hashed asset files only.
$(CONSOLE_OUT): $(CONSOLE_SOURCES) $(CONSOLE_NPM_STAMP)
	@echo "==> console: tsc --noEmit, vite build"
	cd console && $(CONSOLE_BIN)/tsc --noEmit -p . && $(CONSOLE_BIN)/vite build --logLevel warn
	@touch $@

# The console's own logic (paging, error wording, permissions, merge patches, routes).
console-unit: console-deps
	cd console && $(CONSOLE_BIN)/tsc --noEmit -p . && $(CONSOLE_BIN)/vitest run

# Debian's Chromium for the browser run (Playwright downloads no browser). As root, apt-get
# installs it when missing; otherwise say how.
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM

chromium:
	@if [ -x "$(CHROMIUM)" ]; then echo "==> chromium: $(CHROMIUM)"; \
	elif command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null; }; then \
	  echo "==> apt-get install chromium (Debian's; no browser download)"; \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends chromium fonts-liberation; \
	else echo "The console's browser test needs Chromium at $(CHROMIUM): apt-get install chromium (or CHROMIUM=/path/to/chromium)"; exit 1; fi

# The browser run: Playwright drives Chromium against build-test/ under Miniflare on 127.0.0.1.
test-console: console-unit build-test console chromium npm-deps
	$(VITEST) run --config vitest.console.config.ts

console-screenshots: build-test console chromium npm-deps
	CONSOLE_SCREENSHOTS=1 $(VITEST) run --config vitest.console.config.ts

# ---------------------------------------------------------------- tests

test: test-native test-e2e test-console

test-native: lint cargo-test

lint: fmt-check clippy

fmt-check: rust-tools
	cargo fmt --all -- --check

clippy: rust-tools
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --target $(WASM_TARGET) -- -D warnings
	cargo clippy --target $(WASM_TARGET) --features edge -- -D warnings

cargo-test:
	cargo test

# The specs run build/ (deploy.spec.ts), the test builds and the console. The edge Worker's
# release build (build-edge/: the test build's code without test-hooks, plus wasm-opt) is
# left to `make build` and `make bench`, which measures it: about 75 s of make test.
test-e2e: $(BUILD_OUT) $(CONSOLE_OUT) build-test venv
	$(VITEST) run

# Re-run the specs without checking the build (for quick iteration on specs).
e2e: npm-deps venv
	$(VITEST) run

# The full adversarial suite (RELIABILITY.md): the property tests with many more cases plus any
# native test of a hole still being fixed (`#[ignore]`d in make test, run here with
# --include-ignored; none today), then every spec at full scale, tests/adversarial/holes/ included
# (none today). Both halves always run (a hole's test fails until it is fixed); the target fails
# if either did. Figures land in target/adversarial/figures-full.json.
SECURITY_PROPTEST_CASES ?= 20000

test-security: build build-test venv
	@status=0; \
	PROPTEST_CASES=$(SECURITY_PROPTEST_CASES) cargo test --no-fail-fast -- --include-ignored || status=1; \
	TESSERA_SECURITY=full $(VITEST) run --config vitest.security.config.ts || status=1; \
	exit $$status

# ---------------------------------------------------------------- local development

# Local secrets for `wrangler dev`, from the committed example; never overwrite edits.
dev-vars: .dev.vars
.dev.vars:
	cp .dev.vars.example $@
	@echo "==> created .dev.vars from .dev.vars.example"

# Applies pending migrations/*.sql to the local D1 under .wrangler/state (kept between runs;
# `rm -rf .wrangler` starts over). Wrangler refuses an absent/empty folder: skip then.
migrate-local: npm-deps
	@if ls migrations/*.sql >/dev/null 2>&1; then \
	  echo "==> wrangler d1 migrations apply DB --local"; \
	  $(WRANGLER) d1 migrations apply DB --local; \
	else echo "==> no migrations/*.sql yet: nothing to apply"; fi

dev: build dev-vars migrate-local
	$(WRANGLER) dev --ip 127.0.0.1 --port $(PORT) --var ISSUER_ORIGIN:http://127.0.0.1:$(PORT)

clean:
	rm -rf build build-test build-edge build-test-edge .wrangler node_modules target console/dist console/node_modules $(VENV)

# ---------------------------------------------------------------- benchmarks (bench/, BENCHMARKS.md)
#
#   make bench       the benchmark harness (issue 6): release build, reference/probe workers, native
#                    probe, then bench/run.mjs — writes bench/results.json and BENCHMARKS.md (needs wrk)
#   make bench-smoke the harness in a few seconds: every endpoint answers without error (in make test)

.PHONY: bench bench-smoke bench-workers wrk-check

# The bench-only Rust crates (reference workers, probe, native probe) share one target dir.
BENCH_TARGET := $(CURDIR)/bench/target
BENCH_RUST_SOURCES := $(shell find bench/rust -path '*/build' -prune -o -type f \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -print 2>/dev/null)
BENCH_WORKERS := bench/rust/trivial/build/index.js bench/rust/kvget/build/index.js bench/rust/probe/build/index.js
BENCH_NATIVE := bench/target/release/bench-native

bench-workers: $(BENCH_WORKERS)

# Same worker-build, wasm-bindgen, wasm-opt and esbuild as the Tessera build.
bench/rust/%/build/index.js: $(BENCH_RUST_SOURCES) | tools
	@echo "==> worker-build --release (bench/rust/$*)"
	cd bench/rust/$* && CARGO_TARGET_DIR=$(BENCH_TARGET) $(WORKER_BUILD_ENV) $(WORKER_BUILD) --release
	@touch $@

$(BENCH_NATIVE): $(BENCH_RUST_SOURCES)
	@echo "==> cargo build --release (bench/rust/native)"
	CARGO_TARGET_DIR=$(BENCH_TARGET) cargo build --release --locked --manifest-path bench/rust/native/Cargo.toml

wrk-check:
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk (Debian/Ubuntu), brew install wrk (macOS)"; exit 1; }

# The release build (with wasm-opt): what would be deployed.
bench: wrk-check build $(BENCH_WORKERS) $(BENCH_NATIVE)
	node bench/run.mjs

bench-smoke: build-test $(BENCH_WORKERS)
	BENCH_TESSERA_BUILD=$(CURDIR)/build-test node bench/run.mjs --smoke

# make test also runs the smoke version of the harness, so it cannot rot.
test: bench-smoke
