"""The Sequential API: structure, naming, summary, weights, fit/evaluate/predict behaviour.

Behaviours follow Keras 3 (auto names, summary table, sorted history keys, progress
lines, validation_split, EarlyStopping, metric averaging); numbers are checked
against the NumPy reference where they are computed.
"""

import json
import math
import os
import re
import subprocess
import sys
import textwrap
import tracemalloc
import warnings

import numpy as np
import pytest

import fastmlp
import fastmlp.backend as K
import fastmlp.engine as engine_module
import reference as ref
from fastmlp import callbacks, optimizers
from fastmlp.kernels import threaded, tiles
from fastmlp.layers import Activation, Dense

XOR_X = np.array([[1, 1], [1, 0], [0, 1], [0, 0]])
XOR_Y = np.array([[0], [1], [1], [0]])


def xor_model():
    model = fastmlp.Sequential()
    model.add(Dense(units=2, input_dim=2, activation="sigmoid"))
    model.add(Dense(units=1, activation="sigmoid"))
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    return model


def small_data(n=8, d=3, k=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.uniform(size=(n, k))


# ----------------------------------------------------------------------- structure


def test_add_pop_and_layers():
    model = fastmlp.Sequential()
    assert model.layers == [] and not model.built
    first, second, third = Dense(4, input_dim=3), Activation("relu"), Dense(2)
    model.add(first)
    assert model.built and model.count_params() == 16
    model.add(second)
    model.add(third)
    assert model.layers == [first, second, third]
    model.layers.pop()  # a copy: the model keeps its layers
    assert len(model.layers) == 3
    assert model.count_params() == 16 + 10
    assert model.pop() is third
    assert model.layers == [first, second]
    assert model.count_params() == 16
    assert model.pop() is second and model.pop() is first
    with pytest.raises(ValueError, match="no layers"):
        model.pop()


def test_constructor_list_and_input():
    model = fastmlp.Sequential([fastmlp.Input((3,)), Dense(5, activation="relu"), Dense(1)])
    assert model.built
    assert model.input_width == 3
    assert [w.shape for w in model.weights] == [(3, 5), (5,), (5, 1), (1,)]
    assert fastmlp.Input(shape=(7,)).shape == (7,)
    with pytest.raises(ValueError, match="Input"):
        model.add(fastmlp.Input((3,)))
    with pytest.raises(ValueError, match="layer"):
        model.add("dense")


def test_model_is_built_lazily_by_fit_or_predict():
    model = fastmlp.Sequential([Dense(2)])
    assert not model.built
    with pytest.raises(ValueError, match="not built"):
        model.count_params()
    out = model.predict(np.ones((3, 4)), verbose=0)
    assert out.shape == (3, 2) and model.built
    assert model.count_params() == 10


def test_add_keeps_trained_weights_of_existing_layers():
    """Keras: adding a layer to a built model keeps the earlier layers' weights."""
    fastmlp.utils.set_random_seed(2)
    model = fastmlp.Sequential([Dense(3, input_dim=2, activation="tanh"), Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = small_data(d=2)
    model.fit(x, y, epochs=3, verbose=0)
    trained = model.get_weights()
    model.add(Dense(1))
    for before, after in zip(trained, model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_pop_keeps_trained_weights_of_remaining_layers():
    """Keras: pop removes the last layer; the others keep their (trained) weights."""
    fastmlp.utils.set_random_seed(3)
    model = fastmlp.Sequential([Dense(3, input_dim=2, activation="tanh"), Dense(2),
                                Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = small_data(d=2)
    model.fit(x, y, epochs=3, verbose=0)
    trained = model.get_weights()
    model.pop()
    for before, after in zip(trained[:4], model.get_weights()):
        np.testing.assert_array_equal(before, after)


# ------------------------------------------------------------------------ naming


def test_auto_names(fresh_session):
    first = fastmlp.Sequential([Dense(2, input_dim=2), Dense(1), Activation("relu")])
    second = fastmlp.Sequential([Dense(1, input_dim=1)])
    assert first.name == "sequential" and second.name == "sequential_1"
    assert [layer.name for layer in first.layers] == ["dense", "dense_1", "activation"]
    assert second.layers[0].name == "dense_2"
    assert [w.path for w in first.weights] == [
        "sequential/dense/kernel", "sequential/dense/bias",
        "sequential/dense_1/kernel", "sequential/dense_1/bias"]
    fastmlp.backend.clear_session()
    again = fastmlp.Sequential([Dense(1, input_dim=1)])
    assert again.name == "sequential" and again.layers[0].name == "dense"
    named = fastmlp.Sequential([Dense(1, input_dim=1, name="out")], name="net")
    assert named.weights[0].path == "net/out/kernel"


def test_duplicate_layer_names_rejected():
    model = fastmlp.Sequential([Dense(2, input_dim=2, name="a")])
    with pytest.raises(ValueError, match="'a'"):
        model.add(Dense(1, name="a"))


# ------------------------------------------------------------------------ summary


def test_summary_table(capsys, fresh_session):
    model = xor_model()
    model.summary()
    assert capsys.readouterr().out == ref.XOR_SUMMARY
    texts = []
    model.summary(print_fn=texts.append)
    assert texts == [ref.XOR_SUMMARY.rstrip("\n")]


def test_summary_lists_optimizer_params_after_fit(capsys, fresh_session):
    model = xor_model()
    model.summary()
    assert "Optimizer params" not in capsys.readouterr().out
    model.fit(XOR_X, XOR_Y, epochs=1, batch_size=1, verbose=0)
    model.summary()
    out = capsys.readouterr().out
    assert " Trainable params: 9 (36.00 B)" in out
    lines = out.splitlines()
    assert re.fullmatch(r" Optimizer params: \d+ \(\d+\.\d\d B\)", lines[-1])
    assert lines[-2] == " Non-trainable params: 0 (0.00 B)"


def test_summary_float64_bytes(capsys, float64, fresh_session):
    xor_model().summary()
    assert " Total params: 9 (72.00 B)" in capsys.readouterr().out


def test_summary_large_counts_use_thousands_separators(capsys, fresh_session):
    fastmlp.Sequential([Dense(64, input_dim=784, activation="relu"), Dense(10)]).summary()
    out = capsys.readouterr().out
    assert "50,240" in out and "650" in out
    assert " Total params: 50,890 (198.79 KB)" in out


# ------------------------------------------------------------------------ weights


def test_weights_are_named_live_variables(fresh_session):
    model = xor_model()
    kernel = model.weights[0]
    assert (kernel.name, kernel.path, kernel.shape, kernel.dtype) == \
        ("kernel", "sequential/dense/kernel", (2, 2), "float32")
    assert model.weights[1].name == "bias" and model.weights[1].shape == (2,)
    text = repr(kernel)
    assert "sequential/dense/kernel" in text and "shape=(2, 2)" in text
    assert "float32" in text
    assert np.array2string(kernel.numpy()[0, 0])[:4] in text
    assert model.layers[0].kernel is kernel and model.layers[1].bias is model.weights[3]
    model.fit(XOR_X, XOR_Y, epochs=2, batch_size=1, verbose=0)
    np.testing.assert_array_equal(kernel.numpy(), model.get_weights()[0])
    np.testing.assert_array_equal(np.asarray(kernel), model.get_weights()[0])
    kernel.assign(np.zeros((2, 2)))
    assert not model.get_weights()[0].any()


def test_get_set_weights_round_trip():
    fastmlp.utils.set_random_seed(0)
    model = xor_model()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(2, 2), (2,), (2, 1), (1,)]
    assert all(w.dtype == np.float32 for w in weights)
    weights[0][...] = 123.0  # copies: the model is unchanged
    assert not (model.get_weights()[0] == 123.0).any()
    new = [np.full(w.shape, i + 0.5) for i, w in enumerate(weights)]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.float32
    out = model.predict(XOR_X, verbose=0)
    _, acts = ref.dense_forward(XOR_X, ref.layers_from_weights(new, [("sigmoid", True)] * 2))
    np.testing.assert_allclose(out, acts[-1], rtol=1e-6)
    with pytest.raises(ValueError, match="expected 4"):
        model.set_weights(new[:3])
    with pytest.raises(ValueError, match=r"\(2, 1\)"):
        model.set_weights(new[:2] + [np.zeros((1, 2)), new[3]])


def test_set_weights_rejects_non_numeric_without_partial_write():
    model = xor_model()
    before = model.get_weights()
    bad = [np.ones((2, 2)), np.ones(2), np.ones((2, 1)), np.array(["x"])]
    with pytest.raises((ValueError, TypeError)):
        model.set_weights(bad)
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_count_params_and_layer_params():
    model = fastmlp.Sequential([Dense(5, input_dim=3), Dense(2, use_bias=False)])
    assert model.count_params() == 3 * 5 + 5 + 5 * 2
    assert [layer.count_params() for layer in model.layers] == [20, 10]


# ------------------------------------------------------------------------ history


def test_history_keys_epochs_and_params():
    model = fastmlp.Sequential([Dense(1, input_dim=3, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(10, 3))
    y = (x[:, :1] > 0).astype(float)
    history = model.fit(x, y, epochs=2, batch_size=4, validation_split=0.2, verbose=0)
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.epoch == [0, 1]
    assert history.params == {"verbose": 0, "epochs": 2, "steps": 2}
    assert model.history is history
    for values in history.history.values():
        assert len(values) == 2 and all(type(v) is float for v in values)


def test_history_keys_sorted_with_several_metrics():
    model = fastmlp.Sequential([Dense(2, input_dim=3, activation="softmax")])

    def mean_pred(y_true, y_pred):
        return K.mean(y_pred)

    model.compile(loss="categorical_crossentropy", metrics=["mse", "accuracy", mean_pred])
    x = np.random.default_rng(1).normal(size=(6, 3))
    y = fastmlp.utils.to_categorical([0, 1, 1, 0, 1, 0])
    history = model.fit(x, y, epochs=1, validation_data=(x, y), verbose=0)
    assert list(history.history) == ["accuracy", "loss", "mean_pred", "mse", "val_accuracy",
                                     "val_loss", "val_mean_pred", "val_mse"]


def test_initial_epoch(capsys):
    model = xor_model()
    history = model.fit(XOR_X, XOR_Y, epochs=5, initial_epoch=3, batch_size=2, verbose=1)
    assert history.epoch == [3, 4]
    assert len(history.history["loss"]) == 2
    out = capsys.readouterr().out
    assert "Epoch 4/5" in out and "Epoch 5/5" in out and "Epoch 3/5" not in out
    assert model.optimizer.iterations == 2 * 2


def test_validation_split_takes_last_rows_before_shuffling(float64):
    """With a zero learning rate, val_loss is the loss on the last rows in their order."""
    x, y = small_data(n=10, seed=5)
    model = fastmlp.Sequential([Dense(2, input_dim=3, activation="sigmoid")])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="mse", metrics=["mae"])
    sw = np.linspace(0.5, 2.0, 10)
    history = model.fit(x, y, epochs=2, batch_size=3, validation_split=0.3, shuffle=True,
                        sample_weight=sw, verbose=0)
    # floor(10 * 0.7) = 7 training rows, the last 3 for validation.
    assert history.params["steps"] == 3
    weights = model.get_weights()
    spec = [("sigmoid", True)]
    val = ref.model_loss(weights, spec, x[7:], y[7:], "mse", sample_weight=sw[7:])
    train = ref.model_loss(weights, spec, x[:7], y[:7], "mse", sample_weight=sw[:7])
    np.testing.assert_allclose(history.history["val_loss"], [val, val], rtol=1e-12)
    np.testing.assert_allclose(history.history["loss"], [train, train], rtol=1e-12)
    _, acts = ref.dense_forward(x[7:], ref.layers_from_weights(weights, spec))
    np.testing.assert_allclose(history.history["val_mae"][0],
                               ref.loss_per_sample("mae", y[7:], acts[-1]).mean(), rtol=1e-12)


def test_validation_data_matches_evaluate():
    x, y = small_data(n=9, seed=6)
    xv, yv = small_data(n=5, seed=7)
    model = fastmlp.Sequential([Dense(2, input_dim=3)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    history = model.fit(x, y, epochs=2, batch_size=4, validation_data=(xv, yv), verbose=0)
    loss, mae = model.evaluate(xv, yv, batch_size=4, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(loss, rel=1e-6)
    assert history.history["val_mae"][-1] == pytest.approx(mae, rel=1e-6)


# -------------------------------------------------------------- evaluate / predict


def test_evaluate_scalar_list_dict(float64):
    x, y = small_data(n=7, k=1, seed=8)
    y = (y > 0.5).astype(float)
    model = fastmlp.Sequential([Dense(1, input_dim=3, activation="sigmoid")])
    model.compile(loss="binary_crossentropy")
    spec = [("sigmoid", True)]
    loss = model.evaluate(x, y, verbose=0)
    assert type(loss) is float
    assert loss == pytest.approx(ref.model_loss(model.get_weights(), spec, x, y,
                                                "binary_crossentropy"), rel=1e-12)
    model.compile(loss="binary_crossentropy", metrics=["mse", "accuracy"])
    values = model.evaluate(x, y, batch_size=3, verbose=0)
    assert isinstance(values, list) and len(values) == 3
    _, acts = ref.dense_forward(x, ref.layers_from_weights(model.get_weights(), spec))
    assert values[0] == pytest.approx(loss, rel=1e-12)
    assert values[1] == pytest.approx(ref.loss_per_sample("mse", y, acts[-1]).mean(), rel=1e-12)
    assert values[2] == pytest.approx(ref.binary_accuracy(y, acts[-1]).mean())
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(logs) == ["accuracy", "loss", "mse"]
    assert logs["loss"] == pytest.approx(loss) and logs["mse"] == pytest.approx(values[1])


def test_evaluate_with_sample_weight(float64):
    x, y = small_data(n=6, seed=9)
    model = fastmlp.Sequential([Dense(2, input_dim=3)])
    model.compile(loss="mse", metrics=["mae"])
    sw = np.array([0.0, 1.0, 2.0, 3.0, 0.5, 1.5])
    loss, mae = model.evaluate(x, y, sample_weight=sw, batch_size=6, verbose=0)
    spec = [("linear", True)]
    assert loss == pytest.approx(ref.model_loss(model.get_weights(), spec, x, y, "mse",
                                                sample_weight=sw), rel=1e-12)
    # Compile metrics are unweighted.
    _, acts = ref.dense_forward(x, ref.layers_from_weights(model.get_weights(), spec))
    assert mae == pytest.approx(ref.loss_per_sample("mae", y, acts[-1]).mean(), rel=1e-12)


def test_evaluate_with_outputs_gives_evaluate_and_predict_in_one_pass(float64):
    x, y = small_data(n=40, k=2, seed=10)
    model = fastmlp.Sequential([Dense(4, input_dim=3, activation="relu"), Dense(2)])
    model.compile(loss="mse", metrics=["mae"])
    logs, outputs = model.evaluate_with_outputs(x, y)
    assert logs == model.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_array_equal(outputs, model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="evaluate_with_outputs"):
        model.evaluate_with_outputs(x, y[:5])
    with pytest.raises(ValueError, match="evaluate_with_outputs: the model must be compiled"):
        fastmlp.Sequential([Dense(1, input_dim=3)]).evaluate_with_outputs(x, y)


@pytest.mark.parametrize("n,batch_size", [(1, None), (5, 2), (33, None), (7, 7)])
def test_predict_shapes_and_batches(n, batch_size):
    model = fastmlp.Sequential([Dense(3, input_dim=4, activation="softmax")])
    x = np.random.default_rng(n).normal(size=(n, 4))
    out = model.predict(x, batch_size=batch_size, verbose=0)
    assert out.shape == (n, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, model.predict(x, batch_size=1, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(model(x), out)
    _, acts = ref.dense_forward(x, ref.layers_from_weights(model.get_weights(),
                                                           [("softmax", True)]))
    np.testing.assert_allclose(out, acts[-1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("width,rows", [(5, engine_module.INFERENCE_ROWS), (3000, 465)])
def test_inference_without_batch_size_takes_tall_steps(width, rows, capsys):
    """predict and evaluate run up to INFERENCE_ROWS rows per step, fewer for wide layers
    (16 MiB of workspace: activations of 1 + 3000 + 1 units and two of 3000 + 1 for z and
    deltas, in float32, take 36,016 bytes a row, so 465 rows); their progress lines
    still count steps of 32 rows, as Keras does."""
    x = np.linspace(-1, 1, 1500)[:, None]
    y = np.sin(3 * x)
    fastmlp.utils.set_random_seed(8)
    model = fastmlp.Sequential([Dense(width, input_dim=1, activation="tanh"), Dense(1)])
    out = model.predict(x)
    assert model.engine.inference_rows == rows and model.engine.capacity == rows
    assert re.fullmatch(rf"47/47 ━{{20}} \d+s {STEP}\n", capsys.readouterr().out)
    np.testing.assert_allclose(out, model.predict(x, batch_size=32, verbose=0), rtol=1e-5,
                               atol=1e-7)

    fastmlp.utils.set_random_seed(8)
    model = fastmlp.Sequential([Dense(width, input_dim=1, activation="tanh"), Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    loss, mae = model.evaluate(x, y)
    assert model.engine.capacity == rows
    assert re.fullmatch(rf"47/47 ━{{20}} \d+s {STEP} - loss: {VALUE} - mae: {VALUE}\n",
                        capsys.readouterr().out)
    assert [loss, mae] == pytest.approx(model.evaluate(x, y, batch_size=32, verbose=0),
                                        rel=1e-6)


def test_validation_without_batch_size_takes_tall_steps():
    """The validation pass of fit steps like evaluate; losses match 32-row steps."""
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(100, 3)), rng.normal(size=(100, 1))
    xv, yv = rng.normal(size=(700, 3)), rng.normal(size=(700, 1))
    histories = []
    for validation_batch_size in (None, 32):
        fastmlp.utils.set_random_seed(9)
        model = fastmlp.Sequential([Dense(4, input_dim=3, activation="tanh"), Dense(1)])
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        history = model.fit(x, y, batch_size=32, epochs=2, verbose=0, validation_data=(xv, yv),
                            validation_batch_size=validation_batch_size)
        histories.append(history.history)
        assert model.engine.capacity == (700 if validation_batch_size is None else 32)
    assert histories[0]["loss"] == histories[1]["loss"]
    for key in ("val_loss", "val_mae"):
        assert histories[0][key] == pytest.approx(histories[1][key], rel=1e-6)


def test_batch_size_larger_than_the_data():
    """Keras accepts any batch_size >= 1; one batch then holds every row."""
    results = []
    for batch_size in (4, 10**12):
        fastmlp.utils.set_random_seed(5)
        model = xor_model()
        history = model.fit(XOR_X, XOR_Y, epochs=2, batch_size=batch_size, verbose=0,
                            validation_data=(XOR_X, XOR_Y))
        results.append((model.get_weights(), history.history,
                         model.evaluate(XOR_X, XOR_Y, batch_size=batch_size, verbose=0),
                         model.predict(XOR_X, batch_size=batch_size, verbose=0)))
        assert history.params["steps"] == 1
    for a, b in zip(results[0][0], results[1][0]):
        np.testing.assert_array_equal(a, b)
    assert results[0][1] == results[1][1] and results[0][2] == results[1][2]
    np.testing.assert_array_equal(results[0][3], results[1][3])


class _NumpyRefusingLargeZeros:
    """numpy, except that ``zeros`` of more than ``limit`` values raises MemoryError."""

    def __init__(self, limit):
        self.limit = limit

    def __getattr__(self, name):
        return getattr(np, name)

    def zeros(self, shape, *args, **kwargs):
        if np.prod(shape) > self.limit:
            raise MemoryError("simulated: workspace too large")
        return np.zeros(shape, *args, **kwargs)


def test_failed_workspace_allocation_leaves_a_working_model(monkeypatch):
    """A MemoryError while growing the workspaces must not leave them half-recorded."""
    fastmlp.utils.set_random_seed(6)
    model = fastmlp.Sequential([Dense(3, input_dim=2, activation="tanh"), Dense(1)])
    twin = fastmlp.Sequential([Dense(3, input_dim=2, activation="tanh"), Dense(1)])
    twin.set_weights(model.get_weights())
    x = np.random.default_rng(6).normal(size=(60, 2))
    expected = twin.predict(x, batch_size=60, verbose=0)
    model.predict(x[:4], batch_size=4, verbose=0)  # workspaces for 4 rows
    monkeypatch.setattr(engine_module, "np", _NumpyRefusingLargeZeros(200))
    with pytest.raises(MemoryError):
        model.predict(x, batch_size=60, verbose=0)
    monkeypatch.undo()
    np.testing.assert_array_equal(model.predict(x, batch_size=60, verbose=0), expected)
    np.testing.assert_array_equal(model.predict(x[:50], batch_size=50, verbose=0),
                                  expected[:50])


# --------------------------------------------------------------------- progress


STEP = r"\d+(?:us|ms|s)/step"
VALUE = r"-?\d+\.\d{4}(?:e[-+]\d\d)?"


def test_verbose_1_progress_lines(capsys):
    model = xor_model()
    model.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])
    history = model.fit(XOR_X, XOR_Y, epochs=2, batch_size=3, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    for epoch, line in enumerate((lines[1], lines[3])):
        # Keys in sorted order, as Keras 3 logs them.
        assert re.fullmatch(rf"2/2 ━{{20}} \d+s {STEP} - accuracy: {VALUE} - loss: {VALUE}",
                            line), line
        assert f"loss: {history.history['loss'][epoch]:.4f}" in line


def test_verbose_default_is_progress_bar(capsys):
    model = xor_model()
    model.fit(XOR_X, XOR_Y, epochs=1, batch_size=4)
    out = capsys.readouterr().out
    assert "Epoch" not in out  # one epoch: no "Epoch 1/1" line
    assert re.fullmatch(rf"1/1 ━{{20}} \d+s {STEP} - loss: {VALUE}\n", out)


def test_verbose_2_lines(capsys):
    model = xor_model()
    history = model.fit(XOR_X, XOR_Y, epochs=3, batch_size=1, verbose=2,
                        validation_data=(XOR_X, XOR_Y))
    lines = capsys.readouterr().out.splitlines()
    assert lines[::2] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    for i, line in enumerate(lines[1::2]):
        assert re.fullmatch(rf"4/4 - \d+s - {STEP} - loss: {VALUE} - val_loss: {VALUE}", line)
        assert f"loss: {history.history['loss'][i]:.4f}" in line


def test_verbose_0_is_silent_and_evaluate_predict_lines(capsys):
    model = xor_model()
    model.fit(XOR_X, XOR_Y, epochs=2, verbose=0)
    model.evaluate(XOR_X, XOR_Y, verbose=0)
    model.predict(XOR_X, verbose=0)
    assert capsys.readouterr().out == ""
    loss = model.evaluate(XOR_X, XOR_Y, batch_size=3)
    out = capsys.readouterr().out
    assert re.fullmatch(rf"2/2 ━{{20}} \d+s {STEP} - loss: {VALUE}\n", out)
    assert f"{loss:.4f}" in out
    model.predict(XOR_X)
    assert re.fullmatch(rf"1/1 ━{{20}} \d+s {STEP}\n", capsys.readouterr().out)


def test_small_values_use_scientific_notation(capsys):
    model = fastmlp.Sequential([Dense(1, input_dim=1, kernel_initializer="ones")])
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse")
    model.fit(np.array([[1.0]]), np.array([[1.0001]]), epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert re.search(r"loss: \d\.\d{4}e-0\d", out), out


# ----------------------------------------------------------------- determinism


def _seeded_run(seed):
    fastmlp.utils.set_random_seed(seed)
    model = fastmlp.Sequential([Dense(4, input_dim=3, activation="relu"),
                                Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3))
    y = fastmlp.utils.to_categorical(rng.integers(0, 2, 20), 2)
    history = model.fit(x, y, epochs=4, batch_size=3, shuffle=True, verbose=0,
                        validation_split=0.2)
    return model.get_weights(), history.history


def test_set_random_seed_is_bitwise_reproducible():
    w1, h1 = _seeded_run(42)
    w2, h2 = _seeded_run(42)
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert h1 == h2
    w3, h3 = _seeded_run(43)
    assert any(not np.array_equal(a, b) for a, b in zip(w1, w3))


def test_shuffle_changes_the_order_but_not_the_data():
    """Unshuffled and shuffled training differ; verbose and silent runs do not."""
    runs = []
    for shuffle, verbose in ((False, 0), (True, 0), (True, 2)):
        fastmlp.utils.set_random_seed(7)
        model = xor_model()
        history = model.fit(XOR_X, XOR_Y, epochs=5, batch_size=1, shuffle=shuffle,
                            verbose=verbose)
        runs.append((model.get_weights(), history.history["loss"]))
    assert runs[0][1] != runs[1][1]
    assert runs[1][1] == runs[2][1]
    for a, b in zip(runs[1][0], runs[2][0]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("width", [4, 40])
def test_gathered_and_in_place_batches_train_alike(width, float64):
    """Shuffled batches are gathered into the workspace, ordered ones read from x in
    place; with one batch per epoch only the summation order differs."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(24, 3))
    y = rng.uniform(size=(24, 2))
    weights = []
    for shuffle in (False, True):
        fastmlp.utils.set_random_seed(2)
        model = fastmlp.Sequential([Dense(width, "tanh", input_dim=3), Dense(2, "sigmoid")])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, batch_size=24, epochs=3, shuffle=shuffle, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("shuffle", [False, True])
def test_fit_allocates_per_row_only_the_shuffle_order(shuffle):
    """Unweighted rows need no array of ones, and rows in their stored order no index
    array: NumPy's allocations during ``fit`` stay under one byte per row, plus the
    shuffle's int32 order when shuffling."""
    n = 200_000
    rng = np.random.default_rng(3)
    x = rng.random((n, 2), dtype=np.float32)
    y = (x[:, :1] > 0.5).astype(np.float32)
    model = fastmlp.Sequential([Dense(4, "relu", input_dim=2), Dense(1, "sigmoid")])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy")
    model.fit(x[:64], y[:64], batch_size=256, shuffle=shuffle, verbose=0)  # loads the kernels
    tracemalloc.start()
    try:
        model.fit(x, y, batch_size=256, shuffle=shuffle, verbose=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    order_bytes = 4 * n if shuffle else 0  # int32 indices
    assert order_bytes <= peak < order_bytes + n


def test_row_order_is_empty_unshuffled_and_int32_shuffled():
    assert engine_module.row_order(5, shuffle=False).shape == (0,)
    order = engine_module.row_order(5, shuffle=True)
    assert order.dtype == np.int32 and order.tolist() == [0, 1, 2, 3, 4]


def test_unit_sample_weights_train_as_no_weights(float64):
    """No sample_weight means a weight of 1 on every row, with or without shuffling."""
    x, y = small_data(n=30, seed=12)
    for shuffle in (False, True):
        runs = []
        for sample_weight in (None, np.ones(30)):
            fastmlp.utils.set_random_seed(4)
            model = fastmlp.Sequential([Dense(5, "tanh", input_dim=3), Dense(2)])
            model.compile(optimizer="adam", loss="mse", metrics=["mae"])
            history = model.fit(x, y, batch_size=7, epochs=3, shuffle=shuffle, verbose=0,
                                sample_weight=sample_weight, validation_split=0.2)
            runs.append((model.get_weights(), history.history,
                         model.evaluate(x, y, sample_weight=sample_weight, verbose=0)))
        (w1, h1, e1), (w2, h2, e2) = runs
        for a, b in zip(w1, w2):
            np.testing.assert_array_equal(a, b)
        assert h1 == h2 and e1 == e2


@pytest.mark.parametrize("hidden,output,loss", [
    ("relu", "softmax", "categorical_crossentropy"),
    ("tanh", "sigmoid", "binary_crossentropy"),
    ("sigmoid", "linear", "mse"),
    ("linear", "softmax", "mse"),
    ("elu", "sigmoid", "mse"),
])
def test_tiny_path_trains_like_the_general_one(hidden, output, loss, monkeypatch, float64):
    """Tiny models train through one-pass kernels; the sums run in the same order."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10, 3))
    y = fastmlp.utils.to_categorical(rng.integers(0, 2, 10), 2)
    runs = []
    for tiny_units in (engine_module.TINY_UNITS, 0):
        monkeypatch.setattr(engine_module, "TINY_UNITS", tiny_units)
        fastmlp.utils.set_random_seed(4)
        model = fastmlp.Sequential([Dense(5, hidden, input_dim=3), Dense(2, output)])
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
        history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
        expected_path = tiny_units > 0 and hidden != "elu"
        assert model.engine.takes_tiny_path() == expected_path
        runs.append((model.get_weights(), history.history))
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    for key in runs[0][1]:
        np.testing.assert_allclose(runs[0][1][key], runs[1][1][key], rtol=1e-13)


def test_tiled_products_train_like_blas(float64):
    """A model whose products fit the register tiles (see ``kernels.tiles``) trains,
    evaluates and predicts as with every product in BLAS, up to the order of sums."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(96, 20))
    y = fastmlp.utils.to_categorical(rng.integers(0, 3, 96), 3)
    runs = []
    for use_tiles in (True, False):
        tiles.use_tiles(use_tiles)
        try:
            fastmlp.utils.set_random_seed(6)
            model = fastmlp.Sequential([Dense(24, "relu", input_dim=20), Dense(3, "softmax")])
            model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
            history = model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0,
                                validation_split=0.25)
            assert tiles.ready(np.float64) == use_tiles
            runs.append((model.get_weights(), history.history, model.predict(x, verbose=0)))
        finally:
            tiles.use_tiles(True)
    (w1, h1, p1), (w2, h2, p2) = runs
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for key in h1:
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-10)
    np.testing.assert_allclose(p1, p2, rtol=1e-10, atol=1e-12)


def test_tiles_compile_only_for_batches_that_can_use_them():
    """A 2-2-1 network fitted a row at a time never multiplies enough for the tiles,
    so a fresh process does not compile them; a predict of 40 rows does."""
    script = textwrap.dedent("""
        import numpy as np
        import fastmlp
        from fastmlp.kernels import tiles
        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], "f")
        model = fastmlp.Sequential([fastmlp.layers.Dense(2, "sigmoid", input_dim=2),
                                    fastmlp.layers.Dense(1, "sigmoid")])
        model.compile("sgd", "mse")
        model.fit(x, x[:, :1], batch_size=1, epochs=2, verbose=0)
        model.predict(x, verbose=0)
        before = tiles.ready(np.float32)
        model.predict(np.zeros((40, 2), "f"), verbose=0)
        print(before, tiles.ready(np.float32))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


_DRIVER_CACHE_SCRIPT = """
import json
import numpy as np
import fastmlp
from fastmlp import engine
from fastmlp.kernels import addressed, tiles, updates

def weights_after_fit(features, units, optimizer):
    fastmlp.utils.set_random_seed(0)
    x = np.random.default_rng(0).uniform(-1, 1, (2000, features)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    model = fastmlp.Sequential([fastmlp.layers.Dense(units, "tanh", input_dim=features),
                                fastmlp.layers.Dense(1, "sigmoid")])
    model.compile(optimizer=optimizer, loss="binary_crossentropy")
    history = model.fit(x, y, batch_size=64, epochs=2, verbose=0, validation_split=0.25)
    return [w.tolist() for w in model.get_weights()] + [history.history["val_loss"]]

weights = [weights_after_fit(2, 3, "adam"), weights_after_fit(20, 32, "rmsprop")]
drivers = [engine.fit_epochs_tiny_kernels[engine.ADAM], engine.fit_epochs_kernel]
others = [d for d in engine.fit_epochs_tiny_kernels.values() if d not in drivers]
print(json.dumps({"loaded": [sum(d.stats.cache_hits.values()) for d in drivers
                             + [engine.evaluate_kernel]],
                  "others_compiled": sum(len(d.overloads) for d in others),
                  "callbacks_loaded": [c.cache_hits for c in addressed.made()],
                  "update_callbacks": [[key[1], str(key[2])] for key in addressed._made
                                       if key[0] is updates._update_callback],
                  "tiles_loaded": [sum(p.stats.cache_hits.values())
                                   for p in tiles._products.products.values()],
                  "weights": weights}))
"""


def test_training_drivers_load_apart_from_the_disk_cache(run_twice_on_one_cache):
    """The training drivers are one closure compiled for the general path and, once
    per optimizer, for the tiny path; in a new process each must load its own
    compiled code from the cache, not another's, and so must the loss, activation
    and update callbacks, the validation pass and the tiled products they call. A
    process compiles only the drivers and the update callback its models use, and
    the one that compiles
    them (into an empty cache) trains the same weights, with the same validation
    losses, as the one that loads them."""
    runs = [json.loads(out) for out in run_twice_on_one_cache(_DRIVER_CACHE_SCRIPT)]
    # The drivers, and the validation pass they call by address.
    assert runs[0]["loaded"] == [0, 0, 0] and runs[1]["loaded"] == [1, 1, 1]
    # The tiny path's other optimizers, and the general path's other updates, were
    # not compiled.
    assert runs[0]["others_compiled"] == runs[1]["others_compiled"] == 0
    rmsprop_float32 = [[engine_module.RMSPROP, "float32"]]
    assert runs[0]["update_callbacks"] == runs[1]["update_callbacks"] == rmsprop_float32
    assert runs[0]["tiles_loaded"] == [0, 0] and runs[1]["tiles_loaded"] == [1, 1]
    callbacks = len(runs[0]["callbacks_loaded"])
    # The loss, the forward and backward passes of two activations, and RMSprop.
    assert callbacks >= 6
    assert runs[0]["callbacks_loaded"] == [0] * callbacks
    assert runs[1]["callbacks_loaded"] == [1] * callbacks
    assert runs[1]["weights"] == runs[0]["weights"]
    tiny, general = runs[1]["weights"]
    assert len(tiny[0][0]) == 3 and len(general[0][0]) == 32


def fit_thread_test_model(x, y):
    """A model whose first products (400x10x100) are large enough to be split over
    the threads, after 2 epochs; its weights and history."""
    fastmlp.utils.set_random_seed(11)
    model = fastmlp.Sequential([Dense(100, input_dim=10, activation="tanh"),
                                Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    history = model.fit(x, y, batch_size=400, epochs=2, verbose=0)
    return model.get_weights(), history.history


@pytest.mark.parametrize("products", ["blas", "threaded"])
def test_results_do_not_depend_on_thread_count(restore_config, products):
    """Training is bitwise identical with 1 and with every thread, whether BLAS or
    the threaded products (see ``kernels.threaded``) multiply."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 10))
    y = fastmlp.utils.to_categorical(rng.integers(0, 3, 400), 3)
    assert 400 * 10 * 100 >= threaded.PARALLEL_MIN_FLOPS
    threaded.use_threaded(products == "threaded")
    results = []
    try:
        for threads in sorted({1, os.cpu_count()}):
            fastmlp.config.set_num_threads(threads)
            results.append(fit_thread_test_model(x, y))
        assert threaded.ready(np.float32) == (products == "threaded")
    finally:
        threaded.use_threaded(threaded.ON_BY_DEFAULT)
    for w_a, w_b in zip(results[0][0], results[-1][0]):
        np.testing.assert_array_equal(w_a, w_b)
    assert results[0][1] == results[-1][1]


def test_threaded_products_train_like_blas():
    """The threaded products give BLAS's weights and losses, up to the order of sums."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 10))
    y = fastmlp.utils.to_categorical(rng.integers(0, 3, 400), 3)
    runs = []
    for on in (True, False):
        threaded.use_threaded(on)
        try:
            runs.append(fit_thread_test_model(x, y))
        finally:
            threaded.use_threaded(threaded.ON_BY_DEFAULT)
    (w1, h1), (w2, h2) = runs
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-5)


# ----------------------------------------------------------------------- dtypes


def test_float32_everywhere_by_default():
    assert fastmlp.config.floatx() == "float32"
    model = xor_model()
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert all(v.dtype == "float32" for v in model.weights)
    x64 = XOR_X.astype(np.float64)
    assert model.predict(x64, verbose=0).dtype == np.float32
    history = model.fit(x64, XOR_Y.astype(np.float64), epochs=1, verbose=0)
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert type(history.history["loss"][0]) is float


@pytest.mark.parametrize("units", [4, 16])  # the tiny and the general path
def test_a_built_model_keeps_its_dtype_when_floatx_changes(restore_config, units):
    """Like a Keras layer, a model built in float32 keeps computing in float32 after
    set_floatx("float64"): data given then are converted to its dtype (before, the
    compiled driver failed to type mixed float32 and float64 arrays)."""
    rng = np.random.default_rng(5)
    x = rng.random((24, 3)).astype(np.float32)
    y = (x[:, :1] > 0.5).astype(np.float32)
    sw = rng.uniform(0.5, 2.0, 24).astype(np.float32)
    results = []
    for switch in (False, True):
        fastmlp.config.reset()
        fastmlp.utils.set_random_seed(3)
        model = fastmlp.Sequential([Dense(units, input_dim=3, activation="relu"),
                                    Dense(1, activation="sigmoid")])
        model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
        if switch:
            fastmlp.config.set_floatx("float64")
        xs, ys, sws = (a.astype(np.float64) if switch else a for a in (x, y, sw))
        history = model.fit(xs, ys, sample_weight=sws, batch_size=8, epochs=2, shuffle=True,
                            validation_split=0.25, verbose=0)
        evaluation = model.evaluate(xs, ys, sample_weight=sws, verbose=0)
        outputs = model.predict(xs, verbose=0)
        assert outputs.dtype == np.float32
        assert all(w.dtype == np.float32 for w in model.get_weights())
        results.append((model.get_weights(), history.history, evaluation, outputs))
    (w_32, h_32, e_32, p_32), (w_64, h_64, e_64, p_64) = results
    for a, b in zip(w_32, w_64):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(p_32, p_64)
    for key in h_32:
        np.testing.assert_allclose(h_64[key], h_32[key], rtol=1e-6)
    np.testing.assert_allclose(e_64, e_32, rtol=1e-6)


def test_float64_mode(float64):
    model = xor_model()
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert model.predict(XOR_X, verbose=0).dtype == np.float64
    history = model.fit(XOR_X.astype(np.float32), XOR_Y, epochs=2, batch_size=1, verbose=0)
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert model.predict(XOR_X.astype(np.float32), verbose=0).dtype == np.float64
    # Losses are reported at float64 precision.
    loss = model.evaluate(XOR_X, XOR_Y, verbose=0)
    expected = ref.model_loss(model.get_weights(), [("sigmoid", True)] * 2, XOR_X, XOR_Y, "mse")
    assert loss == pytest.approx(expected, rel=1e-13)
    assert len(history.history["loss"]) == 2


@pytest.mark.parametrize("kind", ["int", "list", "float64", "bool"])
def test_int_list_float64_inputs_accepted(kind):
    x = XOR_X if kind != "bool" else XOR_X.astype(bool)
    y = XOR_Y
    if kind == "list":
        x, y = x.tolist(), y.tolist()
    elif kind == "float64":
        x, y = x.astype(np.float64), y.astype(np.float64)
    results = []
    for data in ((x, y), (XOR_X.astype(np.float32), XOR_Y.astype(np.float32))):
        fastmlp.utils.set_random_seed(1)
        model = xor_model()
        history = model.fit(*data, epochs=2, batch_size=2, verbose=0)
        results.append((model.get_weights(), history.history, model.predict(data[0], verbose=0),
                        model.evaluate(*data, verbose=0)))
    for a, b in zip(results[0][0], results[1][0]):
        np.testing.assert_array_equal(a, b)
    assert results[0][1] == results[1][1]
    np.testing.assert_array_equal(results[0][2], results[1][2])
    assert results[0][3] == results[1][3]


def test_one_dimensional_targets_accepted():
    model = fastmlp.Sequential([Dense(1, input_dim=2)])
    model.compile(loss="mse")
    history = model.fit(XOR_X, XOR_Y.ravel(), epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1


# ------------------------------------------------------------------- divergence


def test_divergent_run_warns():
    fastmlp.utils.set_random_seed(0)
    model = fastmlp.Sequential([Dense(4, input_dim=3), Dense(1)])
    model.compile(optimizer=optimizers.SGD(learning_rate=1e6), loss="mse")
    x, y = small_data(n=16, k=1)
    with pytest.warns(RuntimeWarning) as record:
        history = model.fit(x, y * 100, epochs=8, batch_size=4, verbose=0)
    losses = history.history["loss"]
    first_bad = next(i for i, v in enumerate(losses) if not math.isfinite(v))
    messages = [str(w.message) for w in record if issubclass(w.category, RuntimeWarning)
                and "diverged" in str(w.message)]
    assert len(messages) == 1
    assert f"epoch {first_bad + 1}" in messages[0]
    assert "lower learning rate" in messages[0]
    assert "1e+06" in messages[0]


def test_no_warning_for_a_healthy_run():
    model = xor_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(XOR_X, XOR_Y, epochs=3, verbose=0)


def test_training_recovers_after_divergence_once_weights_are_restored():
    """Stale NaN in the engine's workspaces must not leak into later gradients."""
    x, y = small_data(n=16, d=3, k=2, seed=4)
    fastmlp.utils.set_random_seed(4)
    model = fastmlp.Sequential([Dense(4, input_dim=3, activation="tanh"), Dense(2)])
    start = model.get_weights()
    model.compile(optimizer=optimizers.SGD(1e30), loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    assert not np.isfinite(model.get_weights()[0]).all()
    model.set_weights(start)
    model.compile(optimizer=optimizers.SGD(0.01), loss="mse")
    history = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)

    fastmlp.utils.set_random_seed(4)
    fresh = fastmlp.Sequential([Dense(4, input_dim=3, activation="tanh"), Dense(2)])
    fresh.set_weights(start)
    fresh.compile(optimizer=optimizers.SGD(0.01), loss="mse")
    expected = fresh.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    assert history.history == expected.history
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------- EarlyStopping


class FakeModel:
    """Just enough of a model for calling a callback by hand."""

    def __init__(self):
        self.stop_training = False
        self.value = 0
        self.restored = None

    def get_weights(self):
        return [np.array(self.value)]

    def set_weights(self, weights):
        self.restored = int(weights[0])


def drive(callback, values, key="val_loss"):
    """Feed ``values`` as per-epoch logs until the callback stops training."""
    model = FakeModel()
    callback.set_model(model)
    callback.on_train_begin()
    seen = 0
    for epoch, value in enumerate(values):
        model.value = epoch
        callback.on_epoch_end(epoch, {key: value, "other": 0.0})
        seen += 1
        if model.stop_training:
            break
    callback.on_train_end()
    return seen, model


@pytest.mark.parametrize("values,patience,min_delta,epochs_run", [
    ([1.0, 0.9, 0.95, 0.93, 0.97, 0.5], 2, 0.0, 4),
    ([1.0, 0.9, 0.95, 0.93, 0.97, 0.5], 0, 0.0, 3),
    ([1.0, 0.9, 0.8, 0.7, 0.6], 1, 0.0, 5),
    ([1.0, 0.97, 0.96, 0.5], 2, 0.05, 3),
    ([1.0, 0.97, 0.96, 0.5], 2, 0.0, 4),
    ([1.0, 1.0, 1.0], 1, 0.0, 2),
])
def test_early_stopping_patience_and_min_delta(values, patience, min_delta, epochs_run):
    stopper = callbacks.EarlyStopping(patience=patience, min_delta=min_delta)
    seen, model = drive(stopper, values)
    assert seen == epochs_run
    assert model.stop_training == (epochs_run < len(values))
    if model.stop_training:
        assert stopper.stopped_epoch == epochs_run - 1


def test_early_stopping_mode_auto_and_max():
    # accuracy-like keys are maximised
    seen, _ = drive(callbacks.EarlyStopping(monitor="val_accuracy", patience=1),
                    [0.5, 0.6, 0.55, 0.54, 0.9], key="val_accuracy")
    assert seen == 3
    seen, _ = drive(callbacks.EarlyStopping(monitor="val_accuracy", patience=2),
                    [0.5, 0.6, 0.55, 0.7, 0.65, 0.64, 0.9], key="val_accuracy")
    assert seen == 6
    seen, _ = drive(callbacks.EarlyStopping(monitor="score", mode="max", patience=0),
                    [0.5, 0.6, 0.7, 0.65, 0.9], key="score")
    assert seen == 4
    with pytest.raises(ValueError, match="mode"):
        callbacks.EarlyStopping(mode="biggest")


def test_early_stopping_restores_best_weights():
    stopper = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    seen, model = drive(stopper, [1.0, 0.5, 0.7, 0.8, 0.1])
    assert seen == 4 and model.restored == 1 and stopper.best_epoch == 1
    # Keras 3 restores the best weights at the end even without stopping early.
    stopper = callbacks.EarlyStopping(patience=5, restore_best_weights=True)
    seen, model = drive(stopper, [1.0, 0.5, 0.7])
    assert seen == 3 and not model.stop_training and model.restored == 1
    # Without restore_best_weights nothing is restored.
    seen, model = drive(callbacks.EarlyStopping(patience=0), [1.0, 2.0])
    assert model.restored is None


def test_early_stopping_missing_monitor_warns():
    with pytest.warns(UserWarning, match="val_loss"):
        seen, model = drive(callbacks.EarlyStopping(), [1.0, 2.0, 3.0], key="loss")
    assert seen == 3 and not model.stop_training


def test_early_stopping_in_fit(float64):
    """Training on y=1 and validating on y=-1: val_loss rises from the first epoch."""
    model = fastmlp.Sequential([Dense(1, use_bias=False, input_dim=1,
                                      kernel_initializer="zeros")])
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    x = np.ones((4, 1))
    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=2,
                                      restore_best_weights=True)
    history = model.fit(x, np.ones((4, 1)), epochs=20, batch_size=4, verbose=0,
                        validation_data=(x, -np.ones((4, 1))), callbacks=[stopper])
    assert history.epoch == [0, 1, 2]
    assert stopper.stopped_epoch == 2
    val = history.history["val_loss"]
    assert val[0] < val[1] < val[2]
    # Best epoch 0: w = 0 + 0.1 * 2 * (1 - 0) = 0.2 is restored.
    assert model.get_weights()[0][0, 0] == pytest.approx(0.2, rel=1e-12)
    assert model.optimizer.iterations == 3


def test_callback_hooks_are_called_per_epoch():
    events = []

    class Recorder(callbacks.Callback):
        def on_train_begin(self, logs=None):
            events.append("begin")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(("epoch_begin", epoch))

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch, sorted(logs)))

        def on_train_end(self, logs=None):
            events.append("end")

    xor_model().fit(XOR_X, XOR_Y, epochs=2, verbose=0, callbacks=[Recorder()])
    assert events == ["begin", ("epoch_begin", 0), ("epoch_end", 0, ["loss"]),
                      ("epoch_begin", 1), ("epoch_end", 1, ["loss"]), "end"]


# ------------------------------------------------------------- custom metrics


def mean_pred(y_true, y_pred):
    return K.mean(y_pred)


def abs_error(y_true, y_pred):
    return K.abs(y_true - y_pred)


def test_scalar_python_metric_is_averaged_per_batch(float64):
    x, y = small_data(n=5, seed=10)
    model = fastmlp.Sequential([Dense(2, input_dim=3, activation="sigmoid")])
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse", metrics=[mean_pred])
    preds = model.predict(x, verbose=0)
    per_batch = np.mean([preds[0:2].mean(), preds[2:4].mean(), preds[4:5].mean()])
    assert per_batch != pytest.approx(preds.mean(), rel=1e-6)
    loss, value = model.evaluate(x, y, batch_size=2, verbose=0)
    assert value == pytest.approx(per_batch, rel=1e-12)
    history = model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0,
                        validation_data=(x, y))
    np.testing.assert_allclose(history.history["mean_pred"], [per_batch] * 2, rtol=1e-12)
    np.testing.assert_allclose(history.history["val_mean_pred"], [per_batch] * 2, rtol=1e-12)


def test_per_sample_python_metric_is_averaged_per_sample(float64):
    x, y = small_data(n=5, seed=11)
    model = fastmlp.Sequential([Dense(2, input_dim=3, activation="sigmoid")])
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse", metrics=[abs_error, "mae"])
    preds = model.predict(x, verbose=0)
    expected = np.abs(y - preds).mean()
    loss, value, mae = model.evaluate(x, y, batch_size=2, verbose=0)
    assert value == pytest.approx(expected, rel=1e-12)
    assert mae == pytest.approx(expected, rel=1e-12)
    history = model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert history.history["abs_error"][0] == pytest.approx(expected, rel=1e-12)
    assert list(history.history) == ["abs_error", "loss", "mae"]


def test_python_metric_sees_epoch_order_with_shuffle():
    """With shuffling, a per-sample Python metric still pairs each prediction with its row."""
    x, y = small_data(n=9, seed=12)
    model = fastmlp.Sequential([Dense(2, input_dim=3)])
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse", metrics=[abs_error])
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=True, verbose=0)
    expected = np.abs(y - model.predict(x, verbose=0)).mean()
    np.testing.assert_allclose(history.history["abs_error"], [expected] * 2, rtol=1e-5)


# ----------------------------------------------------------- to_categorical


def test_to_categorical():
    out = fastmlp.utils.to_categorical([0, 2, 1, 2])
    assert out.dtype == np.float64 and out.shape == (4, 3)
    np.testing.assert_array_equal(out, np.eye(3)[[0, 2, 1, 2]])
    out = fastmlp.utils.to_categorical(np.array([[1], [0], [3]]), num_classes=5)
    assert out.shape == (3, 5)
    np.testing.assert_array_equal(out, np.eye(5)[[1, 0, 3]])
    out = fastmlp.utils.to_categorical(np.array([1.0, 0.0]), num_classes=2)
    np.testing.assert_array_equal(out, [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="num_classes"):
        fastmlp.utils.to_categorical([0, 4], num_classes=3)
    with pytest.raises(ValueError, match="integer"):
        fastmlp.utils.to_categorical([0.5, 1.0])
    with pytest.raises(ValueError, match=">= 0"):
        fastmlp.utils.to_categorical([-1, 1])


# ------------------------------------------------------- 'accuracy' resolution


def _accuracy_case(out_units, loss, y, x):
    fastmlp.utils.set_random_seed(0)
    act = "sigmoid" if out_units == 1 else "softmax"
    model = fastmlp.Sequential([Dense(out_units, input_dim=x.shape[1], activation=act)])
    model.compile(loss=loss, metrics=["accuracy", "acc"])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    return logs, model.predict(x, verbose=0)


def test_accuracy_resolves_to_binary_for_one_output():
    x = np.random.default_rng(0).normal(size=(12, 3))
    y = np.random.default_rng(1).integers(0, 2, size=(12, 1))
    logs, preds = _accuracy_case(1, "binary_crossentropy", y, x)
    expected = ref.binary_accuracy(y, preds).mean()
    assert logs["accuracy"] == pytest.approx(expected) and logs["acc"] == logs["accuracy"]
    assert 0 < expected < 1


@pytest.mark.parametrize("shape", [(12,), (12, 1)])
def test_accuracy_resolves_to_sparse_for_integer_labels(shape):
    x = np.random.default_rng(2).normal(size=(12, 3))
    labels = np.random.default_rng(3).integers(0, 3, size=12)
    logs, preds = _accuracy_case(3, "sparse_categorical_crossentropy",
                                 labels.reshape(shape), x)
    expected = ref.sparse_categorical_accuracy(labels, preds).mean()
    assert logs["accuracy"] == pytest.approx(expected)
    assert 0 < expected < 1


def test_accuracy_resolves_to_categorical_for_one_hot():
    x = np.random.default_rng(4).normal(size=(12, 3))
    y = fastmlp.utils.to_categorical(np.random.default_rng(5).integers(0, 3, size=12), 3)
    logs, preds = _accuracy_case(3, "categorical_crossentropy", y, x)
    expected = ref.categorical_accuracy(y, preds).mean()
    assert logs["accuracy"] == pytest.approx(expected)
    assert 0 < expected < 1


def test_summary_counts_optimizer_variables_as_keras(capsys):
    """Keras 3 counts the slots plus the optimizer's iteration and learning_rate."""
    x, y = np.ones((4, 2)), np.ones((4, 1))
    model = fastmlp.Sequential([fastmlp.Input((2,)), Dense(2, activation="sigmoid"),
                                Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    model.fit(x, y, verbose=0)
    model.summary()
    out = capsys.readouterr().out
    assert " Total params: 11 (44.00 B)" in out and " Optimizer params: 2 (8.00 B)" in out
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, verbose=0)
    model.summary()
    out = capsys.readouterr().out
    assert " Total params: 29 (116.00 B)" in out and " Optimizer params: 20 (80.00 B)" in out
