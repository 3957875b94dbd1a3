# Sourced by the Makefile and build scripts: selects the Python to build
# against and exports PYTHON, PYO3_PYTHON and a per-version CARGO_TARGET_DIR.
#
# $PYTHON wins if set; otherwise the newest pyenv 3.13 build, then 3.12,
# that has a shared libpython (the NIF links it).

ep_root=$(cd "$(dirname "${BASH_SOURCE:-$0}")/.." 2>/dev/null && pwd)
[ -f "$ep_root/Makefile" ] || ep_root=$(pwd)

ep_has_shared_lib() {
    "$1" -c 'import sys, sysconfig; sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") else 1)' 2>/dev/null
}

ep_select_python() {
    if [ -n "${PYTHON:-}" ]; then
        if ! command -v "$PYTHON" >/dev/null 2>&1; then
            echo "PYTHON=$PYTHON is not an executable" >&2
            return 1
        fi
        if ! ep_has_shared_lib "$PYTHON"; then
            echo "PYTHON=$PYTHON was built without a shared libpython (--enable-shared); the NIF needs one" >&2
            return 1
        fi
        command -v "$PYTHON"
        return 0
    fi
    pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
    for minor in 3.13 3.12; do
        for dir in $(ls -d "$pyenv_root"/versions/"$minor".* 2>/dev/null | sort -t. -k3 -n -r); do
            exe="$dir/bin/python$minor"
            if [ -x "$exe" ] && ep_has_shared_lib "$exe"; then
                echo "$exe"
                return 0
            fi
        done
    done
    echo "No suitable Python found: set PYTHON to a CPython 3.12 or 3.13 built with" >&2
    echo "--enable-shared (e.g. PYTHON=\$HOME/.pyenv/versions/3.12.1/bin/python3.12)." >&2
    return 1
}

if PYTHON=$(ep_select_python); then
    export PYTHON
    export PYO3_PYTHON="$PYTHON"
    ep_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ep_root/target/py$ep_version}"
else
    unset PYTHON
    return 1 2>/dev/null || exit 1
fi
