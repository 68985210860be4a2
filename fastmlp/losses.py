"""Loss functions, as Keras's ``keras.losses``; each has a compiled value and gradient.

A loss passed to ``compile`` must be one of these (by name, class or instance): a
plain Python function has no gradient kernel and is refused with the list below.
Values follow Keras 3: probabilities clipped to ``[epsilon, 1 - epsilon]``,
categorical ones renormalised first, each sample reduced over the last axis, and
the batch value is the mean over samples ("sum_over_batch_size").
"""

import numpy as np

from . import config
from .kernels import scalar
from .kernels.cpu import loss_values
from ._validation import number_in, unknown_name


class Loss:
    """Base class of the built-in losses.

    Parameters
    ----------
    name : str
        The name Keras gives this loss.
    from_logits : bool
        Cross-entropies only: whether predictions are logits.
    """

    code = None
    sparse = False

    def __init__(self, name, from_logits=False):
        self.name = name
        self.from_logits = bool(from_logits)

    def parameters(self, dtype):
        """Kernel parameters ``[epsilon, 1 - epsilon, delta]`` in ``dtype``."""
        eps = np.asarray(config.epsilon(), dtype=dtype)
        return np.array([eps, np.asarray(1, dtype) - eps, getattr(self, "delta", 1.0)], dtype=dtype)

    def per_sample(self, y_true, y_pred):
        """Return the per-sample loss values of 2-D ``y_pred`` against ``y_true``."""
        dtype = config.float_dtype()
        y_pred = np.ascontiguousarray(np.atleast_2d(np.asarray(y_pred, dtype=dtype)))
        y_true = np.asarray(y_true, dtype=dtype).reshape(y_pred.shape[0], -1)
        out = np.empty(y_pred.shape[0], dtype=dtype)
        loss_values(self.code, self.from_logits, y_pred, np.ascontiguousarray(y_true),
                    self.parameters(dtype), out)
        return out

    def __call__(self, y_true, y_pred):
        """Return the batch loss: the mean of the per-sample values."""
        return self.per_sample(y_true, y_pred).mean(dtype=np.float64).astype(config.float_dtype())

    def get_config(self):
        """Return the constructor arguments."""
        config_dict = {"name": self.name}
        if self.code in (scalar.BINARY_CROSSENTROPY, scalar.CATEGORICAL_CROSSENTROPY,
                         scalar.SPARSE_CATEGORICAL_CROSSENTROPY):
            config_dict["from_logits"] = self.from_logits
        return config_dict


class MeanSquaredError(Loss):
    """Mean of ``(y_true - y_pred) ** 2`` over the last axis."""

    code = scalar.MEAN_SQUARED_ERROR

    def __init__(self, name="mean_squared_error"):
        super().__init__(name)


class MeanAbsoluteError(Loss):
    """Mean of ``abs(y_true - y_pred)`` over the last axis."""

    code = scalar.MEAN_ABSOLUTE_ERROR

    def __init__(self, name="mean_absolute_error"):
        super().__init__(name)


class Huber(Loss):
    """Quadratic within ``delta`` of the target, linear beyond (Keras default delta 1.0)."""

    code = scalar.HUBER

    def __init__(self, delta=1.0, name="huber_loss"):
        super().__init__(name)
        self.delta = number_in("Huber", "delta", delta, 0, None, low_open=True)

    def get_config(self):
        return {"name": self.name, "delta": self.delta}


class BinaryCrossentropy(Loss):
    """Binary cross-entropy, averaged over the last axis."""

    code = scalar.BINARY_CROSSENTROPY

    def __init__(self, from_logits=False, name="binary_crossentropy"):
        super().__init__(name, from_logits)


class CategoricalCrossentropy(Loss):
    """Cross-entropy against one-hot (or soft) targets."""

    code = scalar.CATEGORICAL_CROSSENTROPY

    def __init__(self, from_logits=False, name="categorical_crossentropy"):
        super().__init__(name, from_logits)


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy against integer class labels."""

    code = scalar.SPARSE_CATEGORICAL_CROSSENTROPY
    sparse = True

    def __init__(self, from_logits=False, name="sparse_categorical_crossentropy"):
        super().__init__(name, from_logits)


def _function(cls, name):
    def loss(y_true, y_pred):
        return cls().per_sample(y_true, y_pred)

    loss.__name__ = loss.__qualname__ = name
    loss.__doc__ = f"Per-sample {name} values (Keras's function form of {cls.__name__})."
    loss.loss_class = cls
    return loss


mean_squared_error = _function(MeanSquaredError, "mean_squared_error")
mean_absolute_error = _function(MeanAbsoluteError, "mean_absolute_error")
binary_crossentropy = _function(BinaryCrossentropy, "binary_crossentropy")
categorical_crossentropy = _function(CategoricalCrossentropy, "categorical_crossentropy")
sparse_categorical_crossentropy = _function(
    SparseCategoricalCrossentropy, "sparse_categorical_crossentropy")
huber = _function(Huber, "huber")
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

_BY_NAME = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError, "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy, "huber": Huber,
    "huber_loss": Huber,
}
_CLASSES = (MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy,
            CategoricalCrossentropy, SparseCategoricalCrossentropy)


def get(identifier):
    """Return a Loss instance from a name, class, instance or this module's function.

    A name keeps the string as the loss's name, as Keras's ``compile`` does.

    Raises
    ------
    ValueError
        For an unknown name, or any other callable (it would have no gradient kernel).
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss) and identifier is not Loss:
        return identifier()
    if isinstance(identifier, str) and identifier in _BY_NAME:
        loss = _BY_NAME[identifier]()
        loss.name = identifier
        return loss
    if callable(identifier) and hasattr(identifier, "loss_class"):
        loss = identifier.loss_class()
        loss.name = identifier.__name__
        return loss
    known = ", ".join(sorted(_BY_NAME))
    if callable(identifier):
        name = getattr(identifier, "__name__", repr(identifier))
        raise ValueError(
            f"compile: loss {name!r} is a Python function, and fastmlp trains only with losses "
            f"that have a compiled gradient. Use one of: {known} "
            f"(or their classes in fastmlp.losses)."
        )
    raise unknown_name("loss", identifier, _BY_NAME)
