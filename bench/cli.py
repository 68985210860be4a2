"""Command line of the benchmark suite: ``python -m bench``.

Examples
--------
::

    python -m bench                          # everything (about 4 minutes)
    python -m bench --only xor,small --repeat 5
    python -m bench --only mnist-shape,wide --json out.json --markdown out.md --plot out.png
    python -m bench --systems fastmlp,numpy,blas-floor --threads 1
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
import traceback

import numpy as np

from bench import report
from bench.machine import format_machine, machine_info
from bench.systems import SYSTEM_NAMES, make_systems
from bench.workloads import select_workloads

__all__ = ["main", "run_benchmarks", "run_workload"]


def _error_row(system, label, exc):
    msg = f"error: {type(exc).__name__}: {exc}".replace("\n", " ")
    if len(msg) > 90:
        msg = msg[:87] + "..."
    return {"system": system, "label": label, "status": "error", "message": msg,
            "traceback": traceback.format_exc()}


def _max_abs_diff(a, b):
    """Largest absolute difference between two arrays or lists of arrays."""
    if a is None or b is None:
        return None
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return float("inf")
        return max(_max_abs_diff(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def run_workload(workload, systems, repeat=1, max_seconds=30.0):
    """Prepare every system, then time ``repeat`` interleaved rounds.

    Parameters
    ----------
    workload : bench.workloads.Workload
        What to run.
    systems : list
        Adapters from :func:`bench.systems.make_systems`.
    repeat : int
        Rounds; each system's best time is kept.  Rounds visit every system
        in turn so background load affects all of them alike.
    max_seconds : float
        A system whose timed runs have taken this long in total gets no
        further rounds (so a slow system cannot stall the suite).

    Returns
    -------
    dict
        The workload entry of the results (see :mod:`bench.report`).
    """
    x, y = workload.make_data()
    weights = workload.initial_weights()
    rows, ready = {}, []
    for s in systems:
        reason = s.unavailable()
        if reason:
            rows[s.name] = {"system": s.name, "label": s.name, "status": "skipped",
                            "message": reason}
            continue
        try:
            warm = s.prepare(workload, x, y, weights)
        except Exception as exc:  # noqa: BLE001 - report, don't crash the suite
            rows[s.name] = _error_row(s.name, s.name, exc)
            continue
        rows[s.name] = {"system": s.name, "label": s.label(), "status": "ok",
                        "warmup_seconds": warm, "seconds": None, "runs": 0}
        ready.append(s)
    spent = {s.name: 0.0 for s in ready}
    for _ in range(repeat):
        for s in list(ready):
            row = rows[s.name]
            if row["runs"] and spent[s.name] > max_seconds:
                continue  # slow system: keep what we have
            t0 = time.perf_counter()
            try:
                res = s.run()
            except Exception as exc:  # noqa: BLE001
                rows[s.name] = _error_row(s.name, row["label"], exc)
                ready.remove(s)
                continue
            spent[s.name] += time.perf_counter() - t0
            row["runs"] += 1
            if row["seconds"] is None or res["seconds"] < row["seconds"]:
                row.update(seconds=res["seconds"], note=res.get("note", ""),
                           loss=res.get("loss"))
                row["_result"] = res
    # Derived columns.
    fm = rows.get("fastmlp")
    fm_t = fm["seconds"] if fm and fm["status"] == "ok" else None
    floor = rows.get("blas-floor")
    floor_t = floor["seconds"] if floor and floor["status"] == "ok" else None
    ref = rows.get("numpy")
    ref_res = ref.get("_result") if ref and ref["status"] == "ok" else None
    for row in rows.values():
        res = row.pop("_result", None)
        if row["status"] != "ok":
            continue
        if row["runs"] < repeat:
            extra = f"{row['runs']} of {repeat} runs (time cap)"
            row["note"] = f"{row['note']}; {extra}" if row["note"] else extra
        row["speedup"] = row["seconds"] / fm_t if fm_t else None
        row["ratio_to_floor"] = row["seconds"] / floor_t if floor_t else None
        if ref_res is not None and res is not None and row["system"] != "numpy":
            key = "weights" if workload.kind == "fit" else "output"
            row["max_abs_diff"] = _max_abs_diff(res.get(key), ref_res.get(key))
    return {"name": workload.name, "description": workload.short(), "kind": workload.kind,
            "steps": workload.steps if workload.kind == "fit" else None,
            "targets": workload.targets,
            "systems": [rows[s.name] for s in systems]}


def run_benchmarks(only=None, repeat=1, system_names=SYSTEM_NAMES, threads=None,
                   keras_max_steps=320, max_seconds=10.0, log=print):
    """Run the selected workloads (plus memory and start-up) and return results.

    Parameters
    ----------
    only : str or None
        Comma-separated workload names (prefixes allowed; ``memory`` and
        ``startup`` select those benchmarks); everything when None.
    repeat : int
        Best of this many timed runs.
    system_names : sequence of str
        Systems to compare.
    threads : int or None
        Thread count for every system, or None for each library's default.
    keras_max_steps : int
        Keras is timed on at most this many optimizer steps, extrapolated.
    max_seconds : float
        No further repeats for a system once its timed runs of a workload
        have taken this long in total.
    log : callable
        Where to print tables as they complete.
    """
    started = time.perf_counter()
    systems = make_systems(system_names, keras_max_steps=keras_max_steps)
    for s in systems:
        if threads and s.unavailable() is None:
            try:
                s.set_threads(threads)
            except Exception as exc:  # noqa: BLE001
                log(f"note: could not set threads for {s.name}: {exc}")
    info = machine_info()  # after set_threads, so the BLAS pools show the limits
    log(format_machine(info))
    load, cores = info["load_average"], info["usable_cores"] or 1
    if load and load[0] > 0.5 * cores:
        log(f"warning: the machine is busy (1-minute load {load[0]} on {cores} cores); "
            "multi-threaded timings can be erratic. Ratios are measured in the same run; "
            "--threads 1 gives steadier numbers.")
    log("")
    results = {"machine": info,
               "settings": {"repeat": repeat, "threads": threads,
                            "systems": list(system_names),
                            "keras_max_steps": keras_max_steps,
                            "max_seconds": max_seconds},
               "workloads": [], "memory": None, "startup": None}
    for w in select_workloads(only):
        entry = run_workload(w, systems, repeat=repeat, max_seconds=max_seconds)
        results["workloads"].append(entry)
        log(report.workload_table(entry))
        log("")
    names = {s.strip() for s in (only or "memory,startup").split(",")}
    if "memory" in names:
        from bench.memory import run_memory

        results["memory"] = run_memory(systems=["fastmlp", "numpy"]
                                       if "numpy" in system_names else ["fastmlp"])
        log(report.memory_table(results["memory"]))
        log("")
    if "startup" in names:
        from bench.startup import run_startup

        results["startup"] = run_startup(repeat=max(1, repeat))
        log(report.startup_table(results["startup"]))
        log("")
    results["targets"] = report.evaluate_targets(results)
    if results["targets"]:
        log(report.targets_table(results["targets"]))
    results["machine"]["load_average_after"] = machine_info()["load_average"]
    results["total_seconds"] = time.perf_counter() - started
    log(f"\nload average before/after: {info['load_average']} / "
        f"{results['machine']['load_average_after']}; "
        f"total {results['total_seconds']:.0f} s")
    return results


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _parser(prog):
    examples = textwrap.indent(textwrap.dedent(__doc__.split("::", 1)[1]).strip(), "  ")
    p = _Parser(
        prog=prog,
        description="Benchmark fastmlp against a NumPy reference, the BLAS floor, "
                    "PyTorch and Keras (when installed).",
        epilog="examples:\n" + examples.replace("python -m bench", prog),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", metavar="NAMES",
                   help="comma-separated workloads: xor, small, mnist-shape, wide, "
                        "predict (= predict-1row,predict-10k), memory, startup")
    p.add_argument("--repeat", type=int, default=10, metavar="N",
                   help="best of N timed runs (default 10)")
    p.add_argument("--systems", default=",".join(SYSTEM_NAMES),
                   help=f"comma-separated subset of {','.join(SYSTEM_NAMES)}")
    p.add_argument("--threads", type=int, metavar="N",
                   help="thread count for every system (default: each library's own)")
    p.add_argument("--keras-steps", type=int, default=320, metavar="N",
                   help="time Keras on at most N optimizer steps and extrapolate "
                        "(default 320)")
    p.add_argument("--max-seconds", type=float, default=10.0, metavar="S",
                   help="stop repeating a system on a workload once its timed runs took "
                        "S seconds in total (default 10)")
    p.add_argument("--json", metavar="PATH", help="write all results as JSON")
    p.add_argument("--markdown", metavar="PATH", help="write a Markdown report")
    p.add_argument("--plot", metavar="PATH", help="write a bar chart PNG (needs matplotlib)")
    return p


def main(argv=None, prog="python -m bench"):
    """Entry point; returns the process exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).
    prog : str
        Command name shown in help and error messages.
    """
    args = _parser(prog).parse_args(argv)
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    bad = [n for n in names if n not in SYSTEM_NAMES]
    if bad:
        print(f"{prog}: error: unknown system(s) {', '.join(bad)}; known: "
              f"{', '.join(SYSTEM_NAMES)}", file=sys.stderr)
        return 2
    try:
        select_workloads(args.only)
    except ValueError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    from fastmlp.saving import unwritable  # the check the fastmlp command uses

    for option in ("json", "markdown", "plot"):
        path = getattr(args, option)
        if not path:
            continue
        problem = unwritable(path)
        if problem:
            print(f"{prog}: error: --{option}: {problem.rstrip('.')}", file=sys.stderr)
            return 2
    results = run_benchmarks(only=args.only, repeat=max(1, args.repeat), system_names=names,
                             threads=args.threads, keras_max_steps=args.keras_steps,
                             max_seconds=args.max_seconds)
    if args.json:
        report.write_json(results, args.json)
        print(f"wrote {args.json}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report.to_markdown(results))
        print(f"wrote {args.markdown}")
    if args.plot:
        problem = report.write_plot(results, args.plot)
        print(problem or f"wrote {args.plot}")
    return 0
