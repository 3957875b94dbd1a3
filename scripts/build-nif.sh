#!/bin/sh
# Builds the NIF with cargo and installs it in priv/: py_nif_impl.so (the
# NIF of module py_nif) and py_nif_loader.so (which opens the libpython
# chosen at run time first), and records the Python it was built against
# in priv/python.config. Run by the rebar3 pre-compile hook (or by hand). The
# Python is $PYO3_PYTHON, set by scripts/env.sh.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PYO3_PYTHON:-}" ]; then
    . "$here/scripts/env.sh"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "erlang_python: cargo is needed to build the NIF; install Rust (https://rustup.rs)" >&2
    exit 1
fi
profile=${CARGO_PROFILE:-release}
cd "$here"
echo "erlang_python: building the NIF with cargo ($profile, Python $("$PYO3_PYTHON" -c 'import sys; print(sys.version.split()[0])'))"
cargo build --profile "$profile" -p py-nif --lib -p py-nif-loader
target_dir=${CARGO_TARGET_DIR:-$here/target}
mkdir -p "$here/priv"
for pair in "libpy_nif_impl.so py_nif_impl.so" "libpy_nif_loader.so py_nif_loader.so"; do
    set -- $pair
    cp "$target_dir/$profile/$1" "$here/priv/$2.tmp"
    mv "$here/priv/$2.tmp" "$here/priv/$2"
done
"$PYO3_PYTHON" "$here/priv/python_info.py" > "$here/priv/python.config.tmp"
mv "$here/priv/python.config.tmp" "$here/priv/python.config"
