# Sourced by the test targets after scripts/env.sh: the Python packages the
# tests use (numpy: C extensions with thread-local state, hostile tolist()
# objects) live in a venv of their own, one per Python version, never in
# the Python the library is built against (which may be externally
# managed, like Debian's). Its site-packages go on PYTHONPATH, which the
# embedded interpreter (and cargo's test binaries) read at start-up.
if [ -z "${PYTHON:-}" ]; then
    . "$(cd "$(dirname "${BASH_SOURCE:-$0}")" && pwd)/env.sh"
fi
ep_test_venv="$ep_root/target/test-venv-$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if ! "$ep_test_venv/bin/python" -c 'import numpy' >/dev/null 2>&1; then
    echo "setup: creating the tests' venv $ep_test_venv (numpy)"
    "$PYTHON" -m venv --clear "$ep_test_venv" \
        && "$ep_test_venv/bin/python" -m pip install --quiet --disable-pip-version-check numpy \
        || { echo "setup: could not create the tests' venv (for Debian's Python: apt-get install python3-venv)" >&2
             return 1 2>/dev/null || exit 1; }
fi
PYTHONPATH=$("$ep_test_venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')${PYTHONPATH:+:$PYTHONPATH}
export PYTHONPATH
