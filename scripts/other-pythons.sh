#!/usr/bin/env bash
# Prints the pyenv CPython 3.12 / 3.13 builds (with a shared libpython) other
# than the one scripts/env.sh selects: `make test` runs the Rust tests and the
# Common Test suites against each of them too.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
primary=$(source "$root/scripts/env.sh" >/dev/null 2>&1 && readlink -f "$PYTHON")
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
for minor in 3.13 3.12; do
    for dir in $(ls -d "$pyenv_root"/versions/"$minor".* 2>/dev/null | sort -t. -k3 -n -r | head -n 1); do
        exe="$dir/bin/python$minor"
        [ -x "$exe" ] || continue
        [ "$(readlink -f "$exe")" = "$primary" ] && continue
        "$exe" -c 'import sys, sysconfig; sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") else 1)' 2>/dev/null || continue
        echo "$exe"
    done
done
