#!/usr/bin/env bash
# Builds the hex-format package erlang_python-VERSION.tar (metadata, the
# Erlang sources, every crate with Cargo.lock, LICENSE, README, CHANGELOG)
# from the files git tracks. OUT sets the output directory (default
# _build/package). Offline: no hex tooling needed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/_build/package}
mkdir -p "$out"
cd "$root"
files=$(git ls-files -- LICENSE README.md CHANGELOG.md rebar.config rebar.lock rustfmt.toml Cargo.toml Cargo.lock \
        src priv scripts/build-nif.sh scripts/env.sh crates benches | grep -v '^benches/erlang/')
escript "$root/scripts/package.escript" "$out" $files
