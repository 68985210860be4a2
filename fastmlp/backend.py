"""Keras-1/2 style backend ops (``import fastmlp.backend as K``), names and variables.

The ops work on NumPy arrays, so custom metrics such as
``def mean_pred(y_true, y_pred): return K.mean(y_pred)`` run unchanged.
"""

import collections
import re

import numpy as np

from . import config

_name_counts = collections.Counter()


def snake_case(name):
    """``"Dense"`` -> ``"dense"``, ``"BatchNorm"`` -> ``"batch_norm"``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def unique_name(prefix):
    """Keras auto-naming: ``prefix``, then ``prefix_1``, ``prefix_2``, ..."""
    count = _name_counts[prefix]
    _name_counts[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def clear_session():
    """Reset auto-naming, so the next model is ``"sequential"`` with ``"dense"`` again."""
    _name_counts.clear()


def epsilon():
    """Fuzz factor (1e-7 by default)."""
    return config.epsilon()


def floatx():
    """Default float type name."""
    return config.floatx()


def set_floatx(value):
    """Set the default float type name (``"float32"`` or ``"float64"``)."""
    config.set_floatx(value)


class Variable:
    """A named model variable: a live view into the model's flat parameter buffer.

    Parameters
    ----------
    value : ndarray
        The view.
    name : str
        Short name (``"kernel"``, ``"bias"``).
    path : str
        Scoped name, e.g. ``"sequential/dense/kernel"``.
    """

    def __init__(self, value, name, path):
        self.value = value
        self.name = name
        self.path = path

    shape = property(lambda self: self.value.shape, doc="Shape of the variable.")
    dtype = property(lambda self: self.value.dtype.name, doc="dtype name of the variable.")
    size = property(lambda self: self.value.size, doc="Number of values.")
    ndim = property(lambda self: self.value.ndim, doc="Rank of the variable.")

    def numpy(self):
        """Return a copy of the current values."""
        return self.value.copy()

    def assign(self, value):
        """Overwrite the values in place (shape must match)."""
        value = np.asarray(value)
        if value.shape != self.shape:
            raise ValueError(f"Variable {self.path}: cannot assign an array of shape "
                             f"{value.shape} to a variable of shape {self.shape}.")
        self.value[...] = value

    def __array__(self, dtype=None, copy=None):
        return self.numpy() if dtype is None else self.numpy().astype(dtype)

    def __repr__(self):
        return (f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}, "
                f"value={self.value}>")


def _array(x):
    return np.asarray(x)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (all axes by default)."""
    return np.mean(_array(x), axis=axis, keepdims=keepdims)


def sum(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Sum over ``axis``."""
    return np.sum(_array(x), axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """Maximum over ``axis``."""
    return np.max(_array(x), axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """Minimum over ``axis``."""
    return np.min(_array(x), axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    """Standard deviation over ``axis``."""
    return np.std(_array(x), axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False):
    """Variance over ``axis``."""
    return np.var(_array(x), axis=axis, keepdims=keepdims)


def abs(x):  # noqa: A001
    """Elementwise absolute value."""
    return np.abs(_array(x))


def square(x):
    """Elementwise square."""
    return np.square(_array(x))


def sqrt(x):
    """Elementwise square root."""
    return np.sqrt(_array(x))


def exp(x):
    """Elementwise exponential."""
    return np.exp(_array(x))


def log(x):
    """Elementwise natural logarithm."""
    return np.log(_array(x))


def pow(x, a):  # noqa: A001
    """Elementwise power."""
    return np.power(_array(x), a)


def clip(x, min_value, max_value):
    """Clip values to ``[min_value, max_value]``."""
    return np.clip(_array(x), min_value, max_value)


def round(x):  # noqa: A001
    """Round half to even, as Keras does."""
    return np.round(_array(x))


def cast(x, dtype):
    """Convert to ``dtype``."""
    return _array(x).astype(dtype)


def equal(x, y):
    """Elementwise ``x == y``."""
    return np.equal(_array(x), _array(y))


def not_equal(x, y):
    """Elementwise ``x != y``."""
    return np.not_equal(_array(x), _array(y))


def greater(x, y):
    """Elementwise ``x > y``."""
    return np.greater(_array(x), _array(y))


def less(x, y):
    """Elementwise ``x < y``."""
    return np.less(_array(x), _array(y))


def maximum(x, y):
    """Elementwise maximum."""
    return np.maximum(_array(x), _array(y))


def minimum(x, y):
    """Elementwise minimum."""
    return np.minimum(_array(x), _array(y))


def argmax(x, axis=-1):
    """Index of the maximum along ``axis`` (last by default)."""
    return np.argmax(_array(x), axis=axis)


def argmin(x, axis=-1):
    """Index of the minimum along ``axis`` (last by default)."""
    return np.argmin(_array(x), axis=axis)


def ones_like(x):
    """Array of ones shaped like ``x``."""
    return np.ones_like(_array(x))


def zeros_like(x):
    """Array of zeros shaped like ``x``."""
    return np.zeros_like(_array(x))


def flatten(x):
    """Flatten to one dimension."""
    return _array(x).reshape(-1)
