#!/usr/bin/env bash
# Soak run of the PropEr stateful suite (test/py_prop_SUITE.erl):
# generates random command sequences (contexts started and stopped, calls,
# timeouts, interrupts, killed callers and contexts, streams, channels,
# event loops, object handles) for SECONDS seconds (default 3600), checking
# every result, deadline and leak as `make test' does, and prints RSS,
# threads, descriptors and processes before, after each round of 20
# sequences, and after.
#
#   scripts/soak.sh [SECONDS]
#
# Needs PropEr (Debian: apt-get install erlang-proper). PY_PROP_LENGTH
# (default 5) scales the sequence length.
set -euo pipefail
seconds=${1:-3600}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=env.sh
. "$root/scripts/env.sh"
if ! erl -noshell -eval 'halt(case code:which(proper) of non_existing -> 1; _ -> 0 end).'; then
    echo "soak: PropEr is missing (Debian: apt-get install erlang-proper)" >&2
    exit 1
fi
report=$(mktemp /tmp/py_prop_soak.XXXXXX)
trap 'rm -f "$report"' EXIT
echo "soak: ${seconds} s with $PYTHON"
status=0
(cd "$root" && PY_PROP_SECONDS=$seconds PY_PROP_REPORT=$report \
    ${REBAR:-rebar3} ct --suite test/py_prop_SUITE --case soak) || status=$?
echo "== soak figures =="
cat "$report"
exit $status
