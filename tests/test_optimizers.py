"""Optimizers against Keras 3's closed-form update formulas, through the model API.

Training runs unshuffled so every step's gradient is known; the reference
(``tests/reference.py``) replays the same batches with NumPy float64 formulas:
SGD with (Nesterov) momentum, RMSprop (epsilon inside the square root, centered,
momentum), Adagrad (accumulator starting at 0.1, epsilon inside the square root)
and Adam (epsilon-hat form, amsgrad), with clipnorm per variable, clipvalue and
global_clipnorm.
"""

import numpy as np
import pytest

import fastmlp
import reference as ref
from fastmlp import optimizers
from fastmlp.layers import Dense


def one_weight_model(value):
    """``y = w * x`` with a single weight ``w`` (no bias), in the current float type."""
    model = fastmlp.Sequential([Dense(1, use_bias=False, input_dim=1)])
    model.set_weights([np.array([[value]])])
    assert model.get_weights()[0].dtype == fastmlp.config.float_dtype()
    return model


# ------------------------------------------------------------------------ defaults


def test_keras_defaults():
    sgd = optimizers.SGD()
    assert (sgd.learning_rate, sgd.momentum, sgd.nesterov) == (0.01, 0.0, False)
    rms = optimizers.RMSprop()
    assert (rms.learning_rate, rms.rho, rms.momentum, rms.epsilon, rms.centered) == \
        (0.001, 0.9, 0.0, 1e-7, False)
    ada = optimizers.Adagrad()
    assert (ada.learning_rate, ada.initial_accumulator_value, ada.epsilon) == (0.001, 0.1, 1e-7)
    adam = optimizers.Adam()
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad) == \
        (0.001, 0.9, 0.999, 1e-7, False)
    for opt in (sgd, rms, ada, adam):
        assert opt.clipnorm is None and opt.clipvalue is None and opt.global_clipnorm is None
        assert opt.iterations == 0


def test_compile_defaults_to_rmsprop():
    model = fastmlp.Sequential([Dense(1, input_dim=2)])
    model.compile(loss="mse")
    assert isinstance(model.optimizer, optimizers.RMSprop)
    assert model.optimizer.learning_rate == 0.001


@pytest.mark.parametrize("name,cls", [("sgd", optimizers.SGD), ("SGD", optimizers.SGD),
                                      ("rmsprop", optimizers.RMSprop),
                                      ("RMSprop", optimizers.RMSprop),
                                      ("adagrad", optimizers.Adagrad),
                                      ("adam", optimizers.Adam), ("Adam", optimizers.Adam)])
def test_get_by_name(name, cls):
    opt = optimizers.get(name)
    assert type(opt) is cls
    assert optimizers.get(cls).__class__ is cls
    assert optimizers.get(opt) is opt


@pytest.mark.parametrize("cls", [optimizers.SGD, optimizers.RMSprop, optimizers.Adagrad,
                                 optimizers.Adam])
def test_lr_keyword_is_rejected(cls):
    with pytest.raises(ValueError, match="learning_rate") as info:
        cls(lr=0.1)
    assert "lr" in str(info.value)


def test_unknown_keyword_is_rejected():
    with pytest.raises(ValueError, match="momentun"):
        optimizers.SGD(momentun=0.9)


@pytest.mark.parametrize("bad", ["nope", "adamw_typo", 3])
def test_unknown_optimizer_name(bad):
    with pytest.raises(ValueError, match="Unknown optimizer") as info:
        optimizers.get(bad)
    assert repr(bad) in str(info.value)
    assert "adam" in str(info.value) and "sgd" in str(info.value)
    model = fastmlp.Sequential([Dense(1, input_dim=2)])
    with pytest.raises(ValueError, match="Unknown optimizer"):
        model.compile(optimizer=bad, loss="mse")


def test_only_one_clipping_option():
    with pytest.raises(ValueError, match="clipnorm"):
        optimizers.SGD(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(ValueError, match="global_clipnorm"):
        optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0)


@pytest.mark.parametrize("kwargs", [{"learning_rate": -0.1}, {"momentum": 1.5},
                                    {"clipnorm": 0.0}, {"clipvalue": -1.0},
                                    {"learning_rate": float("nan")}])
def test_bad_hyperparameters(kwargs):
    (key, value), = kwargs.items()
    with pytest.raises(ValueError, match=key):
        optimizers.SGD(**kwargs)


# ---------------------------------------------------------------- Keras examples


def test_rmsprop_keras_docstring_example():
    """Keras: RMSprop(0.1) on w=10 with gradient 10 gives 9.683772 (epsilon inside sqrt)."""
    model = one_weight_model(10.0)
    # mse of w * 1 against 5: gradient 2 * (10 - 5) = 10.
    model.compile(optimizer=optimizers.RMSprop(learning_rate=0.1), loss="mse")
    model.fit(np.array([[1.0]]), np.array([[5.0]]), batch_size=1, epochs=1, verbose=0)
    w = model.get_weights()[0][0, 0]
    assert w == pytest.approx(9.683772, abs=1e-6)
    assert w == pytest.approx(10 - 0.1 * 10 / np.sqrt(0.1 * 100 + 1e-7), abs=1e-6)


def test_sgd_keras_docstring_example(float64):
    """Keras: SGD(0.1) on w=1 with loss w**2 / 2 gives 0.9; with momentum 0.9, 0.9 then 0.72."""
    x = np.array([[np.sqrt(0.5)]])      # mse of w * x against 0: gradient w
    y = np.array([[0.0]])
    for momentum, expected in ((0.0, [0.9, 0.81]), (0.9, [0.9, 0.72])):
        model = one_weight_model(1.0)
        model.compile(optimizer=optimizers.SGD(0.1, momentum=momentum), loss="mse")
        for want in expected:
            model.fit(x, y, batch_size=1, epochs=1, verbose=0)
            assert model.get_weights()[0][0, 0] == pytest.approx(want, abs=1e-6)


def test_adagrad_accumulator_starts_at_initial_value():
    model = one_weight_model(10.0)
    model.compile(optimizer=optimizers.Adagrad(learning_rate=0.1), loss="mse")
    model.fit(np.array([[1.0]]), np.array([[5.0]]), batch_size=1, epochs=1, verbose=0)
    expected = 10 - 0.1 * 10 / np.sqrt(0.1 + 100 + 1e-7)
    assert model.get_weights()[0][0, 0] == pytest.approx(expected, abs=1e-6)


def test_adam_first_step_is_learning_rate_times_sign(float64):
    """Bias correction makes Adam's first step ``lr * g / (|g| + eps_hat)``."""
    model = one_weight_model(10.0)
    model.compile(optimizer=optimizers.Adam(learning_rate=0.1), loss="mse")
    model.fit(np.array([[1.0]]), np.array([[5.0]]), batch_size=1, epochs=1, verbose=0)
    alpha = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9)
    expected = 10 - alpha * (0.1 * 10) / (np.sqrt(0.001 * 100) + 1e-7)
    assert model.get_weights()[0][0, 0] == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(9.9, abs=1e-6)


# ------------------------------------------------- several steps vs the reference

SPEC = [("tanh", True), ("sigmoid", True)]


def trained_pair(optimizer, reference, epochs=3, batch_size=3, loss="mse", seed=0,
                 dtype=np.float64):
    """Train fastmlp and the reference identically.

    Returns fastmlp's and the reference's final weights, their loss histories, and the
    data and initial weights used.
    """
    fastmlp.utils.set_random_seed(seed)
    model = fastmlp.Sequential([Dense(4, "tanh", input_dim=3), Dense(2, "sigmoid")])
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(7, 3)).astype(dtype)
    y = rng.uniform(size=(7, 2)).astype(dtype)
    model.compile(optimizer=optimizer, loss=loss)
    w0 = model.get_weights()
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    expected, losses = ref.train_reference(w0, SPEC, x, y, loss, reference, epochs=epochs,
                                           batch_size=batch_size)
    steps = epochs * -(-7 // batch_size)
    assert model.optimizer.iterations == steps
    assert reference.iterations == steps
    return model.get_weights(), expected, history.history["loss"], losses, (w0, x, y)


OPTIMIZER_CASES = [
    ("sgd", lambda: optimizers.SGD(0.5), lambda: ref.SGD(0.5)),
    ("sgd-momentum", lambda: optimizers.SGD(0.3, momentum=0.9),
     lambda: ref.SGD(0.3, momentum=0.9)),
    ("sgd-nesterov", lambda: optimizers.SGD(0.3, momentum=0.8, nesterov=True),
     lambda: ref.SGD(0.3, momentum=0.8, nesterov=True)),
    ("rmsprop-default", optimizers.RMSprop, ref.RMSprop),
    ("rmsprop", lambda: optimizers.RMSprop(0.05, rho=0.8),
     lambda: ref.RMSprop(0.05, rho=0.8)),
    ("rmsprop-centered", lambda: optimizers.RMSprop(0.05, centered=True),
     lambda: ref.RMSprop(0.05, centered=True)),
    ("rmsprop-momentum", lambda: optimizers.RMSprop(0.02, momentum=0.7),
     lambda: ref.RMSprop(0.02, momentum=0.7)),
    ("rmsprop-centered-momentum",
     lambda: optimizers.RMSprop(0.02, rho=0.7, momentum=0.5, epsilon=1e-3, centered=True),
     lambda: ref.RMSprop(0.02, rho=0.7, momentum=0.5, epsilon=1e-3, centered=True)),
    ("adagrad-default", optimizers.Adagrad, ref.Adagrad),
    ("adagrad", lambda: optimizers.Adagrad(0.2, initial_accumulator_value=0.5, epsilon=1e-3),
     lambda: ref.Adagrad(0.2, initial_accumulator_value=0.5, epsilon=1e-3)),
    ("adam-default", optimizers.Adam, ref.Adam),
    ("adam", lambda: optimizers.Adam(0.05, beta_1=0.8, beta_2=0.95, epsilon=1e-4),
     lambda: ref.Adam(0.05, beta_1=0.8, beta_2=0.95, epsilon=1e-4)),
    ("adam-amsgrad", lambda: optimizers.Adam(0.05, beta_1=0.5, beta_2=0.6, amsgrad=True),
     lambda: ref.Adam(0.05, beta_1=0.5, beta_2=0.6, amsgrad=True)),
]


@pytest.mark.parametrize("name,make,make_ref", OPTIMIZER_CASES, ids=[c[0] for c in
                                                                     OPTIMIZER_CASES])
def test_several_steps_float64(name, make, make_ref, float64, training_path):
    got, expected, losses, ref_losses, (w0, _, _) = trained_pair(make(), make_ref())
    for g, e in zip(got, expected):
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-10)
    # The optimizer really moved the weights.
    assert all(not np.allclose(a, b, rtol=1e-5, atol=0) for a, b in zip(got, w0))


@pytest.mark.parametrize("name,make,make_ref", OPTIMIZER_CASES[::2],
                         ids=[c[0] for c in OPTIMIZER_CASES[::2]])
def test_several_steps_float32(name, make, make_ref, training_path):
    got, expected, losses, ref_losses, _ = trained_pair(make(), make_ref(), dtype=np.float32)
    for g, e in zip(got, expected):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)


@pytest.mark.parametrize("make", [lambda: optimizers.SGD(0.1, momentum=0.9),
                                  lambda: optimizers.Adam(0.05),
                                  lambda: optimizers.RMSprop(0.01, momentum=0.5)])
def test_state_persists_across_fit_calls(make, float64):
    """Two fit calls equal one: slots and the step counter (Adam's t) carry over."""
    fastmlp.utils.set_random_seed(3)
    x = np.random.default_rng(3).normal(size=(6, 3))
    y = np.random.default_rng(4).uniform(size=(6, 2))
    results = []
    for split in (False, True):
        fastmlp.utils.set_random_seed(3)
        model = fastmlp.Sequential([Dense(4, "tanh", input_dim=3), Dense(2, "sigmoid")])
        model.compile(optimizer=make(), loss="mse")
        if split:
            model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
            assert model.optimizer.iterations == 6
            model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
        else:
            model.fit(x, y, batch_size=2, epochs=3, shuffle=False, verbose=0)
        assert model.optimizer.iterations == 9
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_learning_rate_change_between_fits_is_used(float64):
    model = one_weight_model(10.0)
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    x, y = np.array([[1.0]]), np.array([[5.0]])
    model.fit(x, y, batch_size=1, epochs=1, verbose=0)
    assert model.get_weights()[0][0, 0] == pytest.approx(10 - 0.1 * 10)
    model.optimizer.learning_rate = 0.01
    model.fit(x, y, batch_size=1, epochs=1, verbose=0)
    assert model.get_weights()[0][0, 0] == pytest.approx(9 - 0.01 * 8)


# ------------------------------------------------------------------------ clipping

CLIP_CASES = [
    ("sgd-clipnorm", lambda: optimizers.SGD(0.5, clipnorm=0.05),
     lambda: ref.SGD(0.5, clipnorm=0.05)),
    ("sgd-clipvalue", lambda: optimizers.SGD(0.5, clipvalue=0.01),
     lambda: ref.SGD(0.5, clipvalue=0.01)),
    ("sgd-global_clipnorm", lambda: optimizers.SGD(0.5, global_clipnorm=0.05),
     lambda: ref.SGD(0.5, global_clipnorm=0.05)),
    ("adam-clipnorm", lambda: optimizers.Adam(0.05, clipnorm=0.02),
     lambda: ref.Adam(0.05, clipnorm=0.02)),
    ("rmsprop-clipvalue", lambda: optimizers.RMSprop(0.05, clipvalue=0.003),
     lambda: ref.RMSprop(0.05, clipvalue=0.003)),
    ("adagrad-global_clipnorm", lambda: optimizers.Adagrad(0.5, global_clipnorm=0.01),
     lambda: ref.Adagrad(0.5, global_clipnorm=0.01)),
]


@pytest.mark.parametrize("name,make,make_ref", CLIP_CASES, ids=[c[0] for c in CLIP_CASES])
def test_clipping_matches_keras(name, make, make_ref, float64, training_path):
    got, expected, losses, ref_losses, (w0, x, y) = trained_pair(make(), make_ref())
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-10)
    # Clipping was active: without it the reference ends elsewhere.
    plain = make_ref()
    plain.clip = {}
    unclipped, _ = ref.train_reference(w0, SPEC, x, y, "mse", plain, epochs=3, batch_size=3)
    assert any(not np.allclose(a, b, rtol=1e-6) for a, b in zip(unclipped, expected))


def _one_step_deltas(optimizer, seed=5):
    fastmlp.utils.set_random_seed(seed)
    model = fastmlp.Sequential([Dense(3, input_dim=4)])
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(5, 4))
    y = rng.normal(size=(5, 3)) * 10
    model.compile(optimizer=optimizer, loss="mse")
    before = model.get_weights()
    grads = ref.model_gradient(before, [("linear", True)], x, y, "mse")
    model.fit(x, y, batch_size=5, epochs=1, shuffle=False, verbose=0)
    return [b - a for b, a in zip(before, model.get_weights())], grads


def test_clipnorm_clips_kernel_and_bias_separately(float64):
    deltas, grads = _one_step_deltas(optimizers.SGD(1.0, clipnorm=0.5))
    kernel_norm, bias_norm = (np.linalg.norm(g) for g in grads)
    assert kernel_norm > 0.5 and bias_norm > 0.5
    # Each variable's step has norm exactly clipnorm, in its own gradient's direction.
    for delta, grad in zip(deltas, grads):
        assert np.linalg.norm(delta) == pytest.approx(0.5, rel=1e-12)
        np.testing.assert_allclose(delta, grad * 0.5 / np.linalg.norm(grad), rtol=1e-10)


def test_clipnorm_leaves_small_variables_alone(float64):
    big = _one_step_deltas(optimizers.SGD(1.0), seed=6)[1]
    threshold = (np.linalg.norm(big[0]) + np.linalg.norm(big[1])) / 2
    lo, hi = sorted([np.linalg.norm(big[0]), np.linalg.norm(big[1])])
    assert lo < threshold < hi
    deltas, grads = _one_step_deltas(optimizers.SGD(1.0, clipnorm=threshold), seed=6)
    for delta, grad in zip(deltas, grads):
        if np.linalg.norm(grad) < threshold:
            np.testing.assert_allclose(delta, grad, rtol=1e-10)
        else:
            assert np.linalg.norm(delta) == pytest.approx(threshold, rel=1e-12)


def test_global_clipnorm_scales_all_variables_together(float64):
    deltas, grads = _one_step_deltas(optimizers.SGD(1.0, global_clipnorm=0.5))
    total = np.sqrt(sum(np.sum(g * g) for g in grads))
    assert total > 0.5
    for delta, grad in zip(deltas, grads):
        np.testing.assert_allclose(delta, grad * 0.5 / total, rtol=1e-10)


def test_clipvalue_clips_each_entry(float64):
    deltas, grads = _one_step_deltas(optimizers.SGD(1.0, clipvalue=0.7))
    assert any((np.abs(g) > 0.7).any() for g in grads)
    assert any((np.abs(g) < 0.7).any() for g in grads)
    for delta, grad in zip(deltas, grads):
        np.testing.assert_allclose(delta, np.clip(grad, -0.7, 0.7), rtol=1e-10)
