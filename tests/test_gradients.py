"""Float64 finite-difference checks of the whole-model gradient the engine computes.

A model takes one plain SGD step (``learning_rate=lr``, one batch holding every
row, ``shuffle=False``, one epoch), so its weight change is ``-lr * gradient``.
That gradient is compared with central finite differences of the batch loss,
computed in float64 by the NumPy reference from the model's initial weights.
Inputs keep every activation away from its kinks (relu at 0, hard_sigmoid's
corners) and every mae / huber error away from 0 and from delta.
"""

import numpy as np
import pytest

import fastmlp
import reference as ref
from fastmlp.layers import Dense

LR = 0.5
N, D_IN, HIDDEN = 6, 4, 3


def engine_gradient(model, loss, x, y, sample_weight=None):
    """Weights before, and ``(before - after) / LR`` for one full-batch SGD step."""
    model.compile(optimizer=fastmlp.optimizers.SGD(learning_rate=LR), loss=loss)
    before = model.get_weights()
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0,
              sample_weight=sample_weight)
    after = model.get_weights()
    assert model.optimizer.iterations == 1
    return before, [(b - a) / LR for b, a in zip(before, after)]


def build(hidden_act, out_act, out_units, kernel_scale=1.0, use_bias=True, seed=0):
    fastmlp.utils.set_random_seed(seed)
    model = fastmlp.Sequential([
        Dense(HIDDEN, activation=hidden_act, input_dim=D_IN),
        Dense(out_units, activation=out_act, use_bias=use_bias),
    ])
    assert model.get_weights()[0].dtype == np.float64
    rng = np.random.default_rng(seed + 100)
    weights = [w * kernel_scale if w.ndim == 2 else rng.uniform(-0.3, 0.3, w.shape)
               for w in model.get_weights()]
    model.set_weights(weights)
    spec = [(hidden_act, True), (out_act, use_bias)]
    return model, spec


def check(model, spec, loss, x, y, loss_name, from_logits=False, delta=1.0,
          sample_weight=None, rtol=1e-6):
    """Compare the engine's gradient with finite differences and the analytic reference."""
    before, got = engine_gradient(model, loss, x, y, sample_weight)
    assert all(g.dtype == np.float64 for g in got)

    def f(weights):
        return ref.model_loss(weights, spec, x, y, loss_name, from_logits, delta, sample_weight)

    fd = ref.finite_difference_gradient(f, before)
    analytic = ref.model_gradient(before, spec, x, y, loss_name, from_logits, delta,
                                  sample_weight)
    scale = max(np.abs(np.concatenate([g.ravel() for g in fd])).max(), 1e-3)
    for i, (g, expected, exact) in enumerate(zip(got, fd, analytic)):
        np.testing.assert_allclose(g, expected, rtol=rtol, atol=1e-7 * scale,
                                   err_msg=f"variable {i} vs finite differences")
        np.testing.assert_allclose(g, exact, rtol=1e-9, atol=1e-12 * scale,
                                   err_msg=f"variable {i} vs analytic reference")
    # The gradient is not trivially zero.
    assert scale > 1e-4


def data(seed=0, n=N):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(n, D_IN))


@pytest.mark.parametrize("act", ref.ACTIVATIONS)
def test_every_activation_hidden_and_output(act, float64):
    """The activation on both layers, mean squared error."""
    model, spec = build(act, act, 3)
    x = data(1)
    y = np.random.default_rng(2).uniform(-1, 1, size=(N, 3))
    for z in ref.dense_forward(x, ref.layers_from_weights(model.get_weights(), spec))[0]:
        assert np.abs(z).min() > 1e-4          # away from relu's kink
        assert np.abs(z).max() < 2.9           # inside hard_sigmoid's linear part
    check(model, spec, "mse", x, y, "mse")


@pytest.mark.parametrize("act", ref.ACTIVATIONS)
def test_every_activation_without_output_bias(act, float64):
    model, spec = build("tanh", act, 2, use_bias=False, seed=3)
    x = data(4)
    y = np.random.default_rng(5).uniform(-1, 1, size=(N, 2))
    check(model, spec, "mse", x, y, "mse")


def _targets(kind, width, seed):
    rng = np.random.default_rng(seed)
    if kind == "binary":
        y = rng.integers(0, 2, size=(N, width)).astype(np.float64)
        y[0] = rng.uniform(0.2, 0.8, size=width)   # soft labels too
        return y
    if kind == "onehot":
        y = np.eye(width)[rng.integers(0, width, size=N)]
        y[1] = rng.dirichlet(np.ones(width))
        return y
    if kind == "sparse":
        return rng.integers(0, width, size=(N, 1)).astype(np.float64)
    return rng.uniform(-2.0, 2.0, size=(N, width))


# (loss given to compile, reference name, from_logits, output activation, width, targets)
LOSS_CASES = [
    ("mse", "mse", False, "linear", 2, "real"),
    ("mean_squared_error", "mse", False, "tanh", 1, "real"),
    ("mae", "mae", False, "linear", 2, "real"),
    ("mean_absolute_error", "mae", False, "sigmoid", 3, "real"),
    ("huber", "huber", False, "linear", 3, "real"),
    ("binary_crossentropy", "binary_crossentropy", False, "sigmoid", 1, "binary"),
    ("binary_crossentropy", "binary_crossentropy", False, "sigmoid", 3, "binary"),
    ("binary_crossentropy", "binary_crossentropy", False, "softmax", 3, "binary"),
    ("binary_crossentropy", "binary_crossentropy", False, "hard_sigmoid", 2, "binary"),
    ("categorical_crossentropy", "categorical_crossentropy", False, "softmax", 3, "onehot"),
    ("categorical_crossentropy", "categorical_crossentropy", False, "sigmoid", 3, "onehot"),
    ("categorical_crossentropy", "categorical_crossentropy", False, "exponential", 4,
     "onehot"),
    ("sparse_categorical_crossentropy", "sparse_categorical_crossentropy", False, "softmax",
     3, "sparse"),
    ("sparse_categorical_crossentropy", "sparse_categorical_crossentropy", False, "softplus",
     4, "sparse"),
]

LOGITS_CASES = [
    (fastmlp.losses.BinaryCrossentropy, "binary_crossentropy", 1, "binary"),
    (fastmlp.losses.BinaryCrossentropy, "binary_crossentropy", 3, "binary"),
    (fastmlp.losses.CategoricalCrossentropy, "categorical_crossentropy", 3, "onehot"),
    (fastmlp.losses.SparseCategoricalCrossentropy, "sparse_categorical_crossentropy", 3,
     "sparse"),
]


@pytest.mark.parametrize("case", LOSS_CASES, ids=lambda c: f"{c[0]}-{c[3]}-w{c[4]}")
def test_every_loss(case, float64):
    loss, ref_name, from_logits, out_act, width, kind = case
    model, spec = build("tanh", out_act, width, seed=7)
    x = data(8)
    y = _targets(kind, width, 9)
    _, acts = ref.dense_forward(x, ref.layers_from_weights(model.get_weights(), spec))
    if ref_name in ("mae", "huber"):
        error = np.abs(acts[-1] - y)
        assert error.min() > 1e-3 and np.abs(error - 1.0).min() > 1e-3
    if ref_name == "huber":
        assert (error < 1).any() and (error > 1).any()  # both branches
    if out_act == "hard_sigmoid":
        assert np.abs(ref.dense_forward(x, ref.layers_from_weights(
            model.get_weights(), spec))[0][-1]).max() < 2.9
    if ref_name == "binary_crossentropy":
        assert (acts[-1] > 1e-3).all() and (acts[-1] < 1 - 1e-3).all()
    check(model, spec, loss, x, y, ref_name, from_logits)


@pytest.mark.parametrize("case", LOGITS_CASES, ids=lambda c: f"{c[1]}-w{c[2]}")
@pytest.mark.parametrize("out_act", ["linear", "tanh"])
def test_every_loss_from_logits(case, out_act, float64):
    cls, ref_name, width, kind = case
    model, spec = build("sigmoid", out_act, width, kernel_scale=2.0, seed=11)
    x = data(12)
    y = _targets(kind, width, 13)
    check(model, spec, cls(from_logits=True), x, y, ref_name, from_logits=True)


@pytest.mark.parametrize("delta", [0.3, 2.5])
def test_huber_delta(delta, float64):
    model, spec = build("tanh", "linear", 3, seed=14)
    x = data(15)
    y = _targets("real", 3, 16)
    check(model, spec, fastmlp.losses.Huber(delta=delta), x, y, "huber", delta=delta)


@pytest.mark.parametrize("loss,ref_name,out_act,width,kind", [
    ("mse", "mse", "linear", 2, "real"),
    ("categorical_crossentropy", "categorical_crossentropy", "softmax", 3, "onehot"),
    ("binary_crossentropy", "binary_crossentropy", "sigmoid", 1, "binary"),
])
def test_sample_weights_scale_the_gradient(loss, ref_name, out_act, width, kind, float64):
    """Weighted batch loss is sum(w_i * l_i) / batch_size (Keras's sum_over_batch_size)."""
    model, spec = build("elu", out_act, width, seed=17)
    x = data(18)
    y = _targets(kind, width, 19)
    sw = np.random.default_rng(20).uniform(0.0, 3.0, size=N)
    check(model, spec, loss, x, y, ref_name, sample_weight=sw)


def test_activation_layer_between_dense_layers(float64):
    """A separate Activation layer back-propagates like a fused one."""
    fastmlp.utils.set_random_seed(21)
    model = fastmlp.Sequential([Dense(3, input_dim=D_IN), fastmlp.layers.Activation("gelu"),
                                Dense(2), fastmlp.layers.Activation("softmax")])
    spec_layers = lambda w: [(w[0], w[1], "linear"), (None, None, "gelu"),
                             (w[2], w[3], "linear"), (None, None, "softmax")]
    x = data(22)
    y = _targets("onehot", 2, 23)
    before, got = engine_gradient(model, "categorical_crossentropy", x, y)

    def f(weights):
        _, acts = ref.dense_forward(x, spec_layers(weights))
        return ref.loss_per_sample("categorical_crossentropy", y, acts[-1]).mean()

    fd = ref.finite_difference_gradient(f, before)
    for g, expected in zip(got, fd):
        np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-10)


def test_deeper_network_with_ragged_batches(float64):
    """Three dense layers, batch 4 of 7 rows: each step's gradient matches the reference."""
    fastmlp.utils.set_random_seed(24)
    model = fastmlp.Sequential([Dense(5, "selu", input_dim=3), Dense(4, "silu"),
                                Dense(2, "softmax")])
    spec = [("selu", True), ("silu", True), ("softmax", True)]
    x = np.random.default_rng(25).normal(size=(7, 3))
    y = np.eye(2)[np.random.default_rng(26).integers(0, 2, size=7)]
    model.compile(optimizer=fastmlp.optimizers.SGD(learning_rate=0.1),
                  loss="categorical_crossentropy")
    w0 = model.get_weights()
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    expected, losses = ref.train_reference(w0, spec, x, y, "categorical_crossentropy",
                                           ref.SGD(0.1), epochs=2, batch_size=4)
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-10)
