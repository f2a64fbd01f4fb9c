# Two commands on a fresh Debian machine: `make demo` and `make test`. Both install what they need.

SHELL := /bin/bash
CARGO ?= cargo
# Debian packages the tests and the demo run for real: Prometheus (server + promtool) and gojq, the jq that
# shell-operator embeds (our jqFilters are checked with it).
DEBIAN_PACKAGES := prometheus gojq

.PHONY: all deps build test lint unit demo clean

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

test: deps lint unit

demo: deps
	$(CARGO) build --release --workspace
	@bash scripts/demo.sh

clean:
	$(CARGO) clean
