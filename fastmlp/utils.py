"""Utilities, as Keras's ``keras.utils``: one-hot labels and global seeding."""

import random

import numpy as np

from ._validation import positive_int


def to_categorical(x, num_classes=None):
    """One-hot encode integer labels, as ``keras.utils.to_categorical``.

    Parameters
    ----------
    x : array_like of int
        Labels; a trailing dimension of 1 is squeezed.
    num_classes : int, optional
        Number of classes (default ``max(x) + 1``).

    Returns
    -------
    ndarray of float64, shape ``x.shape + (num_classes,)``
    """
    labels = np.asarray(x)
    if labels.size == 0:
        raise ValueError("to_categorical: x is empty.")
    if labels.dtype.kind not in "iub" and not (
            labels.dtype.kind == "f" and np.all(labels == np.round(labels))):
        raise ValueError(f"to_categorical: x must hold integer labels; got dtype {labels.dtype}.")
    labels = labels.astype(np.int64)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0; got {labels.min()}.")
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    num_classes = positive_int("to_categorical", "num_classes", num_classes)
    if labels.max() >= num_classes:
        raise ValueError(f"to_categorical: label {labels.max()} is out of range for "
                         f"num_classes={num_classes}.")
    out = np.zeros(labels.shape + (num_classes,), dtype=np.float64)
    np.put_along_axis(out, labels[..., None], 1.0, axis=-1)
    return out


def set_random_seed(seed):
    """Seed Python's ``random`` and NumPy's global RNG.

    Initializers draw their seeds from the first, ``fit`` its per-epoch shuffle
    seeds from the second.

    The same seed then gives bitwise-identical initial weights, shuffles and
    training results on the same machine and thread count.

    Parameters
    ----------
    seed : int
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative integer; got {seed!r}.")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
