"""Tables, target checks, JSON, Markdown and a bar chart for benchmark results.

The results object is a plain dict (see :func:`bench.cli.run_benchmarks`)::

    {"machine": {...}, "settings": {...},
     "workloads": [{"name", "description", "kind", "systems": [row, ...]}, ...],
     "memory": {...} or None, "startup": {...} or None, "targets": [...]}

where a row has ``system``, ``label``, ``status`` (``ok``, ``error`` or
``skipped``), ``seconds``, ``warmup_seconds``, ``speedup`` (this system's
time over fastmlp's), ``ratio_to_floor``, ``max_abs_diff`` (final weights or
predictions against the NumPy reference), ``loss``, ``note`` and ``message``.
"""

from __future__ import annotations

import json
import math

__all__ = ["fmt_seconds", "workload_table", "memory_table", "startup_table",
           "evaluate_targets", "targets_table", "to_markdown", "write_json",
           "write_plot"]


def fmt_seconds(s):
    """Format a duration with a sensible unit (``12.3 us``, ``4.56 ms``, ``1.234 s``)."""
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.3f} s"


def _fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def _fmt_diff(d):
    return "-" if d is None else f"{d:.1e}"


def _rows(workload):
    """Cells of one workload's table (header first)."""
    fit = workload["kind"] == "fit"
    header = ["system", "time", "fastmlp speedup", "x BLAS floor", "first call"]
    header += ["final loss", "max|dw| vs numpy"] if fit else ["max|dy| vs numpy"]
    header.append("note")
    rows = [header]
    for r in workload["systems"]:
        if r["status"] != "ok":
            rows.append([r["label"], r["status"]] + [""] * (len(header) - 3) + [r["message"]])
            continue
        row = [r["label"], fmt_seconds(r["seconds"]), _fmt_ratio(r.get("speedup")),
               _fmt_ratio(r.get("ratio_to_floor")), fmt_seconds(r.get("warmup_seconds"))]
        if fit:
            row.append("-" if r.get("loss") is None else f"{r['loss']:.6f}")
        row += [_fmt_diff(r.get("max_abs_diff")), r.get("note") or ""]
        rows.append(row)
    return rows


def _text_table(rows):
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        cells = [str(c).ljust(w) for c, w in zip(row, widths)]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md_table(rows):
    esc = [[str(c).replace("|", "\\|") for c in row] for row in rows]
    lines = ["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(esc[0])]
    lines += ["| " + " | ".join(row) + " |" for row in esc[1:]]
    return "\n".join(lines)


def workload_table(workload):
    """Plain-text table for one workload, with a title line."""
    return f"== {workload['name']}: {workload['description']}\n" + _text_table(_rows(workload))


def _memory_rows(memory):
    rows = [["run", "peak RSS", "data + model", "peak / (data+model)",
             "baseline RSS", "(peak - baseline) / (data+model)", "fit time", "note"]]
    for r in memory["runs"]:
        if r.get("status") != "ok":
            rows.append([r["name"], r.get("message", "error"), "", "", "", "", "", ""])
            continue
        rows.append([r["name"], f"{r['peak_rss_mb']:.0f} MB", f"{r['data_model_mb']:.0f} MB",
                     f"{r['ratio']:.2f}x", f"{r['baseline_rss_mb']:.0f} MB",
                     f"{r['excess_ratio']:.2f}x" if "excess_ratio" in r else "-",
                     fmt_seconds(r.get("fit_seconds")),
                     r.get("note", "")])
    return rows


def memory_table(memory):
    """Plain-text table for the memory benchmark."""
    return f"== memory: {memory['description']}\n" + _text_table(_memory_rows(memory))


def _startup_rows(startup):
    rows = [["run", "wall", "import", "build+first fit", "fit (warm)", "note"]]
    for r in startup["runs"]:
        if r.get("status") != "ok":
            rows.append([r["name"], r.get("message", "error"), "", "", "", ""])
            continue
        rows.append([r["name"], fmt_seconds(r["wall_seconds"]),
                     fmt_seconds(r.get("import_seconds")),
                     fmt_seconds(r.get("first_fit_seconds")),
                     fmt_seconds(r.get("second_fit_seconds")), r.get("note", "")])
    return rows


def startup_table(startup):
    """Plain-text table for the start-up benchmark."""
    return f"== startup: {startup['description']}\n" + _text_table(_startup_rows(startup))


def _row(workload, system):
    for r in workload["systems"]:
        if r["system"] == system and r["status"] == "ok":
            return r
    return None


def evaluate_targets(results):
    """Check every target that applies to the workloads that ran.

    Returns
    -------
    list of dict
        ``{"target", "measured", "status"}`` with status ``pass``, ``fail``
        or ``n/a`` (a system needed for the check did not run).
    """
    checks = []
    for w in results["workloads"]:
        fm, ref, floor = _row(w, "fastmlp"), _row(w, "numpy"), _row(w, "blas-floor")
        t = w.get("targets", {})
        if "min_speedup_vs_numpy" in t:
            goal = t["min_speedup_vs_numpy"]
            ok = fm and ref
            val = ref["seconds"] / fm["seconds"] if ok else None
            checks.append({"target": f"{w['name']}: fastmlp >= {goal:g}x faster than numpy",
                           "measured": _fmt_ratio(val),
                           "status": "n/a" if not ok else ("pass" if val >= goal else "fail")})
        if "max_ratio_to_floor" in t:
            goal = t["max_ratio_to_floor"]
            ok = fm and floor
            val = fm["seconds"] / floor["seconds"] if ok else None
            checks.append({"target": f"{w['name']}: fastmlp within {goal:g}x of the BLAS floor",
                           "measured": _fmt_ratio(val),
                           "status": "n/a" if not ok else ("pass" if val <= goal else "fail")})
        if "max_seconds" in t:
            goal = t["max_seconds"]
            val = fm["seconds"] if fm else None
            checks.append({"target": f"{w['name']}: fastmlp <= {fmt_seconds(goal)}",
                           "measured": fmt_seconds(val),
                           "status": "n/a" if not fm else ("pass" if val <= goal else "fail")})
    mem = results.get("memory")
    if mem:
        goal = mem["target_ratio"]
        for r in mem["runs"]:
            if r["name"].startswith("fastmlp"):
                ok = r.get("status") == "ok"
                checks.append({"target": f"memory ({r['name']}): peak RSS < {goal:g}x data+model",
                               "measured": f"{r['ratio']:.2f}x" if ok else r.get("message", "-"),
                               "status": "n/a" if not ok else
                               ("pass" if r["ratio"] < goal else "fail")})
    st = results.get("startup")
    if st:
        goal = st["target_seconds"]
        warm = [r for r in st["runs"] if r["name"] == "fastmlp warm cache"]
        ok = bool(warm) and warm[0].get("status") == "ok"
        checks.append({"target": f"startup: second process (import + xor fit) <= {goal:g} s",
                       "measured": fmt_seconds(warm[0]["wall_seconds"]) if ok else "-",
                       "status": "n/a" if not ok else
                       ("pass" if warm[0]["wall_seconds"] <= goal else "fail")})
    return checks


def targets_table(checks):
    """Plain-text table of target checks."""
    rows = [["target", "measured", "status"]]
    rows += [[c["target"], c["measured"], c["status"].upper()] for c in checks]
    return "== targets\n" + _text_table(rows)


def to_markdown(results):
    """The whole report as a Markdown document."""
    from bench.machine import format_machine

    parts = ["# fastmlp benchmark", "", "```", format_machine(results["machine"]), "```", "",
             f"Settings: {json.dumps(results['settings'])}", "",
             "Times are the best of the repeats, measured after a warm-up call; "
             "*fastmlp speedup* is the system's time divided by fastmlp's, "
             "*x BLAS floor* the time divided by that of the bare matrix products.", ""]
    for w in results["workloads"]:
        parts += [f"## {w['name']}", "", w["description"], "", _md_table(_rows(w)), ""]
    if results.get("memory"):
        parts += ["## memory", "", results["memory"]["description"], "",
                  _md_table(_memory_rows(results["memory"])), ""]
    if results.get("startup"):
        parts += ["## startup", "", results["startup"]["description"], "",
                  _md_table(_startup_rows(results["startup"])), ""]
    if results.get("targets"):
        rows = [["target", "measured", "status"]]
        rows += [[c["target"], c["measured"], c["status"].upper()] for c in results["targets"]]
        parts += ["## targets", "", _md_table(rows), ""]
    return "\n".join(parts)


def write_json(results, path):
    """Write ``results`` as indented JSON."""
    with open(path, "w") as f:
        json.dump(results, f, indent=2, default=str)
        f.write("\n")


def write_plot(results, path):
    """Bar chart of every workload's times (one panel each) as a PNG.

    Returns
    -------
    str or None
        None on success, otherwise a message (e.g. matplotlib missing).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "--plot: matplotlib is not installed (pip install matplotlib); no plot written"
    panels = [w for w in results["workloads"]
              if any(r["status"] == "ok" for r in w["systems"])]
    if not panels:
        return "--plot: no successful measurements to plot"
    cols = min(3, len(panels))
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5.2 * cols, 3.2 * nrows), squeeze=False)
    for ax, w in zip(axes.flat, panels):
        ok = [r for r in w["systems"] if r["status"] == "ok"]
        names = [r["system"] for r in ok]
        secs = [r["seconds"] for r in ok]
        colors = ["tab:red" if n == "fastmlp" else "tab:gray" if n == "blas-floor"
                  else "tab:blue" for n in names]
        ax.barh(names, secs, color=colors)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_title(w["name"])
        ax.set_xlabel("seconds (log scale, lower is better)")
        for i, r in enumerate(ok):
            label = fmt_seconds(r["seconds"])
            if r.get("speedup") is not None and r["system"] != "fastmlp":
                label += f"  ({r['speedup']:.2g}x)"
            ax.text(r["seconds"], i, " " + label, va="center", fontsize=8)
        ax.margins(x=0.6)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle("fastmlp benchmark (in brackets: fastmlp speedup over the system)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
