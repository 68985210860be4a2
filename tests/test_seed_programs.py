"""The seed document's programs, with only the imports changed, must run.

Keras 2-era snippets (``from keras.models import Sequential`` ...) become
``from fastmlp.models import Sequential``; the XOR program is the real one
(3000 epochs, batch size 1, default verbosity) and must learn XOR.
"""

import re

import numpy as np
import pytest

import fastmlp
import reference as ref
from fastmlp.layers import Activation, Dense
from fastmlp.models import Sequential


def test_a_first_layer_with_input_dim(fresh_session):
    model = Sequential()
    model.add(Dense(32, input_dim=784, activation='sigmoid'))
    assert model.built and model.count_params() == 784 * 32 + 32
    assert model.layers[0].name == "dense"
    assert model.weights[0].shape == (784, 32)
    model.add(Activation('relu'))
    assert model.predict(np.random.random((3, 784)), verbose=0).shape == (3, 32)


def _seed_model():
    model = Sequential()
    model.add(Dense(32, input_dim=784, activation='sigmoid'))
    return model


def _data(kind, n=10):
    rng = np.random.default_rng(0)
    x = rng.random((n, 784))
    if kind == "categorical":
        y = fastmlp.utils.to_categorical(rng.integers(0, 32, n), num_classes=32)
    elif kind == "binary":
        y = rng.integers(0, 2, size=(n, 32))
    else:
        y = rng.random((n, 32))
    return x, y


@pytest.mark.parametrize("kind,compile_kwargs,keys", [
    ("categorical", dict(optimizer='rmsprop', loss='categorical_crossentropy',
                         metrics=['accuracy']), ["accuracy", "loss"]),
    ("binary", dict(optimizer='rmsprop', loss='binary_crossentropy', metrics=['accuracy']),
     ["accuracy", "loss"]),
    ("regression", dict(optimizer='rmsprop', loss='mse'), ["loss"]),
])
def test_b_compile_variants_and_fit(kind, compile_kwargs, keys):
    fastmlp.utils.set_random_seed(0)
    model = _seed_model()
    model.compile(**compile_kwargs)
    x, y = _data(kind)
    history = model.fit(x, y, epochs=2, batch_size=1, verbose=0)
    assert sorted(history.history) == keys
    assert model.optimizer.iterations == 20
    history = model.fit(x, y, epochs=2, batch_size=1, validation_split=0.2, verbose=0)
    assert list(history.history) == keys + [f"val_{k}" for k in keys]
    assert history.params["steps"] == 8
    assert all(np.isfinite(v).all() for v in history.history.values())


def test_b_custom_metric_mean_pred():
    import fastmlp.backend as K

    def mean_pred(y_true, y_pred):
        return K.mean(y_pred)

    fastmlp.utils.set_random_seed(0)
    model = _seed_model()
    model.compile(optimizer='rmsprop',
                  loss='binary_crossentropy',
                  metrics=['accuracy', mean_pred])
    x, y = _data("binary")
    history = model.fit(x, y, epochs=2, batch_size=1, validation_split=0.2, verbose=0)
    assert list(history.history) == ["accuracy", "loss", "mean_pred", "val_accuracy",
                                     "val_loss", "val_mean_pred"]
    assert all(0 < v < 1 for v in history.history["mean_pred"])
    loss, accuracy, mean = model.evaluate(x, y, batch_size=1, verbose=0)
    assert mean == pytest.approx(model.predict(x, verbose=0).mean(), rel=1e-5)


def test_c_binary_classification(capsys):
    fastmlp.utils.set_random_seed(0)
    # For a single-input model with 2 classes (binary classification):
    model = Sequential()
    model.add(Dense(32, activation='relu', input_dim=100))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(optimizer='rmsprop',
                  loss='binary_crossentropy',
                  metrics=['accuracy'])

    # Generate dummy data
    data = np.random.random((1000, 100))
    labels = np.random.randint(2, size=(1000, 1))

    # Train the model, iterating on the data in batches of 32 samples
    model.fit(data, labels, epochs=10, batch_size=32)

    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [l for l in lines if l.startswith("Epoch")] == [f"Epoch {i}/10" for i in range(1, 11)]
    bars = [l for l in lines if l.startswith("32/32 ")]
    assert len(bars) == 10
    assert all(re.search(r" - accuracy: \d\.\d{4} - loss: \d\.\d{4}$", b) for b in bars)
    history = model.history.history
    assert history["loss"][-1] < history["loss"][0]
    assert model.optimizer.iterations == 320


def test_d_multiclass_classification(capsys):
    fastmlp.utils.set_random_seed(0)
    # For a single-input model with 10 classes (categorical classification):
    model = Sequential()
    model.add(Dense(32, activation='relu', input_dim=100))
    model.add(Dense(10, activation='softmax'))
    model.compile(optimizer='rmsprop',
                  loss='categorical_crossentropy',
                  metrics=['accuracy'])

    # Generate dummy data
    data = np.random.random((1000, 100))
    labels = np.random.randint(10, size=(1000, 1))

    # Convert labels to categorical one-hot encoding
    one_hot_labels = fastmlp.utils.to_categorical(labels, num_classes=10)

    # Train the model, iterating on the data in batches of 32 samples
    model.fit(data, one_hot_labels, epochs=10, batch_size=32)

    assert one_hot_labels.shape == (1000, 10) and one_hot_labels.dtype == np.float64
    out = capsys.readouterr().out
    assert out.count("32/32 ━━━━━━━━━━━━━━━━━━━━") == 10
    history = model.history.history
    assert list(history) == ["accuracy", "loss"]
    assert history["loss"][-1] < history["loss"][0]
    assert model.predict(data[:5], verbose=0).sum(axis=1) == pytest.approx(np.ones(5), rel=1e-5)


def test_e_xor_program(capsys, fresh_session):
    import fastmlp as tf_keras  # the seed's "import ... as keras" style

    # Seed 1 is verified to learn XOR with this exact program.
    tf_keras.utils.set_random_seed(1)

    x = np.array([[1, 1], [1, 0], [0, 1], [0, 0]])
    y = np.array([[0], [1], [1], [0]])

    model = tf_keras.Sequential()
    model.add(tf_keras.layers.Dense(units=2, input_dim=2, activation='sigmoid'))
    model.add(tf_keras.layers.Dense(units=1, activation='sigmoid'))
    model.compile(optimizer=tf_keras.optimizers.SGD(learning_rate=0.1), loss='mse')
    model.summary()

    history = model.fit(x, y, epochs=3000, batch_size=1)

    for weight in model.weights:
        print(weight)

    loss = model.evaluate(x, y, batch_size=1)
    print(loss)
    print(model.predict(x))

    out = capsys.readouterr().out
    assert out.startswith(ref.XOR_SUMMARY)
    lines = out.splitlines()
    epoch_lines = [l for l in lines if l.startswith("Epoch ")]
    assert epoch_lines == [f"Epoch {i}/3000" for i in range(1, 3001)]
    bars = [l for l in lines if l.startswith("4/4 ━")]
    assert len(bars) == 3000 + 1  # every epoch, then evaluate
    assert re.fullmatch(r"4/4 ━{20} \d+s \d+(us|ms|s)/step - loss: \d\.\d{4}", bars[-1])
    assert f"loss: {loss:.4f}" in bars[-1]
    for path, shape in (("sequential/dense/kernel", "(2, 2)"), ("sequential/dense/bias", "(2,)"),
                        ("sequential/dense_1/kernel", "(2, 1)"),
                        ("sequential/dense_1/bias", "(1,)")):
        assert f"<Variable path={path}, shape={shape}, dtype=float32, value=[" in out
    assert repr(loss) in lines or str(loss) in lines
    assert type(loss) is float and loss < 0.05
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert len(history.history["loss"]) == 3000
    assert model.optimizer.iterations == 3000 * 4

    predictions = model.predict(x, verbose=0)
    np.testing.assert_array_equal(np.round(predictions), y)
    assert re.search(r"1/1 ━{20} \d+s \d+(us|ms|s)/step\n\[\[", out)
    assert out.rstrip().endswith("]]")
