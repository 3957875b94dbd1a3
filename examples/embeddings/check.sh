#!/usr/bin/env bash
# Cheap checks of the embeddings example for `make test`: no venv, no torch,
# no network, nothing written in the example's directory.
#   - every Erlang module compiles with warnings as errors (the options of
#     rebar.config), erlang_python's ebin on the code path;
#   - the .app.src is a valid application resource;
#   - the JSON codec, the corpus reader and the search arithmetic work, and
#     Erlang and Python read the same corpus sentences;
#   - dialyzer finds nothing in the Erlang modules;
#   - every Python file compiles (py_compile), and the shell scripts parse.
# $PYTHON (set by scripts/env.sh under make) is the Python used, else python3.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
ebin="$root/_build/default/lib/erlang_python/ebin"
python=${PYTHON:-python3}

if [ ! -f "$ebin/py.beam" ]; then
    echo "examples/embeddings/check.sh: $ebin is missing: run 'make build' first" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

erlc -Werror +debug_info +warn_unused_vars +warn_shadow_vars +warn_unused_import \
     +warn_missing_spec -pa "$ebin" -o "$tmp" "$here"/src/*.erl
modules=$(ls "$here"/src/*.erl | wc -l)

erl -noshell -pa "$tmp" -pa "$ebin" -eval '
    [Dir] = init:get_plain_arguments(),
    {ok, [{application, embeddings, Props}]} = file:consult(filename:join(Dir, "src/embeddings.app.src")),
    true = lists:member(erlang_python, proplists:get_value(applications, Props)),
    Mods = [list_to_atom(filename:basename(F, ".erl")) || F <- filelib:wildcard(filename:join(Dir, "src/*.erl"))],
    [{module, M} = code:ensure_loaded(M) || M <- Mods],

    %% JSON as Python writes it, and back.
    Json = <<"{\"embeddings\": [[0.25, -1e-05, 3, 1.5E+2], []], \"s\": \"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\", \"t\": [true, false, null]}">>,
    #{<<"embeddings">> := [[0.25, -1.0e-5, 3, 150.0], []], <<"s">> := S, <<"t">> := [true, false, null]}
        = embeddings_json:decode(Json),
    S = <<"a\"b\\c", 16#e9/utf8, 16#1F600/utf8>>,
    Back = #{<<"sentences">> => [<<"tab\there">>, <<"quote\"">>, <<16#e9/utf8>>, <<1>>]},
    Back = embeddings_json:decode(embeddings_json:encode(Back)),

    %% The corpus: 50 to 200 sentences, no comments, no blanks.
    {ok, Sentences} = embeddings_index:read_corpus(filename:join(Dir, "priv/corpus.txt")),
    N = length(Sentences),
    true = N >= 50 andalso N =< 200,
    [] = [L || L <- Sentences, L =:= <<>> orelse binary:first(L) =:= $#],
    io:format("~b~n", [N]),

    %% Search arithmetic on unit vectors.
    1.0 = embeddings:similarity([0.6, 0.8], [0.6, 0.8]),
    0.0 = embeddings:similarity([1.0, 0.0], [0.0, 1.0]),
    halt(0).' -extra "$here" > "$tmp/erl.out"
erl_count=$(tail -1 "$tmp/erl.out")

py_count=$(PYTHONDONTWRITEBYTECODE=1 "$python" -c '
import sys
sys.path.insert(0, sys.argv[1] + "/priv")
import embeddings_model
print(len(embeddings_model.read_corpus(sys.argv[1] + "/priv/corpus.txt")))' "$here")
if [ "$erl_count" != "$py_count" ]; then
    echo "examples/embeddings: Erlang reads $erl_count corpus sentences, Python $py_count" >&2
    exit 1
fi

# Types: dialyzer over the example's modules, with the library's beams and
# the PLT `rebar3 dialyzer' made for it (skipped if there is none yet).
plt=$(ls "$root"/_build/default/rebar3_*_plt 2>/dev/null | head -1 || true)
if [ -n "$plt" ]; then
    dialyzer --no_check_plt --plt "$plt" -Wunmatched_returns -Werror_handling \
        -pa "$ebin" "$tmp"/*.beam "$ebin"/*.beam > "$tmp/dialyzer.out" 2>&1 \
        || { cat "$tmp/dialyzer.out" >&2; echo "examples/embeddings: dialyzer found problems" >&2; exit 1; }
    typed="dialyzer clean"
else
    typed="dialyzer skipped: no PLT (make lint makes one)"
fi

py_files=$(ls "$here"/priv/*.py | wc -l)
PYTHONPYCACHEPREFIX="$tmp/pycache" "$python" -m py_compile "$here"/priv/*.py
bash -n "$here/run.sh"
bash -n "$here/check.sh"

echo "examples/embeddings: ok ($modules Erlang modules, $typed, $py_files Python files, $erl_count corpus sentences)"
