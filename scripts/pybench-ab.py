#!/usr/bin/env python3
"""Summarise an A/B pybench run made by scripts/pybench-ab.sh.

    scripts/pybench-ab.py OUT_DIR

OUT_DIR holds before-<r>.json and after-<r>.json, as written by the shared
harness (/work/shared/bench/pybench.escript): {"environment": {...},
"results": [{"id", "group", "name", "unit", "samples", "median", "min",
"max", "status", "notes"}, ...]}. Rows are matched by (id, name). For each
row and side the table shows the median over rounds of the per-run medians,
and the min-max of those per-run medians. The ratio is after/before. Units
per second and the speedup factor "x" are higher-is-better; times (us/..., ms
...) are lower-is-better.

Standard library only.
"""

from __future__ import annotations

import glob
import json
import os
import re
import statistics
import sys

SIDES = ("before", "after")


def better_direction(unit: str) -> str:
    u = unit.strip().lower()
    if u.endswith("/s") or u == "x":
        return "higher"
    if u.startswith(("us", "µs", "ms", "ns", "s/", "s ")):
        return "lower"
    return "?"


def fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}".replace(",", " ")
    if a >= 100:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def load(out: str):
    """{side: {round: data}} and a list of problems (unreadable files)."""
    runs: dict[str, dict[int, dict]] = {s: {} for s in SIDES}
    problems = []
    for side in SIDES:
        for path in glob.glob(os.path.join(out, f"{side}-*.json")):
            m = re.fullmatch(rf"{side}-(\d+)\.json", os.path.basename(path))
            if not m:
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    runs[side][int(m.group(1))] = json.load(f)
            except (OSError, ValueError) as e:
                problems.append(f"{path}: {e}")
    return runs, problems


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not os.path.isdir(argv[1]):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 1
    out = argv[1]
    runs, problems = load(out)
    rounds = sorted(set(runs["before"]) | set(runs["after"]))
    # Also count rounds whose JSON is missing (failed runs).
    for log in glob.glob(os.path.join(out, "*-*.log")):
        m = re.fullmatch(r"(before|after)-(\d+)\.log", os.path.basename(log))
        if m and int(m.group(2)) not in rounds:
            rounds.append(int(m.group(2)))
    rounds.sort()
    if not rounds:
        print(f"no runs in {out}", file=sys.stderr)
        return 1

    # key (id, name) -> {"unit", "order", side: [per-run medians], "na": [...]}
    rows: dict[tuple[str, str], dict] = {}
    order = 0
    for side in SIDES:
        for r in sorted(runs[side]):
            for res in runs[side][r].get("results", []):
                key = (str(res.get("id")), res.get("name", ""))
                row = rows.get(key)
                if row is None:
                    row = rows[key] = {"unit": res.get("unit", ""), "order": order,
                                       "before": [], "after": [], "na": []}
                    order += 1
                if not row["unit"] and res.get("unit"):
                    row["unit"] = res["unit"]
                if res.get("status") == "ok" and res.get("median") is not None:
                    row[side].append(float(res["median"]))
                else:
                    row["na"].append(f"{side}-{r}: {res.get('notes', '')}")

    # Environment per side (which library and Python each run used).
    print(f"A/B pybench: {out}")
    for side in SIDES:
        envs = [runs[side][r].get("environment", {}) for r in sorted(runs[side])]
        missing = [r for r in rounds if r not in runs[side]]
        if envs:
            e = envs[0]
            beams = sorted({x.get("py_beam", "?") for x in envs})
            pys = sorted({x.get("python_version", "?").split()[0] for x in envs})
            print(f"  {side:6}: {len(envs)}/{len(rounds)} runs ok; py.beam {', '.join(beams)}; "
                  f"Python {', '.join(pys)}; vsn {e.get('library_vsn', '?')}; "
                  f"reps {e.get('reps')}, scale {e.get('scale')}")
        else:
            print(f"  {side:6}: no successful run")
        if missing:
            print(f"  {side:6}: no JSON for round(s) {', '.join(map(str, missing))} (see the logs)")
    print("  values: median over rounds of each run's median; range: min-max of those medians;")
    print("  ratio: after/before (below 1 is better for 'lower', above 1 for 'higher')")
    print()

    header = ["id", "benchmark", "unit", "better", "runs", "before", "before range",
              "after", "after range", "after/before", "after is", "ranges"]
    table = []
    for (bid, name), row in sorted(rows.items(), key=lambda kv: kv[1]["order"]):
        b, a = row["before"], row["after"]
        if not b and not a:
            continue
        direction = better_direction(row["unit"])
        mb = statistics.median(b) if b else None
        ma = statistics.median(a) if a else None
        ratio = ma / mb if (mb and ma is not None) else None
        if ratio is None or direction == "?":
            verdict = ""
        elif abs(ratio - 1) < 0.005:
            verdict = "same"
        elif (ratio < 1) == (direction == "lower"):
            verdict = "better"
        else:
            verdict = "worse"
        if b and a:
            overlap = "overlap" if max(min(b), min(a)) <= min(max(b), max(a)) else "disjoint"
        else:
            overlap = ""
        table.append([
            bid, name, row["unit"], direction, f"{len(b)}/{len(a)}",
            fmt(mb), f"{fmt(min(b))}-{fmt(max(b))}" if b else "n/a",
            fmt(ma), f"{fmt(min(a))}-{fmt(max(a))}" if a else "n/a",
            f"{ratio:.3f}" if ratio is not None else "n/a", verdict, overlap,
        ])
    if table:
        widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
        numeric = {4, 5, 6, 7, 8, 9}

        def line(cells):
            return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        print(line(header))
        print(line(["-" * w for w in widths]))
        for r in table:
            print(line(r))
    else:
        print("no benchmark rows with data")

    na = [(k, row["na"]) for k, row in sorted(rows.items(), key=lambda kv: kv[1]["order"]) if row["na"]]
    if na:
        print()
        print("n/a rows:")
        for (bid, name), notes in na:
            for n in notes:
                print(f"  {bid} {name}: {n}")
    if problems:
        print()
        print("unreadable files:")
        for p in problems:
            print(f"  {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
