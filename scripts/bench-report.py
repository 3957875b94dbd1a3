#!/usr/bin/env python3
"""Write docs/performance.md and its charts from a pybench run.

    scripts/bench-report.py [--results _build/pybench.json]
                            [--reference benches/erlang/reference.json]
                            [--out docs/performance.md] [--img-dir docs/img]

The results are the JSON that benches/erlang/pybench.escript writes
(`make pybench` puts it in _build/pybench.json); the reference is the C
library's figures in the same row format. Rows are matched by their `key`.
`make bench-report` runs the harness at full scale and then this script
with a Python that has matplotlib (a venv under _build/bench-venv).

Needs matplotlib (Agg backend, no display). Exits with status 2 and says how
to get it when it is missing.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Sections of the report: (title, ids, chart file or None, chart title).
SECTIONS = [
    ("Latency", ["a", "c", "g", "h", "j", "k"], "latency.png",
     "Latency per operation (µs, lower is better)"),
    ("Throughput", ["b", "f", "i"], "throughput.png",
     "Throughput (per second, higher is better)"),
    ("Conversion", ["d1", "d2", "d3"], "conversion.png",
     "Conversion cost per call (ms, lower is better)"),
    ("CPU-bound work and parallelism", ["e"], None, None),
]

# Short labels for the charts.
SHORT = {
    "a.sqrt": "a  call math.sqrt",
    "a.tiny": "a  call tiny(1)",
    "b.1": "b  tiny(1), 1 proc",
    "b.2": "b  tiny(1), 2 procs",
    "b.8": "b  tiny(1), 8 procs",
    "b.64": "b  tiny(1), 64 procs",
    "c": "c  eval 1+1",
    "d1.oneway": "d1 100k-int list, to Python",
    "d1.roundtrip": "d1 100k-int list, round trip",
    "d2.oneway": "d2 10k-key map, to Python",
    "d2.roundtrip": "d2 10k-key map, round trip",
    "d3.oneway": "d3 1 MiB binary, to Python",
    "d3.roundtrip": "d3 1 MiB binary, round trip",
    "f.prefill": "f  channel, prefill+drain",
    "f.concurrent": "f  channel, concurrent",
    "g.single": "g  spawn_call+await",
    "g.pipelined": "g  spawn_call x100",
    "h": "h  call with kwargs",
    "i": "i  cast completion",
    "j.set": "j  shared_dict_set",
    "j.get": "j  shared_dict_get",
    "k": "k  exec",
}

OURS_COLOUR = "#2b7bba"
REF_COLOUR = "#bbbbbb"


def die(message: str, status: int = 1) -> None:
    print(f"bench-report: {message}", file=sys.stderr)
    sys.exit(status)


def need_matplotlib():
    try:
        import matplotlib
    except ImportError:
        die(
            f"matplotlib is not installed for {sys.executable}.\n"
            "  Use a virtual environment, never the system Python:\n"
            "    python3 -m venv _build/bench-venv && _build/bench-venv/bin/pip install matplotlib\n"
            "    _build/bench-venv/bin/python scripts/bench-report.py ...\n"
            "  (`make bench-report` does this for you.)",
            status=2,
        )
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return matplotlib, plt


def load_rows(path: str, what: str) -> tuple[dict, dict[str, dict]]:
    """(meta, {key: row}) from a pybench JSON document or a bare row list."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        hint = " (run `make pybench` first)" if what == "results" else ""
        die(f"{what} file {path} not found{hint}")
    except json.JSONDecodeError as e:
        die(f"{what} file {path} is not valid JSON: {e}")
    if isinstance(doc, list):
        meta, rows = {}, doc
    elif isinstance(doc, dict) and isinstance(doc.get("rows"), list):
        meta, rows = doc.get("meta") or {}, doc["rows"]
    else:
        die(f"{what} file {path}: expected a list of rows or an object with a 'rows' list")
    by_key = {}
    for row in rows:
        if not isinstance(row, dict) or "id" not in row:
            die(f"{what} file {path}: a row without an id: {row!r}")
        by_key[row.get("key") or row["id"]] = row
    return meta, by_key


def higher_is_better(unit: str) -> bool:
    return unit.endswith("/s") or unit == "x"


def pretty_unit(unit: str) -> str:
    return "µs" + unit[2:] if unit.startswith("us") else unit


def value(row: dict | None):
    if not row:
        return None
    v = row.get("median")
    return v if isinstance(v, (int, float)) and row.get("status", "ok") == "ok" else None


def fmt(x) -> str:
    if x is None:
        return "n/a"
    a = abs(x)
    if a >= 1000:
        return f"{round(x):,}".replace(",", " ")
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a >= 0.01:
        return f"{x:.3f}"
    return f"{x:.3g}"


def missing_text(row: dict | None) -> str:
    if row is None:
        return "not run"
    return row.get("result") or "n/a"


def comparison(ours: dict | None, ref: dict | None) -> tuple[str, str]:
    """(ours/C ratio, verdict)."""
    o, r = value(ours), value(ref)
    if o is not None and r is None and ref is not None:
        return "–", f"C library: {missing_text(ref)}"
    if o is None or r is None or o == 0 or r == 0:
        return "–", ""
    ratio = o / r
    better = ratio if higher_is_better((ours or ref)["unit"]) else 1 / ratio
    if 0.95 <= better <= 1.05:
        verdict = "about the same"
    elif better > 1:
        verdict = f"{better:.2g}× better" if better < 10 else f"{better:.0f}× better"
    else:
        verdict = f"{1 / better:.2g}× worse" if 1 / better < 10 else f"{1 / better:.0f}× worse"
    return f"{ratio:.3g}", verdict


def cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def ordered_keys(ids: list[str], ours: dict, ref: dict) -> list[str]:
    keys = []
    for source in (ref, ours):
        for key, row in source.items():
            if row["id"] in ids and key not in keys:
                keys.append(key)
    return sorted(keys, key=lambda k: ids.index((ref.get(k) or ours.get(k))["id"]))


def table(ids: list[str], ours: dict, ref: dict) -> list[str]:
    lines = [
        "| id | benchmark | unit | ours (median) | ours (min–max) | C library | ours / C | |",
        "|----|-----------|------|--------------:|---------------:|----------:|---------:|-|",
    ]
    for key in ordered_keys(ids, ours, ref):
        o, r = ours.get(key), ref.get(key)
        row = o or r
        ov = value(o)
        spread = f"{fmt(o['min'])}–{fmt(o['max'])}" if ov is not None else ""
        ratio, verdict = comparison(o, r)
        ours_text = fmt(ov) if ov is not None else missing_text(o)
        ref_text = fmt(value(r)) if value(r) is not None else missing_text(r)
        lines.append(
            f"| {row['id']} | {cell(row['name'])} | {pretty_unit(row['unit'])} | {ours_text} "
            f"| {spread} | {ref_text} | {ratio} | {verdict} |"
        )
    notes = [(k, ours[k].get("note")) for k in ordered_keys(ids, ours, ref)
             if k in ours and ours[k].get("note") and value(ours[k]) is None]
    if notes:
        lines.append("")
        lines.extend(f"- `{k}` n/a: {cell(n)}" for k, n in notes)
    return lines


def chart(plt, path: str, title: str, ids: list[str], ours: dict, ref: dict) -> bool:
    keys = [k for k in ordered_keys(ids, ours, ref) if (ours.get(k) or ref.get(k))["unit"] != "x"]
    if not keys:
        return False
    labels = [SHORT.get(k, (ours.get(k) or ref.get(k))["name"]) for k in keys]
    ov = [value(ours.get(k)) for k in keys]
    rv = [value(ref.get(k)) for k in keys]
    present = [v for v in ov + rv if v]
    if not present:
        return False
    # The axis covers the whiskers (our min-max) too.
    spread = [ours[k][m] for k in keys if value(ours.get(k)) is not None
              for m in ("min", "max") if isinstance(ours[k].get(m), (int, float)) and ours[k][m] > 0]
    lo, hi = min(present + spread), max(present + spread)
    log = hi / lo > 20

    height = 0.38
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(keys) + 1.6))
    ys = list(range(len(keys)))
    base = lo / 3 if log else 0

    def bars(values, offset, colour, label, rows):
        widths = [v if v is not None else 0 for v in values]
        err_lo, err_hi = [], []
        for v, row in zip(values, rows):
            if v is not None and row and isinstance(row.get("min"), (int, float)) \
                    and isinstance(row.get("max"), (int, float)):
                err_lo.append(max(0.0, v - row["min"]))
                err_hi.append(max(0.0, row["max"] - v))
            else:
                err_lo.append(0.0)
                err_hi.append(0.0)
        pos = [y + offset for y in ys]
        whiskers = [err_lo, err_hi] if any(err_lo) or any(err_hi) else None
        ax.barh(pos, [w - base if w else 0 for w in widths], left=base, height=height,
                color=colour, label=label, xerr=whiskers,
                error_kw={"ecolor": "#555555", "capsize": 2, "lw": 0.8})
        for y, v, e, row in zip(pos, values, err_hi, rows):
            if v is not None:
                end = v + e
                x, text, colour = (end * 1.05 if log else end + hi * 0.01), fmt(v), "#222222"
            else:
                x, text, colour = (base * 1.1 if log else hi * 0.01), missing_text(row), "#b00020"
            ax.text(x, y, text, va="center", fontsize=8, color=colour)

    bars(ov, -height / 2, OURS_COLOUR, "this project (Rust)", [ours.get(k) for k in keys])
    bars(rv, height / 2, REF_COLOUR, "C library (reference)", [ref.get(k) for k in keys])

    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=9)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
        ax.set_xlim(base, hi * 6)
        ax.set_xlabel("log scale; whiskers: min–max of our repetitions", fontsize=8)
    else:
        ax.set_xlim(0, hi * 1.3)
        ax.set_xlabel("whiskers: min–max of our repetitions", fontsize=8)
    ax.set_title(title, fontsize=11, pad=24)
    ax.grid(axis="x", which="major", alpha=0.3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return True


def env_lines(meta: dict, ref_meta: dict) -> list[str]:
    def get(key, default="unknown"):
        v = meta.get(key)
        return default if v in (None, "") else v

    lines = [
        f"- Run started: {get('date')}" + (f" ({meta['label']})" if meta.get("label") else ""),
        f"- Library: erlang_python {get('library_vsn')}, execution mode {get('execution_mode')}",
        f"- Python: {get('python_version')}",
        f"- Erlang/OTP {get('otp_release')} (erts {get('erts_version')}), {get('os')}",
        f"- Machine: {get('cpu_model')}, {get('logical_processors')} logical processors, "
        f"{get('schedulers')} schedulers; load average at start {get('loadavg_at_start')}",
        f"- Harness: scale {get('scale')}, {get('reps')} repetitions per row after a warm-up, "
        f"{get('total_seconds')} s in all",
    ]
    if ref_meta:
        lines.append(
            f"- C library: {ref_meta.get('library', 'reference')}, Python "
            f"{ref_meta.get('python_version', '?')}, OTP {ref_meta.get('otp_release', '?')}, "
            f"{ref_meta.get('machine', '')}; {ref_meta.get('method', '')}"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default=os.path.join(ROOT, "_build", "pybench.json"))
    ap.add_argument("--reference", default=os.path.join(ROOT, "benches", "erlang", "reference.json"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "performance.md"))
    ap.add_argument("--img-dir", default=None, help="default: img/ next to --out")
    args = ap.parse_args()

    _, plt = need_matplotlib()
    meta, ours = load_rows(args.results, "results")
    ref_meta, ref = load_rows(args.reference, "reference")
    img_dir = args.img_dir or os.path.join(os.path.dirname(os.path.abspath(args.out)), "img")
    os.makedirs(img_dir, exist_ok=True)

    out = [
        "# Performance",
        "",
        "<!-- Generated by scripts/bench-report.py (`make bench-report`); edits are overwritten. -->",
        "",
        "The figures of `benches/erlang/pybench.escript` (benchmarks a to k) for this",
        "library, beside the C library's figures for the same workloads",
        "(`benches/erlang/reference.json`). Every benchmark runs in a fresh VM; a row",
        "is the median of its repetitions. *ours / C* is our median divided by the C",
        "library's; the last column says which way is better for that unit.",
        "",
        f"Report written {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        "## Machine and versions",
        "",
        *env_lines(meta, ref_meta),
        "",
        "The two columns come from different runs: the C library's from its own",
        "runs on a 2-vCPU VM (the shared benchmark notes), ours from the run above.",
        "On a small VM the benchmarks that hand work to a Python thread and back",
        "(a, b, c, g, h, i, k) are noisy and bimodal, by a factor of two or more",
        "from run to run; d and e are much steadier. Compare medians over several",
        "runs before reading much into a small difference.",
    ]
    scale = meta.get("scale")
    if isinstance(scale, (int, float)) and scale != 1:
        out += [
            "",
            f"**This run used `--scale {scale}`**: fewer operations per repetition than",
            "the C library's runs (scale 1), so its figures are noisier, and in e the",
            "number of calls per caller differs. Use `make bench-report` for a full run.",
        ]
    for title, ids, png, chart_title in SECTIONS:
        out += ["", f"## {title}", ""]
        if png and chart(plt, os.path.join(img_dir, png), chart_title, ids, ours, ref):
            rel = os.path.relpath(os.path.join(img_dir, png), os.path.dirname(os.path.abspath(args.out)))
            out += [f"![{chart_title}]({rel})", ""]
        out += table(ids, ours, ref)
    out += [
        "",
        "## What the benchmarks do",
        "",
        "- **a** `py:call(math, sqrt, [2.0])` in a loop, 20k calls per repetition (plus",
        "  p50/p99 of 5k individually timed calls); the same loop over `pybench_helpers.tiny(1)`.",
        "- **b** 1, 2, 8 and 64 Erlang processes calling `tiny(1)`, 20k calls in all per repetition.",
        "- **c** `py:eval(<<\"1+1\">>)`, 10k per repetition.",
        "- **d1–d3** a list of 100k integers, a map with 10k binary keys, a 1 MiB binary:",
        "  Erlang→Python only (`builtins.len`), and a round trip through an identity",
        "  function, checked equal.",
        "- **e** `sum(i*i for i in range(200000))`: one caller making 4 calls, then two",
        "  callers making 4 each; speedup `2*T1/T2` (1.0 serialized, 2.0 fully parallel).",
        "- **f** 50k messages `{msg, 12345, <<32 bytes>>}` through a `py_channel`: all sent",
        "  and the channel closed before Python drains it; and Python draining (through",
        "  `py:spawn_call`) while Erlang sends.",
        "- **g** `py:await(py:spawn_call(math, sqrt, [2.0]))` one at a time, and 100 spawned",
        "  before awaiting them.",
        "- **h** `py:call(pybench_helpers, kw, [1], #{b => 2})`.",
        "- **i** 2000 `py:cast` calls, timed until all have run (each appends a byte to a file).",
        "- **j** `py:shared_dict_set` / `py:shared_dict_get` of a small map.",
        "- **k** `py:exec(<<\"pybench_x = 1\">>)`.",
        "",
        "## Reproducing",
        "",
        "```sh",
        "make bench-report     # pybench at full scale, then this page and docs/img/*.png",
        "make pybench          # the table only (JSON in _build/pybench.json)",
        "",
        "# by hand, a subset, quicker:",
        "ERL_LIBS=_build/default/lib escript benches/erlang/pybench.escript \\",
        "    --only a,d,e --scale 0.2 --reps 3 --json /tmp/pybench.json",
        "_build/bench-venv/bin/python scripts/bench-report.py --results /tmp/pybench.json",
        "```",
        "",
    ]
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    print(f"bench-report: wrote {args.out} and charts in {img_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
