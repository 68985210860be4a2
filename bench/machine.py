"""A description of the machine and library versions the benchmark ran on."""

from __future__ import annotations

import importlib.metadata
import os
import platform

import numpy as np

__all__ = ["machine_info", "format_machine"]


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _blas():
    """Build-time BLAS from numpy.show_config and run-time pools from threadpoolctl."""
    info = {}
    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_blas"] = f"{deps.get('name')} {deps.get('version')}"
    except Exception:  # noqa: BLE001 - show_config's layout varies by version
        info["numpy_blas"] = "unknown"
    try:
        import threadpoolctl

        info["threadpools"] = [
            f"{p.get('internal_api')} {p.get('version')} "
            f"({p.get('architecture')}, {p.get('num_threads')} threads)"
            for p in threadpoolctl.threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


def machine_info():
    """Return a JSON-serialisable dict describing this machine.

    Returns
    -------
    dict
        CPU model, logical and usable cores, load average, Python and
        library versions, and BLAS details.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    info = {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average": load,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    for dist in ("numba", "scipy", "torch", "keras", "jax", "fastmlp"):
        info[dist] = _version(dist)
    info.update(_blas())
    return info


def format_machine(info):
    """Render :func:`machine_info` as a few human-readable lines."""
    versions = ", ".join(f"{k} {info[k]}" for k in
                         ("python", "numpy", "numba", "scipy", "torch", "keras", "jax")
                         if info.get(k))
    pools = info.get("threadpools")
    pools = "; ".join(pools) if isinstance(pools, list) else pools
    return "\n".join([
        f"CPU      : {info['cpu']} ({info['usable_cores']} usable of "
        f"{info['logical_cores']} logical cores), load average {info['load_average']}",
        f"Platform : {info['platform']}",
        f"Versions : {versions}",
        f"BLAS     : numpy built with {info['numpy_blas']}; runtime: {pools}",
    ])
