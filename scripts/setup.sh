#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks, then checks that a suitable
# Python exists. Safe to run again: it only installs what is missing.
#
#   scripts/setup.sh demo   what building and running the library needs:
#                           Erlang/OTP and rebar3 (Debian packages); cargo
#                           must be there already (rustup)
#   scripts/setup.sh test   that, plus what the tests need: Common Test,
#                           PropEr, dialyzer, Elixir, cargo-fuzz, and the
#                           tests' Python packages (numpy) in a venv of
#                           their own (scripts/test-env.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
purpose=${1:-test}
case "$purpose" in
    demo | test) ;;
    *) echo "usage: scripts/setup.sh [demo|test]" >&2; exit 2 ;;
esac

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    echo "setup: installing $* (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    sudo_if_needed apt-get update -qq
    sudo_if_needed apt-get install -y -qq "$@" >/dev/null
}

erl_has() {
    erl -noshell -eval "halt(case code:lib_dir($1) of {error, _} -> 1; _ -> 0 end)." >/dev/null 2>&1
}

missing=()
command -v erl >/dev/null || missing+=(erlang-nox erlang-dev)
command -v rebar3 >/dev/null || missing+=(rebar3)
if [ "$purpose" = test ]; then
    { command -v erl >/dev/null && erl_has common_test; } || missing+=(erlang-common-test)
    { command -v erl >/dev/null && erl_has proper; } || missing+=(erlang-proper)
    command -v dialyzer >/dev/null || missing+=(erlang-dialyzer)
    command -v elixir >/dev/null || missing+=(elixir)
fi
if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
    echo "setup: cargo is missing; install Rust with rustup first (https://rustup.rs)" >&2
    exit 1
fi

# The fuzz targets run under cargo-fuzz, which needs a nightly toolchain (or
# RUSTC_BOOTSTRAP on stable, which scripts/fuzz.sh falls back to).
if [ "$purpose" = test ] && ! cargo fuzz --version >/dev/null 2>&1; then
    echo "setup: installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi

# Select the Python (prints a clear message and fails if there is none).
# shellcheck source=env.sh
. "$root/scripts/env.sh"
echo "setup: Python $("$PYTHON" -c 'import sys; print(sys.version.split()[0])') at $PYTHON"

if [ "$purpose" = test ]; then
    # shellcheck source=test-env.sh
    . "$root/scripts/test-env.sh"
fi
