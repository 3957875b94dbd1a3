#!/usr/bin/env bash
# Runs every fuzz target for the given number of seconds (default 30).
# Python objects are plain malloc blocks here (PYTHONMALLOC=malloc) so the
# leak checker sees every one of them.
set -uo pipefail
seconds=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
if cargo +nightly --version >/dev/null 2>&1; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi
for target in $("${fuzz[@]}" list); do
    mkdir -p "corpus/$target"
    echo "fuzz: $target for ${seconds}s"
    log=$(mktemp)
    if PYTHONMALLOC=malloc "${fuzz[@]}" run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        grep -E "^Done" "$log" || true
        rm -f "$log"
    else
        echo "fuzz: $target failed:" >&2
        tail -n 60 "$log" >&2
        rm -f "$log"
        exit 1
    fi
done
