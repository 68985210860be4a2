"""Scalar maths shared by every kernel target: activations, their derivatives, codes.

Each activation has an integer code (the layout table stores it) and two scalar
functions: ``activate(code, z)`` and ``activation_grad(code, z, a)``, the
derivative at pre-activation ``z`` whose output is ``a``. Softmax works on whole
rows and is handled by the row kernels; its scalar entries are never used.
Formulas and constants follow Keras 3 (``keras/src/activations/activations.py``).
"""

import math

from numba import njit

LINEAR = 0
RELU = 1
SIGMOID = 2
TANH = 3
SOFTMAX = 4
SOFTPLUS = 5
SOFTSIGN = 6
ELU = 7
SELU = 8
LEAKY_RELU = 9
GELU = 10
SILU = 11
HARD_SIGMOID = 12
EXPONENTIAL = 13

#: Activation names in code order.
ACTIVATION_NAMES = (
    "linear", "relu", "sigmoid", "tanh", "softmax", "softplus", "softsign", "elu",
    "selu", "leaky_relu", "gelu", "silu", "hard_sigmoid", "exponential",
)

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
LEAKY_RELU_SLOPE = 0.2
_INV_SQRT2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


@njit(cache=True, inline="always", error_model="numpy")
def sigmoid(z):
    """Logistic function, stable for large ``|z|``.

    Parameters
    ----------
    z : float
        Pre-activation value.
    """
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(cache=True, inline="always", error_model="numpy")
def activate_common(code, z):
    """Linear, relu, sigmoid or tanh of ``z`` (codes below ``SOFTMAX``).

    Kept apart from :func:`activate` so that kernels handling only these need
    not compile the rest.

    Parameters
    ----------
    code : int
        Activation code below ``SOFTMAX``.
    z : float
        Pre-activation value.
    """
    if code == RELU:
        return z if z > 0 else 0.0
    if code == SIGMOID:
        return sigmoid(z)
    if code == TANH:
        return math.tanh(z)
    return z


@njit(cache=True, inline="always", error_model="numpy")
def activate(code, z):
    """Activation ``code`` applied to ``z`` (every activation but softmax).

    Parameters
    ----------
    code : int
        Activation code.
    z : float
        Pre-activation value.
    """
    if code < SOFTMAX:
        return activate_common(code, z)
    if code == SOFTPLUS:
        # log(1 + exp(z)) without overflow.
        return max(z, 0.0) + math.log1p(math.exp(-abs(z)))
    if code == SOFTSIGN:
        return z / (1.0 + abs(z))
    if code == ELU:
        return z if z > 0 else math.expm1(z)
    if code == SELU:
        return SELU_SCALE * z if z > 0 else SELU_SCALE * SELU_ALPHA * math.expm1(z)
    if code == LEAKY_RELU:
        return z if z > 0 else LEAKY_RELU_SLOPE * z
    if code == GELU:
        return 0.5 * z * (1.0 + math.erf(z * _INV_SQRT2))
    if code == SILU:
        return z * sigmoid(z)
    if code == HARD_SIGMOID:
        return min(max(z / 6.0 + 0.5, 0.0), 1.0)
    if code == EXPONENTIAL:
        return math.exp(z)
    return z


@njit(cache=True, inline="always", error_model="numpy")
def activation_grad(code, z, a):
    """Derivative of activation ``code`` at ``z``, given its output ``a``.

    Parameters
    ----------
    code : int
        Activation code.
    z : float
        Pre-activation value.
    a : float
        The activation's output at ``z``.
    """
    if code == LINEAR:
        return 1.0
    if code == RELU:
        return 1.0 if z > 0 else 0.0
    if code == SIGMOID:
        return a * (1.0 - a)
    if code == TANH:
        return 1.0 - a * a
    if code == SOFTPLUS:
        return sigmoid(z)
    if code == SOFTSIGN:
        d = 1.0 + abs(z)
        return 1.0 / (d * d)
    if code == ELU:
        return 1.0 if z > 0 else a + 1.0
    if code == SELU:
        return SELU_SCALE if z > 0 else a + SELU_SCALE * SELU_ALPHA
    if code == LEAKY_RELU:
        return 1.0 if z > 0 else LEAKY_RELU_SLOPE
    if code == GELU:
        cdf = 0.5 * (1.0 + math.erf(z * _INV_SQRT2))
        return cdf + z * _INV_SQRT_2PI * math.exp(-0.5 * z * z)
    if code == SILU:
        s = sigmoid(z)
        return s * (1.0 + z * (1.0 - s))
    if code == HARD_SIGMOID:
        return 1.0 / 6.0 if -3.0 < z < 3.0 else 0.0
    if code == EXPONENTIAL:
        return a
    return 1.0

# Loss codes.
MEAN_SQUARED_ERROR = 0
MEAN_ABSOLUTE_ERROR = 1
BINARY_CROSSENTROPY = 2
CATEGORICAL_CROSSENTROPY = 3
SPARSE_CATEGORICAL_CROSSENTROPY = 4
HUBER = 5

# Metric kinds (a loss used as a metric reuses the loss codes through LOSS_VALUE).
BINARY_ACCURACY = 0
CATEGORICAL_ACCURACY = 1
SPARSE_CATEGORICAL_ACCURACY = 2
TOP_K_CATEGORICAL_ACCURACY = 3
SPARSE_TOP_K_CATEGORICAL_ACCURACY = 4
LOSS_VALUE = 5
