"""Optimizers, as Keras 3's ``keras.optimizers``: same defaults, same update formulas.

Each optimizer declares its hyperparameters, its slot buffers and its kernel code;
the update itself is one compiled pass over the flat parameter buffer
(``fastmlp.kernels.cpu``). Gradients are clipped first when ``clipnorm``
(per variable), ``global_clipnorm`` or ``clipvalue`` is set.
"""

import warnings

import numpy as np

from . import engine
from ._validation import number_in, unknown_name
from .kernels.updates import HYPER_SIZE


class OptimizerState:
    """What the compiled loop needs of an optimizer: code, slots, hyperparameters, step.

    Attributes
    ----------
    code : int
        Kernel code (``fastmlp.engine.SGD`` ...).
    slots : ndarray, shape (rows, n_params)
        Slot buffers in the parameters' layout.
    hyper : ndarray
        Hyperparameters in the parameters' dtype (layout per optimizer).
    clip : ndarray
        ``[clipnorm, clipvalue, global_clipnorm]``, values <= 0 meaning off.
    step : int
        Number of updates applied (Keras's ``iterations``).
    """

    def __init__(self, code, slots, hyper, clip, step=0):
        self.code = code
        self.slots = slots
        self.hyper = hyper
        self.clip = clip
        self.step = step


class Optimizer:
    """Base class: hyperparameter checks, clipping options, state allocation.

    Parameters
    ----------
    learning_rate : float
    clipnorm, clipvalue, global_clipnorm : float, optional
        At most one may be set.
    name : str
    """

    code = None

    def __init__(self, learning_rate, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        owner = type(self).__name__
        if "decay" in kwargs:
            kwargs.pop("decay")
            warnings.warn(f"{owner}: decay is no longer supported and will be ignored.",
                          stacklevel=3)
        if kwargs:
            hint = " Use learning_rate= instead of lr=." if "lr" in kwargs else ""
            raise ValueError(f"{owner}: argument(s) not recognized: {kwargs}.{hint}")
        self.learning_rate = number_in(owner, "learning_rate", learning_rate, 0, None)
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        given = [k for k, v in clips.items() if v is not None]
        if len(given) > 1:
            raise ValueError(f"{owner}: only one of clipnorm, clipvalue and global_clipnorm "
                             f"can be set; got {', '.join(given)}.")
        for key, value in clips.items():
            if value is not None:
                number_in(owner, key, value, 0, None, low_open=True)
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name or _snake(owner)
        self.state = None

    @property
    def iterations(self):
        """Number of updates applied so far."""
        return 0 if self.state is None else self.state.step

    def hyperparameters(self):
        """Return the kernel's hyperparameter vector (see ``fastmlp.kernels.cpu``)."""
        raise NotImplementedError

    def slot_names(self):
        """Names of the slot buffers this configuration really uses."""
        raise NotImplementedError

    def initial_slot_value(self):
        """Value every slot starts at (zeros, except Adagrad's accumulator)."""
        return 0.0

    def build(self, n_params, dtype):
        """Allocate the state for ``n_params`` parameters (once, unless the size changes)."""
        if self.state is not None and self.state.slots.shape[1] == n_params \
                and self.state.slots.dtype == dtype:
            self.refresh()
            return self.state
        rows = engine.SLOT_ROWS[self.code]
        slots = np.full((rows, n_params), self.initial_slot_value(), dtype=dtype)
        clip = np.array([v if v is not None else -1.0 for v in
                         (self.clipnorm, self.clipvalue, self.global_clipnorm)], dtype=dtype)
        hyper = np.zeros(HYPER_SIZE, dtype=dtype)
        self.state = OptimizerState(self.code, slots, hyper, clip)
        self.refresh()
        return self.state

    def refresh(self):
        """Copy the current hyperparameters (e.g. a learning rate a callback changed) to the state."""
        values = self.hyperparameters()
        self.state.hyper[:len(values)] = np.asarray(values, dtype=np.float64)

    def variables_count(self):
        """Number of optimizer values Keras's summary counts: slots, ``iteration`` and
        ``learning_rate``."""
        if self.state is None:
            return 0
        return len(self.slot_names()) * self.state.slots.shape[1] + 2

    def get_config(self):
        """Return the constructor arguments."""
        config = {"name": self.name, "learning_rate": self.learning_rate}
        for key in ("clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum. Keras defaults: lr 0.01.

    Parameters
    ----------
    learning_rate : float
    momentum : float in [0, 1]
    nesterov : bool
    """

    code = engine.SGD

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = number_in("SGD", "momentum", momentum, 0, 1)
        self.nesterov = bool(nesterov)

    def hyperparameters(self):
        return [self.learning_rate, self.momentum, float(self.nesterov)]

    def slot_names(self):
        return ["momentum"] if self.momentum > 0 else []

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop with epsilon inside the square root. Keras defaults: lr 0.001, rho 0.9.

    Parameters
    ----------
    learning_rate, rho, momentum, epsilon : float
    centered : bool
    """

    code = engine.RMSPROP

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = number_in("RMSprop", "rho", rho, 0, 1)
        self.momentum = number_in("RMSprop", "momentum", momentum, 0, 1)
        self.epsilon = number_in("RMSprop", "epsilon", epsilon, 0, None)
        self.centered = bool(centered)

    def hyperparameters(self):
        return [self.learning_rate, self.rho, 1.0 - self.rho, self.momentum, self.epsilon,
                float(self.centered)]

    def slot_names(self):
        names = ["velocity"]
        if self.centered:
            names.append("average_gradient")
        if self.momentum > 0:
            names.append("momentum")
        return names

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad with the accumulator starting at 0.1 and epsilon inside the square root.

    Parameters
    ----------
    learning_rate, initial_accumulator_value, epsilon : float
    """

    code = engine.ADAGRAD

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = number_in(
            "Adagrad", "initial_accumulator_value", initial_accumulator_value, 0, None)
        self.epsilon = number_in("Adagrad", "epsilon", epsilon, 0, None)

    def hyperparameters(self):
        return [self.learning_rate, self.epsilon]

    def initial_slot_value(self):
        return self.initial_accumulator_value

    def slot_names(self):
        return ["accumulator"]

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adam(Optimizer):
    """Adam in Keras's epsilon-hat form. Keras defaults: lr 0.001, betas 0.9/0.999, eps 1e-7.

    Parameters
    ----------
    learning_rate, beta_1, beta_2, epsilon : float
    amsgrad : bool
    """

    code = engine.ADAM

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = number_in("Adam", "beta_1", beta_1, 0, 1)
        self.beta_2 = number_in("Adam", "beta_2", beta_2, 0, 1)
        self.epsilon = number_in("Adam", "epsilon", epsilon, 0, None)
        self.amsgrad = bool(amsgrad)

    def hyperparameters(self):
        return [self.learning_rate, 1.0 - self.beta_1, 1.0 - self.beta_2, self.epsilon,
                float(self.amsgrad), self.beta_1, self.beta_2]

    def slot_names(self):
        return ["momentum", "velocity"] + (["velocity_hat"] if self.amsgrad else [])

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad, "adam": Adam}


def _snake(name):
    return name.lower()


def get(identifier):
    """Return an optimizer from a name (case-insensitive), class or instance.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise unknown_name("optimizer", identifier, _BY_NAME)
