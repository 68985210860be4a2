"""Library-wide defaults in one place: float type, epsilon, threads, kernel flags.

Examples
--------
>>> import fastmlp
>>> fastmlp.config.set_floatx("float64")
>>> fastmlp.config.floatx()
'float64'
>>> fastmlp.config.reset()
"""

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


def set_num_threads(n):
    """Set how many threads the parallel kernels use (at most NUMBA_NUM_THREADS).

    Parameters
    ----------
    n : int
        Number of threads, from 1 to ``numba.config.NUMBA_NUM_THREADS``.
    """
    limit = numba.config.NUMBA_NUM_THREADS
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= limit:
        raise ValueError(
            f"set_num_threads: n must be an integer from 1 to {limit} "
            f"(NUMBA_NUM_THREADS); got {n!r}."
        )
    numba.set_num_threads(int(n))


def get_num_threads():
    """Return the number of threads the parallel kernels use."""
    return numba.get_num_threads()


def reset():
    """Restore every default: float32, epsilon 1e-7, all available threads."""
    _state["floatx"] = _DEFAULT_FLOATX
    _state["epsilon"] = _DEFAULT_EPSILON
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
