"""Keras 3 parity: fastmlp must give Keras's numbers.

Acceptance criterion: train with Keras and with fastmlp from the same initial
weights, with ``shuffle=False``; the per-epoch loss, metric and validation
values, the final weights, ``evaluate()`` and ``predict()`` agree to float32
rounding, for every optimizer (and its options, clipnorm, clipvalue), every
loss (and the from_logits variants) and every accuracy metric.

Each case builds the same model twice (Keras, then fastmlp), copies Keras's
initial weights into fastmlp with ``set_weights``, trains both with identical
``fit`` arguments and compares.

Keras runs on the JAX CPU backend in float32.  Most cases run Keras with
``jit_compile=False`` (op-by-op float32 arithmetic, and no XLA compile per
model, which keeps this file fast); one case runs Keras's default
XLA-compiled path to show the tolerance also covers XLA's fused arithmetic.

Keras 3 behaviours these tests pin down (an implementation must match them):

* ``history.history`` keys: the train logs come back in sorted order (JAX
  sorts dict pytree keys; the torch backend gives the same order), then the
  ``val_`` keys in the same sorted order, e.g. ``['accuracy', 'loss', 'mean_pred', 'mse',
  'val_accuracy', 'val_loss', 'val_mean_pred', 'val_mse']``.
  ``evaluate(return_dict=True)`` is sorted the same way; ``evaluate()``
  without return_dict is a list ``[loss, *metrics in compile order]`` (a bare
  float when there are no metrics).
* A metric given as a string keeps that string as its name (``'mse'``,
  ``'accuracy'``); a function metric is named by its ``__name__``.
* ``'accuracy'`` resolves from shapes: 1 output unit -> binary accuracy
  (``y_pred > 0.5``, also for a from_logits model), y_true of rank
  ``rank(y_pred)-1`` (or last dim 1) -> sparse categorical, else categorical.
* ``top_k_categorical_accuracy`` as a string uses k=5.
* ``loss`` per epoch is the running mean of the per-batch losses weighted by
  batch size (each batch's loss computed before that batch's update).  With
  sample weights the batch loss is ``sum(w_i * l_i) / batch_size`` (not
  divided by ``sum(w)``).
* Compile ``metrics`` are *unweighted*: ``sample_weight`` / ``class_weight``
  only change the loss.
* A function metric returning a scalar per batch (``K.mean(y_pred)``) is
  averaged over *batches* (each batch counts once, ragged or not).
* ``validation_split``: the first ``floor(n * (1 - split))`` rows train, the
  rest validate (before any shuffling; 30 rows at 0.24 -> 22 + 8, not 23 + 7).
  ``sample_weight`` is split too and ``val_loss`` is weighted by the
  validation rows' weights; ``class_weight`` is not applied to validation.
  ``class_weight`` maps the class index (argmax of one-hot targets, round()
  of (n, 1) binary targets, the int of sparse targets) to a weight, 1.0 for a
  class missing from the dict.
* Validation and evaluate use ``batch_size`` batches (matters for the
  per-batch-averaged custom metric).
* Crossentropies on probabilities (JAX backend; no logits shortcut for a
  sigmoid/softmax output) clip to ``[1e-7, 1 - 1e-7]``: a saturated wrong
  prediction costs ``-log(1e-7) = 16.118`` (not inf, not the logit value).
  The clip (``jnp.clip`` = minimum(maximum(...))) has gradient 0 outside the
  range and 0.5 exactly at a bound (float32 ``1 - 1e-7`` = 0.99999988 is a
  value a saturated sigmoid really takes).  Categorical crossentropy first
  renormalises ``y_pred / sum(y_pred)``.  from_logits variants use
  log_sigmoid / log_softmax.
* Optimizers: Keras 3 formulas (RMSprop's epsilon inside the sqrt, Adagrad's
  epsilon inside the sqrt and ``initial_accumulator_value`` default 0.1,
  Adam's bias correction folded into the step size, epsilon defaults 1e-7);
  ``clipnorm`` clips each weight's gradient by its own norm
  (``g * clipnorm / max(norm(g), clipnorm)``), ``clipvalue`` clips
  element-wise.  Non-default epsilons (1e-4, 1e-3) are used below so that the
  placement of epsilon is visible at these tolerances.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import importlib  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras.config.set_floatx("float32")

# Keras-on-JAX variables trip NumPy 2's __array__(copy=...) deprecation on
# every get_weights(); that is Keras's noise, not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

# Tolerances (one pair for every compared number: |fastmlp - keras| <=
# ATOL + RTOL * |keras|).  Keras's own float32 arithmetic is not exact:
# measured on these cases, Keras's history/evaluate values sit up to 1.3e-5
# absolute (3e-6 relative) from an exact float64 re-implementation of the same
# formulas, its final weights up to 1e-6, its predictions up to 6e-6 -- the
# outliers follow Adam steps, where m / (sqrt(v) + eps) amplifies the rounding
# of small gradients.  Two float32 re-implementations (NumPy/BLAS order; naive
# sequential sums, other tanh/sigmoid/softmax formulas, float64 metric
# accumulators) land at the same distance.  The worst of these uses 0.47 of
# the tolerance below (0.22 if it were doubled), so an independent float32
# implementation whose own rounding adds to Keras's still passes, about 2x
# inside it; fastmlp itself, which follows Keras's operation order, uses 0.08
# of it.  ATOL dominates for values near zero (biases that start at 0, small
# predictions), RTOL for losses of order 1-16.  The cases use settings (large
# epsilons, binding clip values, ragged batches, unequal weights) under which
# wrong formulas or semantics move results far beyond this: checked against
# deliberately broken re-implementations (epsilon outside the sqrt, Adam with
# explicit m_hat/v_hat, loss divided by sum(w), weighted metrics, custom
# metric averaged per sample, global clipnorm, round() in validation_split,
# class_weight on validation, unweighted epoch loss, other key order, other
# clip epsilon), each of which fails at least one case.  A flipped prediction
# moves an accuracy by >= 1/30.
RTOL = 2e-5
ATOL = 1e-5

N_FEATURES = 4


# --------------------------------------------------------------------------
# Data: fixed, tiny, generated here.
# --------------------------------------------------------------------------


def _make_data():
    rng = np.random.RandomState(20240611)
    # 22 training rows + 8 validation rows (what validation_split=0.24 cuts
    # from the 30 "all" rows: floor(30 * 0.76) = floor(22.8) = 22, where
    # rounding would give 23), then 8 test rows.  With batch_size=7 every
    # split ends in a ragged batch of 1 (22 = 7+7+7+1, 8 = 7+1), and the few
    # batch shapes are shared by all cases (Keras-on-JAX compiles each op once
    # per shape, which is most of this file's run time).
    n_train, n_val, n_test = 22, 8, 8
    n = n_train + n_val + n_test
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    w_reg = rng.normal(size=(N_FEATURES, 2))
    w3 = rng.normal(size=(N_FEATURES, 3))
    w7 = rng.normal(size=(N_FEATURES, 7))

    reg2 = (np.tanh(x @ w_reg) * 2.0 + 0.3 * rng.normal(size=(n, 2))).astype(np.float32)
    z_bin = x[:, 0] - 0.7 * x[:, 1] + 0.4 * x[:, 2] * x[:, 3] + 0.5 * rng.normal(size=n)
    binary = (z_bin > 0).astype(np.float32)[:, None]
    sparse3 = np.argmax(x @ w3 + 0.7 * rng.normal(size=(n, 3)), axis=1).astype(np.int32)
    sparse7 = np.argmax(x @ w7 + 0.7 * rng.normal(size=(n, 7)), axis=1).astype(np.int32)

    targets = {
        "reg1": (1, reg2[:, :1]),
        "reg2": (2, reg2),
        "binary": (1, binary),
        "onehot3": (3, np.eye(3, dtype=np.float32)[sparse3]),
        "sparse3": (3, sparse3),
        "onehot7": (7, np.eye(7, dtype=np.float32)[sparse7]),
    }
    sw = rng.uniform(0.2, 2.0, size=n).astype(np.float32)

    def part(a, lo, hi):
        return np.ascontiguousarray(a[lo:hi])

    bounds = {
        "all": (0, n_train + n_val),
        "train": (0, n_train),
        "val": (n_train, n_train + n_val),
        "test": (n_train + n_val, n),
    }
    data = {}
    for name, (lo, hi) in bounds.items():
        data[name] = {
            "x": part(x, lo, hi),
            "sw": part(sw, lo, hi),
            **{t: part(y, lo, hi) for t, (_, y) in targets.items()},
        }
    units = {t: u for t, (u, _) in targets.items()}
    return data, units


DATA, UNITS = _make_data()


# --------------------------------------------------------------------------
# Cases.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    task: str  # key of UNITS / DATA[...]
    loss: object  # a string, or (LossClassName, kwargs)
    act: object  # output activation (None = linear)
    metrics: tuple = ()
    opt: tuple = ("Adam", {"learning_rate": 0.01})
    hidden: tuple = ((5, "tanh"),)
    batch_size: int = 7
    epochs: int = 3
    # A validation_split float (fit on DATA["all"]), or "data" (fit on
    # DATA["train"], validation_data=DATA["val"]), or None (fit on DATA["train"]).
    validation: object = 0.24
    sample_weight: bool = False
    class_weight: dict = field(default=None)
    eval_sample_weight: bool = False
    keras_jit: bool = False  # True: Keras's default XLA-compiled path
    x_scale: float = 1.0  # large values saturate sigmoid/softmax (clipping)


REG2 = dict(task="reg2", loss="mse", act=None, metrics=("mae",))
BIN = dict(task="binary", loss="binary_crossentropy", act="sigmoid", metrics=("accuracy",))
CAT = dict(task="onehot3", loss="categorical_crossentropy", act="softmax", metrics=("accuracy",))

OPTIMIZER_CASES = [
    Case("sgd", opt=("SGD", {"learning_rate": 0.1}), **REG2),
    Case("sgd_momentum", opt=("SGD", {"learning_rate": 0.05, "momentum": 0.9}), **BIN),
    Case(
        "sgd_nesterov",
        opt=("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
        **CAT,
    ),
    Case("rmsprop", opt=("RMSprop", {"learning_rate": 0.01}), **BIN),
    Case(
        "rmsprop_rho_momentum_eps",
        opt=("RMSprop", {"learning_rate": 0.005, "rho": 0.8, "momentum": 0.5, "epsilon": 1e-4}),
        **CAT,
    ),
    Case("rmsprop_centered", opt=("RMSprop", {"learning_rate": 0.005, "centered": True}), **REG2),
    Case(
        "rmsprop_centered_momentum",
        opt=(
            "RMSprop",
            {"learning_rate": 0.003, "rho": 0.95, "momentum": 0.9, "centered": True},
        ),
        **BIN,
    ),
    Case("adagrad", opt=("Adagrad", {"learning_rate": 0.1}), **CAT),
    Case(
        "adagrad_init_eps",
        opt=("Adagrad", {"learning_rate": 0.05, "initial_accumulator_value": 0.01, "epsilon": 1e-3}),
        **REG2,
    ),
    Case("adam", opt=("Adam", {"learning_rate": 0.01}), **REG2),
    Case(
        "adam_betas_eps",
        opt=("Adam", {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-3}),
        **BIN,
    ),
    Case("adam_amsgrad", opt=("Adam", {"learning_rate": 0.01, "amsgrad": True}), **CAT),
    # clipnorm / clipvalue on each optimizer (values chosen so they bind).
    Case("sgd_clipnorm", opt=("SGD", {"learning_rate": 0.1, "momentum": 0.5, "clipnorm": 0.3}), **REG2),
    Case("sgd_clipvalue", opt=("SGD", {"learning_rate": 0.2, "clipvalue": 0.05}), **CAT),
    Case("rmsprop_clipnorm", opt=("RMSprop", {"learning_rate": 0.01, "clipnorm": 0.1}), **CAT),
    Case("rmsprop_clipvalue", opt=("RMSprop", {"learning_rate": 0.01, "clipvalue": 0.02}), **REG2),
    Case("adagrad_clipnorm", opt=("Adagrad", {"learning_rate": 0.1, "clipnorm": 0.1}), **BIN),
    Case("adagrad_clipvalue", opt=("Adagrad", {"learning_rate": 0.1, "clipvalue": 0.02}), **CAT),
    Case("adam_clipnorm", opt=("Adam", {"learning_rate": 0.01, "clipnorm": 0.1}), **REG2),
    Case("adam_clipvalue", opt=("Adam", {"learning_rate": 0.01, "clipvalue": 0.01}), **BIN),
]

LOSS_CASES = [
    Case("loss_mse", task="reg1", loss="mse", act=None, metrics=("mae",)),
    Case(
        "loss_mean_squared_error",
        task="reg2",
        loss="mean_squared_error",
        act=None,
        metrics=("mse", "mae"),
        opt=("SGD", {"learning_rate": 0.05}),
    ),
    Case("loss_mae", task="reg2", loss="mae", act=None, metrics=("mse",), opt=("SGD", {"learning_rate": 0.1})),
    Case(
        "loss_mean_absolute_error_no_metrics",
        task="reg1",
        loss="mean_absolute_error",
        act=None,
        hidden=((5, "relu"),),
    ),
    Case("loss_huber", task="reg2", loss="huber", act=None, metrics=("mae",), opt=("SGD", {"learning_rate": 0.1})),
    Case(
        "loss_binary_crossentropy",
        task="binary",
        loss="binary_crossentropy",
        act="sigmoid",
        metrics=("binary_accuracy", "mse"),
        opt=("SGD", {"learning_rate": 0.2}),
    ),
    Case(
        "loss_bce_from_logits",
        task="binary",
        loss=("BinaryCrossentropy", {"from_logits": True}),
        act=None,
        metrics=("accuracy",),
    ),
    Case(
        "loss_categorical_crossentropy",
        task="onehot3",
        loss="categorical_crossentropy",
        act="softmax",
        metrics=("categorical_accuracy", "mae"),
        opt=("SGD", {"learning_rate": 0.2}),
    ),
    Case(
        "loss_cce_from_logits",
        task="onehot3",
        loss=("CategoricalCrossentropy", {"from_logits": True}),
        act=None,
        metrics=("accuracy",),
    ),
    Case(
        "loss_sparse_categorical_crossentropy",
        task="sparse3",
        loss="sparse_categorical_crossentropy",
        act="softmax",
        metrics=("sparse_categorical_accuracy",),
        opt=("RMSprop", {"learning_rate": 0.01}),
    ),
    Case(
        "loss_scce_from_logits",
        task="sparse3",
        loss=("SparseCategoricalCrossentropy", {"from_logits": True}),
        act=None,
        metrics=("accuracy",),
    ),
]

METRIC_CASES = [
    Case("metric_accuracy_binary", **BIN, opt=("SGD", {"learning_rate": 0.3})),
    Case("metric_accuracy_categorical", **CAT, opt=("SGD", {"learning_rate": 0.3})),
    Case(
        "metric_accuracy_sparse",
        task="sparse3",
        loss="sparse_categorical_crossentropy",
        act="softmax",
        metrics=("accuracy",),
    ),
    Case(
        "metric_top_k",
        task="onehot7",
        loss="categorical_crossentropy",
        act="softmax",
        metrics=("top_k_categorical_accuracy", "accuracy"),
    ),
    Case(
        "metric_custom_binary",
        task="binary",
        loss="binary_crossentropy",
        act="sigmoid",
        metrics=("accuracy", "mean_pred"),
    ),
    Case(
        "metric_custom_regression",
        task="reg2",
        loss="mse",
        act=None,
        metrics=("mean_pred",),
        validation="data",
        batch_size=5,
    ),
    Case(
        "metric_order_mixed",
        task="binary",
        loss="binary_crossentropy",
        act="sigmoid",
        metrics=("mse", "accuracy", "mean_pred", "binary_accuracy", "mae"),
        opt=("RMSprop", {"learning_rate": 0.01}),
    ),
]

WEIGHT_AND_VALIDATION_CASES = [
    Case(
        "sample_weight_regression",
        task="reg2",
        loss="mse",
        act=None,
        metrics=("mae",),
        sample_weight=True,
        eval_sample_weight=True,
    ),
    Case(
        "sample_weight_binary_validation_data",
        task="binary",
        loss="binary_crossentropy",
        act="sigmoid",
        metrics=("accuracy",),
        sample_weight=True,
        validation="data",
        opt=("SGD", {"learning_rate": 0.2, "momentum": 0.5}),
    ),
    Case(
        "sample_weight_categorical",
        task="onehot3",
        loss="categorical_crossentropy",
        act="softmax",
        metrics=("accuracy", "mean_pred"),
        sample_weight=True,
    ),
    Case(
        "class_weight_binary",
        task="binary",
        loss="binary_crossentropy",
        act="sigmoid",
        metrics=("accuracy",),
        class_weight={0: 1.0, 1: 3.0},
    ),
    Case(
        "class_weight_sparse_missing_class",
        task="sparse3",
        loss="sparse_categorical_crossentropy",
        act="softmax",
        metrics=("accuracy",),
        class_weight={0: 2.0, 1: 0.5},
        opt=("SGD", {"learning_rate": 0.2}),
    ),
    Case(
        "class_weight_onehot",
        task="onehot3",
        loss=("CategoricalCrossentropy", {"from_logits": True}),
        act=None,
        metrics=("accuracy",),
        class_weight={0: 0.5, 1: 1.5, 2: 2.5},
    ),
    Case("validation_data", **CAT, validation="data"),
    Case("validation_split_half", **REG2, validation=0.5),
    Case("no_validation", **BIN, validation=None, epochs=4),
    Case(
        "two_hidden_layers",
        task="onehot3",
        loss="categorical_crossentropy",
        act="softmax",
        metrics=("accuracy",),
        hidden=((5, "relu"), (4, "tanh")),
    ),
    # Saturated sigmoid / softmax outputs (exactly 0.0 or 1.0 in float32):
    # crossentropy on probabilities clips to [1e-7, 1 - 1e-7], and the clip
    # stops the gradient of the clipped entries.
    Case(
        "cce_saturated_clipping",
        task="onehot3",
        loss="categorical_crossentropy",
        act="softmax",
        metrics=("accuracy",),
        hidden=((5, "relu"),),
        x_scale=25.0,
        opt=("SGD", {"learning_rate": 0.01}),
    ),
    # Keras's default (XLA-compiled) path: the same tolerances must hold.
    Case("keras_jit_adam_sample_weight", **REG2, sample_weight=True, keras_jit=True),
]

ALL_CASES = OPTIMIZER_CASES + LOSS_CASES + METRIC_CASES + WEIGHT_AND_VALIDATION_CASES
assert len({c.id for c in ALL_CASES}) == len(ALL_CASES)


# --------------------------------------------------------------------------
# Building and running a twin (Keras or fastmlp).
# --------------------------------------------------------------------------


def mean_pred(y_true, y_pred):
    """The custom metric, Keras side (fastmlp side: ``K.mean(y_pred)``)."""
    return keras.ops.mean(y_pred)


def _fastmlp():
    """Import fastmlp lazily so a broken fastmlp fails each test, not collection."""
    return importlib.import_module("fastmlp")


def _fastmlp_mean_pred():
    K = importlib.import_module("fastmlp.backend")

    def mean_pred(y_true, y_pred):
        return K.mean(y_pred)

    return mean_pred


def _build(lib, case):
    layers = [lib.Input((N_FEATURES,))]
    for units, activation in case.hidden:
        layers.append(lib.layers.Dense(units, activation=activation))
    layers.append(lib.layers.Dense(UNITS[case.task], activation=case.act))
    return lib.Sequential(layers)


def _compile(lib, model, case):
    opt_name, opt_kwargs = case.opt
    optimizer = getattr(lib.optimizers, opt_name)(**opt_kwargs)
    if isinstance(case.loss, str):
        loss = case.loss
    else:
        loss_name, loss_kwargs = case.loss
        loss = getattr(lib.losses, loss_name)(**loss_kwargs)
    metrics = []
    for m in case.metrics:
        if m == "mean_pred":
            m = mean_pred if lib is keras else _fastmlp_mean_pred()
        metrics.append(m)
    extra = {"jit_compile": case.keras_jit} if lib is keras else {}
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, **extra)


def _split(case, name):
    """(x, y, sample_weight) of DATA[name] for this case."""
    part = DATA[name]
    return part["x"] * np.float32(case.x_scale), part[case.task], part["sw"]


def _fit_kwargs(case):
    kw = dict(batch_size=case.batch_size, epochs=case.epochs, shuffle=False, verbose=0)
    if case.validation == "data":
        kw["validation_data"] = _split(case, "val")[:2]
    elif case.validation is not None:
        kw["validation_split"] = case.validation
    if case.sample_weight:
        kw["sample_weight"] = _split(case, "all" if isinstance(case.validation, float) else "train")[2]
    if case.class_weight is not None:
        kw["class_weight"] = dict(case.class_weight)
    return kw


def _run(lib, case, initial_weights=None):
    """Build, (set weights,) compile, fit, evaluate, predict. Returns a dict."""
    if lib is keras:
        keras.utils.set_random_seed(1234)
    model = _build(lib, case)
    out = {}
    if initial_weights is not None:
        model.set_weights([w.copy() for w in initial_weights])
    out["initial_weights"] = [np.array(w) for w in model.get_weights()]
    _compile(lib, model, case)
    x_test, y_test, sw_test = _split(case, "test")
    out["predict_before"] = np.array(model.predict(x_test, batch_size=case.batch_size, verbose=0))
    x_train, y_train, _ = _split(case, "all" if isinstance(case.validation, float) else "train")
    history = model.fit(x_train, y_train, **_fit_kwargs(case))
    out["history"] = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    out["history_keys"] = list(history.history.keys())
    out["weights"] = [np.array(w) for w in model.get_weights()]
    eval_kw = dict(batch_size=case.batch_size, verbose=0)
    if case.eval_sample_weight:
        eval_kw["sample_weight"] = sw_test
    out["evaluate_dict"] = model.evaluate(x_test, y_test, return_dict=True, **eval_kw)
    out["evaluate_list"] = model.evaluate(x_test, y_test, **eval_kw)
    out["predict"] = np.array(model.predict(x_test, batch_size=case.batch_size, verbose=0))
    return out


def _close(got, want, what):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != Keras {want.shape}"
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"{what} differs from Keras")


def _expected_keys(case):
    names = ["loss"] + [m for m in case.metrics]
    train = sorted(names)
    if case.validation is None:
        return train
    return train + ["val_" + k for k in train]


# --------------------------------------------------------------------------
# Tests.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_fit_matches_keras(case):
    ke = _run(keras, case)
    if keras.backend.backend() == "jax":
        # The harness's own statement of Keras's key order (documents it).
        assert ke["history_keys"] == _expected_keys(case)

    fm = _run(_fastmlp(), case, initial_weights=ke["initial_weights"])

    # set_weights/get_weights round-trip exactly, in Keras's [W1, b1, W2, b2, ...] order.
    assert len(fm["initial_weights"]) == len(ke["initial_weights"])
    for i, (a, b) in enumerate(zip(fm["initial_weights"], ke["initial_weights"])):
        assert a.shape == b.shape, f"weight {i}: shape {a.shape} != {b.shape}"
        np.testing.assert_array_equal(a, b)

    _close(fm["predict_before"], ke["predict_before"], "predict() before fit")

    # History: same keys in the same order, one value per epoch, same values.
    assert fm["history_keys"] == ke["history_keys"]
    for key in ke["history_keys"]:
        assert len(fm["history"][key]) == case.epochs, key
        _close(fm["history"][key], ke["history"][key], f"history[{key!r}]")

    assert len(fm["weights"]) == len(ke["weights"])
    for i, (a, b) in enumerate(zip(fm["weights"], ke["weights"])):
        _close(a, b, f"final weight {i}")

    assert list(fm["evaluate_dict"].keys()) == list(ke["evaluate_dict"].keys())
    for key, value in ke["evaluate_dict"].items():
        _close(fm["evaluate_dict"][key], value, f"evaluate(return_dict=True)[{key!r}]")
    if case.metrics:
        assert isinstance(fm["evaluate_list"], list)
        _close(fm["evaluate_list"], ke["evaluate_list"], "evaluate() list")
    else:
        assert np.ndim(fm["evaluate_list"]) == 0, "evaluate() with no metrics returns a scalar"
        _close(fm["evaluate_list"], ke["evaluate_list"], "evaluate() scalar")

    _close(fm["predict"], ke["predict"], "predict() after fit")
