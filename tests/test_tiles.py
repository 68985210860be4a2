"""fastmlp.kernels.tiles: register-tiled products, against NumPy in float64."""

import textwrap

import numpy as np
import pytest
from numba import njit

from fastmlp.kernels import tiles

DTYPES = [np.float32, np.float64]
# (m, k, n) of the output c (m, n) and the shared dimension k: full tiles, masked
# columns, leftover rows, an empty shared dimension, fewer columns than a vector.
SHAPES = [(4, 7, 32), (9, 3, 33), (5, 0, 16), (1, 4, 17), (3, 2, 5), (13, 11, 64)]


@njit
def tiled(a, b, c, transposed):
    if transposed:
        return tiles.tiled_tn(a, b, c)
    return tiles.tiled_nn(a, b, c)


def product_in_padding(m, k, n, transposed, dtype, seed):
    """Run one tiled product into rows 1..m of an array whose first and last rows
    must stay untouched; return whether it ran, the output, NumPy's float64 product
    and the array."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, m) if transposed else (m, k)).astype(dtype)
    b = rng.normal(size=(k, n)).astype(dtype)
    padded = np.full((m + 2, n), 7.0, dtype)
    out = padded[1:-1]
    ran = tiled(a, b, out, transposed)
    expected = (a.T if transposed else a).astype(np.float64) @ b.astype(np.float64)
    return ran, out, expected, padded


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transposed", [False, True], ids=["nn", "tn"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_tiled_products_write_exactly_their_output(shape, transposed, dtype):
    tiles.prepare(dtype)
    ran, out, expected, padded = product_in_padding(*shape, transposed, dtype, seed=sum(shape))
    assert ran
    rtol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol)
    assert (padded[0] == 7).all() and (padded[-1] == 7).all()


@pytest.mark.parametrize("transposed", [False, True], ids=["nn", "tn"])
def test_switched_off_tiles_write_nothing(transposed):
    tiles.prepare(np.float32)
    tiles.use_tiles(False)
    try:
        ran, out, _, _ = product_in_padding(4, 3, 16, transposed, np.float32, seed=1)
    finally:
        tiles.use_tiles(True)
    assert not ran and (out == 7).all()
    assert product_in_padding(4, 3, 16, transposed, np.float32, seed=1)[0]


@pytest.mark.parametrize("features,vector_bytes", [("+sse2", 16), ("+avx,+avx2,+fma", 32)],
                         ids=["16-byte", "32-byte"])
def test_narrower_vectors_give_the_same_products(run_twice_on_one_cache, features,
                                                 vector_bytes):
    """Processors without AVX-512 get tiles of fewer lanes (here only the width of
    the vectors changes: the host's own processor still runs the code). The second
    process loads the products from the disk cache that the first one wrote."""
    script = textwrap.dedent(f"""
        import numpy as np
        from fastmlp.kernels import tiles
        from test_tiles import SHAPES, product_in_padding

        assert tiles.VECTOR_BYTES == {vector_bytes}, tiles.VECTOR_BYTES
        for dtype in (np.float32, np.float64):
            tiles.prepare(dtype)
            for transposed in (False, True):
                for shape in SHAPES:
                    ran, out, expected, padded = product_in_padding(*shape, transposed,
                                                                    dtype, 0)
                    assert ran and np.allclose(out, expected, rtol=1e-5, atol=1e-5), shape
                    assert (padded[0] == 7).all() and (padded[-1] == 7).all(), shape
        print(sum(sum(p.stats.cache_hits.values()) for p in tiles._products.products.values()))
    """)
    hits = [out.split() for out in run_twice_on_one_cache(script, NUMBA_CPU_FEATURES=features)]
    assert hits == [["0"], ["4"]]
