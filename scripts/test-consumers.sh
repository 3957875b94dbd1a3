#!/usr/bin/env bash
# The ways a project uses erlang_python, each from a fresh consumer and
# offline (the repository is fetched from a file:// clone of HEAD, so
# commit first when running it by hand):
#   1. rebar3 with a git dependency: compile, call, build a release, boot it;
#   2. that release with its Python moved to another prefix, and with a
#      Python that does not exist (a clear error);
#   3. Mix with a git dependency: compile, call, mix release, boot it;
#   4. Mix with a path dependency: compile and call;
#   5. the hex package (make package) unpacked into a rebar3 project.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=env.sh
. "$root/scripts/env.sh"
main_target=$CARGO_TARGET_DIR
work=$(mktemp -d "${TMPDIR:-/tmp}/erlang_python-consumers.XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
say() { echo "consumers: $*"; }
fail() { echo "consumers: FAILED: $*" >&2; exit 1; }
expect() { # expect FILE PATTERN: the output must hold the pattern
    grep -qE -- "$2" "$1" || { cat "$1" >&2; fail "no '$2' in the output"; }
}

git clone -q --bare "file://$root" "$work/erlang_python.git"
url="file://$work/erlang_python.git"
ref=$(git -C "$root" rev-parse HEAD)
# The clones' builds share one target dir: the registry crates build once.
export CARGO_TARGET_DIR="$work/cargo"

say "1. rebar3, git dependency"
cp -r "$root/examples/consumers/rebar3" "$work/rebar3"
sed -i "s#@URL@#$url#; s#@REF@#$ref#" "$work/rebar3/rebar.config"
(cd "$work/rebar3" && rebar3 compile && rebar3 release) > "$work/rebar3.log" 2>&1 \
    || { tail -40 "$work/rebar3.log" >&2; fail "rebar3 compile/release"; }
rel="$work/rebar3/_build/default/rel/consumer/bin/consumer"
CONSUMER_CHECK=1 "$rel" foreground > "$work/boot.log" 2>&1 || { cat "$work/boot.log" >&2; fail "release boot"; }
expect "$work/boot.log" "consumer: \{ok,1.4142135623730951\}"
expect "$work/boot.log" "consumer: \{ok,285\}"

say "2. the release with its Python moved to another prefix"
prefix=$("$PYTHON" -c 'import sys; print(sys.base_prefix)')
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
moved="$work/moved-python"
mkdir -p "$moved/bin" "$moved/lib"
cp -a "$prefix/bin/python$version" "$moved/bin/"
cp -a "$prefix"/lib/libpython"$version"*.so* "$moved/lib/"
tar -C "$prefix/lib" --exclude="python$version/site-packages" --exclude="python$version/test" \
    -cf - "python$version" | tar -C "$moved/lib" -xf -
ERLANG_PYTHON_PYTHON="$moved/bin/python$version" CONSUMER_CHECK=1 "$rel" foreground > "$work/moved.log" 2>&1 \
    || { cat "$work/moved.log" >&2; fail "release boot with the moved Python"; }
expect "$work/moved.log" "consumer: \{ok,1.4142135623730951\}"
expect "$work/moved.log" "consumer: libpython $moved/lib/libpython$version"
if grep -q "consumer: libpython $prefix/" "$work/moved.log"; then
    fail "the release loaded the build machine's libpython"
fi
if ERLANG_PYTHON_PYTHON=/nonexistent/python3 CONSUMER_CHECK=1 "$rel" foreground > "$work/missing.log" 2>&1; then
    fail "a release with a missing Python booted"
fi
expect "$work/missing.log" "python_not_found"
expect "$work/missing.log" "/nonexistent/python3"

rebar3=$(command -v rebar3)
export MIX_REBAR3="$rebar3"
mix_consumer() { # mix_consumer DIR DEP
    cp -r "$root/examples/consumers/mix" "$1"
    sed -i "s#@DEP@#$2#" "$1/mix.exs"
}

say "3. Mix, git dependency"
mix_consumer "$work/mix_git" "{:erlang_python, git: \"$url\", ref: \"$ref\"}"
(cd "$work/mix_git" && mix deps.get && mix compile && mix run -e 'Consumer.check()') > "$work/mix_git.log" 2>&1 \
    || { tail -40 "$work/mix_git.log" >&2; fail "mix git dependency"; }
expect "$work/mix_git.log" "consumer: \{:ok, 1.4142135623730951\}"
(cd "$work/mix_git" && MIX_ENV=prod mix release --overwrite --quiet) > "$work/mix_rel.log" 2>&1 \
    || { tail -40 "$work/mix_rel.log" >&2; fail "mix release"; }
"$work/mix_git/_build/prod/rel/consumer/bin/consumer" eval 'Consumer.check()' > "$work/mix_boot.log" 2>&1 \
    || { cat "$work/mix_boot.log" >&2; fail "mix release boot"; }
expect "$work/mix_boot.log" "consumer: \{:ok, 7\}"

say "4. Mix, path dependency"
mix_consumer "$work/mix_path" "{:erlang_python, path: \"$root\"}"
(cd "$work/mix_path" && CARGO_TARGET_DIR="$main_target" mix compile && mix run -e 'Consumer.check()') \
    > "$work/mix_path.log" 2>&1 || { tail -40 "$work/mix_path.log" >&2; fail "mix path dependency"; }
expect "$work/mix_path.log" "consumer: \{:ok, 7\}"

say "5. the hex package, unpacked into a rebar3 project"
(cd "$root" && OUT="$work/package" scripts/package.sh) > "$work/package.log" 2>&1 \
    || { cat "$work/package.log" >&2; fail "make package"; }
tarball=$(ls "$work"/package/erlang_python-*.tar)
cp -r "$root/examples/consumers/rebar3" "$work/pkg"
sed -i 's#^{deps, .*#{deps, [erlang_python]}.#' "$work/pkg/rebar.config"
mkdir -p "$work/pkg/_checkouts/erlang_python" "$work/unpack"
tar -C "$work/unpack" -xf "$tarball"
tar -C "$work/pkg/_checkouts/erlang_python" -xzf "$work/unpack/contents.tar.gz"
(cd "$work/pkg" && rebar3 compile) > "$work/pkg.log" 2>&1 || { tail -40 "$work/pkg.log" >&2; fail "package build"; }
(cd "$work/pkg" && erl -noshell -pa _build/default/lib/*/ebin _build/default/checkouts/*/ebin -eval 'application:ensure_all_started(consumer), consumer:check(), halt().') \
    > "$work/pkg_run.log" 2>&1 || { cat "$work/pkg_run.log" >&2; fail "package run"; }
expect "$work/pkg_run.log" "consumer: \{ok,1.4142135623730951\}"

say "all passed"
