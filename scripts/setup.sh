#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test the project,
# then checks that a suitable Python exists. Safe to run again: it only
# installs what is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

have_otp() {
    command -v erl >/dev/null && command -v rebar3 >/dev/null && command -v ct_run >/dev/null \
        && command -v elixir >/dev/null \
        && erl -noshell -eval 'case {code:lib_dir(common_test), code:which(proper)} of {{error,_}, _} -> halt(1); {_, non_existing} -> halt(1); _ -> halt(0) end.' >/dev/null 2>&1
}

if ! have_otp; then
    echo "setup: installing Erlang/OTP, rebar3, Common Test, PropEr and Elixir (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    sudo_if_needed apt-get update -qq
    sudo_if_needed apt-get install -y -qq erlang-nox erlang-dev rebar3 erlang-common-test \
        erlang-dialyzer erlang-proper elixir >/dev/null
fi

if ! command -v cargo >/dev/null; then
    echo "setup: cargo is missing; install Rust with rustup first" >&2
    exit 1
fi

# The fuzz target runs under cargo-fuzz, which needs a nightly toolchain (or
# RUSTC_BOOTSTRAP on stable, which the Makefile falls back to).
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "setup: installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi

# Select the Python (prints a clear message and fails if there is none).
# shellcheck source=env.sh
. "$root/scripts/env.sh"
echo "setup: Python $("$PYTHON" -c 'import sys; print(sys.version.split()[0])') at $PYTHON"

# numpy, for the tests that check C extensions with thread-local state run in
# worker contexts (from PyPI, into the selected Python).
if ! "$PYTHON" -c 'import numpy' >/dev/null 2>&1; then
    echo "setup: installing numpy for $PYTHON"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore numpy
fi
