"""Peak memory of fitting a large array: ``python -m bench.memory``.

Each measurement runs in a fresh subprocess that

1. imports the library and warms it up on a tiny problem (so compilation
   is done and its memory is part of the baseline),
2. records its current RSS (the *baseline*),
3. creates a float32 ``(rows, features)`` array and a ``(rows, 1)`` target
   (no float64 temporaries),
4. fits ``Dense(16, relu) -> Dense(1, sigmoid)`` (RMSprop, binary
   crossentropy, batch 256) for one epoch, and
5. reports its peak RSS (``VmHWM``; see :func:`_peak_bytes` for why not
   ``ru_maxrss``, which is reported too).

The headline ratio is ``peak RSS / (data + model bytes)`` (target < 1.3);
``(peak - baseline) / (data + model)`` shows how much of that the fit itself
added on top of the interpreter and libraries.

A last row, the *Numba floor*, is what any Numba program holds before its data:
a fresh process that imports NumPy and Numba and calls one trivial cached
``@njit`` function (its second run, so the kernel loads from the cache). Added
to the same data and model, it is the lowest ratio a Numba-based library can
reach here.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

from bench._child import run_python

__all__ = ["run_memory", "measure"]

ROWS, FEATURES, BATCH = 1_000_000, 100, 256
TARGET_RATIO = 1.3


def _rss_bytes():
    """Current resident set size, from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_bytes():
    """Peak RSS of this process.

    ``VmHWM`` from /proc/self/status where available: unlike ``ru_maxrss``
    it belongs to the process's own address space, so it does not inherit
    the RSS of a large parent that spawned it (Linux carries the parent's
    high-water mark into ``ru_maxrss`` across fork/exec).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _numba_floor():
    """RSS after importing NumPy and Numba and calling one cached ``@njit`` function."""
    import numba

    @numba.njit(cache=True)
    def add_one(value):
        return value + 1.0

    add_one(1.0)
    return {"baseline_rss_bytes": _rss_bytes(), "peak_rss_bytes": _peak_bytes()}


def measure(system, rows=ROWS, features=FEATURES, shuffle=False):
    """Run one measurement in *this* process (called inside the subprocess).

    Parameters
    ----------
    system : str
        ``"fastmlp"``, ``"numpy"`` (the reference; no shuffling) or
        ``"numba-floor"`` (no data, no fit: see :func:`_numba_floor`).
    rows, features : int
        Data size.
    shuffle : bool
        Passed to fastmlp's ``fit``.

    Returns
    -------
    dict
        Byte counts, ratios and the fit time.
    """
    import resource
    import time

    import numpy as np

    if system == "numba-floor":
        return _numba_floor()
    layers = [(16, "relu"), (1, "sigmoid")]
    rng = np.random.default_rng(0)

    if system == "fastmlp":
        import fastmlp

        def build():
            model = fastmlp.Sequential(
                [fastmlp.Input((features,))]
                + [fastmlp.layers.Dense(u, activation=a) for u, a in layers])
            model.compile(optimizer=fastmlp.optimizers.RMSprop(), loss="binary_crossentropy")
            return model

        def fit(model, x, y):
            model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=shuffle, verbose=0)

        def n_params(model):
            return sum(np.asarray(w).nbytes for w in model.get_weights())
    else:
        from bench.numpy_mlp import NumpyMLP, RMSprop

        def build():
            return NumpyMLP(features, layers, "binary_crossentropy", RMSprop())

        def fit(model, x, y):
            model.fit(x, y, batch_size=BATCH, epochs=1)

        def n_params(model):
            return sum(w.nbytes for w in model.get_weights())

    warm = build()
    xs = rng.random((3 * BATCH + 7, features), dtype=np.float32)
    fit(warm, xs, (xs[:, :1] > 0.5).astype(np.float32))
    del warm, xs

    baseline = _rss_bytes()
    peak_before = _peak_bytes()
    x = rng.random((rows, features), dtype=np.float32)
    y = np.empty((rows, 1), np.float32)
    np.greater(x[:, :1], 0.5, out=y, casting="unsafe")
    model = build()
    t0 = time.perf_counter()
    fit(model, x, y)
    fit_seconds = time.perf_counter() - t0
    peak = _peak_bytes()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    data_model = x.nbytes + y.nbytes + n_params(model)
    return {"data_bytes": x.nbytes + y.nbytes, "model_bytes": n_params(model),
            "baseline_rss_bytes": baseline, "peak_before_data_bytes": peak_before,
            "peak_rss_bytes": peak, "ru_maxrss_bytes": maxrss, "fit_seconds": fit_seconds,
            "ratio": peak / data_model, "excess_ratio": (peak - baseline) / data_model}


def _add_megabytes(res):
    """Add the ``*_mb`` fields the table prints to a successful result."""
    mb = 1 / 2**20
    res.update(peak_rss_mb=res["peak_rss_bytes"] * mb,
               baseline_rss_mb=res["baseline_rss_bytes"] * mb,
               data_model_mb=(res["data_bytes"] + res["model_bytes"]) * mb)
    return res


def _child(system, rows, features, shuffle, timeout=300, name=None, env=None):
    """Run :func:`measure` in a subprocess and return its result dict."""
    args = ["-m", "bench.memory", "--child", system, "--rows", str(rows),
            "--features", str(features)] + (["--shuffle"] if shuffle else [])
    res = run_python(name or f"{system} shuffle={shuffle}", args, env=env, timeout=timeout)
    if res["status"] == "ok" and system != "numba-floor":
        _add_megabytes(res)
    return res


def _numba_floor_run(rows, features, reference):
    """The Numba floor as a table row, with ``reference``'s data and model added."""
    with tempfile.TemporaryDirectory() as cache_dir:
        env = {"NUMBA_CACHE_DIR": cache_dir}
        _child("numba-floor", rows, features, False, env=env)  # fills the cache
        res = _child("numba-floor", rows, features, False, env=env,
                     name="Numba floor (no fit)")
    if res["status"] != "ok":
        return res
    data_model = reference["data_bytes"] + reference["model_bytes"]
    floor = res["baseline_rss_bytes"]
    res.update(data_bytes=reference["data_bytes"], model_bytes=reference["model_bytes"],
               peak_rss_bytes=floor + data_model, ratio=(floor + data_model) / data_model,
               note="imports + one cached @njit call; peak = that + data + model")
    return _add_megabytes(res)


def run_memory(systems=("fastmlp", "numpy"), rows=ROWS, features=FEATURES):
    """Measure fastmlp (with and without shuffling) and optionally the reference.

    Returns
    -------
    dict
        ``{"description", "target_ratio", "runs": [...]}``.
    """
    runs = []
    if "fastmlp" in systems:
        runs.append(_child("fastmlp", rows, features, shuffle=False))
        runs.append(_child("fastmlp", rows, features, shuffle=True))
    if "numpy" in systems:
        runs.append(_child("numpy", rows, features, shuffle=False))
    if runs and runs[0].get("status") == "ok":
        runs.append(_numba_floor_run(rows, features, runs[0]))
    return {"description": f"fit {rows:,}x{features} float32, Dense(16 relu) -> "
                           f"Dense(1 sigmoid), RMSprop, batch {BATCH}, 1 epoch; peak RSS "
                           "of a fresh process",
            "target_ratio": TARGET_RATIO, "runs": runs}


def main(argv=None):
    """Command line: ``python -m bench.memory [--rows N] [--features D] [--json PATH]``."""
    p = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=ROWS)
    p.add_argument("--features", type=int, default=FEATURES)
    p.add_argument("--systems", default="fastmlp,numpy")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--shuffle", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.rows, args.features, args.shuffle)))
        return 0
    from bench.report import memory_table, write_json

    res = run_memory(args.systems.split(","), args.rows, args.features)
    print(memory_table(res))
    for r in res["runs"]:
        if r.get("status") == "ok" and r["name"].startswith("fastmlp"):
            verdict = "PASS" if r["ratio"] < TARGET_RATIO else "FAIL"
            print(f"{r['name']}: {r['ratio']:.2f}x (target < {TARGET_RATIO}) {verdict}")
    if args.json:
        write_json(res, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
