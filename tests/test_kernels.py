"""Each Numba kernel of ``fastmlp.kernels.cpu`` against the float64 NumPy reference.

Shapes are small and odd (one row, ragged, widths 1 and 3). Every matrix product
is run on each of its paths: plain loops below ``BLAS_MIN_FLOPS``, register tiles
up to ``TILED_MAX_FLOPS`` (``x @ w`` and ``x.T @ d``) and BLAS above them (through
NumPy's BLAS and through ``np.dot``) or the threaded products, and every
elementwise / optimizer kernel on small buffers and on buffers of at least ``PAR``
elements (long vectorised loops with remainders). Kernels are called directly with
float32 and float64 arrays; outputs keep the dtype they were given.
"""

import zlib

import numpy as np
import pytest
from numba import njit

import reference as ref

from fastmlp.kernels import (
    activation_callbacks, blas, cpu, scalar, scoring, threaded, tiles, updates,
)

DTYPES = [np.float32, np.float64]
PAR = 32768  # a "large" buffer: long vectorised loops


def tol(dtype, terms=1):
    """Comparison tolerances for results computed in ``dtype``, as sums of ``terms``
    products of normal numbers (whose rounding errors grow with the terms)."""
    if dtype == np.float32:
        return {"rtol": 2e-5, "atol": 2e-6 * terms}
    return {"rtol": 1e-12, "atol": 1e-13 * terms}


def stable_seed(*key):
    """A seed from ``key`` that does not change between runs (unlike ``hash``)."""
    return zlib.crc32(repr(key).encode())


def rng_for(*key):
    return np.random.default_rng(stable_seed(*key))


def code_of(name):
    return scalar.ACTIVATION_NAMES.index(name)


LOSS_CODES = {
    "mse": scalar.MEAN_SQUARED_ERROR, "mae": scalar.MEAN_ABSOLUTE_ERROR,
    "huber": scalar.HUBER, "binary_crossentropy": scalar.BINARY_CROSSENTROPY,
    "categorical_crossentropy": scalar.CATEGORICAL_CROSSENTROPY,
    "sparse_categorical_crossentropy": scalar.SPARSE_CATEGORICAL_CROSSENTROPY,
}


def loss_params(dtype, delta=1.0):
    eps = np.asarray(1e-7, dtype=dtype)
    return np.array([eps, np.asarray(1, dtype) - eps, delta], dtype=dtype)


# --------------------------------------------------------------------- constants


def test_threshold_constants():
    assert cpu.BLAS_MIN_FLOPS == 64


def test_activation_codes_follow_names():
    assert scalar.ACTIVATION_NAMES == ref.ACTIVATIONS
    for i, name in enumerate(ref.ACTIVATIONS):
        assert getattr(scalar, name.upper()) == i


# ------------------------------------------------------------------------ products

# (n, k, m): the loop path runs below BLAS_MIN_FLOPS multiply-adds; from there up to
# TILED_MAX_FLOPS, products of more than one row and column run in register tiles
# (matmul_nt excepted), the rest in BLAS, or in the threaded products where they are
# on (those above PARALLEL_MIN_FLOPS split over the threads).
LOOP_SHAPES = [(1, 1, 1), (1, 3, 1), (1, 1, 3), (3, 3, 3), (7, 1, 3), (2, 5, 6)]
TILE_SHAPES = [(16, 16, 16), (17, 16, 16), (33, 5, 31), (2, 45, 46), (3, 31, 44), (6, 40, 70)]
BLAS_SHAPES = [(1, 8, 8), (8, 8, 1), (65, 64, 64), (70, 60, 63), (1, 600, 500), (600, 500, 1),
               (300, 30, 40)]


def product_path(n, k, m):
    """The path ``matmul(X, W)`` takes for ``X`` of shape (n, k) and ``W`` (k, m)."""
    flops = n * k * m
    if flops < cpu.BLAS_MIN_FLOPS:
        return "loop"
    if flops <= cpu.TILED_MAX_FLOPS and n > 1 and m > 1:
        return "tiles"
    return "blas"


@pytest.fixture(params=["tiles+numpy-blas", "tiles+threaded", "np.dot"])
def product_route(request):
    """Run the test with small products in register tiles and large ones through NumPy's
    BLAS or through the threaded products, and with all through ``np.dot``."""
    ours = request.param != "np.dot"
    blas.use_numpy_blas(ours)
    tiles.use_tiles(ours)
    threaded.use_threaded(request.param == "tiles+threaded")
    for dtype in DTYPES:
        tiles.prepare(dtype)
        blas.prepare(dtype)
        threaded.prepare(dtype)
    try:
        yield request.param
    finally:
        blas.use_numpy_blas(True)
        tiles.use_tiles(True)
        threaded.use_threaded(threaded.ON_BY_DEFAULT)


@pytest.mark.parametrize("path,shapes", [("loop", LOOP_SHAPES), ("tiles", TILE_SHAPES),
                                         ("blas", BLAS_SHAPES)])
def test_shapes_cover_every_product_path(path, shapes):
    for n, k, m in shapes:
        assert product_path(n, k, m) == path


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LOOP_SHAPES + TILE_SHAPES + BLAS_SHAPES, ids=str)
def test_matmul(shape, dtype, product_route):
    n, k, m = shape
    rng = rng_for("matmul", shape)
    X = rng.normal(size=(n, k)).astype(dtype)
    W = rng.normal(size=(k, m)).astype(dtype)
    out = np.full((n, m), np.nan, dtype=dtype)
    cpu.matmul(X, W, out)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, X.astype(np.float64) @ W.astype(np.float64),
                               **tol(dtype, k))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LOOP_SHAPES + TILE_SHAPES + BLAS_SHAPES, ids=str)
def test_matmul_tn(shape, dtype, product_route):
    n, k, m = shape
    rng = rng_for("tn", shape)
    X = rng.normal(size=(n, k)).astype(dtype)
    D = rng.normal(size=(n, m)).astype(dtype)
    out = np.full((k, m), np.nan, dtype=dtype)
    cpu.matmul_tn(X, D, out)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, X.astype(np.float64).T @ D.astype(np.float64),
                               **tol(dtype, n))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LOOP_SHAPES + TILE_SHAPES + BLAS_SHAPES, ids=str)
def test_matmul_nt(shape, dtype, product_route):
    n, k, m = shape
    rng = rng_for("nt", shape)
    D = rng.normal(size=(n, m)).astype(dtype)
    W = rng.normal(size=(k, m)).astype(dtype)
    out = np.full((n, k), np.nan, dtype=dtype)
    cpu.matmul_nt(D, W, out)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, D.astype(np.float64) @ W.astype(np.float64).T,
                               **tol(dtype, m))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,m,rows", [(4, 4, 4), (64, 64, 65)], ids=["loop|tiles", "tiles|blas"])
def test_product_paths_agree_at_their_thresholds(k, m, rows, dtype, product_route):
    """One row more crosses a threshold, and the shared rows come out the same."""
    rng = rng_for("threshold", k, m)
    X = rng.normal(size=(rows, k)).astype(dtype)
    W = rng.normal(size=(k, m)).astype(dtype)
    assert product_path(rows - 1, k, m) != product_path(rows, k, m)
    longer = np.empty((rows, m), dtype)
    cpu.matmul(X, W, longer)
    shorter = np.empty((rows - 1, m), dtype)
    cpu.matmul(X[:-1].copy(), W, shorter)
    # Sums of k products, added in another order.
    np.testing.assert_allclose(shorter, longer[:-1], **tol(dtype, k))


# ----------------------------------------------------------------------- data


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,d,nb,start", [(5, 3, 2, 3), (1, 1, 1, 0), (7, 1, 4, 2),
                                          (2100, 20, 1700, 300)])
def test_gather_rows(n, d, nb, start, dtype):
    if n == 2100:
        assert nb * d >= PAR
    rng = rng_for("gather", n)
    X = rng.normal(size=(n, d)).astype(dtype)
    order = rng.permutation(n).astype(np.int32)
    out = np.full((nb, d), np.nan, dtype)
    cpu.gather_rows(X, order, start, out)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, X[order[start:start + nb]])


@pytest.mark.parametrize("n", [1, 2, 5, 1000])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_shuffle_order_is_a_permutation_chosen_by_the_seed(n, index_dtype):
    order = np.full(n, -7, index_dtype)
    cpu.shuffle_order(order, 12345)
    np.testing.assert_array_equal(np.sort(order), np.arange(n))
    again = np.arange(n, dtype=index_dtype)[::-1].copy()
    cpu.shuffle_order(again, 12345)
    np.testing.assert_array_equal(again, order)
    if index_dtype is np.int32:
        wide = np.empty(n, np.int64)
        cpu.shuffle_order(wide, 12345)
        np.testing.assert_array_equal(wide, order)  # the same permutation either way
    if n == 1000:
        other = np.empty(n, index_dtype)
        cpu.shuffle_order(other, 12346)
        assert (other != order).mean() > 0.9
        assert (order != np.arange(n)).mean() > 0.9


def test_shuffle_order_draws_every_permutation_equally_often():
    """24,000 seeds over the 24 orders of 4 rows: a chi-square test at the 0.1 % level
    (a shuffle that swaps with any position, not only earlier ones, fails it)."""
    counts = {}
    order = np.empty(4, np.int32)
    for seed in range(24000):
        cpu.shuffle_order(order, seed)
        counts[tuple(order)] = counts.get(tuple(order), 0) + 1
    assert len(counts) == 24
    chi_square = sum((c - 1000) ** 2 / 1000 for c in counts.values())
    assert chi_square < 49.7  # 99.9th percentile of chi-square with 23 degrees of freedom


# ------------------------------------------------------------------ activations

ACT_SHAPES = [(1, 1), (1, 3), (5, 3), (4, 1), (70, 1), (200, 170)]


def test_activation_shapes_cover_both_loop_paths():
    assert ACT_SHAPES[-1][0] * ACT_SHAPES[-1][1] >= PAR
    assert all(n * m < PAR for n, m in ACT_SHAPES[:-1])


@njit
def _run_forward(address, Z, b, use_bias, A):
    activation_callbacks.call_forward(address, Z, b, use_bias, A)


@njit
def _run_backward(address, Z, A, D):
    activation_callbacks.call_backward(address, Z, A, D)


def _callback(name, dtype, column):
    return activation_callbacks.addresses([code_of(name)], dtype)[0, column]


def _forward(name, Z, b, use_bias, A):
    """Bias and activation ``name`` through its callback, as the drivers run them."""
    _run_forward(_callback(name, Z.dtype, activation_callbacks.FORWARD), Z, b, use_bias, A)


def _backward(name, Z, A, D):
    """Activation ``name``'s backward pass through its callback."""
    _run_backward(_callback(name, Z.dtype, activation_callbacks.BACKWARD), Z, A, D)


def _pre_activations(name, shape, dtype):
    rng = rng_for("z", name, shape)
    # |z + b| < 2.9 keeps hard_sigmoid away from its corners at +-3.
    Z = rng.uniform(-2.5, 2.5, size=shape).astype(dtype)
    b = rng.uniform(-0.4, 0.4, size=shape[1]).astype(dtype)
    return Z, b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_forward_callbacks(name, dtype):
    for shape in ACT_SHAPES:
        for use_bias in (True, False):
            Z, b = _pre_activations(name, shape, dtype)
            expected_z = Z.astype(np.float64) + (b.astype(np.float64) if use_bias else 0.0)
            if name == "relu":
                # Relu reads the pre-activations from A and never touches Z.
                A, Zk = Z.copy(), np.full(shape, np.nan, dtype)
            else:
                A, Zk = np.full(shape, np.nan, dtype), Z.copy()
            _forward(name, Zk, b, use_bias, A)
            assert Zk.dtype == dtype and A.dtype == dtype
            if name == "relu":
                assert np.isnan(Zk).all()
            else:
                np.testing.assert_allclose(Zk, expected_z, **tol(dtype))
            np.testing.assert_allclose(A, ref.activation(name, expected_z),
                                       **tol(dtype), err_msg=f"{name} {shape} bias={use_bias}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_runs_in_place_and_backward_reads_only_a(dtype):
    """The driver passes A as Z for relu layers: forward in place, backward from A."""
    Z, b = _pre_activations("relu", (5, 3), dtype)
    expected = np.maximum(Z.astype(np.float64) + b, 0)
    A = Z.copy()
    _forward("relu", A, b, True, A)
    np.testing.assert_allclose(A, expected, **tol(dtype))
    D = rng_for("d", "relu", (5, 3)).normal(size=(5, 3)).astype(dtype)
    Dk = D.copy()
    _backward("relu", np.full_like(Z, np.nan), A, Dk)
    np.testing.assert_array_equal(Dk, np.where(expected > 0, D, 0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_backward_callbacks(name, dtype):
    for shape in ACT_SHAPES:
        Z, _ = _pre_activations(name, shape, dtype)
        A = ref.activation(name, Z).astype(dtype)
        D = rng_for("d", name, shape).normal(size=shape).astype(dtype)
        Dk = D.copy()
        _backward(name, Z, A, Dk)
        assert Dk.dtype == dtype
        expected = ref.activation_backward(name, Z, D)
        np.testing.assert_allclose(Dk, expected, **tol(dtype), err_msg=f"{name} {shape}")


@pytest.mark.parametrize("name", [n for n in ref.ACTIVATIONS if n != "softmax"])
def test_reference_activation_derivative_matches_finite_differences(name):
    z = np.linspace(-2.7, 2.7, 23) + 0.013  # no point at 0 (relu kink)
    h = 1e-6
    fd = (ref.activation(name, z + h) - ref.activation(name, z - h)) / (2 * h)
    np.testing.assert_allclose(ref.activation_derivative(name, z), fd, rtol=1e-6, atol=1e-8)


def test_reference_softmax_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 4))
    d = rng.normal(size=(2, 4))
    h = 1e-6
    fd = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[index] += h
        down[index] -= h
        fd[index] = (np.sum(d * ref.softmax(up)) - np.sum(d * ref.softmax(down))) / (2 * h)
    np.testing.assert_allclose(ref.activation_backward("softmax", z, d), fd, rtol=1e-6,
                               atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_activate(name, dtype):
    Z, _ = _pre_activations(name, (5, 3), dtype)
    Z_before = Z.copy()
    A = activation_callbacks.activate(code_of(name), Z)
    assert A.dtype == dtype
    np.testing.assert_array_equal(Z, Z_before)  # input untouched
    np.testing.assert_allclose(A, ref.activation(name, Z), **tol(dtype))


def test_softmax_is_stable_for_large_logits():
    Z = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1000.0]])
    A = np.empty_like(Z)
    _forward("softmax", Z, Z[0], False, A)
    np.testing.assert_allclose(A, ref.softmax(Z), rtol=1e-12)
    assert np.isfinite(A).all()


def test_sigmoid_and_softplus_are_stable_for_large_inputs():
    Z = np.array([[-800.0, 800.0, -40.0, 40.0]])
    for name in ("sigmoid", "softplus", "silu"):
        A = activation_callbacks.activate(code_of(name), Z)
        assert np.isfinite(A).all(), name
        np.testing.assert_allclose(A, ref.activation(name, Z), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 3), (5, 3), (4, 1), (9, 1), (11, 17)], ids=str)
def test_bias_gradient(shape, dtype):
    D = rng_for("db", shape).normal(size=shape).astype(dtype)
    db = np.full(shape[1], np.nan, dtype)
    cpu.bias_gradient(D, db)
    assert db.dtype == dtype
    np.testing.assert_allclose(db, D.astype(np.float64).sum(axis=0), **tol(dtype))
    # Bit for bit the sum taken one row at a time, whatever the kernel's blocking.
    np.testing.assert_array_equal(db, _column_sums_in_row_order(D))


def _column_sums_in_row_order(D):
    """Column sums of ``D`` in its dtype, adding one row at a time."""
    sums = np.zeros(D.shape[1], D.dtype)
    for d in D:
        sums += d
    return sums


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 3), (5, 3), (4, 1), (9, 1), (11, 17), (70, 40)],
                         ids=str)
def test_relu_backward_bias_gradient(shape, dtype):
    """The fused pass gives what relu's backward pass, then the bias gradient, give."""
    rng = rng_for("relu-db", shape)
    A = np.maximum(rng.normal(size=shape), 0).astype(dtype)
    D = rng.normal(size=shape).astype(dtype)
    expected_d = D * (A > 0)
    db = np.full(shape[1], np.nan, dtype)
    cpu.relu_backward_bias_gradient(A, D, db)
    assert db.dtype == dtype
    np.testing.assert_array_equal(D, expected_d)
    np.testing.assert_array_equal(db, _column_sums_in_row_order(expected_d))


# ------------------------------------------------------------------------- losses


def _loss_case(name, from_logits, width, seed, n=4):
    """Predictions and targets away from kinks and clipping."""
    rng = np.random.default_rng(seed)
    if name == "sparse_categorical_crossentropy":
        y = rng.integers(0, width, size=(n, 1)).astype(np.float64)
    elif name in ("binary_crossentropy", "categorical_crossentropy"):
        if name == "categorical_crossentropy" and width > 1:
            y = np.eye(width)[rng.integers(0, width, size=n)]
            y[0] = rng.dirichlet(np.ones(width))   # one soft-label row
        else:
            y = rng.integers(0, 2, size=(n, width)).astype(np.float64)
            y[0] = rng.uniform(0.1, 0.9, size=width)
    else:
        y = rng.normal(size=(n, width))
    if from_logits or name in ("mse", "mae", "huber"):
        a = y.reshape(n, -1)[:, :1] + rng.normal(size=(n, width)) * 1.5
        if name in ("mse", "mae", "huber"):
            a = y + np.where(rng.random((n, width)) < 0.5, 0.4, 2.0) * rng.choice([-1, 1],
                                                                                  (n, width))
    elif name == "binary_crossentropy":
        a = rng.uniform(0.05, 0.95, size=(n, width))
    else:
        # Positive scores not summing to one (renormalised by the loss).
        a = rng.uniform(0.1, 2.0, size=(n, width))
    return a, y


LOSS_CASES = [
    ("mse", False, 1), ("mse", False, 3), ("mae", False, 1), ("mae", False, 3),
    ("huber", False, 1), ("huber", False, 3),
    ("binary_crossentropy", False, 1), ("binary_crossentropy", False, 3),
    ("binary_crossentropy", True, 1), ("binary_crossentropy", True, 3),
    ("categorical_crossentropy", False, 3), ("categorical_crossentropy", True, 3),
    ("categorical_crossentropy", True, 1),
    ("sparse_categorical_crossentropy", False, 3), ("sparse_categorical_crossentropy", True, 3),
    ("sparse_categorical_crossentropy", True, 1),
]


def _case_id(case):
    return f"{case[0]}{'-logits' if case[1] else ''}-w{case[2]}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LOSS_CASES, ids=_case_id)
def test_loss_value(case, dtype):
    name, from_logits, width = case
    a, y = _loss_case(name, from_logits, width, seed=stable_seed(case))
    a, y = a.astype(dtype), y.astype(dtype)
    lp = loss_params(dtype)
    expected = ref.loss_per_sample(name, y, a, from_logits=from_logits)
    for r in range(a.shape[0]):
        value = cpu.loss_value(LOSS_CODES[name], from_logits, a[r], y[r], lp)
        np.testing.assert_allclose(value, expected[r], **tol(dtype))
    out = np.full(a.shape[0], np.nan, dtype)
    cpu.loss_values(LOSS_CODES[name], from_logits, a, y, lp, out)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, **tol(dtype))


@pytest.mark.parametrize("delta", [0.5, 1.0, 3.0])
def test_huber_delta(delta):
    a, y = _loss_case("huber", False, 3, seed=5)
    lp = loss_params(np.float64, delta)
    for r in range(a.shape[0]):
        value = cpu.loss_value(scalar.HUBER, False, a[r], y[r], lp)
        np.testing.assert_allclose(value, ref.loss_per_sample("huber", y[r:r + 1], a[r:r + 1],
                                                              delta=delta)[0], rtol=1e-13)
        d = np.empty(3)
        cpu.loss_gradient(scalar.HUBER, False, False, a[r], y[r], lp, 1.0, d)
        np.testing.assert_allclose(d, ref.loss_gradient("huber", y[r:r + 1], a[r:r + 1],
                                                        delta=delta)[0], rtol=1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LOSS_CASES, ids=_case_id)
def test_loss_gradient(case, dtype):
    name, from_logits, width = case
    a, y = _loss_case(name, from_logits, width, seed=stable_seed(case) + 1)
    a, y = a.astype(dtype), y.astype(dtype)
    lp = loss_params(dtype)
    scale = 0.37
    expected = ref.loss_gradient(name, y, a, from_logits=from_logits) * scale
    for r in range(a.shape[0]):
        d = np.full(width, np.nan, dtype)
        cpu.loss_gradient(LOSS_CODES[name], from_logits, False, a[r], y[r], lp,
                          dtype(scale), d)
        assert d.dtype == dtype
        np.testing.assert_allclose(d, expected[r], **tol(dtype), err_msg=f"row {r}")


@pytest.mark.parametrize("case", LOSS_CASES, ids=_case_id)
def test_reference_loss_gradient_matches_finite_differences(case):
    name, from_logits, width = case
    a, y = _loss_case(name, from_logits, width, seed=stable_seed(case) + 2)
    h = 1e-6
    fd = np.zeros_like(a)
    for index in np.ndindex(a.shape):
        up, down = a.copy(), a.copy()
        up[index] += h
        down[index] -= h
        fd[index] = (ref.loss_per_sample(name, y, up, from_logits)[index[0]]
                     - ref.loss_per_sample(name, y, down, from_logits)[index[0]]) / (2 * h)
    np.testing.assert_allclose(ref.loss_gradient(name, y, a, from_logits), fd, rtol=1e-6,
                               atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,act,width", [
    ("binary_crossentropy", "sigmoid", 1), ("binary_crossentropy", "sigmoid", 3),
    ("categorical_crossentropy", "softmax", 3), ("categorical_crossentropy", "softmax", 1),
    ("sparse_categorical_crossentropy", "softmax", 3),
])
def test_fused_loss_gradient_is_dl_dz(name, act, width, dtype):
    """With ``fused``, the gradient is taken through the output activation."""
    rng = np.random.default_rng(width)
    n = 5
    z = rng.normal(size=(n, width)) * 2
    _, y = _loss_case(name, False, width, seed=11, n=n)
    a = ref.activation(act, z).astype(dtype)
    y = y.astype(dtype)
    lp = loss_params(dtype)
    d_a = ref.loss_gradient(name, y, a.astype(np.float64))
    expected = ref.activation_backward(act, z, d_a) * 0.5
    for r in range(n):
        d = np.full(width, np.nan, dtype)
        cpu.loss_gradient(LOSS_CODES[name], False, True, a[r], y[r], lp, dtype(0.5), d)
        assert d.dtype == dtype
        np.testing.assert_allclose(d, expected[r], rtol=2e-5 if dtype == np.float32 else 1e-9,
                                   atol=2e-6 if dtype == np.float32 else 1e-12)


def test_binary_crossentropy_clips_probabilities():
    """Keras clips to [eps, 1 - eps]; clipped entries pass no gradient."""
    lp = loss_params(np.float64)
    a = np.array([0.0, 1.0, 0.5, 1e-9, 1.0 - 1e-9])
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    value = cpu.loss_value(scalar.BINARY_CROSSENTROPY, False, a, y, lp)
    np.testing.assert_allclose(value, ref.loss_per_sample("binary_crossentropy", y[None],
                                                          a[None])[0], rtol=1e-12)
    assert np.isfinite(value)
    np.testing.assert_allclose(value, (2 * -np.log(1e-7) + np.log(2) - np.log(1 - 1e-7)
                                       - np.log(1 - 1e-7)) / 5, rtol=1e-9)
    for fused in (False, True):
        d = np.full(5, np.nan)
        cpu.loss_gradient(scalar.BINARY_CROSSENTROPY, False, fused, a, y, lp, 1.0, d)
        assert d[0] == 0 and d[1] == 0 and d[3] == 0 and d[4] == 0
        assert d[2] != 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_clipped_gradient_is_halved_exactly_at_a_bound(dtype):
    """Keras's clip is minimum(maximum(p, eps), 1 - eps): at a bound each branch gets half."""
    lp = loss_params(dtype)
    eps, hi = lp[0], lp[1]
    scale = dtype(1.0)
    # Binary: probabilities exactly at eps and 1 - eps, plus one inside.
    a = np.array([eps, hi, 0.25], dtype)
    y = np.array([1.0, 0.0, 1.0], dtype)
    for fused in (False, True):
        d = np.full(3, np.nan, dtype)
        cpu.loss_gradient(scalar.BINARY_CROSSENTROPY, False, fused, a, y, lp, scale, d)
        p = a.astype(np.float64)
        full = (p - y) if fused else (p - y) / (p * (1 - p))
        np.testing.assert_allclose(d, full * np.array([0.5, 0.5, 1.0]) / 3, rtol=1e-5)
    if dtype == np.float32:
        return  # the kernel renormalises in float64, so float32 rows miss the bound
    # Categorical: a row renormalising to exactly [eps, 1 - eps].
    a = np.array([eps, hi], dtype)
    assert a.sum() == 1
    for label in (0, 1):
        d = np.full(2, np.nan, dtype)
        cpu.loss_gradient(scalar.CATEGORICAL_CROSSENTROPY, False, False, a,
                          np.eye(2, dtype=dtype)[label], lp, scale, d)
        q = a.astype(np.float64)
        # -0.5 * log q_label: d/da_k = 0.5 * (1 / s - delta_k,label / a_label) with s = 1
        expected = 0.5 * (1.0 - np.eye(2)[label] / q[label])
        np.testing.assert_allclose(d, expected, rtol=1e-5)
    np.testing.assert_allclose(
        ref.loss_gradient("binary_crossentropy", [[1.0, 0.0]], [[1e-7, 1 - 1e-7]]),
        [[-0.5 / 1e-7 / 2, 0.5 / 1e-7 / 2]], rtol=1e-6)
    np.testing.assert_allclose(
        ref.loss_gradient("categorical_crossentropy", [[1.0, 0.0]], [[1e-7, 1 - 1e-7]]),
        [0.5 * (1.0 - np.array([1.0, 0.0]) / 1e-7)], rtol=1e-6)


def test_categorical_crossentropy_renormalises_and_clips():
    lp = loss_params(np.float64)
    a = np.array([0.0, 2.0, 2.0])          # renormalised to [0, .5, .5]
    for label, expected in ((0, -np.log(1e-7)), (1, np.log(2.0))):
        y = np.eye(3)[label]
        value = cpu.loss_value(scalar.CATEGORICAL_CROSSENTROPY, False, a, y, lp)
        np.testing.assert_allclose(value, expected, rtol=1e-12)
        sparse = cpu.loss_value(scalar.SPARSE_CATEGORICAL_CROSSENTROPY, False, a,
                                np.array([float(label)]), lp)
        np.testing.assert_allclose(sparse, expected, rtol=1e-12)
        d = np.full(3, np.nan)
        cpu.loss_gradient(scalar.CATEGORICAL_CROSSENTROPY, False, False, a, y, lp, 1.0, d)
        np.testing.assert_allclose(d, ref.loss_gradient("categorical_crossentropy", y[None],
                                                        a[None])[0], rtol=1e-12, atol=1e-15)
    # A width-1 output is always probability 1, clipped to 1 - eps: no gradient.
    d = np.full(1, np.nan)
    cpu.loss_gradient(scalar.CATEGORICAL_CROSSENTROPY, False, False, np.array([0.3]),
                      np.array([1.0]), lp, 1.0, d)
    assert d[0] == 0


def test_logits_crossentropies_are_stable():
    lp = loss_params(np.float64)
    a = np.array([800.0, -800.0, 0.0])
    y = np.array([0.0, 1.0, 0.0])
    value = cpu.loss_value(scalar.CATEGORICAL_CROSSENTROPY, True, a, y, lp)
    np.testing.assert_allclose(value, 1600.0, rtol=1e-12)
    value = cpu.loss_value(scalar.BINARY_CROSSENTROPY, True, a, np.array([0.0, 0.0, 1.0]), lp)
    np.testing.assert_allclose(value, (800.0 + 0.0 + np.log(2.0)) / 3, rtol=1e-12)


@njit
def _loss_by_callback(address, A, Y, SW, lp, D, row_loss, from_logits, fused):
    """Run a loss callback of ``scoring`` as the compiled drivers do."""
    scoring.call_loss(address, A, Y, SW, lp, D, row_loss, from_logits, fused)


def _loss_callback_rows(code, from_logits, fused, A, Y, SW, lp):
    """Per-row losses and gradients of loss ``code`` through its callback."""
    D = np.full(A.shape, np.nan, A.dtype)
    row_loss = np.full(A.shape[0], np.nan, A.dtype)
    address = scoring.addresses(code, np.zeros((0, 2), np.int64), A.dtype)[0]
    _loss_by_callback(address, A, Y, SW, lp, D, row_loss, int(from_logits), int(fused))
    return D, row_loss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,from_logits,nb,m", [
    ("mse", False, 5, 3), ("categorical_crossentropy", False, 5, 3),
    ("sparse_categorical_crossentropy", True, 1, 3), ("binary_crossentropy", False, 4, 1),
    ("binary_crossentropy", False, 100, 1),
    ("huber", False, 3000, 11), ("categorical_crossentropy", True, 3000, 11),
    ("sparse_categorical_crossentropy", False, 3000, 11),
])
def test_loss_callback_rows(name, from_logits, nb, m, dtype):
    """Each loss's compiled callback: weighted per-row losses and output gradients."""
    if nb == 3000:
        assert nb * m >= PAR
    A, Y = _loss_case(name, from_logits, m, seed=nb + m, n=nb)
    A, Y = A.astype(dtype), Y.astype(dtype)
    SW = np.random.default_rng(nb).uniform(0.2, 2.0, size=nb).astype(dtype)
    D, row_loss = _loss_callback_rows(LOSS_CODES[name], from_logits, False, A, Y, SW,
                                      loss_params(dtype))
    assert D.dtype == dtype and row_loss.dtype == dtype
    w = SW.astype(np.float64)
    expected_loss = w * ref.loss_per_sample(name, Y, A, from_logits)
    expected_d = ref.loss_gradient(name, Y, A, from_logits) * (w / nb)[:, None]
    t = tol(dtype)
    np.testing.assert_allclose(row_loss, expected_loss, rtol=max(t["rtol"], 1e-9), atol=t["atol"])
    np.testing.assert_allclose(D, expected_d, rtol=max(t["rtol"], 1e-9), atol=t["atol"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,m", [("categorical_crossentropy", 3), ("binary_crossentropy", 1)])
def test_loss_callback_reads_empty_weights_as_ones(name, m, dtype):
    """An empty SW weighs every row 1 (the general loop, and the shortcut for one
    sigmoid unit)."""
    nb = 5
    A, Y = _loss_case(name, False, m, seed=6, n=nb)
    A, Y, lp = A.astype(dtype), Y.astype(dtype), loss_params(dtype)
    d_ones, loss_ones = _loss_callback_rows(LOSS_CODES[name], False, False, A, Y,
                                            np.ones(nb, dtype), lp)
    d_empty, loss_empty = _loss_callback_rows(LOSS_CODES[name], False, False, A, Y,
                                              np.zeros(0, dtype), lp)
    assert not np.isnan(loss_empty).any()
    np.testing.assert_array_equal(d_empty, d_ones)
    np.testing.assert_array_equal(loss_empty, loss_ones)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fused", [False, True])
def test_binary_crossentropy_on_one_unit_matches_the_general_rows(fused, dtype):
    """loss_rows's shortcut for one sigmoid unit computes what the per-row code does."""
    rng = np.random.default_rng(11)
    nb = 70  # enough rows for whole vector iterations
    lp = loss_params(dtype)
    A = rng.uniform(0.01, 0.99, (nb, 1)).astype(dtype)
    A[:4, 0] = [0.0, 1.0, lp[0], lp[1]]  # clipped, and exactly at the clip bounds
    Y = rng.integers(0, 2, (nb, 1)).astype(dtype)
    Y[:3, 0] = [0.25, 0.5, 0.9]  # soft labels need both logs
    SW = rng.uniform(0.5, 2.0, nb).astype(dtype)
    bce = scalar.BINARY_CROSSENTROPY
    D, row_loss = _loss_callback_rows(bce, False, fused, A, Y, SW, lp)
    for r in range(nb):
        weight = float(SW[r])
        value = cpu.loss_value(bce, False, A[r], Y[r], lp)
        assert row_loss[r] == dtype(weight * value)
        d = np.full(1, np.nan, dtype)
        cpu.loss_gradient(bce, False, fused, A[r], Y[r], lp, weight / nb, d)
        assert D[r, 0] == d[0]


def test_loss_callbacks_are_made_once_per_loss_and_dtype():
    """addresses() compiles (or loads) a callback the first time and reuses it."""
    none = np.zeros((0, 2), np.int64)
    mse32 = scoring.addresses(scalar.MEAN_SQUARED_ERROR, none, np.float32)
    assert mse32.dtype == np.int64 and mse32.shape == (1,) and mse32[0] != 0
    assert scoring.addresses(scalar.MEAN_SQUARED_ERROR, none, np.float32)[0] == mse32[0]
    others = {scoring.addresses(scalar.MEAN_SQUARED_ERROR, none, np.float64)[0],
              scoring.addresses(scalar.MEAN_ABSOLUTE_ERROR, none, np.float32)[0]}
    assert mse32[0] not in others and len(others) == 2


# ------------------------------------------------------------------------ metrics


@pytest.mark.parametrize("dtype", DTYPES)
def test_accuracy_value(dtype):
    rng = np.random.default_rng(3)
    # Binary, widths 1 and 3, two thresholds.
    for width in (1, 3):
        a = rng.random((6, width)).astype(dtype)
        y = rng.integers(0, 2, (6, width)).astype(dtype)
        for threshold in (0.5, 0.3):
            expected = ref.binary_accuracy(y, a, threshold)
            for r in range(6):
                value = cpu.accuracy_value(scalar.BINARY_ACCURACY, 0, threshold, a[r], y[r])
                assert value == pytest.approx(expected[r])
    # Binary accuracy compares against the target value exactly (soft targets never match).
    assert cpu.accuracy_value(scalar.BINARY_ACCURACY, 0, 0.5, np.array([0.9], dtype),
                              np.array([0.9], dtype)) == 0.0
    # Categorical and sparse categorical.
    a = rng.random((8, 3)).astype(dtype)
    labels = rng.integers(0, 3, 8)
    y = np.eye(3, dtype=dtype)[labels]
    cat = ref.categorical_accuracy(y, a)
    sparse = ref.sparse_categorical_accuracy(labels, a)
    for r in range(8):
        assert cpu.accuracy_value(scalar.CATEGORICAL_ACCURACY, 0, 0.0, a[r], y[r]) == cat[r]
        assert cpu.accuracy_value(scalar.SPARSE_CATEGORICAL_ACCURACY, 0, 0.0, a[r],
                                  np.array([labels[r]], dtype)) == sparse[r]
    assert 0 < cat.sum() < 8


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_accuracy_value_top_k_with_ties(k):
    a = np.array([[0.1, 0.5, 0.5, 0.2], [0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25],
                  [0.9, 0.05, 0.03, 0.02]])
    labels = np.array([2, 3, 0, 2])
    y = np.eye(4)[labels]
    dense = ref.top_k_categorical_accuracy(y, a, k)
    sparse = ref.sparse_top_k_categorical_accuracy(labels, a, k)
    for r in range(4):
        assert cpu.accuracy_value(scalar.TOP_K_CATEGORICAL_ACCURACY, k, 0.0, a[r], y[r]) \
            == dense[r]
        assert cpu.accuracy_value(scalar.SPARSE_TOP_K_CATEGORICAL_ACCURACY, k, 0.0, a[r],
                                  np.array([float(labels[r])])) == sparse[r]
    if k == 1:
        # A tie at the top counts as a hit (Keras's in_top_k).
        assert dense[0] == 1 and dense[2] == 1


@njit
def _metric_by_callback(address, A, Y, lp, iparam, fparam):
    """Run a metric callback of ``scoring`` as the compiled drivers do."""
    return scoring.call_metric(address, A, Y, lp, iparam, fparam)


def _metric_totals(metrics_i, metrics_f, A, Y, lp):
    """Each metric's sum over the rows of ``A``, through its callback."""
    addresses = scoring.addresses(scalar.MEAN_SQUARED_ERROR, metrics_i, A.dtype)[1:]
    return [_metric_by_callback(address, A, Y, lp, iparam, fparam)
            for address, (_, iparam), fparam in zip(addresses, metrics_i, metrics_f)]


def test_metric_callbacks_of_losses():
    rng = np.random.default_rng(8)
    A = rng.normal(size=(3, 2))
    Y = rng.integers(0, 2, (3, 2)).astype(np.float64)
    metrics_i = np.array([[scalar.LOSS_VALUE, scalar.MEAN_SQUARED_ERROR],
                          [scalar.LOSS_VALUE, scalar.BINARY_CROSSENTROPY]], dtype=np.int64)
    metrics_f = np.array([0.0, 1.0])  # the cross-entropy takes logits
    mse, bce = _metric_totals(metrics_i, metrics_f, A, Y, loss_params(np.float64))
    assert mse == pytest.approx(ref.loss_per_sample("mse", Y, A).sum())
    assert bce == pytest.approx(
        ref.loss_per_sample("binary_crossentropy", Y, A, from_logits=True).sum())


@pytest.mark.parametrize("dtype", DTYPES)
def test_metric_callbacks(dtype):
    rng = np.random.default_rng(4)
    A = rng.random((4, 3)).astype(dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 4)]
    metrics_i = np.array([[scalar.CATEGORICAL_ACCURACY, 0],
                          [scalar.LOSS_VALUE, scalar.MEAN_ABSOLUTE_ERROR],
                          [scalar.TOP_K_CATEGORICAL_ACCURACY, 2],
                          [scalar.BINARY_ACCURACY, 0]], dtype=np.int64)
    metrics_f = np.array([0.0, 0.0, 0.0, 0.3], dtype)
    totals = _metric_totals(metrics_i, metrics_f, A, Y, loss_params(dtype))
    assert all(isinstance(t, float) for t in totals)
    np.testing.assert_allclose(totals[0], ref.categorical_accuracy(Y, A).sum())
    np.testing.assert_allclose(totals[1], ref.loss_per_sample("mae", Y, A).sum(), rtol=1e-6)
    np.testing.assert_allclose(totals[2], ref.top_k_categorical_accuracy(Y, A, 2).sum())
    np.testing.assert_allclose(totals[3], ref.binary_accuracy(Y, A, 0.3).sum(), rtol=1e-12)


# --------------------------------------------------------------------- clipping


def _two_variables(dtype, scale=1.0):
    rng = np.random.default_rng(12)
    kernel = rng.normal(size=(3, 2)) * scale
    bias = rng.normal(size=2) * scale * 0.1
    flat = np.concatenate([kernel.ravel(), bias]).astype(dtype)
    return flat, [kernel, bias], np.array([0, 6], np.int64), np.array([6, 2], np.int64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("clip", [
    {"clipnorm": 0.5}, {"clipnorm": 100.0}, {"clipvalue": 0.3}, {"clipvalue": 100.0},
    {"global_clipnorm": 0.5}, {"global_clipnorm": 100.0}, {},
], ids=str)
def test_clip_gradients(clip, dtype):
    flat, variables, offsets, sizes = _two_variables(dtype)
    variables = [v.astype(dtype).astype(np.float64) for v in variables]
    settings = np.array([clip.get("clipnorm", -1), clip.get("clipvalue", -1),
                         clip.get("global_clipnorm", -1)], dtype=dtype)
    cpu.clip_gradients(flat, offsets, sizes, settings)
    assert flat.dtype == dtype
    expected = ref.clip_gradients(variables, **clip)
    np.testing.assert_allclose(flat, np.concatenate([e.ravel() for e in expected]), **tol(dtype))


def test_clipnorm_is_per_variable():
    flat, variables, offsets, sizes = _two_variables(np.float64)
    cpu.clip_gradients(flat, offsets, sizes, np.array([0.1, -1.0, -1.0]))
    assert np.linalg.norm(flat[:6]) == pytest.approx(0.1)
    assert np.linalg.norm(flat[6:]) == pytest.approx(min(0.1, np.linalg.norm(variables[1])))
    # The bias keeps its own direction and is not scaled with the kernel.
    np.testing.assert_allclose(flat[6:] / np.linalg.norm(flat[6:]),
                               variables[1] / np.linalg.norm(variables[1]))


# ------------------------------------------------------------------- optimizers

OPT_SIZES = [7, 40000]


def test_optimizer_sizes_cover_both_loop_paths():
    assert OPT_SIZES[0] < PAR <= OPT_SIZES[1]


def _opt_arrays(n, dtype, seed=0):
    rng = np.random.default_rng(seed + n)
    params = rng.normal(size=n).astype(dtype)
    grads = [rng.normal(size=n).astype(dtype) for _ in range(3)]
    return params, grads


def _check_steps(kernel_step, reference, params, grads_seq, dtype):
    expected = [params.astype(np.float64)]
    for g in grads_seq:
        expected = reference.apply(expected, [g.astype(np.float64)])
        kernel_step(g.copy())
        assert params.dtype == dtype
        np.testing.assert_allclose(params, expected[0], rtol=1e-5 if dtype == np.float32
                                   else 1e-12, atol=1e-6 if dtype == np.float32 else 1e-13)


@njit
def _run_update(address, params, grads, slots, h, step):
    updates.call_update(address, params, grads, slots, h, step)


def _hyperparameters(values, dtype):
    """``values`` padded with zeros to the length every update callback reads."""
    h = np.zeros(updates.HYPER_SIZE, dtype)
    h[:len(values)] = values
    return h


def _update_step(opt, through_callback, params, slots, h):
    """One update of ``params`` by optimizer ``opt``: its :mod:`fastmlp.kernels.cpu`
    kernel as the tiny path inlines it, or the general path's callback (RMSprop and
    Adagrad through the square-root estimate). ``slots`` holds the slot rows."""
    kernel = {updates.SGD: cpu.sgd_update, updates.RMSPROP: cpu.rmsprop_update,
              updates.ADAGRAD: cpu.adagrad_update}[opt]
    if through_callback:
        address = updates.address(opt, params.dtype)
        return lambda g: _run_update(address, params, g, slots, h, 0)
    return lambda g: kernel(params, g, *slots, h)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", OPT_SIZES)
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.7, True)])
@pytest.mark.parametrize("through_callback", [False, True])
def test_sgd_update(n, momentum, nesterov, dtype, through_callback):
    params, grads = _opt_arrays(n, dtype)
    slots = np.zeros((1, n), dtype)
    h = _hyperparameters([0.05, momentum, float(nesterov)], dtype)
    reference = ref.SGD(0.05, momentum, nesterov)
    step = _update_step(updates.SGD, through_callback, params, slots, h)
    _check_steps(step, reference, params, grads, dtype)
    assert slots.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", OPT_SIZES)
@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.0, True), (0.5, False),
                                               (0.5, True)])
@pytest.mark.parametrize("through_callback", [False, True])
def test_rmsprop_update(n, momentum, centered, dtype, through_callback):
    params, grads = _opt_arrays(n, dtype, seed=1)
    slots = np.zeros((3, n), dtype)  # velocity, average gradient, momentum
    rho, lr, eps = 0.8, 0.01, 1e-7
    h = _hyperparameters([lr, rho, 1 - rho, momentum, eps, float(centered)], dtype)
    reference = ref.RMSprop(lr, rho, momentum, eps, centered)
    step = _update_step(updates.RMSPROP, through_callback, params, slots, h)
    _check_steps(step, reference, params, grads, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", OPT_SIZES)
@pytest.mark.parametrize("through_callback", [False, True])
def test_adagrad_update(n, dtype, through_callback):
    params, grads = _opt_arrays(n, dtype, seed=2)
    slots = np.full((1, n), 0.1, dtype)
    h = _hyperparameters([0.02, 1e-7], dtype)
    reference = ref.Adagrad(0.02, 0.1, 1e-7)
    step = _update_step(updates.ADAGRAD, through_callback, params, slots, h)
    _check_steps(step, reference, params, grads, dtype)


@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_and_adagrad_round_as_their_float32_formulas(centered):
    """Keras's formulas in float32, one operation at a time, give exactly the kernels'
    numbers. (A reciprocal square-root estimate would be a few ulp off, and rounded
    differently by each compiled copy of the kernel.)"""
    rng = np.random.default_rng(5)
    n = 4099  # whole vectors and a remainder
    f = np.float32
    g = (rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 2, n)).astype(f)
    start_slot = (np.abs(rng.standard_normal(n)) * 10.0 ** rng.uniform(-8, 2, n)).astype(f)
    start_average = (rng.standard_normal(n) * 1e-4).astype(f)
    start_params = rng.standard_normal(n).astype(f)
    lr, rho, eps = f(0.01), f(0.8), f(1e-7)
    h = np.array([lr, rho, f(1) - rho, 0.0, eps, float(centered)], f)
    params, velocity, average = start_params.copy(), start_slot.copy(), start_average.copy()
    cpu.rmsprop_update(params, g, velocity, average, np.zeros(n, f), h)
    v = h[1] * start_slot + h[2] * (g * g)
    np.testing.assert_array_equal(velocity, v)
    if centered:
        avg = h[1] * start_average + h[2] * g
        np.testing.assert_array_equal(average, avg)
        denominator = v - avg * avg + eps
    else:
        denominator = v + eps
    np.testing.assert_array_equal(params, start_params - lr * g / np.sqrt(denominator))

    params, accumulator = start_params.copy(), start_slot.copy()
    cpu.adagrad_update(params, g, accumulator, np.array([lr, eps], f))
    total = start_slot + g * g
    np.testing.assert_array_equal(accumulator, total)
    np.testing.assert_array_equal(params, start_params - lr * g / np.sqrt(total + eps))


def _ulps_apart(a, b):
    return np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32))


@pytest.mark.parametrize("centered", [False, True])
def test_estimated_updates_stay_within_4_ulp_of_the_exact_ones(centered):
    """The general path's callbacks divide through the reciprocal square-root estimate:
    each float32 increment stays within a few ulp of the exactly rounded one, over
    gradients and velocities spanning many orders of magnitude."""
    rng = np.random.default_rng(5)
    n = 4099
    f = np.float32
    g = (rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 2, n)).astype(f)
    velocity = (np.abs(rng.standard_normal(n)) * 10.0 ** rng.uniform(-8, 2, n)).astype(f)
    average = np.zeros(n, f)
    lr, eps = f(0.01), f(1e-7)
    params = np.zeros(n, f)
    h = _hyperparameters([lr, 0.8, 0.2, 0.0, eps, float(centered)], f)
    slots = np.stack([velocity, average, np.zeros(n, f)])
    _run_update(updates.address(updates.RMSPROP, f), params, g, slots, h, 0)
    velocity, average = slots[0], slots[1]
    denominator = velocity.astype(np.float64) - average.astype(np.float64) ** 2 + eps
    exact = (-(np.float64(lr) * g / np.sqrt(denominator))).astype(f)
    assert _ulps_apart(params, exact).max() <= 4
    assert not np.array_equal(params, exact)  # the estimate is in use

    slots = velocity[np.newaxis].copy()
    params[:] = 0
    h = _hyperparameters([lr, eps], f)
    _run_update(updates.address(updates.ADAGRAD, f), params, g, slots, h, 0)
    exact = (-(np.float64(lr) * g / np.sqrt(slots[0].astype(np.float64) + eps))).astype(f)
    assert _ulps_apart(params, exact).max() <= 4


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", OPT_SIZES)
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("through_callback", [False, True])
def test_adam_update(n, amsgrad, dtype, through_callback):
    """Adam's steps, with the bias correction of each step's ``alpha`` set from the
    step count: by ``set_adam_alpha`` and the kernel, as the tiny path runs them, or
    by the general path's callback."""
    params, grads = _opt_arrays(n, dtype, seed=3)
    slots = np.zeros((3, n), dtype)
    m, v, vhat = slots
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-7
    h = _hyperparameters([lr, 1 - b1, 1 - b2, eps, float(amsgrad), b1, b2], dtype)
    reference = ref.Adam(lr, b1, b2, eps, amsgrad)
    address = updates.address(updates.ADAM, dtype) if through_callback else None

    expected = [params.astype(np.float64)]
    for step, g in enumerate(grads):
        expected = reference.apply(expected, [g.astype(np.float64)])
        if through_callback:
            _run_update(address, params, g.copy(), slots, h, step)
        else:
            cpu.set_adam_alpha(h, step)
            cpu.adam_update(params, g.copy(), m, v, vhat, h)
        assert params.dtype == dtype
        np.testing.assert_allclose(params, expected[0], rtol=1e-5 if dtype == np.float32
                                   else 1e-12, atol=1e-6 if dtype == np.float32 else 1e-13)
    if amsgrad:
        np.testing.assert_array_equal(vhat, np.maximum(vhat, v))
