#!/usr/bin/env python3
"""Fails when docs/architecture.md names a file that does not exist.

Paths are taken from backticks: `crates/py-core/src/runtime.rs` is checked
from the repository root; a bare name after it in the same line
(`interp.rs`) is looked for in that path's directory first. A name that is
not found that way (or comes first on its line) must be the tail of some
file of the repository's sources (`python/channel.py`, `enif.rs`).
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTENSIONS = (".rs", ".erl", ".hrl", ".py", ".md", ".pyi", ".escript", ".sh", ".edoc")


def source_files():
    found = []
    for top in ("crates", "src", "priv", "scripts", "docs", "examples", "benches", "test"):
        for root, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if d not in ("target", "_build", "_venv", "deps")]
            found.extend(os.path.relpath(os.path.join(root, f), ROOT) for f in files)
    return found


def main():
    sources = source_files()
    doc = os.path.join(ROOT, "docs", "architecture.md")
    missing = []
    checked = 0
    with open(doc) as fh:
        for number, line in enumerate(fh, 1):
            base = None
            for token in re.findall(r"`([^`\s]+)`", line):
                token = token.rstrip(",")
                if not token.endswith(EXTENSIONS) or "(" in token:
                    continue
                if token.startswith(("crates/", "src/", "docs/", "priv/", "test/", "scripts/", "examples/", "benches/")):
                    path = token
                    base = os.path.dirname(token)
                elif base is not None:
                    path = os.path.join(base, token)
                    if not os.path.exists(os.path.join(ROOT, path)) and "/src" in base:
                        # `python/x.py` after `crates/c/src/y.rs`
                        path = os.path.join(base.split("/src")[0] + "/src", token)
                else:
                    path = token
                checked += 1
                if token.startswith("../"):
                    missing.append(f"docs/architecture.md:{number}: `{token}` points outside the repository")
                    continue
                if not os.path.exists(os.path.join(ROOT, path)) and not any(
                    f == token or f.endswith("/" + token) for f in sources
                ):
                    missing.append(f"docs/architecture.md:{number}: `{token}` ({path}) does not exist")
    for m in missing:
        print(m)
    print(f"check-doc-map: {checked} file names checked, {len(missing)} missing")
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()
