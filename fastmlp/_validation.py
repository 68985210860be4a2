"""Every user-facing check of arguments and data, with messages that say how to fix it.

Messages name the caller and the argument, state the rule, and echo what was received:
``Dense: units must be a positive integer; got units=0.``
"""

import numbers

import numpy as np

from .kernels.cpu import first_non_finite


def positive_int(owner, name, value):
    """Return ``value`` as an int, or raise ValueError unless it is an integer >= 1.

    Parameters
    ----------
    owner : str
        Who is checking (``"Dense"``, ``"fit"``), shown first in the message.
    name : str
        The argument's name.
    value : object
        What was received.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer; got {name}={value!r}.")
    return int(value)


def non_negative_int(owner, name, value):
    """Return ``value`` as an int, or raise ValueError unless it is an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{owner}: {name} must be a non-negative integer; got {name}={value!r}.")
    return int(value)


def number_in(owner, name, value, low, high, low_open=False, high_open=False):
    """Return ``value`` as a float, or raise ValueError unless it lies in the given interval.

    Parameters
    ----------
    owner, name, value
        As in :func:`positive_int`.
    low, high : float
        Bounds (``None`` for unbounded).
    low_open, high_open : bool
        Whether each bound is excluded.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(
            f"{owner}: {name} must be a number in {left}{lo}, {hi}{right}; got {name}={value!r}."
        )
    return float(value)


def _numeric_array(owner, name, value, dtype, ndim_choices):
    """``value`` as a C-contiguous array of ``dtype``, once its type, rank and size are checked."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{owner}: {name} could not be read as an array ({error}).") from None
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
    ):
        raise TypeError(
            f"{owner}: {name} must hold numbers; got an array of dtype {array.dtype} "
            f"(shape {array.shape}). Convert strings or mixed columns to numbers first."
        )
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{owner}: {name} must hold real numbers; got dtype {array.dtype}.")
    if array.ndim not in ndim_choices:
        allowed = " or ".join(f"{d}-D" for d in ndim_choices)
        raise ValueError(
            f"{owner}: {name} must be a {allowed} array; got shape {array.shape}."
        )
    if array.size == 0 or array.shape[0] == 0:
        raise ValueError(f"{owner}: {name} is empty (shape {array.shape}); pass at least one row.")
    return np.ascontiguousarray(array, dtype=dtype)


def float_array(owner, name, value, dtype, ndim_choices=(1, 2), finite=True):
    """Convert ``value`` to a C-contiguous float array of ``dtype`` after checking it.

    The array must be numeric, non-empty, finite and of an allowed rank. An array
    that already has the right dtype and layout is returned as is (no copy).

    Parameters
    ----------
    owner, name : str
        Caller and argument name for messages.
    value : array_like
        Lists, int arrays and float arrays are accepted.
    dtype : numpy.dtype
        Target float type.
    ndim_choices : tuple of int
        Allowed ranks.
    finite : bool
        Check that every value is finite. Pass False where a compiled pass checks
        the values as it reads them; it reports with :func:`non_finite_error`.
    """
    if value is None:
        raise ValueError(f"{owner}: {name} is required; got {name}=None.")
    if isinstance(value, np.ndarray) and value.dtype == dtype and value.ndim in ndim_choices \
            and value.size and value.flags.c_contiguous:
        array = value  # already right: only the finiteness check remains
    else:
        array = _numeric_array(owner, name, value, dtype, ndim_choices)
    error = non_finite_error(owner, name, array) if finite else None
    if error is not None:
        raise error
    return array


def non_finite_error(owner, name, array):
    """The ValueError that names the first NaN or infinity in ``array``, or None.

    Parameters
    ----------
    owner, name : str
        Caller and argument name for the message.
    array : ndarray
        C-contiguous.
    """
    flat_index = first_non_finite(array.reshape(-1))
    if flat_index < 0:
        return None
    bad = np.unravel_index(flat_index, array.shape)
    where = ", ".join(str(int(i)) for i in bad)
    return ValueError(
        f"{owner}: {name} contains NaN or infinity (first at index [{where}]: "
        f"{array[bad]}); remove or impute those values."
    )


def same_length(owner, names_and_arrays):
    """Raise ValueError unless every array has as many rows as the first."""
    (first_name, first), *rest = names_and_arrays
    for name, array in rest:
        if array.shape[0] != first.shape[0]:
            raise ValueError(
                f"{owner}: {first_name} and {name} must have the same number of rows; "
                f"got {first.shape[0]} and {array.shape[0]}."
            )


def unknown_name(kind, value, known):
    """Return the ValueError for an unknown ``kind`` name, listing the known ones."""
    return ValueError(f"Unknown {kind}: {value!r}. Known {kind}s: {', '.join(sorted(known))}.")
