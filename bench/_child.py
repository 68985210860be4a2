"""Run a fresh Python process for the memory and start-up benchmarks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _exit_reason(code):
    """Describe a failed exit status, naming the signal of a killed process."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}, no output"


def run_python(name, args, env=None, timeout=600, need_json=True, source_root=REPO,
               prefix=(), drop_env=()):
    """Run ``python ARGS`` in ``source_root`` and parse its JSON line.

    Parameters
    ----------
    name : str
        Name of the run, copied into the result.
    args : list of str
        Interpreter arguments (e.g. ``["-c", code]``).
    env : dict, optional
        Extra environment variables; ``source_root`` is put first on
        ``PYTHONPATH`` so that its packages are imported.
    timeout : float
        Seconds before the child is killed.
    need_json : bool
        Treat a child that prints no JSON object as failed.
    source_root : str
        Directory holding the ``fastmlp`` package to import (default: this
        working tree); also the child's working directory.
    prefix : sequence of str
        Command words put before the interpreter (e.g. a namespace wrapper).
    drop_env : sequence of str
        Environment variables removed for the child.

    Returns
    -------
    dict
        The child's last stdout line that parses as a JSON object, plus
        ``name``, ``status`` (``ok`` or ``error``), ``wall_seconds`` and, on
        error, ``message`` and the tail of ``stderr``.
    """
    full_env = {k: v for k, v in os.environ.items() if k not in drop_env}
    full_env.update(env or {})
    full_env["PYTHONPATH"] = source_root + os.pathsep + os.environ.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([*prefix, sys.executable, *args], capture_output=True, text=True,
                              timeout=timeout, cwd=source_root, env=full_env)
    except subprocess.TimeoutExpired:
        return {"name": name, "status": "error",
                "message": f"error: timed out after {timeout} s"}
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or (need_json and not lines):
        last = (proc.stderr.strip().splitlines() or [_exit_reason(proc.returncode)])[-1]
        return {"name": name, "status": "error", "message": f"error: {last[:100]}",
                "stderr": proc.stderr[-4000:], "wall_seconds": wall}
    res = json.loads(lines[-1]) if lines else {}
    res.update(name=name, status="ok", wall_seconds=wall)
    return res
