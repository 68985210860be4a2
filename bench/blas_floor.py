"""The "BLAS floor": the matrix products of a training epoch and nothing else.

For every batch this runs, with ``np.dot`` into preallocated outputs,

* forward  ``Z_l = A_{l-1} @ W_l`` for every layer,
* backward ``dW_l = A_{l-1}^T @ dZ_l`` for every layer, and
* backward ``dA_{l-1} = dZ_l @ W_l^T`` for every layer after the first.

No activations, losses, bias terms or optimizer updates are computed, so an
engine that also does all of those cannot be faster than this by much; the
targets ask fastmlp to stay within 1.1x of it on the large workloads.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BlasFloor"]


class BlasFloor:
    """Preallocated buffers and the matrix-product loop for one network.

    Parameters
    ----------
    input_dim : int
        Number of input features.
    units : sequence of int
        Width of every dense layer.
    batch_size : int
        Largest batch; the last, partial batch uses views.
    seed : int, optional
        Seed for the (constant) weights and deltas.
    """

    def __init__(self, input_dim, units, batch_size, seed=0):
        rng = np.random.default_rng(seed)
        dims = [int(input_dim)] + [int(u) for u in units]
        self.batch_size = int(batch_size)
        # Values are irrelevant to BLAS speed but must be finite, normal floats.
        self.weights = [rng.uniform(-0.1, 0.1, (i, o)).astype(np.float32)
                        for i, o in zip(dims[:-1], dims[1:])]
        self.acts = [np.empty((self.batch_size, o), np.float32) for o in dims[1:]]
        self.deltas = [rng.uniform(-0.01, 0.01, (self.batch_size, o)).astype(np.float32)
                       for o in dims[1:]]
        self.grad_w = [np.empty_like(w) for w in self.weights]
        self.grad_x = [np.empty((self.batch_size, i), np.float32) for i in dims[1:-1]]

    def epoch(self, x):
        """Run the products for one pass over ``x`` (float32, C-contiguous)."""
        n, bs = len(x), self.batch_size
        layers = range(len(self.weights))
        for start in range(0, n, bs):
            xb = x[start:start + bs]
            m = len(xb)
            inp = xb
            for l in layers:
                out = self.acts[l][:m]
                np.dot(inp, self.weights[l], out=out)
                inp = out
            for l in reversed(layers):
                d = self.deltas[l][:m]
                a = self.acts[l - 1][:m] if l else xb
                np.dot(a.T, d, out=self.grad_w[l])
                if l:
                    np.dot(d, self.weights[l].T, out=self.grad_x[l - 1][:m])

    def fit(self, x, epochs=1):
        """Run :meth:`epoch` ``epochs`` times."""
        x = np.ascontiguousarray(x, np.float32)
        for _ in range(int(epochs)):
            self.epoch(x)
