"""Slow, obviously-correct NumPy float64 references for the fastmlp test-suite.

Everything here is written for clarity, not speed: plain formulas from Keras 3
(``keras/src/activations``, ``keras/src/losses``, ``keras/src/metrics``,
``keras/src/optimizers``), computed in float64 whatever the input dtype. The
tests compare fastmlp's kernels, engine and API against these functions. The
expected texts that several test files check are kept here too.
"""

import math

import numpy as np

#: Keras's fuzz factor (``keras.config.epsilon()``).
EPSILON = 1e-7

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
LEAKY_RELU_SLOPE = 0.2

ACTIVATIONS = (
    "linear", "relu", "sigmoid", "tanh", "softmax", "softplus", "softsign", "elu", "selu",
    "leaky_relu", "gelu", "silu", "hard_sigmoid", "exponential",
)

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _f64(x):
    return np.asarray(x, dtype=np.float64)


# ----------------------------------------------------------------------- activations


def sigmoid(z):
    """Logistic function ``1 / (1 + exp(-z))``.

    Parameters
    ----------
    z : array_like
        Pre-activations.

    Returns
    -------
    ndarray of float64
    """
    z = _f64(z)
    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))),
                    np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))


def softmax(z):
    """Row-wise softmax over the last axis (max subtracted first).

    Parameters
    ----------
    z : array_like, shape (n, m)

    Returns
    -------
    ndarray of float64, shape (n, m)
    """
    z = _f64(z)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def activation(name, z):
    """Apply Keras 3's activation ``name`` to ``z``.

    Parameters
    ----------
    name : str
        One of :data:`ACTIVATIONS`.
    z : array_like, shape (n, m)
        Pre-activations (softmax works over the last axis).

    Returns
    -------
    ndarray of float64
    """
    z = _f64(z)
    if name == "linear":
        return z.copy()
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        return softmax(z)
    if name == "softplus":
        return np.logaddexp(0.0, z)
    if name == "softsign":
        return z / (1.0 + np.abs(z))
    if name == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))
    if name == "selu":
        return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0)))
    if name == "leaky_relu":
        return np.where(z > 0, z, LEAKY_RELU_SLOPE * z)
    if name == "gelu":
        # Keras 3's default is the exact form (approximate=False).
        return 0.5 * z * (1.0 + _erf(z / math.sqrt(2.0)))
    if name == "silu":
        return z * sigmoid(z)
    if name == "hard_sigmoid":
        # relu6(z + 3) / 6
        return np.clip(z + 3.0, 0.0, 6.0) / 6.0
    if name == "exponential":
        return np.exp(z)
    raise KeyError(name)


def activation_derivative(name, z):
    """Elementwise derivative ``f'(z)`` of an activation (not defined for softmax).

    Parameters
    ----------
    name : str
        Any of :data:`ACTIVATIONS` except ``"softmax"``.
    z : array_like
        Pre-activations.

    Returns
    -------
    ndarray of float64
    """
    z = _f64(z)
    if name == "linear":
        return np.ones_like(z)
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "sigmoid":
        s = sigmoid(z)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 / np.cosh(z) ** 2
    if name == "softplus":
        return sigmoid(z)
    if name == "softsign":
        return 1.0 / (1.0 + np.abs(z)) ** 2
    if name == "elu":
        return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0)))
    if name == "selu":
        return np.where(z > 0, SELU_SCALE, SELU_SCALE * SELU_ALPHA * np.exp(np.minimum(z, 0.0)))
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, LEAKY_RELU_SLOPE)
    if name == "gelu":
        cdf = 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))
        pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        return cdf + z * pdf
    if name == "silu":
        s = sigmoid(z)
        return s + z * s * (1.0 - s)
    if name == "hard_sigmoid":
        return np.where((z > -3.0) & (z < 3.0), 1.0 / 6.0, 0.0)
    if name == "exponential":
        return np.exp(z)
    raise KeyError(name)


def activation_backward(name, z, d_a):
    """Turn ``dL/dA`` into ``dL/dZ`` through activation ``name`` (softmax via its Jacobian).

    Parameters
    ----------
    name : str
        Activation name.
    z : array_like, shape (n, m)
        Pre-activations.
    d_a : array_like, shape (n, m)
        Gradient with respect to the activations.

    Returns
    -------
    ndarray of float64, shape (n, m)
    """
    z, d_a = _f64(z), _f64(d_a)
    if name != "softmax":
        return d_a * activation_derivative(name, z)
    a = softmax(z)
    out = np.empty_like(d_a)
    for r in range(z.shape[0]):
        jacobian = np.diag(a[r]) - np.outer(a[r], a[r])  # d a_i / d z_j
        out[r] = jacobian.T @ d_a[r]
    return out


# ----------------------------------------------------------------------- dense net


def dense_forward(x, layers):
    """Forward pass of a stack of dense layers.

    Parameters
    ----------
    x : array_like, shape (n, d)
        Inputs.
    layers : list of tuple
        ``(W, b, activation)`` per layer; ``b`` may be None (no bias) and ``W`` may be
        None for an Activation layer.

    Returns
    -------
    zs : list of ndarray
        Pre-activations of each layer.
    activations : list of ndarray
        ``[x, a_1, ..., a_L]``.
    """
    a = _f64(x)
    zs, activations = [], [a]
    for W, b, act in layers:
        z = a @ _f64(W) if W is not None else a.copy()
        if b is not None:
            z = z + _f64(b)
        a = activation(act, z)
        zs.append(z)
        activations.append(a)
    return zs, activations


def dense_backward(layers, zs, activations, d_out):
    """Back-propagate ``dL/dA`` of the last layer into parameter gradients.

    Parameters
    ----------
    layers : list of tuple
        As in :func:`dense_forward`.
    zs, activations : list of ndarray
        As returned by :func:`dense_forward`.
    d_out : array_like, shape (n, m)
        Gradient of the loss with respect to the model's output.

    Returns
    -------
    list of ndarray
        Gradients in ``get_weights`` order (kernel, then bias when present, per layer).
    """
    grads = []
    d = _f64(d_out)
    for l in range(len(layers) - 1, -1, -1):
        W, b, act = layers[l]
        d = activation_backward(act, zs[l], d)
        layer_grads = []
        if W is not None:
            layer_grads.append(activations[l].T @ d)
            if b is not None:
                layer_grads.append(d.sum(axis=0))
            d = d @ _f64(W).T
        grads = layer_grads + grads
    return grads


def layers_from_weights(weights, spec):
    """Pair a flat ``get_weights`` list with activations.

    Parameters
    ----------
    weights : list of ndarray
        Kernel/bias arrays in ``get_weights`` order.
    spec : list of tuple
        ``(activation, use_bias)`` per dense layer.

    Returns
    -------
    list of tuple
        ``(W, b, activation)`` per layer, for :func:`dense_forward`.
    """
    layers, i = [], 0
    for act, use_bias in spec:
        W = weights[i]
        i += 1
        b = None
        if use_bias:
            b = weights[i]
            i += 1
        layers.append((W, b, act))
    return layers


# ------------------------------------------------------------------------- losses


def _one_hot_targets(name, y_true, m):
    y_true = _f64(y_true)
    if name == "sparse_categorical_crossentropy":
        labels = y_true.reshape(-1).astype(np.int64)
        return np.eye(m)[labels]
    return y_true.reshape(-1, m)


def clip_slope(p, lo, hi):
    """Derivative of Keras's ``clip(p, lo, hi) = minimum(maximum(p, lo), hi)``.

    One strictly inside the range, zero outside it, and one half exactly at a bound,
    where ``maximum`` / ``minimum`` split the gradient between their two arguments.

    Parameters
    ----------
    p : array_like
        Values being clipped.
    lo, hi : float
        The range.

    Returns
    -------
    ndarray of float64
    """
    p = _f64(p)
    return np.where((p > lo) & (p < hi), 1.0, np.where((p == lo) | (p == hi), 0.5, 0.0))


def loss_per_sample(name, y_true, y_pred, from_logits=False, delta=1.0, epsilon=EPSILON):
    """Keras 3 per-sample loss values (reduced over the last axis).

    Parameters
    ----------
    name : str
        ``"mse"``, ``"mae"``, ``"huber"``, ``"binary_crossentropy"``,
        ``"categorical_crossentropy"`` or ``"sparse_categorical_crossentropy"``.
    y_true : array_like
        Targets, ``(n, m)``; ``(n,)`` or ``(n, 1)`` integer labels for the sparse loss.
    y_pred : array_like, shape (n, m)
        Predictions (probabilities, or logits with ``from_logits``).
    from_logits : bool
        Cross-entropies only.
    delta : float
        Huber's delta.
    epsilon : float
        Probability clip ``[epsilon, 1 - epsilon]``.

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    y_pred = np.atleast_2d(_f64(y_pred))
    m = y_pred.shape[1]
    y = _one_hot_targets(name, y_true, m)
    if name in ("mse", "mean_squared_error"):
        return np.mean((y_pred - y) ** 2, axis=-1)
    if name in ("mae", "mean_absolute_error"):
        return np.mean(np.abs(y_pred - y), axis=-1)
    if name in ("huber", "huber_loss"):
        error = y_pred - y
        abs_error = np.abs(error)
        quadratic = 0.5 * error ** 2
        linear = delta * abs_error - 0.5 * delta ** 2
        return np.mean(np.where(abs_error <= delta, quadratic, linear), axis=-1)
    if name == "binary_crossentropy":
        if from_logits:
            z = y_pred
            values = np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))
        else:
            p = np.clip(y_pred, epsilon, 1.0 - epsilon)
            values = -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
        return np.mean(values, axis=-1)
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        if from_logits:
            shifted = y_pred - y_pred.max(axis=-1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        else:
            p = y_pred / y_pred.sum(axis=-1, keepdims=True)
            log_p = np.log(np.clip(p, epsilon, 1.0 - epsilon))
        return -np.sum(y * log_p, axis=-1)
    raise KeyError(name)


def loss_gradient(name, y_true, y_pred, from_logits=False, delta=1.0, epsilon=EPSILON):
    """Gradient of each sample's loss with respect to its prediction row.

    Clipped probabilities pass no gradient (the derivative of ``clip`` is zero
    outside the range and one half exactly at a bound, see :func:`clip_slope`), as in
    Keras.

    Parameters
    ----------
    name, y_true, y_pred, from_logits, delta, epsilon
        As in :func:`loss_per_sample`.

    Returns
    -------
    ndarray of float64, shape (n, m)
        ``d loss_i / d y_pred[i]``.
    """
    y_pred = np.atleast_2d(_f64(y_pred))
    n, m = y_pred.shape
    y = _one_hot_targets(name, y_true, m)
    if name in ("mse", "mean_squared_error"):
        return 2.0 * (y_pred - y) / m
    if name in ("mae", "mean_absolute_error"):
        return np.sign(y_pred - y) / m
    if name in ("huber", "huber_loss"):
        error = y_pred - y
        return np.where(np.abs(error) <= delta, error, delta * np.sign(error)) / m
    if name == "binary_crossentropy":
        if from_logits:
            return (sigmoid(y_pred) - y) / m
        slope = clip_slope(y_pred, epsilon, 1.0 - epsilon)
        p = np.clip(y_pred, epsilon, 1.0 - epsilon)
        # d/dp of -(y log p + (1 - y) log(1 - p)), times the clip's slope
        return slope * (-y / p + (1.0 - y) / (1.0 - p)) / m
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        out = np.zeros((n, m))
        for r in range(n):
            if from_logits:
                out[r] = softmax(y_pred[r:r + 1])[0] * y[r].sum() - y[r]
                continue
            a = y_pred[r]
            s = a.sum()
            q = a / s
            slope = clip_slope(q, epsilon, 1.0 - epsilon)
            # dq_j / da_k = delta_jk / s - a_j / s**2
            jacobian = np.eye(m) / s - np.outer(a, np.ones(m)) / s ** 2
            # d(-sum_j y_j log clip(q_j)) / dq_j
            d_q = -slope * y[r] / np.clip(q, epsilon, 1.0 - epsilon)
            out[r] = jacobian.T @ d_q
        return out
    raise KeyError(name)


def weighted_batch_loss(per_sample, sample_weight=None):
    """Keras's ``sum_over_batch_size`` reduction: ``sum(w_i * l_i) / n``.

    Parameters
    ----------
    per_sample : ndarray, shape (n,)
    sample_weight : array_like, shape (n,), optional

    Returns
    -------
    float
    """
    per_sample = _f64(per_sample)
    if sample_weight is None:
        return float(per_sample.mean())
    return float(np.sum(_f64(sample_weight) * per_sample) / per_sample.shape[0])


def model_loss(weights, spec, x, y, loss, from_logits=False, delta=1.0, sample_weight=None):
    """Batch loss of a dense model with the given weights (float64 throughout).

    Parameters
    ----------
    weights : list of ndarray
        ``get_weights`` order.
    spec : list of tuple
        ``(activation, use_bias)`` per dense layer.
    x, y : array_like
        Inputs and targets.
    loss : str
        Reference loss name (see :func:`loss_per_sample`).
    from_logits : bool
    delta : float
    sample_weight : array_like, optional

    Returns
    -------
    float
    """
    _, acts = dense_forward(x, layers_from_weights(weights, spec))
    per_sample = loss_per_sample(loss, y, acts[-1], from_logits=from_logits, delta=delta)
    return weighted_batch_loss(per_sample, sample_weight)


def model_gradient(weights, spec, x, y, loss, from_logits=False, delta=1.0, sample_weight=None):
    """Analytic gradient of :func:`model_loss` with respect to every weight.

    Parameters
    ----------
    weights, spec, x, y, loss, from_logits, delta, sample_weight
        As in :func:`model_loss`.

    Returns
    -------
    list of ndarray
        Gradients in ``get_weights`` order.
    """
    layers = layers_from_weights(weights, spec)
    zs, acts = dense_forward(x, layers)
    n = acts[0].shape[0]
    w = np.ones(n) if sample_weight is None else _f64(sample_weight)
    d_out = loss_gradient(loss, y, acts[-1], from_logits=from_logits, delta=delta)
    d_out = d_out * (w / n)[:, None]
    return dense_backward(layers, zs, acts, d_out)


def finite_difference_gradient(f, weights, h=1e-6):
    """Central finite differences of a scalar function of a list of arrays.

    Parameters
    ----------
    f : callable
        ``f(list_of_arrays) -> float``.
    weights : list of ndarray
        The point at which to differentiate.
    h : float
        Step size.

    Returns
    -------
    list of ndarray
        ``df / dw`` for every entry, shaped like ``weights``.
    """
    base = [_f64(w).copy() for w in weights]
    grads = []
    for i, w in enumerate(base):
        g = np.zeros_like(w)
        for index in np.ndindex(w.shape):
            saved = w[index]
            w[index] = saved + h
            up = f(base)
            w[index] = saved - h
            down = f(base)
            w[index] = saved
            g[index] = (up - down) / (2.0 * h)
        grads.append(g)
    return grads


# ------------------------------------------------------------------------ metrics


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per-sample mean over the last axis of ``y_true == (y_pred > threshold)``.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n, m)
    threshold : float

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    y_pred = np.atleast_2d(_f64(y_pred))
    y_true = _f64(y_true).reshape(y_pred.shape)
    return np.mean(y_true == (y_pred > threshold).astype(np.float64), axis=-1)


def categorical_accuracy(y_true, y_pred):
    """``argmax(y_true) == argmax(y_pred)`` per sample.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n, m)

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    return (np.argmax(_f64(y_true), axis=-1) == np.argmax(_f64(y_pred), axis=-1)).astype(
        np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    """``label == argmax(y_pred)`` per sample.

    Parameters
    ----------
    y_true : array_like, shape (n,) or (n, 1)
        Integer labels.
    y_pred : array_like, shape (n, m)

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    labels = _f64(y_true).reshape(-1)
    return (np.argmax(_f64(y_pred), axis=-1) == labels).astype(np.float64)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Whether the target class's score is at least the k-th largest (Keras ``in_top_k``).

    Parameters
    ----------
    y_true : array_like, shape (n, m)
        One-hot targets.
    y_pred : array_like, shape (n, m)
    k : int

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    labels = np.argmax(_f64(y_true), axis=-1)
    return sparse_top_k_categorical_accuracy(labels, y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Top-k accuracy against integer labels (ties with the k-th value count as hits).

    Parameters
    ----------
    y_true : array_like, shape (n,) or (n, 1)
    y_pred : array_like, shape (n, m)
    k : int

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    y_pred = np.atleast_2d(_f64(y_pred))
    labels = _f64(y_true).reshape(-1).astype(np.int64)
    out = np.zeros(y_pred.shape[0])
    for r in range(y_pred.shape[0]):
        kth = np.sort(y_pred[r])[::-1][min(k, y_pred.shape[1]) - 1]
        out[r] = float(y_pred[r, labels[r]] >= kth)
    return out


# --------------------------------------------------------------------- optimizers


def clip_gradients(grads, clipnorm=None, clipvalue=None, global_clipnorm=None):
    """Keras 3's gradient clipping (``Optimizer._clip_gradients``).

    Parameters
    ----------
    grads : list of ndarray
        One gradient per variable.
    clipnorm : float, optional
        Each variable's gradient is rescaled to at most this L2 norm.
    clipvalue : float, optional
        Every entry is clipped to ``[-clipvalue, clipvalue]``.
    global_clipnorm : float, optional
        All gradients are rescaled together to at most this global L2 norm.

    Returns
    -------
    list of ndarray
    """
    grads = [_f64(g).copy() for g in grads]
    if clipnorm:
        out = []
        for g in grads:
            norm = np.sqrt(np.sum(g * g))
            out.append(g * clipnorm / max(norm, clipnorm))
        return out
    if global_clipnorm:
        norm = np.sqrt(sum(np.sum(g * g) for g in grads))
        return [g * global_clipnorm / max(norm, global_clipnorm) for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


class ReferenceOptimizer:
    """Base class: holds per-variable slots and applies Keras 3's update formulas.

    Parameters
    ----------
    clipnorm, clipvalue, global_clipnorm : float, optional
        As in :func:`clip_gradients`.
    """

    def __init__(self, clipnorm=None, clipvalue=None, global_clipnorm=None):
        self.clip = {"clipnorm": clipnorm, "clipvalue": clipvalue,
                     "global_clipnorm": global_clipnorm}
        self.iterations = 0
        self.slots = None

    def make_slots(self, variable):
        """Return the slot arrays of one variable (override)."""
        return {}

    def update(self, variable, gradient, slots):
        """Return the new value of one variable (override)."""
        raise NotImplementedError

    def apply(self, variables, grads):
        """Apply one step to every variable.

        Parameters
        ----------
        variables : list of ndarray
            Current values.
        grads : list of ndarray
            Gradients, one per variable.

        Returns
        -------
        list of ndarray
            New values (float64).
        """
        variables = [_f64(v).copy() for v in variables]
        if self.slots is None:
            self.slots = [self.make_slots(v) for v in variables]
        grads = clip_gradients(grads, **self.clip)
        new = [self.update(v, g, s) for v, g, s in zip(variables, grads, self.slots)]
        self.iterations += 1
        return new


class SGD(ReferenceOptimizer):
    """Keras 3 SGD.

    Parameters
    ----------
    learning_rate, momentum : float
    nesterov : bool
    **clip
        Clipping options.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **clip):
        super().__init__(**clip)
        self.lr, self.momentum, self.nesterov = learning_rate, momentum, nesterov

    def make_slots(self, variable):
        return {"m": np.zeros_like(variable)}

    def update(self, variable, gradient, slots):
        if self.momentum == 0:
            return variable - self.lr * gradient
        m = self.momentum * slots["m"] - self.lr * gradient
        slots["m"] = m
        if self.nesterov:
            return variable + self.momentum * m - self.lr * gradient
        return variable + m


class RMSprop(ReferenceOptimizer):
    """Keras 3 RMSprop (epsilon inside the square root).

    Parameters
    ----------
    learning_rate, rho, momentum, epsilon : float
    centered : bool
    **clip
        Clipping options.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, **clip):
        super().__init__(**clip)
        self.lr, self.rho, self.momentum = learning_rate, rho, momentum
        self.epsilon, self.centered = epsilon, centered

    def make_slots(self, variable):
        return {"velocity": np.zeros_like(variable), "average": np.zeros_like(variable),
                "momentum": np.zeros_like(variable)}

    def update(self, variable, gradient, slots):
        rho = self.rho
        slots["velocity"] = rho * slots["velocity"] + (1 - rho) * gradient ** 2
        if self.centered:
            slots["average"] = rho * slots["average"] + (1 - rho) * gradient
            denominator = slots["velocity"] - slots["average"] ** 2 + self.epsilon
        else:
            denominator = slots["velocity"] + self.epsilon
        increment = self.lr * gradient / np.sqrt(denominator)
        if self.momentum > 0:
            slots["momentum"] = self.momentum * slots["momentum"] + increment
            return variable - slots["momentum"]
        return variable - increment


class Adagrad(ReferenceOptimizer):
    """Keras 3 Adagrad (accumulator starts at ``initial_accumulator_value``).

    Parameters
    ----------
    learning_rate, initial_accumulator_value, epsilon : float
    **clip
        Clipping options.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 **clip):
        super().__init__(**clip)
        self.lr, self.initial, self.epsilon = learning_rate, initial_accumulator_value, epsilon

    def make_slots(self, variable):
        return {"accumulator": np.full_like(variable, self.initial)}

    def update(self, variable, gradient, slots):
        slots["accumulator"] = slots["accumulator"] + gradient ** 2
        return variable - self.lr * gradient / np.sqrt(slots["accumulator"] + self.epsilon)


class Adam(ReferenceOptimizer):
    """Keras 3 Adam (bias correction folded into the step size, epsilon-hat form).

    Parameters
    ----------
    learning_rate, beta_1, beta_2, epsilon : float
    amsgrad : bool
    **clip
        Clipping options.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **clip):
        super().__init__(**clip)
        self.lr, self.beta_1, self.beta_2 = learning_rate, beta_1, beta_2
        self.epsilon, self.amsgrad = epsilon, amsgrad

    def make_slots(self, variable):
        return {"m": np.zeros_like(variable), "v": np.zeros_like(variable),
                "vhat": np.zeros_like(variable)}

    def alpha(self):
        """Step size of the coming update: ``lr * sqrt(1 - b2**t) / (1 - b1**t)``."""
        t = self.iterations + 1
        return self.lr * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)

    def update(self, variable, gradient, slots):
        slots["m"] = slots["m"] + (gradient - slots["m"]) * (1 - self.beta_1)
        slots["v"] = slots["v"] + (gradient ** 2 - slots["v"]) * (1 - self.beta_2)
        v = slots["v"]
        if self.amsgrad:
            slots["vhat"] = np.maximum(slots["vhat"], slots["v"])
            v = slots["vhat"]
        return variable - self.alpha() * slots["m"] / (np.sqrt(v) + self.epsilon)


def train_reference(weights, spec, x, y, loss, optimizer, epochs=1, batch_size=None,
                    from_logits=False, delta=1.0, sample_weight=None):
    """Unshuffled mini-batch training of a dense model with a reference optimizer.

    Parameters
    ----------
    weights : list of ndarray
        Initial weights in ``get_weights`` order.
    spec : list of tuple
        ``(activation, use_bias)`` per dense layer.
    x, y : ndarray
        Training data, used in row order every epoch.
    loss : str
        Reference loss name.
    optimizer : ReferenceOptimizer
    epochs : int
    batch_size : int, optional
        Defaults to all rows.
    from_logits, delta, sample_weight
        As in :func:`model_loss`.

    Returns
    -------
    weights : list of ndarray
        Final weights.
    epoch_losses : list of float
        Per epoch, the batch-size-weighted mean of the pre-update batch losses.
    """
    x, y = _f64(x), _f64(y)
    n = x.shape[0]
    batch_size = n if batch_size is None else batch_size
    sw = np.ones(n) if sample_weight is None else _f64(sample_weight)
    weights = [_f64(w).copy() for w in weights]
    epoch_losses = []
    for _ in range(epochs):
        total = 0.0
        for start in range(0, n, batch_size):
            xb, yb, wb = x[start:start + batch_size], y[start:start + batch_size], \
                sw[start:start + batch_size]
            total += model_loss(weights, spec, xb, yb, loss, from_logits, delta, wb) * len(xb)
            grads = model_gradient(weights, spec, xb, yb, loss, from_logits, delta, wb)
            weights = optimizer.apply(weights, grads)
        epoch_losses.append(total / n)
    return weights, epoch_losses


#: Keras 3's ``summary()`` of the seed's XOR model (2-2-1, named as in a fresh session).
XOR_SUMMARY = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 2)              │             6 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 1)              │             3 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 9 (36.00 B)
 Trainable params: 9 (36.00 B)
 Non-trainable params: 0 (0.00 B)
"""
