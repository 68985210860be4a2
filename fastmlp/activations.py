"""Activation functions by name, as Keras's ``keras.activations``.

Each public function applies the activation to a NumPy array with the same
compiled maths the layers use; ``get`` turns a name, ``None`` or one of these
functions into the canonical name a layer stores.
"""

import numpy as np

from . import config
from .kernels import scalar
from .kernels.activation_callbacks import activate
from ._validation import unknown_name

_ALIASES = {"swish": "silu", None: "linear"}


def code(name):
    """Return the kernel code of the canonical activation ``name``."""
    return scalar.ACTIVATION_NAMES.index(name)


def _apply(name, x):
    array = np.asarray(x, dtype=config.float_dtype())
    flat = np.ascontiguousarray(array.reshape(-1, array.shape[-1] if array.ndim else 1))
    return activate(code(name), flat).reshape(array.shape)


def _make(name):
    def activation(x):
        return _apply(name, x)

    activation.__name__ = name
    activation.__qualname__ = name
    activation.__doc__ = f"Apply the {name} activation elementwise (softmax: over the last axis)."
    return activation


linear = _make("linear")
relu = _make("relu")
sigmoid = _make("sigmoid")
tanh = _make("tanh")
softmax = _make("softmax")
softplus = _make("softplus")
softsign = _make("softsign")
elu = _make("elu")
selu = _make("selu")
leaky_relu = _make("leaky_relu")
gelu = _make("gelu")
silu = _make("silu")
swish = silu
hard_sigmoid = _make("hard_sigmoid")
exponential = _make("exponential")

_BY_FUNCTION = {fn: fn.__name__ for fn in (
    linear, relu, sigmoid, tanh, softmax, softplus, softsign, elu, selu, leaky_relu, gelu,
    silu, hard_sigmoid, exponential,
)}


def get(identifier):
    """Return the canonical name of an activation given by name, ``None`` or function.

    Parameters
    ----------
    identifier : str, None or callable
        ``"relu"``, ``"swish"``, ``None`` (linear), ``fastmlp.activations.relu``, ...

    Raises
    ------
    ValueError
        For an unknown name or a function that is not one of this module's.
    """
    if callable(identifier):
        if identifier in _BY_FUNCTION:
            return _BY_FUNCTION[identifier]
        raise ValueError(
            f"Unknown activation: {identifier!r}. Custom activation functions have no compiled "
            f"kernel; use one of: {', '.join(scalar.ACTIVATION_NAMES)}."
        )
    name = _ALIASES.get(identifier, identifier)
    if isinstance(name, str):
        name = _ALIASES.get(name.lower(), name.lower())
    if name not in scalar.ACTIVATION_NAMES:
        raise unknown_name("activation", identifier, list(scalar.ACTIVATION_NAMES) + ["swish"])
    return name
