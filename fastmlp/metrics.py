"""Metrics, as Keras's ``keras.metrics``: compiled built-ins and Python functions.

Built-in metrics are summed per sample inside the compiled epoch. A metric given
as a Python function ``f(y_true, y_pred)`` (written with ``fastmlp.backend`` ops)
is the one slower path: the epoch stores its pre-update predictions and ``f`` is
called once per batch afterwards, averaged as Keras averages it (per sample when
``f`` returns one value per sample, per batch when it returns a scalar).
"""

import numpy as np

from . import losses
from .kernels import scalar
from ._validation import positive_int, unknown_name


class Metric:
    """A built-in metric: kernel kind, integer and float parameter, and its name."""

    kind = None

    def __init__(self, name):
        self.name = name

    def table_row(self):
        """Return ``(kind, iparam, fparam)`` for the kernel's metric table."""
        return self.kind, 0, 0.0


class BinaryAccuracy(Metric):
    """Share of entries where ``y_pred > threshold`` equals ``y_true``."""

    kind = scalar.BINARY_ACCURACY

    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(name)
        self.threshold = float(threshold)

    def table_row(self):
        return self.kind, 0, self.threshold


class CategoricalAccuracy(Metric):
    """Share of rows where ``argmax(y_pred) == argmax(y_true)``."""

    kind = scalar.CATEGORICAL_ACCURACY

    def __init__(self, name="categorical_accuracy"):
        super().__init__(name)


class SparseCategoricalAccuracy(Metric):
    """Share of rows where ``argmax(y_pred)`` equals the integer label."""

    kind = scalar.SPARSE_CATEGORICAL_ACCURACY

    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(name)


class TopKCategoricalAccuracy(Metric):
    """Share of rows whose target class is among the ``k`` largest predictions."""

    kind = scalar.TOP_K_CATEGORICAL_ACCURACY

    def __init__(self, k=5, name="top_k_categorical_accuracy"):
        super().__init__(name)
        self.k = positive_int(type(self).__name__, "k", k)

    def table_row(self):
        return self.kind, self.k, 0.0


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """Top-k accuracy against integer labels."""

    kind = scalar.SPARSE_TOP_K_CATEGORICAL_ACCURACY

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy"):
        super().__init__(k, name)


class LossMetric(Metric):
    """A loss reported as a metric (mean of its per-sample values, unweighted)."""

    kind = scalar.LOSS_VALUE

    def __init__(self, loss, name=None):
        self.loss = losses.get(loss)
        super().__init__(name or self.loss.name)

    def table_row(self):
        return self.kind, self.loss.code, 1.0 if self.loss.from_logits else 0.0


def MeanSquaredError(name="mean_squared_error"):
    """Mean squared error as a metric."""
    return LossMetric(losses.MeanSquaredError(), name)


def MeanAbsoluteError(name="mean_absolute_error"):
    """Mean absolute error as a metric."""
    return LossMetric(losses.MeanAbsoluteError(), name)


class FunctionMetric:
    """A Python metric function, averaged as Keras's MeanMetricWrapper averages it."""

    def __init__(self, fn, name=None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "metric")

    def batch_value(self, y_true, y_pred):
        """Return ``(total, count)`` this batch adds to the running mean."""
        value = np.asarray(self.fn(y_true, y_pred), dtype=np.float64)
        if value.ndim == 0:
            return float(value), 1
        per_sample = value.reshape(value.shape[0], -1).mean(axis=1)
        return float(per_sample.sum()), per_sample.shape[0]


_BY_NAME = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
}
_LOSS_NAMES = ("binary_crossentropy", "categorical_crossentropy",
               "sparse_categorical_crossentropy", "huber")
ACCURACY_NAMES = ("accuracy", "acc")


def resolve_accuracy(name, y_ndim, y_last, output_width):
    """Pick Keras's accuracy for the string ``"accuracy"``/``"acc"`` from the shapes.

    Parameters
    ----------
    name : str
        The user's string, kept as the metric's name.
    y_ndim : int
        Rank of the targets as given.
    y_last : int
        Last dimension of the targets (1 for rank 1).
    output_width : int
        Width of the model's output.
    """
    if output_width == 1:
        return BinaryAccuracy(name)
    if y_ndim < 2 or (y_last == 1 and output_width > 1):
        return SparseCategoricalAccuracy(name)
    return CategoricalAccuracy(name)


def get(identifier):
    """Return a metric from a name, instance or function (``"accuracy"`` is resolved later).

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if isinstance(identifier, (Metric, FunctionMetric)):
        return identifier
    if isinstance(identifier, str):
        if identifier in ACCURACY_NAMES:
            return identifier
        if identifier in _BY_NAME:
            metric = _BY_NAME[identifier]()
        elif identifier in _LOSS_NAMES:
            metric = LossMetric(identifier)
        else:
            raise unknown_name("metric", identifier,
                               list(_BY_NAME) + list(_LOSS_NAMES) + list(ACCURACY_NAMES))
        metric.name = identifier
        return metric
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return FunctionMetric(identifier)
    raise unknown_name("metric", identifier, list(_BY_NAME) + list(ACCURACY_NAMES))
