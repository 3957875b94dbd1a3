#!/usr/bin/env bash
# A/B comparison of two builds of erlang_python with the shared pybench
# harness (/work/shared/bench/pybench.escript).
#
#   scripts/pybench-ab.sh BEFORE_LIB AFTER_LIB [ROUNDS=5] [IDS=a,b,c,h,k]
#
# BEFORE_LIB and AFTER_LIB are application directories holding ebin/ and
# priv/ side by side, e.g. _build/default/lib/erlang_python. Each round runs
# the harness once against BEFORE and then once against AFTER, so drift in
# the machine's state affects both. Every harness run starts a fresh child VM
# per benchmark. The harness's own settings pass through the environment:
# PYBENCH_REPS, PYBENCH_SCALE, PYBENCH_TIMEOUT, ERL_FLAGS. PYBENCH_HARNESS
# overrides the harness path.
#
# Results (one JSON file and one log per run, plus summary.txt) go to a new
# temporary directory. The script prints its path. The table shows, per
# benchmark row, the median over rounds of each run's median, the min-max of
# those per-run medians, and the ratio after/before.
set -eo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
harness=${PYBENCH_HARNESS:-/work/shared/bench/pybench.escript}

usage() {
    echo "usage: $0 BEFORE_LIB AFTER_LIB [ROUNDS=5] [IDS=a,b,c,h,k]" >&2
    exit 1
}

[ $# -ge 2 ] && [ $# -le 4 ] || usage
before_lib=$(cd "$1" 2>/dev/null && pwd) || { echo "pybench-ab: no directory $1" >&2; exit 1; }
after_lib=$(cd "$2" 2>/dev/null && pwd) || { echo "pybench-ab: no directory $2" >&2; exit 1; }
rounds=${3:-5}
ids=${4:-a,b,c,h,k}

case "$rounds" in
    ''|*[!0-9]*|0) echo "pybench-ab: ROUNDS must be a positive integer, not '$rounds'" >&2; exit 1 ;;
esac
IFS=, read -r -a id_list <<<"$ids"
[ ${#id_list[@]} -gt 0 ] || { echo "pybench-ab: IDS is empty" >&2; exit 1; }
for id in "${id_list[@]}"; do
    case "$id" in
        a|b|c|d|d1|d2|d3|e|f|g|h|i|j|k) ;;
        *) echo "pybench-ab: unknown benchmark id '$id' (known: a b c d d1 d2 d3 e f g h i j k)" >&2; exit 1 ;;
    esac
done

for lib in "$before_lib" "$after_lib"; do
    if [ ! -f "$lib/ebin/py.beam" ]; then
        echo "pybench-ab: $lib/ebin/py.beam missing (not an erlang_python build?)" >&2
        exit 1
    fi
    if ! ls "$lib"/priv/*.so >/dev/null 2>&1; then
        echo "pybench-ab: no NIF (*.so) in $lib/priv" >&2
        exit 1
    fi
done
[ -r "$harness" ] || { echo "pybench-ab: harness $harness not found" >&2; exit 1; }

# The project's Python (and the tests' venv on PYTHONPATH). Both scripts
# expect to be sourced without `set -e` in force.
set +e
# shellcheck source=/dev/null
source "$here/env.sh" || { echo "pybench-ab: scripts/env.sh failed" >&2; exit 1; }
# shellcheck source=/dev/null
source "$here/test-env.sh" || { echo "pybench-ab: scripts/test-env.sh failed" >&2; exit 1; }
set -e

out=$(mktemp -d "${TMPDIR:-/tmp}/pybench-ab.XXXXXX")
echo "pybench-ab: results in $out"
echo "pybench-ab: before = $before_lib"
echo "pybench-ab: after  = $after_lib"
echo "pybench-ab: rounds = $rounds, ids = $ids, python = $PYTHON"
{
    echo "before_lib=$before_lib"
    echo "after_lib=$after_lib"
    echo "rounds=$rounds"
    echo "ids=$ids"
    echo "harness=$harness"
    echo "python=$PYTHON"
    echo "pythonpath=$PYTHONPATH"
    echo "erl_flags=${ERL_FLAGS:-}"
    echo "pybench_reps=${PYBENCH_REPS:-} pybench_scale=${PYBENCH_SCALE:-} pybench_timeout=${PYBENCH_TIMEOUT:-}"
    echo "start=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$out/settings.txt"

failed=0
run_one() {  # side lib round
    local side=$1 lib=$2 r=$3 rc=0 t0 t1
    t0=$(date +%s)
    PYBENCH_JSON="$out/$side-$r.json" \
        escript "$harness" --lib "$lib" --only "$ids" --label "$side-$r" \
        >"$out/$side-$r.log" 2>&1 || rc=$?
    t1=$(date +%s)
    if [ "$rc" -eq 0 ] && [ -s "$out/$side-$r.json" ]; then
        printf 'pybench-ab: round %d/%d %-6s ok (%d s)\n' "$r" "$rounds" "$side" $((t1 - t0))
    else
        printf 'pybench-ab: round %d/%d %-6s FAILED, exit %d (%d s); see %s\n' \
            "$r" "$rounds" "$side" "$rc" $((t1 - t0)) "$out/$side-$r.log"
        tail -n 5 "$out/$side-$r.log" | sed 's/^/    | /'
        failed=$((failed + 1))
    fi
}

for r in $(seq 1 "$rounds"); do
    run_one before "$before_lib" "$r"
    run_one after "$after_lib" "$r"
done

echo
# -I: the aggregation needs only the standard library; keep the test venv's
# PYTHONPATH (made for the project's Python) away from whatever python3 is.
python3 -I "$here/pybench-ab.py" "$out" | tee "$out/summary.txt"
echo
echo "pybench-ab: results in $out"
if [ "$failed" -gt 0 ]; then
    echo "pybench-ab: $failed run(s) failed" >&2
    exit 1
fi
