#!/usr/bin/env python3
"""Raw CPython calls outside the files allowed to make them.

The crates call CPython through pyo3-ffi (pyo3's safe API cannot run in
sub-interpreters; see docs/architecture.md, "Decisions worth knowing").
Those raw calls stay in the few files of ALLOWED: the safe layer
`py_convert::capi` (with `pyobj.rs`), the conversion core (where a wrapper
would cost speed) and py-core's thread-state and interpreter lifecycle.
Every other file of `crates/*/src` goes through the layer. Tests, benches,
examples and fuzz targets may use pyo3-ffi directly (they test it).

A raw call is `ffi::Py...(`, `ffi::_Py...(` or the same through
`pyo3_ffi::`, a built-in exception object (`ffi::PyExc_...`), a bare
refcount macro (`Py_INCREF(`, `Py_DECREF(`, ...), or a `use pyo3_ffi::...`
that brings names into scope (anything but `use pyo3_ffi as ffi;`).
Comments are skipped. Every entry of ALLOWED must exist and be named in
docs/architecture.md. Run:

    scripts/check-ffi-layer.py
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Files (or directories, ending in "/") that may call pyo3-ffi directly.
# Keep it short, and keep docs/architecture.md's list the same.
ALLOWED = [
    # The safe layer itself and the owned reference it is built on.
    "crates/py-convert/src/capi/",
    "crates/py-convert/src/pyobj.rs",
    # The conversion core: the hot paths, where a wrapper would cost speed.
    "crates/py-convert/src/to_python.rs",
    "crates/py-convert/src/from_python.rs",
    "crates/py-convert/src/pytypes.rs",
    "crates/py-convert/src/intcache.rs",
    # Thread states, interpreters and their lifecycle.
    "crates/py-core/src/interp.rs",
    "crates/py-core/src/runtime.rs",
    "crates/py-core/src/interrupt.rs",
    "crates/py-core/src/release.rs",
]

RAW = [
    re.compile(r"\b(?:ffi|pyo3_ffi)::_?Py\w*\s*\("),
    re.compile(r"\b(?:ffi|pyo3_ffi)::PyExc_\w+"),
    re.compile(r"(?<![\w:])Py_(?:X?INCREF|X?DECREF|IncRef|DecRef|CLEAR|SETREF)\s*\("),
    re.compile(r"\buse\s+pyo3_ffi::"),
]


def allowed(path):
    return any(path == a or (a.endswith("/") and path.startswith(a)) for a in ALLOWED)


def code_of(line):
    """The line without its `//` comment (strings holding `//` are rare
    enough here not to matter)."""
    stripped = line.lstrip()
    if stripped.startswith("//"):
        return ""
    i = line.find("//")
    return line if i < 0 else line[:i]


def main():
    problems = []
    checked = 0
    crates = os.path.join(ROOT, "crates")
    for crate in sorted(os.listdir(crates)):
        src = os.path.join(crates, crate, "src")
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for f in sorted(files):
                if not f.endswith(".rs"):
                    continue
                path = os.path.relpath(os.path.join(root, f), ROOT)
                checked += 1
                if allowed(path):
                    continue
                with open(os.path.join(ROOT, path)) as fh:
                    for number, line in enumerate(fh, 1):
                        code = code_of(line)
                        if any(r.search(code) for r in RAW):
                            problems.append(f"{path}:{number}: raw CPython call outside the layer: {line.strip()}")
    with open(os.path.join(ROOT, "docs", "architecture.md")) as fh:
        text = fh.read()
    start = text.find("- **pyo3-ffi")
    end = text.find("\n- **", start + 1)
    doc = text[start:end] if start >= 0 else ""
    for a in ALLOWED:
        if not os.path.exists(os.path.join(ROOT, a)):
            problems.append(f"scripts/check-ffi-layer.py: allowed `{a}` does not exist")
        name = a.rstrip("/").split("/")[-1] if a.endswith("/") else a.split("/")[-1]
        if f"`{a}`" not in doc and f"`{name}`" not in doc and f"`{name}/`" not in doc:
            problems.append(f"docs/architecture.md: allowed `{a}` is not named in the pyo3-ffi decision")
    for p in problems:
        print(p)
    print(f"check-ffi-layer: {checked} files checked, {len(ALLOWED)} allowed to call pyo3-ffi, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
