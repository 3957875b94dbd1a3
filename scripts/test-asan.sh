#!/usr/bin/env bash
# Runs the Common Test suites against a py_nif built with AddressSanitizer.
#
#   scripts/test-asan.sh                      every suite
#   scripts/test-asan.sh py_api_SUITE py_stream_SUITE
#   scripts/test-asan.sh py_api_SUITE --case=call_basic   (options go to rebar3 ct)
#
# The NIF is built with -Zsanitizer=address (nightly, or stable with
# RUSTC_BOOTSTRAP=1) into its own target dir; the Erlang app is copied next
# to it with that NIF in its priv/, so the developer's priv/
# and _build are never touched. The BEAM is not instrumented, so gcc's
# shared ASan runtime is preloaded into the VM that runs the suites (its ABI,
# v8, is the one rustc's LLVM emits). Python objects are plain malloc blocks
# (PYTHONMALLOC=malloc) so ASan sees them. ASan stops the VM at the first
# error; its report is printed and kept in $ASAN_TARGET_DIR/asan-logs, and
# the script fails.
#
# ASAN_TARGET_DIR overrides the work dir (default target/asan-pyX.Y).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# Erlang/OTP, rebar3, the Python and the tests' venv (idempotent).
"$root/scripts/setup.sh" test
# shellcheck source=env.sh
. "$root/scripts/env.sh"
# shellcheck source=test-env.sh
. "$root/scripts/test-env.sh"

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# gcc's shared ASan runtime (Debian: libasan8).
find_asan_runtime() {
    local f
    for f in "$(gcc -print-file-name=libasan.so.8 2>/dev/null)" /usr/lib/x86_64-linux-gnu/libasan.so.8; do
        if [ -f "$f" ]; then readlink -f "$f"; return 0; fi
    done
    return 1
}
# ASAN_RUNTIME=/path/to/libclang_rt.asan-x86_64.so picks another runtime.
if [ -n "${ASAN_RUNTIME:-}" ]; then
    asan_rt=$ASAN_RUNTIME
elif ! asan_rt=$(find_asan_runtime); then
    echo "test-asan: installing libasan8"
    export DEBIAN_FRONTEND=noninteractive
    sudo_if_needed apt-get update -qq
    sudo_if_needed apt-get install -y -qq libasan8 >/dev/null
    asan_rt=$(find_asan_runtime)
fi

# -Z flags need nightly; stable accepts them with RUSTC_BOOTSTRAP=1.
if cargo +nightly --version >/dev/null 2>&1; then
    cargo=(cargo +nightly)
    host=$(rustc +nightly -vV | sed -n 's/^host: //p')
else
    export RUSTC_BOOTSTRAP=1
    cargo=(cargo)
    host=$(rustc -vV | sed -n 's/^host: //p')
fi

py_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
work=${ASAN_TARGET_DIR:-$root/target/asan-py$py_version}
mkdir -p "$work"
work=$(cd "$work" && pwd)

# An explicit --target keeps build scripts and proc-macros uninstrumented.
# Frame pointers help ASan's fast unwinder; legacy symbol names are the ones
# gcc's runtime demangles in its reports.
echo "test-asan: building py_nif with AddressSanitizer ($("${cargo[@]}" --version))"
(cd "$root" && CARGO_TARGET_DIR="$work/cargo" \
    RUSTFLAGS="-Zsanitizer=address -Cforce-frame-pointers=yes -Zunstable-options -Csymbol-mangling-version=legacy" \
    "${cargo[@]}" build --quiet --release -p py-nif --lib -p py-nif-loader --target "$host")

# A fresh copy of the Erlang app (sources, tests, priv, the example a test
# runs; no build output)
# with the instrumented NIF in its priv/; rebar3 does not run the cargo hook.
app="$work/erlang"
rm -rf "$app"
mkdir -p "$app"
tar -C "$root" --exclude='*.so' --exclude='*.beam' -cf - rebar.config src test priv examples/http_echo \
    | tar -C "$app" -xf -
for lib in py_nif_impl py_nif_loader; do
    cp "$work/cargo/$host/release/lib$lib.so" "$app/priv/$lib.so"
done
"$PYTHON" "$root/priv/python_info.py" > "$app/priv/python.config"
echo 'lists:keydelete(pre_hooks, 1, CONFIG).' > "$app/rebar.config.script"

ct_args=()
suites=()
for a in "$@"; do
    case "$a" in
        -*) ct_args+=("$a") ;;
        *) suites+=("$a") ;;
    esac
done
if [ ${#suites[@]} -gt 0 ]; then
    ct_args+=("--suite=$(IFS=,; echo "${suites[*]}")")
fi

logs="$work/asan-logs"
rm -rf "$logs"
mkdir -p "$logs"
echo "test-asan: running rebar3 ct${ct_args[*]:+ ${ct_args[*]}} with $asan_rt preloaded"
echo "test-asan: CT logs in $app/logs, ASan reports in $logs"
set +e
(cd "$app" \
  && export PYTHONMALLOC=malloc PY_TEST_ASAN=1 \
            ASAN_OPTIONS="detect_leaks=0:verify_asan_link_order=0:allocator_may_return_null=1:log_path=$logs/asan" \
            LD_PRELOAD="$asan_rt${LD_PRELOAD:+:$LD_PRELOAD}" \
  && exec rebar3 ct "${ct_args[@]}")
status=$?
set -e

reports=$(find "$logs" -type f -name 'asan*' | sort)
if [ -n "$reports" ]; then
    for r in $reports; do
        echo "== ASan report $r" >&2
        cat "$r" >&2
    done
    echo "test-asan: FAILED: AddressSanitizer reported errors (reports in $logs)" >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "test-asan: FAILED: rebar3 ct exited with status $status" >&2
    exit "$status"
fi
echo "test-asan: all suites passed, no AddressSanitizer report"
