"""Bad inputs raise ValueError/TypeError that name the argument and echo what was received,
and leave the model exactly as it was (weights, optimizer slots and iterations).
"""

import re

import numpy as np
import pytest

import fastmlp
from fastmlp import optimizers
from fastmlp.layers import Dense

X = np.array([[0.1, 0.2], [0.3, -0.4], [0.5, 0.6], [-0.7, 0.8]])
Y = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
LABELS = np.array([1, 0, 1, 0])


def trained(loss="categorical_crossentropy", units=3):
    """A compiled 2-units-2 softmax model that has already taken a few optimizer steps.

    Training takes the tiny path with 3 units, and BLAS products with 16.
    """
    fastmlp.utils.set_random_seed(0)
    model = fastmlp.Sequential([Dense(units, input_dim=2, activation="tanh"),
                                Dense(2, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(0.01), loss=loss, metrics=["accuracy"])
    y = LABELS if "sparse" in loss else Y
    model.fit(X, y, epochs=2, batch_size=2, verbose=0)
    assert model.optimizer.iterations == 4
    return model


def snapshot(model):
    state = model.optimizer.state if model.optimizer is not None else None
    return {
        "weights": model.get_weights(),
        "iterations": model.optimizer.iterations if model.optimizer is not None else None,
        "slots": None if state is None else state.slots.copy(),
        "optimizer": model.optimizer,
        "loss": model.loss,
        "history": model.history,
        "layers": model.layers,
        "built": model.built,
    }


def assert_unchanged(model, before):
    after = snapshot(model)
    assert len(after["weights"]) == len(before["weights"])
    for a, b in zip(after["weights"], before["weights"]):
        np.testing.assert_array_equal(a, b)
    assert after["iterations"] == before["iterations"]
    if before["slots"] is not None:
        np.testing.assert_array_equal(after["slots"], before["slots"])
    for key in ("optimizer", "loss", "history"):
        assert after[key] is before[key], key
    assert after["layers"] == before["layers"] and after["built"] == before["built"]


def check_raises(model, call, exc, *patterns):
    """``call()`` raises ``exc`` whose message contains every pattern; model unchanged."""
    before = snapshot(model)
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    assert_unchanged(model, before)
    return message


# ------------------------------------------------------------------------ data


@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_wrong_feature_count(method):
    model = trained()
    x = np.ones((4, 3))
    check_raises(model, lambda: getattr(model, method)(x, Y, verbose=0), ValueError,
                 method, r"\bx\b", "3 columns", "expects 2", r"\(4, 3\)")


def test_wrong_feature_count_predict():
    model = trained()
    check_raises(model, lambda: model.predict(np.ones((2, 5)), verbose=0), ValueError,
                 "predict", r"\bx\b", "5", "2")


def test_one_dimensional_x_rejected():
    model = trained()
    check_raises(model, lambda: model.fit(np.ones(4), Y, verbose=0), ValueError,
                 r"\bx\b", r"\(4,\)", "reshape")


@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_x_and_y_lengths_differ(method):
    model = trained()
    check_raises(model, lambda: getattr(model, method)(X, Y[:3], verbose=0), ValueError,
                 r"\bx\b", r"\by\b", r"\b4\b", r"\b3\b")


def test_wrong_target_width():
    model = trained()
    check_raises(model, lambda: model.fit(X, np.ones((4, 3)), verbose=0), ValueError,
                 r"\by\b", "3 column", "outputs 2")
    # Integer labels for categorical cross-entropy: hint at the sparse loss.
    check_raises(model, lambda: model.fit(X, LABELS, verbose=0), ValueError,
                 r"\by\b", "sparse_categorical_crossentropy|to_categorical")


@pytest.mark.parametrize("which", ["x", "y"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_non_finite_values(which, value, method):
    model = trained()
    x, y = X.copy(), Y.copy()
    (x if which == "x" else y)[2, 1] = value
    check_raises(model, lambda: getattr(model, method)(x, y, verbose=0), ValueError,
                 rf"\b{which}\b", "NaN or infinity", r"\[2, 1\]", re.escape(str(value)))


ROWS = np.random.default_rng(0).uniform(-1, 1, (24, 2))
ROW_TARGETS = np.eye(2)[np.arange(24) % 2]


@pytest.mark.parametrize("units", [3, 16])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("verbose", [0, 2])
@pytest.mark.parametrize("split", [0.0, 0.25])
def test_non_finite_row_met_late_in_the_first_epoch(units, shuffle, verbose, split):
    """The first epoch checks each batch as it reaches it. Row 21 comes after several
    updates (or, with the split, in the validation pass after the whole epoch); the
    model goes back to its weights, slots, iterations and history."""
    model = trained(units=units)
    x = ROWS.copy()
    x[21, 1] = np.nan
    check_raises(model, lambda: model.fit(x, ROW_TARGETS, batch_size=4, epochs=3,
                                          shuffle=shuffle, verbose=verbose,
                                          validation_split=split),
                 ValueError, r"^fit: x\b", r"\[21, 1\]", "nan")


@pytest.mark.parametrize("units", [3, 16])
def test_non_finite_message_names_the_first_bad_value_in_row_order(units):
    model = trained(units=units)
    x = ROWS.copy()
    x[21, 1], x[9, 0] = np.inf, -np.inf
    for seed in range(3):  # shuffled batches may meet row 21 first
        fastmlp.utils.set_random_seed(seed)
        check_raises(model, lambda: model.fit(x, ROW_TARGETS, batch_size=4, verbose=0),
                     ValueError, r"\[9, 0\]", "-inf")


@pytest.mark.parametrize("units", [3, 16])
def test_non_finite_row_in_a_later_batch_of_evaluate_and_predict(units):
    model = trained(units=units)
    x = ROWS.copy()
    x[21, 1] = -np.inf
    check_raises(model, lambda: model.evaluate(x, ROW_TARGETS, batch_size=4, verbose=0),
                 ValueError, r"^evaluate: x\b", r"\[21, 1\]", "-inf")
    check_raises(model, lambda: model.evaluate_with_outputs(x, ROW_TARGETS),
                 ValueError, r"^evaluate_with_outputs: x\b", r"\[21, 1\]")
    check_raises(model, lambda: model.predict(x, batch_size=4, verbose=0),
                 ValueError, r"^predict: x\b", r"\[21, 1\]", "-inf")


def test_non_finite_sample_weight_and_validation_data():
    model = trained()
    sw = np.array([1.0, np.nan, 1.0, 1.0])
    check_raises(model, lambda: model.fit(X, Y, sample_weight=sw, verbose=0), ValueError,
                 "sample_weight", "NaN")
    xv = X.copy()
    xv[0, 0] = np.inf
    check_raises(model, lambda: model.fit(X, Y, validation_data=(xv, Y), verbose=0),
                 ValueError, "validation_data", r"\bx\b", "inf")


def test_non_finite_predict_input():
    model = trained()
    x = X.copy()
    x[1, 1] = np.nan
    check_raises(model, lambda: model.predict(x, verbose=0), ValueError, "predict", "NaN")


@pytest.mark.parametrize("which", ["x", "y"])
@pytest.mark.parametrize("kind", ["str", "object"])
def test_non_numeric_arrays(which, kind):
    model = trained()
    bad = (np.array([["a", "b"]] * 4) if kind == "str"
           else np.array([[1.0, None]] * 4, dtype=object))
    x, y = (bad, Y) if which == "x" else (X, bad)
    check_raises(model, lambda: model.fit(x, y, verbose=0), TypeError,
                 rf"\b{which}\b", "numbers", re.escape(str(bad.dtype)))
    check_raises(model, lambda: model.evaluate(x, y, verbose=0), TypeError, rf"\b{which}\b")


def test_non_numeric_predict_input():
    model = trained()
    check_raises(model, lambda: model.predict([["1", "2"]], verbose=0), TypeError,
                 r"\bx\b", "numbers")


@pytest.mark.parametrize("labels,shown", [
    ([0, 1, 5, 0], r"y\[2\]=5"), ([0, -1, 1, 0], r"y\[1\]=-1"), ([0, 1, 0.5, 1], r"y\[2\]=0.5"),
    ([2, 0, 1, 1], r"y\[0\]=2"),
])
@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_sparse_labels_out_of_range_or_not_integer(labels, shown, method):
    model = trained("sparse_categorical_crossentropy")
    check_raises(model, lambda: getattr(model, method)(X, np.array(labels), verbose=0),
                 ValueError, shown, "sparse_categorical_crossentropy", r"0 to 1")


def test_sparse_labels_with_one_hot_targets():
    model = trained("sparse_categorical_crossentropy")
    check_raises(model, lambda: model.fit(X, Y, verbose=0), ValueError,
                 r"\by\b", r"\(4, 2\)", "categorical_crossentropy")


@pytest.mark.parametrize("x,y,which", [
    (np.zeros((0, 2)), np.zeros((0, 2)), "x"),
    (X, np.zeros((0, 2)), "y"),
    ([], [], "x"),
])
@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_empty_arrays(x, y, which, method):
    model = trained()
    check_raises(model, lambda: getattr(model, method)(x, y, verbose=0), ValueError,
                 rf"\b{which}\b", "empty|same number of rows|2-D")


def test_empty_predict_input():
    model = trained()
    check_raises(model, lambda: model.predict(np.zeros((0, 2)), verbose=0), ValueError,
                 r"\bx\b", "empty")


def test_missing_x_or_y():
    model = trained()
    check_raises(model, lambda: model.fit(X, None, verbose=0), ValueError, r"\by\b", "None")
    check_raises(model, lambda: model.fit(None, Y, verbose=0), ValueError, r"\bx\b")


# ------------------------------------------------------------------------ names


def test_unknown_activation():
    with pytest.raises(ValueError, match="activation") as info:
        Dense(2, activation="relux")
    assert "'relux'" in str(info.value) and "relu" in str(info.value)
    with pytest.raises(ValueError, match="activation"):
        fastmlp.layers.Activation("nope")
    with pytest.raises(ValueError, match="activation"):
        Dense(2, activation=lambda x: x)


def test_unknown_initializer():
    with pytest.raises(ValueError, match="initializer") as info:
        Dense(2, kernel_initializer="glorot_unifrom")
    assert "'glorot_unifrom'" in str(info.value) and "glorot_uniform" in str(info.value)
    with pytest.raises(ValueError, match="initializer"):
        Dense(2, bias_initializer="zero_s")


@pytest.mark.parametrize("kwargs,patterns", [
    ({"loss": "msee"}, ["loss", "'msee'", "mse"]),
    ({"loss": "mse", "optimizer": "sgdd"}, ["optimizer", "'sgdd'", "sgd"]),
    ({"loss": "mse", "metrics": ["accuracyy"]}, ["metric", "'accuracyy'", "accuracy"]),
    ({"loss": "mse", "metrics": "accuracy"}, ["metrics", "list", "'accuracy'"]),
    ({"loss": None}, ["loss"]),
])
def test_unknown_compile_names_keep_previous_compile(kwargs, patterns):
    model = trained()
    check_raises(model, lambda: model.compile(**kwargs), ValueError,
                 *[re.escape(p) for p in patterns])
    # The earlier compile still works.
    model.evaluate(X, Y, verbose=0)


def test_python_function_as_loss_lists_builtin_losses():
    model = trained()

    def my_loss(y_true, y_pred):
        return ((y_true - y_pred) ** 2).mean()

    message = check_raises(model, lambda: model.compile(optimizer="sgd", loss=my_loss),
                           ValueError, "my_loss", "loss")
    for name in ("mean_squared_error", "mean_absolute_error", "binary_crossentropy",
                 "categorical_crossentropy", "sparse_categorical_crossentropy", "huber"):
        assert name in message


# --------------------------------------------------------------------- compile


@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_fit_or_evaluate_before_compile(method):
    model = fastmlp.Sequential([Dense(2, input_dim=2)])
    check_raises(model, lambda: getattr(model, method)(X, Y, verbose=0), ValueError,
                 method, "compile")
    unbuilt = fastmlp.Sequential([Dense(2)])
    check_raises(unbuilt, lambda: getattr(unbuilt, method)(X, Y, verbose=0), ValueError,
                 "compile")
    assert not unbuilt.built


# ----------------------------------------------------------------- fit arguments

BAD_COUNTS = [0, -1, 2.5, True, "3", None]


@pytest.mark.parametrize("value", [v for v in BAD_COUNTS if v is not None])
@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_bad_batch_size(value, method):
    model = trained()
    args = (X,) if method == "predict" else (X, Y)
    check_raises(model, lambda: getattr(model, method)(*args, batch_size=value, verbose=0),
                 ValueError, "batch_size", re.escape(f"batch_size={value!r}"))


@pytest.mark.parametrize("value", BAD_COUNTS)
def test_bad_epochs(value):
    model = trained()
    check_raises(model, lambda: model.fit(X, Y, epochs=value, verbose=0), ValueError,
                 "epochs", re.escape(f"epochs={value!r}"))


def test_bad_initial_epoch():
    model = trained()
    check_raises(model, lambda: model.fit(X, Y, epochs=2, initial_epoch=2, verbose=0),
                 ValueError, "initial_epoch", "2")
    check_raises(model, lambda: model.fit(X, Y, epochs=2, initial_epoch=-1, verbose=0),
                 ValueError, "initial_epoch", "-1")


@pytest.mark.parametrize("split", [-0.1, 1.0, 1.5, True, "0.2", float("nan")])
def test_validation_split_outside_unit_interval(split):
    model = trained()
    check_raises(model, lambda: model.fit(X, Y, validation_split=split, verbose=0),
                 ValueError, "validation_split", re.escape(repr(split)))


@pytest.mark.parametrize("n,split", [(4, 0.8), (1, 0.5), (4, 1e-17)])
def test_validation_split_leaving_no_rows(n, split):
    model = trained()
    check_raises(model, lambda: model.fit(X[:n], Y[:n], validation_split=split, verbose=0),
                 ValueError, "validation_split", "training", "validation", f"out of {n}")


@pytest.mark.parametrize("kwargs,pattern", [
    ({"verbose": 3}, "verbose"), ({"shuffle": "yes"}, "shuffle"),
    ({"callbacks": [object()]}, "callbacks"), ({"validation_data": X}, "validation_data"),
    ({"class_weight": [1, 2]}, "class_weight"),
    ({"class_weight": {0: -1.0, 1: 1.0}}, r"class_weight\[0\]"),
    ({"sample_weight": np.ones(3)}, "sample_weight"),
    ({"validation_batch_size": 0}, "validation_batch_size"),
])
def test_other_bad_fit_arguments(kwargs, pattern):
    model = trained()
    arguments = {"verbose": 0, **kwargs}
    check_raises(model, lambda: model.fit(X, Y, **arguments), ValueError, pattern)


def test_class_weight_with_sample_weight():
    model = trained()
    check_raises(model, lambda: model.fit(X, Y, sample_weight=np.ones(4),
                                          class_weight={0: 1.0, 1: 2.0}, verbose=0),
                 ValueError, "sample_weight", "class_weight")


# ------------------------------------------------------------------ set_weights


def test_set_weights_wrong_count():
    model = trained()
    weights = model.get_weights()
    check_raises(model, lambda: model.set_weights(weights[:3]), ValueError,
                 "set_weights", "expected 4", "got 3")
    check_raises(model, lambda: model.set_weights(weights + [np.ones(2)]), ValueError,
                 "expected 4", "got 5")


@pytest.mark.parametrize("index,shape", [(0, (3, 2)), (1, (4,)), (2, (3, 2, 1)), (3, ())])
def test_set_weights_wrong_shape(index, shape):
    model = trained()
    weights = [w + 1.0 for w in model.get_weights()]
    expected_shape = weights[index].shape
    weights[index] = np.ones(shape)
    check_raises(model, lambda: model.set_weights(weights), ValueError, "set_weights",
                 re.escape(str(expected_shape)), re.escape(str(shape)))


# ----------------------------------------------------------------------- layers


@pytest.mark.parametrize("units", [0, -2, 2.5, True, "3", None])
def test_dense_units(units):
    with pytest.raises(ValueError, match=re.escape(f"units={units!r}")) as info:
        Dense(units)
    assert "Dense" in str(info.value)


@pytest.mark.parametrize("kwargs,pattern", [
    ({"input_dim": 0}, "input_dim=0"), ({"input_shape": (2, 3)}, r"input_shape=\(2, 3\)"),
    ({"unknown_arg": 1}, "unknown_arg"),
])
def test_dense_other_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        Dense(2, **kwargs)


def test_input_shape_checks():
    with pytest.raises(ValueError, match="shape"):
        fastmlp.Input((2, 3))
    with pytest.raises(ValueError, match="0"):
        fastmlp.Input((0,))


def test_only_first_layer_may_declare_input():
    model = fastmlp.Sequential([Dense(2, input_dim=2)])
    before = snapshot(model)
    with pytest.raises(ValueError, match="input_dim"):
        model.add(Dense(2, input_dim=2))
    assert_unchanged(model, before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("length", [1, 5, 20_001])
def test_first_non_finite_finds_the_first_bad_value(dtype, length):
    """The vectorised pass sees every NaN and infinity; the scan then finds the first."""
    first_non_finite = fastmlp._validation.first_non_finite
    values = np.linspace(-1, 1, length).astype(dtype)
    values[length // 3] = np.finfo(dtype).max  # huge but finite: times zero is zero
    assert first_non_finite(values) == -1
    assert first_non_finite(values[:0]) == -1
    for position in sorted({0, length // 2, length - 1}):
        for bad in (np.nan, np.inf, -np.inf):
            broken = values.copy()
            broken[position] = bad
            if position != length - 1:
                broken[-1] = np.nan
            assert first_non_finite(broken) == position
