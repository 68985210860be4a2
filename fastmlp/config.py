"""Library-wide defaults in one place: float type, epsilon, threads, kernel flags.

Examples
--------
>>> import fastmlp
>>> fastmlp.config.set_floatx("float64")
>>> fastmlp.config.floatx()
'float64'
>>> fastmlp.config.reset()
"""

import os

import numba
import numpy as np

_DEFAULT_FLOATX = "float32"
_DEFAULT_EPSILON = 1e-7
_FLOATX_CHOICES = ("float32", "float64")

_state = {"floatx": _DEFAULT_FLOATX, "epsilon": _DEFAULT_EPSILON}



def floatx():
    """Return the default float type name for parameters and data ("float32" or "float64")."""
    return _state["floatx"]


def set_floatx(value):
    """Set the default float type for models built from now on.

    Parameters
    ----------
    value : {"float32", "float64"}
        The float type name.
    """
    if value not in _FLOATX_CHOICES:
        raise ValueError(
            f"set_floatx: value must be one of {list(_FLOATX_CHOICES)}; got {value!r}."
        )
    _state["floatx"] = value


def float_dtype():
    """Return the NumPy dtype that matches :func:`floatx`."""
    return np.dtype(_state["floatx"])


def epsilon():
    """Return the fuzz factor used by optimizers and probability clipping (Keras: 1e-7)."""
    return _state["epsilon"]


def set_epsilon(value):
    """Set the fuzz factor returned by :func:`epsilon`.

    Parameters
    ----------
    value : float
        A positive number.
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"set_epsilon: value must be a positive number; got {value!r}.")
    _state["epsilon"] = float(value)


def _blas_libraries():
    """The BLAS thread pools of this process, including the one Numba's ``np.dot`` calls."""
    import scipy.linalg.cython_blas  # noqa: F401 - loads the BLAS that Numba's np.dot uses
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


def set_num_threads(n):
    """Set how many threads the matrix products use: BLAS's, and Numba's where the
    products run split over Numba's threads (see ``fastmlp/kernels/threaded.py``).

    The kernels around the products are single-threaded and vectorised (see
    ``fastmlp/kernels/cpu.py`` for the measurements behind this).
    ``NUMBA_NUM_THREADS`` in the environment sets the same at import, and bounds
    ``n`` for Numba's threads.

    Parameters
    ----------
    n : int
        Number of threads, from 1 to the number of CPUs.
    """
    limit = os.cpu_count() or 1
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= limit:
        raise ValueError(
            f"set_num_threads: n must be an integer from 1 to {limit} (the number of "
            f"CPUs); got {n!r}."
        )
    _blas_libraries().limit(limits=int(n))
    try:
        numba.set_num_threads(min(int(n), numba.config.NUMBA_NUM_THREADS))
    except ValueError:
        pass  # no threading layer of Numba's can start here; BLAS's threads are set


def get_num_threads():
    """Return the number of threads the matrix products use."""
    return max(lib.num_threads for lib in _blas_libraries().lib_controllers)


def reset():
    """Restore every default: float32, epsilon 1e-7, threads as at start-up."""
    _state["floatx"] = _DEFAULT_FLOATX
    _state["epsilon"] = _DEFAULT_EPSILON
    set_num_threads(_startup_threads())


def _startup_threads():
    """Threads at start-up: ``NUMBA_NUM_THREADS`` if set, else every CPU."""
    return min(numba.config.NUMBA_NUM_THREADS, os.cpu_count() or 1)


if "NUMBA_NUM_THREADS" in os.environ:
    # Numba's own threads already follow the variable.
    _blas_libraries().limit(limits=_startup_threads())
