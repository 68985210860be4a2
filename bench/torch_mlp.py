"""The same networks in PyTorch (CPU), with Keras 3 optimizer formulas.

PyTorch's own RMSprop and Adam put epsilon in a different place from Keras
(``g / (sqrt(v) + eps)`` and bias-corrected ``v``), so the two small
optimizers below implement the Keras formulas with in-place tensor ops; SGD
is ``torch.optim.SGD``, which already matches.  Losses are computed from the
logits where the output activation pairs with the loss (sigmoid + binary
crossentropy, softmax + categorical crossentropy), which gives the same
output delta ``(p - y) / n`` as the other implementations.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["KerasRMSprop", "KerasAdam", "TorchMLP"]


class KerasRMSprop(torch.optim.Optimizer):
    """RMSprop with Keras 3's ``w -= lr * g / sqrt(v + eps)``."""

    def __init__(self, params, lr=0.001, rho=0.9, eps=1e-7):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        """Apply one update to every parameter with a gradient."""
        for group in self.param_groups:
            lr, rho, eps = group["lr"], group["rho"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["v"] = torch.zeros_like(p)
                v, g = state["v"], p.grad
                v.mul_(rho).addcmul_(g, g, value=1 - rho)
                p.addcdiv_(g, (v + eps).sqrt_(), value=-lr)


class KerasAdam(torch.optim.Optimizer):
    """Adam with Keras 3's ``alpha * m / (sqrt(v) + eps)`` step."""

    def __init__(self, params, lr=0.001, beta_1=0.9, beta_2=0.999, eps=1e-7):
        super().__init__(params, dict(lr=lr, beta_1=beta_1, beta_2=beta_2, eps=eps))
        self.iterations = 0

    @torch.no_grad()
    def step(self, closure=None):
        """Apply one update to every parameter with a gradient."""
        self.iterations += 1
        t = self.iterations
        for group in self.param_groups:
            b1, b2, eps = group["beta_1"], group["beta_2"], group["eps"]
            alpha = group["lr"] * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                m, v, g = state["m"], state["v"], p.grad
                m.lerp_(g, 1 - b1)                      # m += (g - m) (1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)  # v += (g^2 - v) (1 - b2)
                p.addcdiv_(m, v.sqrt().add_(eps), value=-alpha)


_ACT = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}


class TorchMLP:
    """A ``torch.nn.Sequential`` MLP with Keras-style fit/predict.

    Parameters
    ----------
    input_dim : int
        Number of input features.
    layers : sequence of (int, str)
        ``(units, activation)`` per dense layer.
    loss : str
        Keras loss name.
    optimizer : str
        ``"sgd"``, ``"rmsprop"`` or ``"adam"``.
    optimizer_kwargs : dict, optional
        E.g. ``{"learning_rate": 0.1}``.
    """

    def __init__(self, input_dim, layers, loss, optimizer, optimizer_kwargs=None):
        mods = []
        dims = [input_dim] + [u for u, _ in layers]
        last_act = layers[-1][1]
        self.logit_loss = (loss, last_act) in (("binary_crossentropy", "sigmoid"),
                                               ("categorical_crossentropy", "softmax"))
        for i, (units, act) in enumerate(layers):
            mods.append(torch.nn.Linear(dims[i], units))
            is_last = i == len(layers) - 1
            if act in _ACT and not (is_last and self.logit_loss):
                mods.append(_ACT[act]())
            elif act == "softmax" and not self.logit_loss:
                raise ValueError("softmax output needs categorical_crossentropy")
            elif act not in _ACT and act not in ("linear", "softmax"):
                raise ValueError(f"unsupported activation {act!r}")
        self.net = torch.nn.Sequential(*mods)
        self.last_act = last_act
        if loss == "mse":
            self.loss_fn = torch.nn.MSELoss()
        elif loss == "binary_crossentropy":
            self.loss_fn = torch.nn.BCEWithLogitsLoss()
        else:
            self.loss_fn = torch.nn.CrossEntropyLoss()  # accepts probability targets
        self.optimizer_name = optimizer
        self.optimizer_kwargs = dict(optimizer_kwargs or {})
        self.optimizer = None

    def _make_optimizer(self):
        lr = self.optimizer_kwargs.get("learning_rate")
        params = self.net.parameters()
        if self.optimizer_name == "sgd":
            return torch.optim.SGD(params, lr=0.01 if lr is None else lr)
        if self.optimizer_name == "rmsprop":
            return KerasRMSprop(params, lr=0.001 if lr is None else lr)
        if self.optimizer_name == "adam":
            return KerasAdam(params, lr=0.001 if lr is None else lr)
        raise ValueError(f"unsupported optimizer {self.optimizer_name!r}")

    def set_weights(self, weights):
        """Load Keras-layout ``[W (in, out), b, ...]`` and reset the optimizer."""
        linears = [m for m in self.net if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for lin, w, b in zip(linears, weights[0::2], weights[1::2]):
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
                lin.bias.copy_(torch.from_numpy(b))
        self.optimizer = self._make_optimizer()

    def get_weights(self):
        """Return Keras-layout ``[W (in, out), b, ...]`` as NumPy arrays."""
        out = []
        for lin in (m for m in self.net if isinstance(m, torch.nn.Linear)):
            out.append(lin.weight.detach().numpy().T.copy())
            out.append(lin.bias.detach().numpy().copy())
        return out

    def fit(self, x, y, batch_size, epochs):
        """Train in order (no shuffling); return ``{"loss": [...]}``."""
        xt = torch.from_numpy(np.ascontiguousarray(x, np.float32))
        yt = torch.from_numpy(np.ascontiguousarray(y, np.float32))
        n = len(xt)
        net, loss_fn, opt = self.net, self.loss_fn, self.optimizer
        history = []
        for _ in range(epochs):
            total = torch.zeros(())
            for start in range(0, n, batch_size):
                xb, yb = xt[start:start + batch_size], yt[start:start + batch_size]
                opt.zero_grad(set_to_none=False)
                loss = loss_fn(net(xb), yb)
                loss.backward()
                opt.step()
                total += loss.detach() * len(xb)
            history.append(float(total) / n)
        return {"loss": history}

    @torch.inference_mode()
    def predict(self, x):
        """Forward pass over all rows; returns a NumPy array."""
        out = self.net(torch.from_numpy(np.ascontiguousarray(x, np.float32)))
        if self.logit_loss:
            out = torch.sigmoid(out) if self.last_act == "sigmoid" else torch.softmax(out, 1)
        return out.numpy()
