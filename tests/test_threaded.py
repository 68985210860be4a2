"""fastmlp.kernels.threaded: products split over Numba's threads, against NumPy in
float64, against the serial tiles to the bit, and across thread counts."""

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from numba import njit

from fastmlp.kernels import threaded, tiles

DTYPES = [np.float32, np.float64]
KINDS = ["nn", "tn", "nt"]
# (m, k, n) of the output c (m, n) and the shared dimension k. Split over the
# threads by column panels, with a masked last panel; by bands of rows (few
# columns); in the calling thread (few multiply-adds); one output row; one output
# column.
SHAPES = [(70, 100, 130), (300, 30, 40), (9, 5, 33), (1, 300, 70), (200, 50, 1)]


@pytest.fixture(autouse=True)
def threaded_on():
    """The products switched on, on any processor, and back to the default after."""
    threaded.use_threaded(True)
    for dtype in DTYPES:
        threaded.prepare(dtype)
    yield
    threaded.use_threaded(threaded.ON_BY_DEFAULT)


@njit
def product(a, b, c, kind):
    if kind == "nn":
        return threaded.threaded_nn(a, b, c)
    if kind == "tn":
        return threaded.threaded_tn(a, b, c)
    return threaded.threaded_nt(a, b, c)


@njit
def serial_tiles(a, b, c, transposed):
    if transposed:
        return tiles.tiled_tn(a, b, c)
    return tiles.tiled_nn(a, b, c)


def operands(m, k, n, kind, dtype, seed=0):
    """``a`` and ``b`` for ``kind`` and NumPy's float64 product of them."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, m) if kind == "tn" else (m, k)).astype(dtype)
    b = rng.normal(size=(n, k) if kind == "nt" else (k, n)).astype(dtype)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    expected = {"nn": lambda: a64 @ b64, "tn": lambda: a64.T @ b64,
                "nt": lambda: a64 @ b64.T}[kind]()
    return a, b, expected


def padded_product(m, k, n, kind, dtype):
    """Run one product into rows 1..m of an array whose first and last rows must stay
    untouched; return whether it ran, the output, NumPy's product and the array."""
    a, b, expected = operands(m, k, n, kind, dtype, seed=m * k + n)
    padded = np.full((m + 2, n), 7.0, dtype)
    out = padded[1:-1]
    return product(a, b, out, kind), out, expected, padded


def test_shapes_take_every_way_of_splitting():
    m, k, n = SHAPES[0]
    assert m * k * n >= threaded.PARALLEL_MIN_FLOPS and n % 32 and n > 4 * 32
    m, k, n = SHAPES[1]
    assert m * k * n >= threaded.PARALLEL_MIN_FLOPS and n < 4 * 16
    m, k, n = SHAPES[2]
    assert m * k * n < threaded.PARALLEL_MIN_FLOPS


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_products_write_exactly_their_output(shape, kind, dtype):
    ran, out, expected, padded = padded_product(*shape, kind, dtype)
    assert ran
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol * np.sqrt(shape[1]))
    assert (padded[0] == 7).all() and (padded[-1] == 7).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_results_do_not_depend_on_the_thread_count(kind, dtype):
    """Each element sums its products in one order, however the output is shared out:
    one thread, two threads and the serial tiles (for ``nt``, on a transposed copy)
    give the same bits."""
    a, b, _ = operands(*SHAPES[0], kind, dtype)
    results = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        try:
            out = np.zeros((SHAPES[0][0], SHAPES[0][2]), dtype)
            assert product(a, b, out, kind)
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        results.append(out)
    np.testing.assert_array_equal(results[0], results[1])
    tiles.prepare(dtype)
    serial = np.zeros_like(results[0])
    if kind == "nt":
        assert serial_tiles(a, b.T.copy(), serial, False)
    else:
        assert serial_tiles(a, b, serial, kind == "tn")
    np.testing.assert_array_equal(results[0], serial)


@pytest.mark.parametrize("kind", KINDS)
def test_switched_off_products_write_nothing(kind):
    threaded.use_threaded(False)
    assert not threaded.ready(np.float32)
    ran, out, _, _ = padded_product(*SHAPES[0], kind, np.float32)
    assert not ran and (out == 7).all()
    threaded.use_threaded(True)
    assert threaded.ready(np.float32)
    assert padded_product(*SHAPES[0], kind, np.float32)[0]


@pytest.mark.parametrize("kind", KINDS)
def test_products_write_nothing_without_the_tiles(kind):
    """With the tiles switched off, the products that need them return False and leave
    their output alone, so that the kernels go to BLAS; vector products still run."""
    tiles.use_tiles(False)
    try:
        for shape in (SHAPES[0], SHAPES[2]):
            ran, out, _, _ = padded_product(*shape, kind, np.float32)
            assert not ran and (out == 7).all(), shape
        ran, out, expected, _ = padded_product(*SHAPES[3], kind, np.float32)
        assert ran and np.allclose(out, expected, rtol=1e-4, atol=1e-4)
    finally:
        tiles.use_tiles(True)


_NEW_PROCESS_SCRIPT = """
import os
import numpy as np
from fastmlp.kernels import threaded
from test_threaded import KINDS, SHAPES, padded_product

threaded.use_threaded(True)
threaded.prepare(np.float32)

def all_right():
    for kind in KINDS:
        for shape in SHAPES:
            ran, out, expected, padded = padded_product(*shape, kind, np.float32)
            if not (ran and np.allclose(out, expected, rtol=1e-4, atol=1e-4)
                    and (padded[0] == 7).all() and (padded[-1] == 7).all()):
                return False
    return True

parent = all_right()
pid = os.fork()
if pid == 0:
    # A forked child cannot use OpenMP's threads: the products are off there.
    child = not threaded.ready(np.float32) and not padded_product(*SHAPES[0], "nn",
                                                                  np.float32)[0]
    os._exit(0 if child else 1)
_, status = os.waitpid(pid, 0)
print(parent, status == 0,
      sum(sum(p.stats.cache_hits.values()) for p in threaded._products.products.values()))
"""


def test_products_load_from_the_disk_cache_and_are_off_in_a_forked_child(
        run_twice_on_one_cache):
    """The parallel products are called by address, so a second process loads them
    from the disk cache that the first one wrote, and they run there as well. After
    a fork, the child multiplies through BLAS instead."""
    outputs = [out.split() for out in run_twice_on_one_cache(_NEW_PROCESS_SCRIPT)]
    assert outputs == [["True", "True", "0"], ["True", "True", "3"]]


def test_products_take_the_thread_count_of_numpys_blas():
    """A process that limits NumPy's BLAS to one thread gets one thread for the
    products that take BLAS's place."""
    code = textwrap.dedent("""
        import numba
        import numpy as np
        from fastmlp.kernels import threaded
        threaded.use_threaded(True)
        threaded.prepare(np.float32)
        print(numba.get_num_threads())
    """)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1"]


@pytest.mark.parametrize("preset", [None, "123"])
def test_import_sets_openmps_spin_count_unless_set(preset):
    """Where the products are on by default, importing fastmlp shortens OpenMP's spin
    before its threads sleep (see ``threaded.SPIN_COUNT``), unless the user set it."""
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    if preset:
        env["GOMP_SPINCOUNT"] = preset
    code = "import os, fastmlp; print(os.environ.get('GOMP_SPINCOUNT'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    expected = preset or (threaded.SPIN_COUNT if threaded.ON_BY_DEFAULT else "None")
    assert done.stdout.split() == [expected]


@pytest.mark.parametrize("layer", ["workqueue", "tbb"])
def test_other_threading_layers_leave_the_products_to_blas(layer):
    """With Numba's workqueue threads (or TBB's, installed or not), the products stay
    off and a model whose products would use them trains through BLAS."""
    code = textwrap.dedent("""
        import numpy as np
        import fastmlp
        from fastmlp.kernels import threaded
        fastmlp.config.set_num_threads(1)
        x = np.random.default_rng(0).normal(size=(512, 40)).astype("f")
        model = fastmlp.Sequential([fastmlp.layers.Dense(64, "relu", input_dim=40),
                                    fastmlp.layers.Dense(1)])
        model.compile("sgd", "mse")
        history = model.fit(x, x[:, :1], batch_size=256, epochs=1, verbose=0)
        print(threaded.ready(np.float32), np.isfinite(history.history["loss"][0]))
    """)
    assert 256 * 40 * 64 > threaded.PARALLEL_MIN_FLOPS
    env = {**os.environ, "NUMBA_THREADING_LAYER": layer}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
