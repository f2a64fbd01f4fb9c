# Two commands on a fresh Debian machine: `make demo` and `make test`. Both install what they need.

SHELL := /bin/bash
CARGO ?= cargo
# Debian packages the tests and the demo run for real: Prometheus (server + promtool) and gojq, the jq that
# shell-operator embeds (our jqFilters are checked with it).
DEBIAN_PACKAGES := prometheus gojq

.PHONY: all deps build test lint unit deny soak demo clean

all: build

deps:
	@bash scripts/install-deps.sh $(DEBIAN_PACKAGES)

build:
	$(CARGO) build --release

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit: deps
	@if command -v cargo-nextest >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi

# Licenses, bans and sources of every crate (deny.toml). The RustSec advisory database lives on GitHub, which
# CI cannot reach: advisories are checked only where it can be fetched (DENY_ADVISORIES=1).
deny:
	@command -v cargo-deny >/dev/null 2>&1 || $(CARGO) install cargo-deny --locked
	$(CARGO) deny --offline check licenses bans sources
	@if [ -n "$$DENY_ADVISORIES" ]; then $(CARGO) deny check advisories; fi

# Hundreds of real-time ticks against the rig with moving load and API faults (SOAK_TICKS, default 300):
# minutes, so not part of `make test`. Prints its figures.
soak: deps
	$(CARGO) test --test soak -- --ignored --nocapture

test: deps lint deny unit

demo: deps
	$(CARGO) build --release --workspace
	@bash scripts/demo.sh

clean:
	$(CARGO) clean
