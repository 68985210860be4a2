"""Weight initializers, as Keras's ``keras.initializers`` (same distributions and limits).

An initializer built without a seed draws one from Python's ``random`` module when it
is created, as Keras 3 does, so :func:`fastmlp.utils.set_random_seed` fixes it.
"""

import math
import random

import numpy as np

from ._validation import unknown_name


class Initializer:
    """Base class: ``init(shape, dtype)`` returns a new array."""

    def __init__(self, seed=None):
        self.seed = random.randint(1, 10**9) if seed is None else int(seed)

    def _rng(self):
        return np.random.default_rng(self.seed)

    def __call__(self, shape, dtype="float32"):
        return np.asarray(self.sample(tuple(shape)), dtype=dtype)

    def get_config(self):
        """Return the constructor arguments."""
        return {"seed": self.seed}


def _fans(shape):
    if len(shape) == 1:
        return shape[0], shape[0]
    return shape[0], shape[1]


class Zeros(Initializer):
    """All zeros."""

    def sample(self, shape):
        return np.zeros(shape)


class Ones(Initializer):
    """All ones."""

    def sample(self, shape):
        return np.ones(shape)


class RandomUniform(Initializer):
    """Uniform on ``[minval, maxval)`` (Keras defaults -0.05, 0.05)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def sample(self, shape):
        return self._rng().uniform(self.minval, self.maxval, size=shape)


class RandomNormal(Initializer):
    """Normal with ``mean`` and ``stddev`` (Keras defaults 0.0, 0.05)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def sample(self, shape):
        return self._rng().normal(self.mean, self.stddev, size=shape)


class VarianceScaling(Initializer):
    """Keras's VarianceScaling: scale / fan, uniform or truncated normal.

    Parameters
    ----------
    scale : float
    mode : {"fan_in", "fan_out", "fan_avg"}
    distribution : {"truncated_normal", "uniform"}
    seed : int, optional
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def sample(self, shape):
        fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, size=shape)
        # Truncated at two standard deviations; 0.87962566 is the std of that truncation.
        stddev = math.sqrt(variance) / 0.87962566103423978
        values = rng.normal(0.0, stddev, size=shape)
        outside = np.abs(values) > 2 * stddev
        while outside.any():
            values[outside] = rng.normal(0.0, stddev, size=int(outside.sum()))
            outside = np.abs(values) > 2 * stddev
        return values


def _scaling(scale, mode, distribution):
    class Preset(VarianceScaling):
        def __init__(self, seed=None):
            super().__init__(scale, mode, distribution, seed)

        def get_config(self):
            return {"seed": self.seed}

    return Preset


GlorotUniform = _scaling(1.0, "fan_avg", "uniform")
GlorotNormal = _scaling(1.0, "fan_avg", "truncated_normal")
HeUniform = _scaling(2.0, "fan_in", "uniform")
HeNormal = _scaling(2.0, "fan_in", "truncated_normal")
LecunUniform = _scaling(1.0, "fan_in", "uniform")
LecunNormal = _scaling(1.0, "fan_in", "truncated_normal")
for _cls, _name in ((GlorotUniform, "GlorotUniform"), (GlorotNormal, "GlorotNormal"),
                    (HeUniform, "HeUniform"), (HeNormal, "HeNormal"),
                    (LecunUniform, "LecunUniform"), (LecunNormal, "LecunNormal")):
    _cls.__name__ = _cls.__qualname__ = _name
    _cls.__doc__ = f"Keras's {_name} (a preset VarianceScaling)."

_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "random_uniform": RandomUniform,
    "random_normal": RandomNormal, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
}
_NAME_OF = {cls: name for name, cls in _BY_NAME.items()}


def name_of(initializer):
    """Return the registry name of an initializer instance."""
    return _NAME_OF.get(type(initializer), type(initializer).__name__)


def get(identifier):
    """Return an initializer instance from a name, class or instance.

    Parameters
    ----------
    identifier : str, Initializer subclass or instance
        ``"glorot_uniform"``, ``"GlorotUniform"``, ``HeNormal()``, ...
    """
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, str):
        key = identifier if identifier in _BY_NAME else _snake(identifier)
        if key in _BY_NAME:
            return _BY_NAME[key]()
    raise unknown_name("initializer", identifier, _BY_NAME)


def _snake(name):
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
