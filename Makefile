# Omni's everyday commands. `make run` and `make test` work on a fresh machine with what
# README.md lists under Prerequisites (Rust, a C compiler and linker, PostgreSQL's server
# binaries; Python and Chromium for the tests): with no DATABASE_URL they use the server on
# 127.0.0.1:5432 when it answers, else a throwaway cluster under target/pg. The first build
# compiles the whole dependency tree: minutes (about 8 on 2 cores), then seconds.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
DB := deploy/local-db.sh

.PHONY: run build test fuzz-tools lint fmt bench db-url db-stop clean-db simulate-inbound

# Development keys, made once and kept under target/: tokens and stored integration secrets
# survive a restart of `make run`, and `make simulate-inbound` reads the same secrets.
# Values already in the environment win.
DEV_ENV := target/dev.env
$(DEV_ENV):
	mkdir -p target
	{ echo "OMNI_AUTH__JWT_SECRET=\$${OMNI_AUTH__JWT_SECRET:-$$(head -c 48 /dev/urandom | base64 -w0)}"; \
	  echo "OMNI_CRYPTO__SECRET_KEY=\$${OMNI_CRYPTO__SECRET_KEY:-$$(head -c 32 /dev/urandom | base64 -w0)}"; } > $@

## Start Omni in development mode (applies migrations first); the console is at /console/.
run: build $(DEV_ENV)
	set -a; . ./$(DEV_ENV); set +a; \
	DATABASE_URL="$$($(DB) url omni)" ./target/debug/omni-server serve

## A customer's WhatsApp message to the instance `make run` started, signed as Twilio signs:
## make simulate-inbound TO=+14155238886 FROM=+5511987654321 TEXT="Oi, meu pedido não chegou"
simulate-inbound: build $(DEV_ENV)
	set -a; . ./$(DEV_ENV); set +a; \
	DATABASE_URL="$$($(DB) url omni)" ./target/debug/omni-server simulate-inbound \
	  --to "$(TO)" --from "$(FROM)" --text "$(TEXT)" $(if $(NAME),--name "$(NAME)")

build:
	cargo build --bin omni-server

## Every test of the workspace, in parallel, each against its own database; the API fuzz
## test among them runs schemathesis (see fuzz-tools). Then the doctests (the README's
## embedding code among them) and the embedding example.
test: fuzz-tools
	@command -v cargo-nextest >/dev/null 2>&1 || { echo "cargo-nextest missing: cargo install cargo-nextest --locked" >&2; exit 1; }
	DATABASE_URL="$$($(DB) url postgres)" cargo nextest run --workspace --all-features --no-fail-fast
	cargo test --workspace --all-features --doc
	cargo run --quiet -p omni-messaging --example whatsapp_conversation

## schemathesis, pinned in tests/fuzz/requirements.txt, in a virtualenv under target/.
FUZZ_VENV := target/fuzz-venv
fuzz-tools: $(FUZZ_VENV)/.installed

$(FUZZ_VENV)/.installed: tests/fuzz/requirements.txt
	@command -v python3 >/dev/null 2>&1 || { echo "python3 missing: install Python >= 3.10 with venv" >&2; exit 1; }
	rm -rf $(FUZZ_VENV)
	python3 -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/fuzz/requirements.txt
	touch $@

## Benchmarks, release build: Omni under load beside pgbench's ceiling (bench/run.sh; results
## in target/bench/), then the built-in triage engine's time per message.
bench:
	bench/run.sh
	cargo bench -p omni-vera --bench builtin

## Formatting check and clippy, warnings as errors.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features

fmt:
	cargo fmt --all

## Print the database URL `make run` would use.
db-url:
	@$(DB) url omni

## Stop the throwaway cluster, if one runs.
db-stop:
	@$(DB) stop

## Stop and delete the throwaway cluster (and the data `make bench` left in target/bench-pg).
clean-db: db-stop
	rm -rf target/pg target/bench-pg
