"""Plain-NumPy reference multi-layer perceptron.

This is the baseline every benchmark ratio is measured against.  It follows
the same mathematics as Keras 3 (and fastmlp): dense layers ``X @ W + b``,
gradients of the batch-mean loss, and the Keras 3 optimizer formulas.

It is written the way a competent NumPy user would write it: one
preallocated buffer per layer for activations and deltas (views of them are
used for the last, partial batch), in-place ufuncs with ``out=``, and
``np.dot`` into preallocated gradient arrays.  It is not deliberately slow,
but it keeps the natural per-layer layout (one array per weight matrix and
bias) rather than a single flat parameter buffer.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SGD", "RMSprop", "Adam", "NumpyMLP", "make_optimizer"]

_CLIP = 1e-7  # Keras' backend epsilon, used to clip probabilities in the loss.


class SGD:
    """Plain stochastic gradient descent: ``w -= lr * g``.

    Parameters
    ----------
    learning_rate : float
        Step size.
    """

    def __init__(self, learning_rate=0.01):
        self.learning_rate = float(learning_rate)

    def build(self, params):
        """Allocate optimizer state for ``params`` (SGD has none)."""

    def update(self, params, grads):
        """Apply one step in place.  ``grads`` are overwritten."""
        lr = self.learning_rate
        for w, g in zip(params, grads):
            g *= lr
            w -= g


class RMSprop:
    """Keras 3 RMSprop (no momentum, not centered).

    ``v = rho * v + (1 - rho) * g**2``, ``w -= lr * g / sqrt(v + eps)``.

    Parameters
    ----------
    learning_rate, rho, epsilon : float
        Keras 3 defaults.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7):
        self.learning_rate = float(learning_rate)
        self.rho = float(rho)
        self.epsilon = float(epsilon)
        self._v = self._tmp = None

    def build(self, params):
        """Allocate the velocity and one scratch array per parameter."""
        self._v = [np.zeros_like(p) for p in params]
        self._tmp = [np.empty_like(p) for p in params]

    def update(self, params, grads):
        """Apply one step in place."""
        lr, rho, eps = self.learning_rate, self.rho, self.epsilon
        for w, g, v, t in zip(params, grads, self._v, self._tmp):
            np.multiply(g, g, out=t)
            t *= 1.0 - rho
            v *= rho
            v += t
            np.add(v, eps, out=t)
            np.sqrt(t, out=t)
            np.divide(g, t, out=t)
            t *= lr
            w -= t


class Adam:
    """Keras 3 Adam (bias correction folded into the step size).

    ``alpha = lr * sqrt(1 - b2**t) / (1 - b1**t)``,
    ``m += (g - m) * (1 - b1)``, ``v += (g**2 - v) * (1 - b2)``,
    ``w -= alpha * m / (sqrt(v) + eps)``.

    Parameters
    ----------
    learning_rate, beta_1, beta_2, epsilon : float
        Keras 3 defaults.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7):
        self.learning_rate = float(learning_rate)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.iterations = 0
        self._m = self._v = self._tmp = None

    def build(self, params):
        """Allocate both moments and one scratch array per parameter."""
        self._m = [np.zeros_like(p) for p in params]
        self._v = [np.zeros_like(p) for p in params]
        self._tmp = [np.empty_like(p) for p in params]
        self.iterations = 0

    def update(self, params, grads):
        """Apply one step in place."""
        self.iterations += 1
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        t_ = self.iterations
        alpha = self.learning_rate * np.sqrt(1.0 - b2 ** t_) / (1.0 - b1 ** t_)
        for w, g, m, v, t in zip(params, grads, self._m, self._v, self._tmp):
            np.subtract(g, m, out=t)
            t *= 1.0 - b1
            m += t
            np.multiply(g, g, out=t)
            t -= v
            t *= 1.0 - b2
            v += t
            np.sqrt(v, out=t)
            t += eps
            np.divide(m, t, out=t)
            t *= alpha
            w -= t


_OPTIMIZERS = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def make_optimizer(name, **kwargs):
    """Return a NumPy optimizer by Keras name (``"sgd"``, ``"rmsprop"``, ``"adam"``).

    Parameters
    ----------
    name : str
        Optimizer name.
    **kwargs
        Passed to the optimizer (e.g. ``learning_rate``).
    """
    return _OPTIMIZERS[name.lower()](**kwargs)


def _activate(a, kind):
    """Apply activation ``kind`` to ``a`` in place."""
    if kind == "linear":
        return
    if kind == "relu":
        np.maximum(a, 0, out=a)
    elif kind == "sigmoid":
        np.negative(a, out=a)
        np.exp(a, out=a)
        a += 1
        np.reciprocal(a, out=a)
    elif kind == "tanh":
        np.tanh(a, out=a)
    elif kind == "softmax":
        a -= a.max(axis=1, keepdims=True)
        np.exp(a, out=a)
        a /= a.sum(axis=1, keepdims=True)
    else:
        raise ValueError(f"unsupported activation {kind!r}")


class NumpyMLP:
    """A dense feed-forward network trained by mini-batch gradient descent.

    Parameters
    ----------
    input_dim : int
        Number of input features.
    layers : sequence of (int, str)
        ``(units, activation)`` per dense layer; activations are
        ``"linear"``, ``"relu"``, ``"sigmoid"``, ``"tanh"`` or ``"softmax"``
        (softmax only on the last layer).
    loss : str
        ``"mse"``, ``"binary_crossentropy"`` (sigmoid output) or
        ``"categorical_crossentropy"`` (softmax output).
    optimizer : SGD, RMSprop or Adam
        Optimizer instance; its state is (re)built by :meth:`set_weights`.
    dtype : numpy dtype, optional
        Arithmetic dtype, float32 by default (float64 is useful for
        gradient checks).

    Notes
    -----
    Output deltas are those of the batch-mean loss: ``(p - y) / n`` for
    softmax + categorical crossentropy and sigmoid + binary crossentropy,
    ``2 (p - y) / (n k)`` times the output activation's derivative for mse.
    """

    def __init__(self, input_dim, layers, loss, optimizer, dtype=np.float32):
        self.input_dim = int(input_dim)
        self.units = [int(u) for u, _ in layers]
        self.activations = [str(a) for _, a in layers]
        self.loss = loss
        self.optimizer = optimizer
        self.dtype = np.dtype(dtype)
        last = self.activations[-1]
        if loss == "binary_crossentropy" and last != "sigmoid":
            raise ValueError("binary_crossentropy needs a sigmoid output")
        if loss == "categorical_crossentropy" and last != "softmax":
            raise ValueError("categorical_crossentropy needs a softmax output")
        if loss not in ("mse", "binary_crossentropy", "categorical_crossentropy"):
            raise ValueError(f"unsupported loss {loss!r}")
        if "softmax" in self.activations[:-1]:
            raise ValueError("softmax is only supported on the last layer")
        fan_in = [self.input_dim] + self.units[:-1]
        self.weights = [np.zeros((i, o), self.dtype) for i, o in zip(fan_in, self.units)]
        self.biases = [np.zeros(o, self.dtype) for o in self.units]
        self.grad_w = [np.empty_like(w) for w in self.weights]
        self.grad_b = [np.empty_like(b) for b in self.biases]
        self._params = [p for wb in zip(self.weights, self.biases) for p in wb]
        self._grads = [g for gb in zip(self.grad_w, self.grad_b) for g in gb]
        self._batch = 0
        self.optimizer.build(self._params)

    # -- weights -----------------------------------------------------------
    def set_weights(self, weights):
        """Copy ``[W1, b1, W2, b2, ...]`` in and reset the optimizer state."""
        for p, w in zip(self._params, weights):
            p[...] = w
        self.optimizer.build(self._params)

    def get_weights(self):
        """Return copies of ``[W1, b1, W2, b2, ...]``."""
        return [p.copy() for p in self._params]

    # -- buffers -----------------------------------------------------------
    def _ensure_buffers(self, batch):
        if batch <= self._batch:
            return
        self._acts = [np.empty((batch, u), self.dtype) for u in self.units]
        self._deltas = [np.empty((batch, u), self.dtype) for u in self.units]
        self._scratch = [np.empty((batch, u), self.dtype) for u in self.units]
        self._masks = [np.empty((batch, u), bool) for u in self.units]
        self._batch = batch

    # -- one training step -------------------------------------------------
    def _forward(self, xb, m):
        inp = xb
        for w, b, a, kind in zip(self.weights, self.biases, self._acts, self.activations):
            out = a[:m]
            np.dot(inp, w, out=out)
            out += b
            _activate(out, kind)
            inp = out
        return inp

    def _apply_derivative(self, d, layer, m):
        """Multiply delta ``d`` by the derivative of ``layer``'s activation."""
        kind = self.activations[layer]
        a = self._acts[layer][:m]
        if kind == "relu":
            mask = self._masks[layer][:m]
            np.greater(a, 0, out=mask)
            np.multiply(d, mask, out=d)
        elif kind == "sigmoid":
            t = self._scratch[layer][:m]
            np.subtract(1, a, out=t)
            t *= a
            d *= t
        elif kind == "tanh":
            t = self._scratch[layer][:m]
            np.multiply(a, a, out=t)
            np.subtract(1, t, out=t)
            d *= t
        elif kind != "linear":
            raise ValueError(f"no derivative for {kind!r}")

    def _output_delta(self, p, yb, m):
        """Write the output delta into the last delta buffer; return the loss."""
        d = self._deltas[-1][:m]
        np.subtract(p, yb, out=d)
        if self.loss == "mse":
            k = d.shape[1]
            flat = d.reshape(-1)
            loss = float(np.dot(flat, flat)) / (m * k)
            d *= 2.0 / (m * k)
            self._apply_derivative(d, len(self.units) - 1, m)
        elif self.loss == "binary_crossentropy":
            q = np.clip(p, _CLIP, 1 - _CLIP)
            loss = -float(np.mean(yb * np.log(q) + (1 - yb) * np.log1p(-q)))
            d *= 1.0 / m
        else:
            q = np.clip(p, _CLIP, 1 - _CLIP)
            loss = -float(np.sum(yb * np.log(q))) / m
            d *= 1.0 / m
        return loss, d

    def _backward(self, xb, d, m):
        for layer in range(len(self.units) - 1, -1, -1):
            inp = self._acts[layer - 1][:m] if layer else xb
            np.dot(inp.T, d, out=self.grad_w[layer])
            np.sum(d, axis=0, out=self.grad_b[layer])
            if layer:
                prev = self._deltas[layer - 1][:m]
                np.dot(d, self.weights[layer].T, out=prev)
                self._apply_derivative(prev, layer - 1, m)
                d = prev

    def gradients(self, xb, yb):
        """Loss and gradients ``[dW1, db1, ...]`` for one batch (no update).

        Parameters
        ----------
        xb, yb : ndarray
            One batch of inputs and targets.

        Returns
        -------
        loss : float
        grads : list of ndarray
            Copies of the gradients of the batch-mean loss.
        """
        xb = np.ascontiguousarray(xb, self.dtype)
        yb = np.ascontiguousarray(yb, self.dtype)
        m = len(xb)
        self._ensure_buffers(m)
        p = self._forward(xb, m)
        loss, d = self._output_delta(p, yb, m)
        self._backward(xb, d, m)
        return loss, [g.copy() for g in self._grads]

    def train_step(self, xb, yb):
        """One forward/backward pass and optimizer update; return the loss."""
        m = len(xb)
        p = self._forward(xb, m)
        loss, d = self._output_delta(p, yb, m)
        self._backward(xb, d, m)
        self.optimizer.update(self._params, self._grads)
        return loss

    # -- Keras-like API ----------------------------------------------------
    def fit(self, x, y, batch_size=32, epochs=1):
        """Train in order (no shuffling).

        Parameters
        ----------
        x, y : array_like
            Inputs ``(n, input_dim)`` and targets ``(n, units[-1])``.
        batch_size, epochs : int
            As in Keras.

        Returns
        -------
        dict
            ``{"loss": [mean loss per epoch]}`` like Keras' ``History.history``.
        """
        x = np.ascontiguousarray(x, self.dtype)
        y = np.ascontiguousarray(y, self.dtype)
        n = len(x)
        batch_size = min(int(batch_size), n)
        self._ensure_buffers(batch_size)
        history = []
        for _ in range(int(epochs)):
            total = 0.0
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                total += self.train_step(x[start:stop], y[start:stop]) * (stop - start)
            history.append(total / n)
        return {"loss": history}

    def predict(self, x):
        """Forward pass over all rows at once; returns a new array."""
        a = np.asarray(x, self.dtype)
        for w, b, kind in zip(self.weights, self.biases, self.activations):
            a = a @ w
            a += b
            _activate(a, kind)
        return a
