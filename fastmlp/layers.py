"""Layers, as Keras's ``keras.layers``: ``Input``, ``Dense`` and ``Activation``.

Layers are thin: they validate and store their configuration. The model allocates
one flat parameter buffer and gives each Dense layer its kernel and bias as views.
"""

from . import activations, backend, initializers
from ._validation import positive_int


class Layer:
    """Base class: a name (Keras's auto-naming) and the model's views once built."""

    def __init__(self, name=None):
        prefix = backend.snake_case(type(self).__name__)
        self.name = name if name is not None else backend.unique_name(prefix)
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string; "
                             f"got name={name!r}.")
        self.built = False
        self.input_width = None
        self._variables = []

    @property
    def weights(self):
        """The layer's variables (kernel, then bias), empty until the model is built."""
        return list(self._variables)

    trainable_weights = weights

    def get_weights(self):
        """Return copies of the layer's variables as NumPy arrays."""
        return [v.numpy() for v in self._variables]

    def count_params(self):
        """Number of values in the layer's variables."""
        return sum(v.size for v in self._variables)

    def get_config(self):
        """Return the constructor arguments."""
        return {"name": self.name}


class InputSpec:
    """What ``fastmlp.Input(shape)`` returns: the input width of a Sequential model.

    Parameters
    ----------
    shape : tuple of int
        ``(n_features,)``; the batch dimension is left out, as in Keras.
    name : str, optional
    """

    def __init__(self, shape, name=None):
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or len(shape) != 1:
            raise ValueError(f"Input: shape must be a 1-tuple like (4,) for dense models; "
                             f"got shape={shape!r}.")
        self.shape = (positive_int("Input", "shape[0]", shape[0]),)
        self.name = name if name is not None else backend.unique_name("input_layer")


def Input(shape=None, name=None, **kwargs):
    """Declare the input of a Sequential model, as ``keras.Input((n_features,))``.

    Parameters
    ----------
    shape : tuple of int
        ``(n_features,)``.
    name : str, optional
    """
    if "batch_shape" in kwargs and shape is None:
        shape = tuple(kwargs.pop("batch_shape"))[1:]
    kwargs.pop("dtype", None)
    kwargs.pop("batch_size", None)
    if kwargs:
        raise ValueError(f"Input: argument(s) not recognized: {sorted(kwargs)}.")
    return InputSpec(shape, name)


def _input_width(owner, input_dim, input_shape):
    if input_dim is not None:
        return positive_int(owner, "input_dim", input_dim)
    if input_shape is not None:
        if isinstance(input_shape, int) and not isinstance(input_shape, bool):
            input_shape = (input_shape,)
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 1:
            raise ValueError(f"{owner}: input_shape must be a 1-tuple like (4,); "
                             f"got input_shape={input_shape!r}.")
        return positive_int(owner, "input_shape[0]", input_shape[0])
    return None


class Dense(Layer):
    """Fully connected layer ``activation(x @ kernel + bias)``.

    Parameters
    ----------
    units : int
        Output width.
    activation : str, callable or None
        Any name of ``fastmlp.activations`` (None = linear).
    use_bias : bool
    kernel_initializer, bias_initializer : str or Initializer
        Keras defaults ``"glorot_uniform"`` and ``"zeros"``.
    input_dim : int, optional
        Input width, for the first layer (Keras 2 style).
    input_shape : tuple, optional
        ``(input_width,)``, for the first layer.
    name : str, optional
    """

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 input_dim=None, input_shape=None, name=None, **kwargs):
        if kwargs:
            raise ValueError(f"Dense: argument(s) not recognized: {sorted(kwargs)}.")
        self.units = positive_int("Dense", "units", units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        super().__init__(name)
        self.input_width = _input_width("Dense", input_dim, input_shape)

    @property
    def kernel(self):
        """The kernel variable, shape ``(n_in, units)``."""
        return self._variables[0]

    @property
    def bias(self):
        """The bias variable, or None without ``use_bias``."""
        return self._variables[1] if self.use_bias else None

    def get_config(self):
        return {"name": self.name, "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.name_of(self.kernel_initializer),
                "bias_initializer": initializers.name_of(self.bias_initializer)}


class Activation(Layer):
    """Apply an activation to the previous layer's output.

    Parameters
    ----------
    activation : str or callable
        Any name of ``fastmlp.activations``.
    input_shape : tuple, optional
        ``(input_width,)`` when this is the first layer.
    name : str, optional
    """

    def __init__(self, activation, input_shape=None, name=None, **kwargs):
        if kwargs:
            raise ValueError(f"Activation: argument(s) not recognized: {sorted(kwargs)}.")
        self.activation = activations.get(activation)
        super().__init__(name)
        self.input_width = _input_width("Activation", None, input_shape)

    def get_config(self):
        return {"name": self.name, "activation": self.activation}
