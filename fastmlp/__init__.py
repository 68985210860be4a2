"""fastmlp: Keras-style multi-layer perceptrons trained by compiled Numba kernels.

``import fastmlp as keras`` gives the Keras names for dense networks:
``Sequential``, ``Input``, ``layers``, ``optimizers``, ``losses``, ``metrics``,
``activations``, ``callbacks``, ``utils``, ``backend``, ``models``, ``config``.
"""

from . import (activations, backend, callbacks, config, initializers, layers, losses, metrics,
               models, optimizers, saving, utils)
from .layers import Input
from .models import Sequential

__version__ = "0.1.0"

Model = Sequential

__all__ = ["Input", "Model", "Sequential", "activations", "backend", "callbacks", "config",
           "initializers", "layers", "losses", "metrics", "models", "optimizers", "saving", "utils",
           "__version__"]
