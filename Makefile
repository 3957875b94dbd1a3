# The two commands of the README:
#   make demo   installs what is missing, builds, runs the demo
#   make test   installs what is missing, builds, runs every test
#
# PYTHON=/path/to/python3.12 selects the Python (default: newest pyenv 3.13,
# then 3.12, with a shared libpython). Each Python gets its own target dir.

SHELL := /bin/bash
ENV := source scripts/env.sh &&
# The tests' environment: also the venv with the tests' Python packages.
TENV := source scripts/env.sh && source scripts/test-env.sh &&
FUZZ_SECONDS ?= 30
SOAK_SECONDS ?= 3600
REBAR ?= rebar3

.PHONY: all setup setup-demo build stub check-stub check-version demo test test-rust test-erlang bench-ab \
        test-elixir test-consumers test-embedder test-debian-python lint check-docs docs \
        bench-erlang bench-sbwt test-other-pythons test-asan fuzz bench pybench bench-report package soak \
        example-embeddings clean

all: build

# What the tests need (setup-demo: only what building and the demo need).
setup:
	@scripts/setup.sh test

setup-demo:
	@scripts/setup.sh demo

build: setup-demo
	@$(ENV) $(REBAR) compile

# Regenerate the Erlang NIF stub from the Rust NIF declarations.
stub:
	@$(ENV) cargo run --quiet --release -p py-nif --bin nif-stub -- crates/py-nif/src > src/py_nif.erl.new
	@$(ENV) cargo run --quiet --release -p py-nif --bin nif-stub -- --flags crates/py-nif/src > src/py_nif_flags.hrl.new
	@mv src/py_nif.erl.new src/py_nif.erl
	@mv src/py_nif_flags.hrl.new src/py_nif_flags.hrl
	@echo "src/py_nif.erl and src/py_nif_flags.hrl regenerated"

# Fails if the committed stub or flags header does not match the Rust source.
check-stub:
	@$(ENV) for out in "py_nif.erl:" "py_nif_flags.hrl:--flags"; do \
	   file=$${out%%:*}; flag=$${out#*:}; \
	   cargo run --quiet --release -p py-nif --bin nif-stub -- $$flag crates/py-nif/src > /tmp/$$file.$$$$ || exit 1; \
	   if ! cmp -s /tmp/$$file.$$$$ src/$$file; then \
	     diff -u src/$$file /tmp/$$file.$$$$; rm -f /tmp/$$file.$$$$; \
	     echo "src/$$file is out of date: run 'make stub'"; exit 1; \
	   fi; rm -f /tmp/$$file.$$$$; \
	 done

demo: build
	@$(ENV) escript examples/demo.escript

test: setup check-stub check-version lint check-docs test-rust test-erlang test-elixir test-consumers \
      test-embedder fuzz test-asan test-other-pythons test-debian-python
	@echo "make test: all passed"

# xref and dialyzer, zero warnings; no circle among the Erlang modules,
# none new among each crate's Rust modules; no raw CPython call outside
# the files scripts/check-ffi-layer.py allows; every file docs/architecture.md
# names exists; the example applications compile.
lint: build
	@$(ENV) $(REBAR) xref
	@$(ENV) $(REBAR) dialyzer
	@$(ENV) escript scripts/check-cycles.escript _build/default/lib/erlang_python/ebin
	@scripts/check-rust-cycles.py
	@scripts/check-ffi-layer.py
	@scripts/check-doc-map.py
	@$(ENV) examples/embeddings/check.sh

# The crates' API docs build without a warning; so do the Erlang ones.
check-docs: build
	@$(ENV) RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
	@$(ENV) $(REBAR) edoc

# HTML API docs: the Erlang modules (edoc, doc/) and the crates (rustdoc,
# $$CARGO_TARGET_DIR/doc); the guides are docs/guides/*.md.
docs: build
	@$(ENV) $(REBAR) edoc
	@$(ENV) cargo doc --workspace --no-deps
	@$(ENV) echo "Erlang API: doc/index.html; crates: $$CARGO_TARGET_DIR/doc/py_core/index.html; guides: docs/guides/README.md"

# A third party's Rust program using py-convert and py-channel, built and run.
test-embedder: setup
	@$(ENV) scripts/test-embedder.sh

# Debian's own python3 (3.11, externally managed) runs the demo in worker
# mode; skipped when the machine has no /usr/bin/python3 with libpython.
test-debian-python:
	@if /usr/bin/python3 -c 'import sysconfig, sys; sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") else 1)' 2>/dev/null; then \
	   echo "== the demo with Debian's /usr/bin/python3 =="; \
	   $(MAKE) --no-print-directory PYTHON=/usr/bin/python3 demo || exit 1; \
	 else echo "test-debian-python: no /usr/bin/python3 with a shared libpython, skipped"; fi

# The Rust tests and the Common Test suites against the other supported
# Pythons found on the machine (3.12 when the default is 3.13, and so on).
test-other-pythons:
	@for py in $$(scripts/other-pythons.sh); do \
	   echo "== again with $$py =="; \
	   $(MAKE) --no-print-directory PYTHON=$$py test-rust test-erlang || exit 1; \
	 done

test-rust: setup
	@$(TENV) cargo test --workspace
	@$(ENV) cargo clippy --workspace --all-targets --quiet -- -D warnings
	@$(ENV) cargo fmt --all -- --check

test-erlang: setup build
	@$(TENV) $(REBAR) ct

test-elixir: build
	@$(ENV) cd examples/elixir_app && MIX_REBAR3=$$(command -v rebar3) mix test

# rebar3 and Mix projects using this repository (a file:// clone of HEAD)
# as a git or path dependency, their releases (one with its Python moved
# elsewhere), and the hex package: see scripts/test-consumers.sh.
test-consumers: build
	@$(ENV) scripts/test-consumers.sh

# The PropEr stateful properties for SOAK_SECONDS (default an hour),
# printing RSS, threads, descriptors and processes as they go.
soak: setup build
	@$(TENV) scripts/soak.sh $(SOAK_SECONDS)

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
	@$(TENV) cargo bench -p py-benches

bench-erlang: build
	@$(ENV) escript benches/erlang/callbacks.escript
	@$(ENV) escript benches/erlang/event_loop.escript
	@$(ENV) escript benches/erlang/channels.escript
	@$(ENV) escript benches/erlang/serving.escript
	@$(TENV) escript benches/erlang/tensors.escript

# Benchmarks a..k of the public API (benches/erlang/pybench.escript), each
# in a fresh VM: a markdown table on stdout, the rows in _build/pybench.json.
# PYBENCH_ARGS adds options, e.g. PYBENCH_ARGS="--only a,e --scale 0.2".
PYBENCH_ARGS ?=
BENCH_VENV := _build/bench-venv

# Own-GIL scaling and call latency under each scheduler busy-wait setting
# (the figures of docs/guides/tuning.md).
bench-sbwt: build
	@for flags in "" "+sbwt none +sbwtdcpu none +sbwtdio none" "+sbwt very_long +sbwtdcpu very_long +sbwtdio very_long"; do \
	   for run in 1 2 3; do \
	     printf '%s\t' "$${flags:-default}"; \
	     $(ENV) ERL_FLAGS="$$flags" escript benches/erlang/owngil_scaling.escript || exit 1; \
	   done; \
	 done

# The embeddings example end to end: its venv (the first run downloads about
# 3.2 GB: torch), build, demo, benchmark. Not part of make test; its code is
# compiled and checked there (examples/embeddings/check.sh, in lint).
example-embeddings: build
	@$(ENV) examples/embeddings/run.sh

pybench: build
	@$(ENV) ERL_LIBS=$(CURDIR)/_build/default/lib escript benches/erlang/pybench.escript \
	   --json _build/pybench.json $(PYBENCH_ARGS)

# The shared pybench harness on another build (BEFORE, its lib dir, e.g. a
# worktree's _build/default/lib/erlang_python) and this one, interleaved
# for ROUNDS rounds; medians of each side's run medians (benchmarks IDS).
ROUNDS ?= 5
IDS ?= a,b,c,h,k
bench-ab: build
	@test -n "$(BEFORE)" || { echo "usage: make bench-ab BEFORE=/path/to/_build/default/lib/erlang_python"; exit 1; }
	@scripts/pybench-ab.sh $(BEFORE) $(CURDIR)/_build/default/lib/erlang_python $(ROUNDS) $(IDS)

# docs/performance.md and docs/img/*.png: pybench at full scale, then
# scripts/bench-report.py with matplotlib from a venv made on demand.
bench-report: build
	@$(ENV) ERL_LIBS=$(CURDIR)/_build/default/lib escript benches/erlang/pybench.escript \
	   --scale 1 --json _build/pybench.json --md _build/pybench.md $(PYBENCH_ARGS)
	@$(ENV) if ! $(BENCH_VENV)/bin/python -c 'import matplotlib' >/dev/null 2>&1; then \
	   echo "bench-report: creating $(BENCH_VENV) (matplotlib)"; \
	   "$$PYTHON" -m venv --clear $(BENCH_VENV) \
	   && $(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check matplotlib \
	   || { echo "bench-report: could not create $(BENCH_VENV) (Debian: apt-get install python3-venv)" >&2; exit 1; }; \
	 fi
	@$(BENCH_VENV)/bin/python scripts/bench-report.py --results _build/pybench.json

clean:
	cargo clean
	rm -rf _build priv/*.so priv/python.config
