#!/usr/bin/env python3
"""Import circles among the top-level modules of each crate.

A module `a` depends on `b` when its source (comments and `#[cfg(test)]`
parts left out) names `crate::b` (or `super::b` from a submodule). Every
strongly connected component of more than one module is a circle. The
circles listed in KNOWN are allowed, each with its reason; the check
fails on any other. Run:

    scripts/check-rust-cycles.py            (every crate under crates/)
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# crate -> circles allowed for now (each a set of module names).
KNOWN = {
    # A codec and the term model it encodes: one concern in two files.
    "py-convert": [{"etf", "model"}],
}


def modules(src):
    found = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)[:-3].replace(os.sep, "::")
            if rel.endswith("::mod"):
                rel = rel[: -len("::mod")]
            if rel in ("lib", "main") or rel.startswith("bin::"):
                continue
            with open(path) as fh:
                found[rel] = fh.read()
    return found


def edges(found):
    top = {name.split("::")[0] for name in found}
    out = {}
    for name, text in found.items():
        here = name.split("::")[0]
        text = re.sub(r"//.*", "", text).split("#[cfg(test)]")[0]
        used = set(re.findall(r"crate::(\w+)", text))
        if "::" in name:
            used |= set(re.findall(r"super::(\w+)", text))
        out.setdefault(here, set()).update(u for u in used if u in top and u != here)
    return out


def circles(graph):
    index, low, stack, on, result, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def main():
    failed = False
    crates = sorted(os.listdir(os.path.join(ROOT, "crates")))
    for crate in crates:
        src = os.path.join(ROOT, "crates", crate, "src")
        if not os.path.isdir(src):
            continue
        found = circles(edges(modules(src)))
        allowed = KNOWN.get(crate, [])
        for c in found:
            if not any(c <= a for a in allowed):
                print(f"check-rust-cycles: {crate}: new import circle {sorted(c)}")
                failed = True
        shown = ", ".join(str(sorted(c)) for c in found) or "none"
        print(f"check-rust-cycles: {crate}: circles {shown}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
