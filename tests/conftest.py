"""Shared fixtures: float64 mode, fresh auto-naming, restored global settings, fresh
processes on one disk cache."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastmlp


@pytest.fixture
def float64():
    """Run the test with ``floatx == "float64"``; restore every default afterwards."""
    fastmlp.config.set_floatx("float64")
    try:
        yield np.float64
    finally:
        fastmlp.config.reset()


@pytest.fixture
def fresh_session():
    """Reset Keras-style auto-naming before the test (next model is ``"sequential"``)."""
    fastmlp.backend.clear_session()
    yield
    fastmlp.backend.clear_session()


@pytest.fixture
def restore_config():
    """Restore every ``fastmlp.config`` default after the test, whatever it changed."""
    try:
        yield
    finally:
        fastmlp.config.reset()


@pytest.fixture(params=["tiny", "general"])
def training_path(request, monkeypatch):
    """Run the test through both training paths of the compiled driver.

    Models whose layers are all at most ``fastmlp.engine.TINY_UNITS`` wide (with
    common activations) take the tiny path: one-pass dense kernels and the update
    inlined into the step. ``"general"`` sets the limit to 0 so that the same small
    model takes the general kernels.
    """
    if request.param == "general":
        monkeypatch.setattr(fastmlp.engine, "TINY_UNITS", 0)
    return request.param


@pytest.fixture
def run_twice_on_one_cache(tmp_path):
    """A function that runs a Python script in two fresh processes, one after the
    other, sharing a new Numba disk cache (the first compiles into it, the second loads
    from it), with the test modules importable; it returns their standard outputs.

    Its arguments: the script's source, ``timeout`` in seconds for each process (600
    unless given), and environment variables to set as keywords.
    """

    def run(source, timeout=600, **environment):
        script = tmp_path / "script.py"
        script.write_text(source)
        env = {**os.environ, **environment, "NUMBA_CACHE_DIR": str(tmp_path / "numba_cache"),
               "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__),
                                              os.environ.get("PYTHONPATH", "")])}
        outputs = []
        for _ in range(2):
            done = subprocess.run([sys.executable, str(script)], capture_output=True,
                                  text=True, timeout=timeout, cwd=tmp_path, env=env)
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout)
        return outputs

    return run
