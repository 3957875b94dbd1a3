#!/usr/bin/env bash
# Builds and runs examples/rust_embedder, a program outside the workspace
# that uses py-convert and py-channel as a third party would, against the
# selected Python ($PYO3_PYTHON, from scripts/env.sh). Its binary finds
# libpython through the rpath its build script records: LD_LIBRARY_PATH is
# cleared to prove it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PYO3_PYTHON:-}" ]; then
    # shellcheck source=env.sh
    . "$root/scripts/env.sh"
fi
target="${CARGO_TARGET_DIR:-$root/target}/rust_embedder"
echo "test-embedder: building examples/rust_embedder"
(cd "$root/examples/rust_embedder" && CARGO_TARGET_DIR="$target" cargo build --release --locked --quiet)
env -u LD_LIBRARY_PATH "$target/release/rust_embedder"
