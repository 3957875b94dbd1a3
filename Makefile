# The two commands of the README:
#   make demo   installs what is missing, builds, runs the demo
#   make test   installs what is missing, builds, runs every test
#
# PYTHON=/path/to/python3.12 selects the Python (default: newest pyenv 3.13,
# then 3.12, with a shared libpython). Each Python gets its own target dir.

SHELL := /bin/bash
ENV := source scripts/env.sh &&
FUZZ_SECONDS ?= 30
SOAK_SECONDS ?= 3600
REBAR ?= rebar3

.PHONY: all setup build stub check-stub check-version demo test test-rust test-erlang test-elixir \
        test-consumers bench-erlang test-other-pythons test-asan fuzz bench pybench package soak clean

all: build

setup:
	@scripts/setup.sh

build: setup
	@$(ENV) $(REBAR) compile

# Regenerate the Erlang NIF stub from the Rust NIF declarations.
stub:
	@$(ENV) cargo run --quiet --release -p py-nif --bin nif-stub -- crates/py-nif/src > src/py_nif.erl.new
	@mv src/py_nif.erl.new src/py_nif.erl
	@echo "src/py_nif.erl regenerated"

# Fails if the committed stub does not match the NIF declarations.
check-stub:
	@$(ENV) cargo run --quiet --release -p py-nif --bin nif-stub -- crates/py-nif/src > /tmp/py_nif.erl.$$$$ \
	  && if ! cmp -s /tmp/py_nif.erl.$$$$ src/py_nif.erl; then \
	       diff -u src/py_nif.erl /tmp/py_nif.erl.$$$$; rm -f /tmp/py_nif.erl.$$$$; \
	       echo "src/py_nif.erl is out of date: run 'make stub'"; exit 1; \
	     fi; rm -f /tmp/py_nif.erl.$$$$

demo: build
	@$(ENV) escript examples/demo.escript

test: setup check-stub check-version test-rust test-erlang test-elixir test-consumers fuzz test-asan \
      test-other-pythons
	@echo "make test: all passed"

# The Rust tests and the Common Test suites against the other supported
# Pythons found on the machine (3.12 when the default is 3.13, and so on).
test-other-pythons:
	@for py in $$(scripts/other-pythons.sh); do \
	   echo "== again with $$py =="; \
	   $(MAKE) --no-print-directory PYTHON=$$py test-rust test-erlang || exit 1; \
	 done

test-rust: setup
	@$(ENV) cargo test --workspace
	@$(ENV) cargo clippy --workspace --all-targets --quiet -- -D warnings
	@$(ENV) cargo fmt --all -- --check

test-erlang: build
	@$(ENV) $(REBAR) ct

test-elixir: build
	@$(ENV) cd examples/elixir_app && MIX_REBAR3=$$(command -v rebar3) mix test

# rebar3 and Mix projects using this repository (a file:// clone of HEAD)
# as a git or path dependency, their releases (one with its Python moved
# elsewhere), and the hex package: see scripts/test-consumers.sh.
test-consumers: build
	@$(ENV) scripts/test-consumers.sh

# The PropEr stateful properties for SOAK_SECONDS (default an hour),
# printing RSS, threads, descriptors and processes as they go.
soak: build
	@$(ENV) scripts/soak.sh $(SOAK_SECONDS)

# The hex-format package in _build/package.
package:
	@scripts/package.sh

# The version in the .app.src and the Cargo workspace agree.
check-version:
	@app=$$(sed -n 's/.*{vsn, "\(.*\)"}.*/\1/p' src/erlang_python.app.src); \
	 cargo=$$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml); \
	 if [ "$$app" != "$$cargo" ]; then echo "version mismatch: app $$app, Cargo $$cargo"; exit 1; fi

# The Common Test suites against a py_nif built with AddressSanitizer
# (SUITES="py_api_SUITE py_stream_SUITE" runs some; see scripts/test-asan.sh).
test-asan:
	@scripts/test-asan.sh $(SUITES)

fuzz: setup
	@$(ENV) scripts/fuzz.sh $(FUZZ_SECONDS)

bench: build
	@$(ENV) cargo bench -p py-benches

bench-erlang: build
	@$(ENV) escript benches/erlang/callbacks.escript
	@$(ENV) escript benches/erlang/event_loop.escript
	@$(ENV) escript benches/erlang/channels.escript
	@$(ENV) escript benches/erlang/serving.escript

pybench: build
	@$(ENV) escript ../shared/bench/pybench.escript --lib _build/default/lib/erlang_python

clean:
	cargo clean
	rm -rf _build priv/*.so priv/python.config
