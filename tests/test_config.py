"""fastmlp.config: float type, epsilon and thread settings."""

import os
import subprocess
import sys

import numba
import pytest

import fastmlp


def test_floatx_and_epsilon_defaults_and_checks(restore_config):
    assert fastmlp.config.floatx() == "float32" and fastmlp.config.epsilon() == 1e-7
    with pytest.raises(ValueError, match="set_floatx: value must be one of"):
        fastmlp.config.set_floatx("float16")
    with pytest.raises(ValueError, match="set_epsilon: value must be a positive number"):
        fastmlp.config.set_epsilon(0)
    fastmlp.config.set_floatx("float64")
    fastmlp.config.reset()
    assert fastmlp.config.floatx() == "float32"


def test_set_num_threads_sets_the_blas_and_numba_threads(restore_config):
    fastmlp.config.set_num_threads(1)
    assert fastmlp.config.get_num_threads() == 1
    assert numba.get_num_threads() == 1
    fastmlp.config.set_num_threads(os.cpu_count())
    assert fastmlp.config.get_num_threads() == os.cpu_count()
    assert numba.get_num_threads() == min(os.cpu_count(), numba.config.NUMBA_NUM_THREADS)
    for bad in (0, os.cpu_count() + 1, 1.5, True):
        with pytest.raises(ValueError, match="set_num_threads: n must be an integer"):
            fastmlp.config.set_num_threads(bad)


def test_numba_num_threads_environment_variable_sets_the_threads():
    code = "import fastmlp; print(fastmlp.config.get_num_threads())"
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "1"
