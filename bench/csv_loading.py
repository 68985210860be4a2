"""Benchmark: fastmlp.data.read_csv against numpy.loadtxt on a numeric CSV.

Writes a numeric CSV file with a header (about 100 MB by default) into a
temporary directory, then loads it with each reader in a fresh process and
prints the throughput (MB/s), the ratio of the two, and the peak memory
allocated while loading (tracemalloc) relative to the final float32 array.

Usage::

    python bench/csv_loading.py [--size-mb 100] [--columns 10] [--fmt %.6f]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_csv(path, size_mb, n_columns, fmt, seed=0):
    """Write random normal numbers formatted with `fmt` until the file holds
    about `size_mb` megabytes; return the number of data rows."""
    rng = np.random.default_rng(seed)
    header = ",".join(f"x{j}" for j in range(n_columns))
    rows_per_block = 20_000
    n_rows = 0
    with open(path, "w") as f:
        f.write(header + "\n")
        while f.tell() < size_mb * 1e6:
            block = rng.standard_normal((rows_per_block, n_columns))
            np.savetxt(f, block, fmt=fmt, delimiter=",")
            n_rows += rows_per_block
    return n_rows


def load(reader, path, dtype):
    if reader == "loadtxt":
        return np.loadtxt(path, delimiter=",", skiprows=1, dtype=dtype)
    from fastmlp.data import read_csv

    # "compiled", since the warm-up file is too small for "auto" to compile the scanner.
    table = read_csv(path, dtype=dtype, engine="compiled")
    return table.columns


def measure(reader, path, dtype, repeat):
    """Run in a child process: time `repeat` loads, then one under tracemalloc."""
    with tempfile.TemporaryDirectory() as tmp:
        small = os.path.join(tmp, "warm.csv")
        with open(small, "w") as f:
            f.write("a,b\n1,2\n")
        start = time.perf_counter()
        load(reader, small, dtype)
        warmup = time.perf_counter() - start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        load(reader, path, dtype)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    load(reader, path, dtype)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds": min(times), "peak_bytes": peak, "warmup_seconds": warmup}


def run_child(reader, path, dtype, repeat):
    command = [sys.executable, __file__, "--child", reader, path, dtype, str(repeat)]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(result.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=100.0)
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--fmt", default="%.6f", help="printf format of the numbers")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        reader, path, dtype, repeat = args.child
        print(json.dumps(measure(reader, path, dtype, int(repeat))))
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "numbers.csv")
        start = time.perf_counter()
        n_rows = write_csv(path, args.size_mb, args.columns, args.fmt)
        size = os.path.getsize(path)
        final_bytes = n_rows * args.columns * 4
        print(
            f"file: {size / 1e6:.1f} MB, {n_rows} rows x {args.columns} columns, "
            f"fmt {args.fmt} (written in {time.perf_counter() - start:.1f} s)"
        )
        print(f"final float32 array: {final_bytes / 1e6:.1f} MB; loading as {args.dtype}")
        results = {}
        for reader in ("loadtxt", "read_csv"):
            results[reader] = r = run_child(reader, path, args.dtype, args.repeat)
            print(
                f"{reader:>9}: {size / 1e6 / r['seconds']:7.1f} MB/s "
                f"({r['seconds']:.2f} s, best of {args.repeat}), "
                f"peak memory {r['peak_bytes'] / 1e6:7.1f} MB = "
                f"{r['peak_bytes'] / final_bytes:.2f}x the float32 array "
                f"(first call on a tiny file: {r['warmup_seconds']:.2f} s)"
            )
        ratio = results["loadtxt"]["seconds"] / results["read_csv"]["seconds"]
        print(f"read_csv / loadtxt throughput ratio: {ratio:.2f}x")


if __name__ == "__main__":
    main()
