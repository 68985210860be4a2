"""Tests of the benchmark suite itself: ``python -m pytest bench``.

They check that the NumPy reference computes the right gradients and the
Keras 3 optimizer formulas, that PyTorch (if installed) does the same math,
and that the harness runs and reports end to end on tiny workloads.
"""

import dataclasses
import json

import numpy as np
import pytest

from bench import report
from bench.cli import run_workload
from bench.memory import run_memory
from bench.numpy_mlp import SGD, Adam, NumpyMLP, RMSprop, make_optimizer
from bench.systems import make_systems
from bench.workloads import WORKLOADS, glorot_weights, select_workloads

CASES = [
    (2, [(2, "sigmoid"), (1, "sigmoid")], "mse"),
    (5, [(4, "relu"), (3, "tanh"), (2, "linear")], "mse"),
    (6, [(5, "relu"), (1, "sigmoid")], "binary_crossentropy"),
    (7, [(6, "relu"), (4, "softmax")], "categorical_crossentropy"),
]


def _targets(loss, n, k, rng):
    if loss == "categorical_crossentropy":
        return np.eye(k)[rng.integers(0, k, n)]
    if loss == "binary_crossentropy":
        return (rng.random((n, k)) > 0.5) * 1.0
    return rng.standard_normal((n, k))


@pytest.mark.parametrize("d, layers, loss", CASES)
def test_gradients_match_finite_differences(d, layers, loss):
    rng = np.random.default_rng(0)
    model = NumpyMLP(d, layers, loss, SGD(), dtype=np.float64)
    weights = [w.astype(np.float64) + 0.1 * rng.standard_normal(w.shape)
               for w in glorot_weights(d, [u for u, _ in layers], 1)]
    x = rng.random((9, d))
    y = _targets(loss, 9, layers[-1][0], rng)
    model.set_weights(weights)
    _, grads = model.gradients(x, y)
    h = 1e-6
    for i, w in enumerate(weights):
        for idx in np.ndindex(w.shape):
            plus = [a.copy() for a in weights]
            minus = [a.copy() for a in weights]
            plus[i][idx] += h
            minus[i][idx] -= h
            model.set_weights(plus)
            lp, _ = model.gradients(x, y)
            model.set_weights(minus)
            lm, _ = model.gradients(x, y)
            assert abs((lp - lm) / (2 * h) - grads[i][idx]) < 1e-7


def test_optimizer_formulas():
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal(5).astype(np.float32)
    g1, g2 = rng.standard_normal((2, 5)).astype(np.float32)

    w = w0.copy()
    opt = RMSprop()
    opt.build([w])
    opt.update([w], [g1.copy()])
    opt.update([w], [g2.copy()])
    v1 = 0.1 * g1 ** 2
    e1 = w0 - 0.001 * g1 / np.sqrt(v1 + 1e-7)
    v2 = 0.9 * v1 + 0.1 * g2 ** 2
    np.testing.assert_allclose(w, e1 - 0.001 * g2 / np.sqrt(v2 + 1e-7), rtol=1e-5)

    w = w0.copy()
    opt = Adam()
    opt.build([w])
    opt.update([w], [g1.copy()])
    opt.update([w], [g2.copy()])
    m1, s1 = 0.1 * g1, 0.001 * g1 ** 2
    e1 = w0 - 0.001 * np.sqrt(1 - 0.999) / (1 - 0.9) * m1 / (np.sqrt(s1) + 1e-7)
    m2, s2 = 0.9 * m1 + 0.1 * g2, 0.999 * s1 + 0.001 * g2 ** 2
    alpha2 = 0.001 * np.sqrt(1 - 0.999 ** 2) / (1 - 0.9 ** 2)
    np.testing.assert_allclose(w, e1 - alpha2 * m2 / (np.sqrt(s2) + 1e-7), rtol=1e-5)

    w = w0.copy()
    make_optimizer("sgd", learning_rate=0.1).update([w], [g1.copy()])
    np.testing.assert_allclose(w, w0 - 0.1 * g1, rtol=1e-6)


def test_fit_learns_xor():
    model = NumpyMLP(2, [(8, "tanh"), (1, "sigmoid")], "binary_crossentropy",
                     Adam(learning_rate=0.05))
    model.set_weights(glorot_weights(2, [8, 1], 3))
    x = np.array([[1, 1], [1, 0], [0, 1], [0, 0]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    hist = model.fit(x, y, batch_size=4, epochs=500)
    assert hist["loss"][-1] < 0.05
    np.testing.assert_array_equal(model.predict(x) > 0.5, y > 0.5)


@pytest.mark.parametrize("name", ["xor", "small", "mnist-shape", "wide"])
def test_torch_does_the_same_math(name):
    pytest.importorskip("torch")
    from bench.torch_mlp import TorchMLP

    w = next(w for w in WORKLOADS if w.name == name)
    w = dataclasses.replace(w, n_rows=min(w.n_rows, 3 * w.batch_size), epochs=min(w.epochs, 3))
    x, y = w.make_data()
    ref = NumpyMLP(w.input_dim, w.layers, w.loss,
                   make_optimizer(w.optimizer, **w.optimizer_kwargs))
    tor = TorchMLP(w.input_dim, w.layers, w.loss, w.optimizer, w.optimizer_kwargs)
    for m in (ref, tor):
        m.set_weights(w.initial_weights())
    h_ref = ref.fit(x, y, w.batch_size, w.epochs)
    h_tor = tor.fit(x, y, w.batch_size, w.epochs)
    np.testing.assert_allclose(h_tor["loss"], h_ref["loss"], rtol=1e-4)
    for a, b in zip(tor.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(tor.predict(x), ref.predict(x), atol=1e-4)


def test_select_workloads():
    assert [w.name for w in select_workloads("predict")] == ["predict-1row", "predict-10k"]
    assert [w.name for w in select_workloads("small,xor,memory")] == ["xor", "small"]
    assert len(select_workloads(None)) == len(WORKLOADS)
    with pytest.raises(ValueError):
        select_workloads("nope")


@pytest.mark.parametrize("name", ["small", "predict-1row", "predict-10k"])
def test_harness_end_to_end(name, tmp_path, monkeypatch):
    monkeypatch.setattr("bench.systems._PREDICT1_MAX_SECONDS", 0.05)
    w = next(w for w in WORKLOADS if w.name == name)
    w = dataclasses.replace(w, n_rows=min(w.n_rows, 100), epochs=min(w.epochs, 2))
    systems = make_systems(["numpy", "blas-floor"])

    class Broken:
        name = "fastmlp"

        def unavailable(self):
            return None

        def prepare(self, *args):
            raise RuntimeError("core not ready")

    entry = run_workload(w, [Broken()] + systems, repeat=2)
    rows = {r["system"]: r for r in entry["systems"]}
    assert rows["fastmlp"]["status"] == "error"
    assert "core not ready" in rows["fastmlp"]["message"]
    assert rows["numpy"]["status"] == "ok" and rows["numpy"]["seconds"] > 0
    assert rows["blas-floor"]["ratio_to_floor"] == pytest.approx(1.0)
    assert "error" in report.workload_table(entry)
    results = {"machine": {"cpu": "x", "usable_cores": 1, "logical_cores": 1,
                           "load_average": None, "platform": "p", "python": "3",
                           "numpy": np.__version__, "numpy_blas": "b", "threadpools": "t"},
               "settings": {}, "workloads": [entry], "memory": None, "startup": None}
    results["targets"] = report.evaluate_targets(results)
    assert all(t["status"] == "n/a" for t in results["targets"])
    report.write_json(results, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["workloads"][0]["name"] == name
    assert f"## {name}" in report.to_markdown(results)


def test_memory_benchmark_reports_the_numba_floor():
    res = run_memory(systems=("fastmlp",), rows=5000, features=20)
    fitted, _, floor = res["runs"]
    assert fitted["status"] == "ok" and floor["status"] == "ok"
    assert floor["name"] == "Numba floor (no fit)"
    # The floor process imports less and fits nothing, so it holds less than fastmlp's.
    assert 0 < floor["baseline_rss_bytes"] < fitted["baseline_rss_bytes"]
    data_model = fitted["data_bytes"] + fitted["model_bytes"]
    assert floor["ratio"] == pytest.approx((floor["baseline_rss_bytes"] + data_model) / data_model)
    assert "Numba floor (no fit)" in report.memory_table(res)
