"""Benchmark workload definitions: network, data, initial weights, targets."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Workload", "WORKLOADS", "select_workloads", "glorot_weights"]


def glorot_weights(input_dim, units, seed):
    """Glorot-uniform kernels and zero biases, ``[W1, b1, W2, b2, ...]`` (float32).

    Parameters
    ----------
    input_dim : int
        Number of input features.
    units : sequence of int
        Width of every dense layer.
    seed : int
        Random seed.
    """
    rng = np.random.default_rng(seed)
    dims = [int(input_dim)] + [int(u) for u in units]
    weights = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weights.append(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32))
        weights.append(np.zeros(fan_out, np.float32))
    return weights


@dataclass
class Workload:
    """One benchmark: a network, an optimizer, a data set and a schedule.

    Parameters
    ----------
    name : str
        Short name used by ``--only``.
    description : str
        One line for the report.
    input_dim : int
        Number of input features.
    layers : list of (int, str)
        ``(units, activation)`` per dense layer.
    loss : str
        Keras loss name.
    optimizer : str
        Keras optimizer name (``"sgd"``, ``"rmsprop"``, ``"adam"``).
    optimizer_kwargs : dict
        Keyword arguments for the optimizer (Keras defaults otherwise).
    n_rows : int
        Rows in the training (or prediction) set.
    batch_size, epochs : int
        Training schedule (``shuffle=False`` everywhere).
    kind : str
        ``"fit"`` (time ``fit``), ``"predict1"`` (median latency of one-row
        ``predict`` calls) or ``"predict"`` (time one ``predict`` call).
    targets : dict
        ``min_speedup_vs_numpy``, ``max_ratio_to_floor``, ``max_seconds``.
    seed : int
        Seed for data and initial weights.
    """

    name: str
    description: str
    input_dim: int
    layers: list
    loss: str
    optimizer: str
    n_rows: int
    batch_size: int = 32
    epochs: int = 1
    optimizer_kwargs: dict = field(default_factory=dict)
    kind: str = "fit"
    targets: dict = field(default_factory=dict)
    seed: int = 0

    @property
    def units(self):
        """Widths of the dense layers."""
        return [u for u, _ in self.layers]

    @property
    def steps(self):
        """Optimizer steps in one full run."""
        return -(-self.n_rows // self.batch_size) * self.epochs

    def initial_weights(self):
        """The shared initial weights ``[W1, b1, ...]``."""
        return glorot_weights(self.input_dim, self.units, self.seed + 1)

    def make_data(self):
        """Return float32 ``(x, y)``; ``y`` is None for prediction workloads."""
        if self.name == "xor":
            x = np.array([[1, 1], [1, 0], [0, 1], [0, 0]], np.float32)
            y = np.array([[0], [1], [1], [0]], np.float32)
            return x, y
        rng = np.random.default_rng(self.seed)
        x = rng.random((self.n_rows, self.input_dim), dtype=np.float32)
        if self.kind != "fit":
            return x, None
        # A random linear "teacher" gives learnable targets of the right kind.
        k = self.units[-1]
        teacher = rng.standard_normal((self.input_dim, k)).astype(np.float32)
        scores = x @ teacher
        scores -= scores.mean(axis=0)
        if self.loss == "categorical_crossentropy":
            y = np.zeros((self.n_rows, k), np.float32)
            y[np.arange(self.n_rows), scores.argmax(axis=1)] = 1
        elif self.loss == "binary_crossentropy":
            y = (scores > 0).astype(np.float32)
        else:
            y = (scores / scores.std()).astype(np.float32)
        return x, y

    def short(self):
        """A compact description of the schedule."""
        if self.kind == "fit":
            return (f"{self.n_rows}x{self.input_dim} -> "
                    + " -> ".join(f"{u} {a}" for u, a in self.layers)
                    + f"; {self.optimizer}, {self.loss}, batch {self.batch_size}, "
                    f"{self.epochs} epoch(s) = {self.steps} steps")
        return f"{self.n_rows} row(s) through " + " -> ".join(
            f"{u} {a}" for u, a in self.layers)


_MNIST_LAYERS = [(256, "relu"), (128, "relu"), (10, "softmax")]

WORKLOADS = [
    Workload("xor", "2-2-1 sigmoid XOR, SGD(0.1), mse, batch 1, 3000 epochs",
             input_dim=2, layers=[(2, "sigmoid"), (1, "sigmoid")], loss="mse",
             optimizer="sgd", optimizer_kwargs={"learning_rate": 0.1},
             n_rows=4, batch_size=1, epochs=3000,
             targets={"min_speedup_vs_numpy": 100.0}),
    Workload("small", "1000x100 -> 32 relu -> 1 sigmoid, RMSprop, BCE, batch 32, 10 epochs",
             input_dim=100, layers=[(32, "relu"), (1, "sigmoid")],
             loss="binary_crossentropy", optimizer="rmsprop",
             n_rows=1000, batch_size=32, epochs=10,
             targets={"min_speedup_vs_numpy": 10.0}),
    Workload("mnist-shape", "60000x784 -> 256 relu -> 128 relu -> 10 softmax, RMSprop, CCE, "
             "batch 128, 1 epoch",
             input_dim=784, layers=_MNIST_LAYERS, loss="categorical_crossentropy",
             optimizer="rmsprop", n_rows=60000, batch_size=128, epochs=1,
             targets={"min_speedup_vs_numpy": 1.15, "max_ratio_to_floor": 1.1}),
    Workload("wide", "200000x32 -> 512 relu -> 512 relu -> 1 linear, Adam, mse, batch 1024, "
             "1 epoch",
             input_dim=32, layers=[(512, "relu"), (512, "relu"), (1, "linear")],
             loss="mse", optimizer="adam", n_rows=200000, batch_size=1024, epochs=1,
             targets={"min_speedup_vs_numpy": 1.15, "max_ratio_to_floor": 1.1}),
    Workload("predict-1row", "median latency of model.predict(one row), mnist-shape network",
             input_dim=784, layers=_MNIST_LAYERS, loss="categorical_crossentropy",
             optimizer="rmsprop", n_rows=1, kind="predict1",
             targets={"max_seconds": 20e-6}),
    Workload("predict-10k", "model.predict(10,000 rows), mnist-shape network",
             input_dim=784, layers=_MNIST_LAYERS, loss="categorical_crossentropy",
             optimizer="rmsprop", n_rows=10000, kind="predict"),
]


def select_workloads(only=None):
    """Workloads named in the comma-separated ``only`` (all when empty).

    A name matches a workload exactly or as a prefix, so ``predict`` selects
    both prediction workloads.  ``memory`` and ``startup`` are handled by the
    caller and ignored here.

    Raises
    ------
    ValueError
        If a name matches nothing.
    """
    if not only:
        return list(WORKLOADS)
    names = [s.strip() for s in only.split(",") if s.strip()]
    chosen = []
    for name in names:
        if name in ("memory", "startup"):
            continue
        hits = [w for w in WORKLOADS if w.name == name] or \
               [w for w in WORKLOADS if w.name.startswith(name)]
        if not hits:
            known = ", ".join([w.name for w in WORKLOADS] + ["memory", "startup"])
            raise ValueError(f"unknown workload {name!r}; known: {known}")
        chosen.extend(w for w in hits if w not in chosen)
    return [w for w in WORKLOADS if w in chosen]
