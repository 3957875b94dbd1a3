#!/bin/sh
# Builds the py_nif library with cargo and installs it as priv/py_nif.so.
# Run by the rebar3 pre-compile hook (or by hand). The Python it
# links against is $PYO3_PYTHON, set by scripts/env.sh.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PYO3_PYTHON:-}" ]; then
    . "$here/scripts/env.sh"
fi
profile=${CARGO_PROFILE:-release}
cd "$here"
cargo build --profile "$profile" -p py-nif --lib
target_dir=${CARGO_TARGET_DIR:-$here/target}
mkdir -p "$here/priv"
cp "$target_dir/$profile/libpy_nif.so" "$here/priv/py_nif.so.tmp"
mv "$here/priv/py_nif.so.tmp" "$here/priv/py_nif.so"
