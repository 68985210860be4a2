"""fastmlp.kernels.blas: matrix products through NumPy's own BLAS."""

import sys
import textwrap

import numpy as np
import pytest
from numba import njit

from fastmlp.kernels import blas

DTYPES = [np.float32, np.float64]


@njit
def _products(a, b, c, which):
    if which == "nn":
        return blas.gemm_nn(a, b, c)
    if which == "tn":
        return blas.gemm_tn(a, b, c)
    return blas.gemm_nt(a, b, c)


def _operands(which, dtype, n=9, k=7, m=5):
    rng = np.random.default_rng(len(which) + n + 10 * m)
    a = rng.normal(size=(k, n) if which == "tn" else (n, k)).astype(dtype)
    b = rng.normal(size=(m, k) if which == "nt" else (k, m)).astype(dtype)
    expected = np.dot(a.T if which == "tn" else a, b.T if which == "nt" else b)
    return a, b, expected


def test_numpy_wheel_blas_is_found():
    """NumPy's wheels ship scipy-openblas64, whose ILP64 CBLAS gemm and gemv are used."""
    name = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    if name != "scipy-openblas" or sys.platform == "win32":
        assert blas.numpy_blas_symbols() == {}  # another build: np.dot is used
        return
    assert blas.numpy_blas_symbols() == {
        "float32": ("scipy_cblas_sgemm64_", "scipy_cblas_sgemv64_"),
        "float64": ("scipy_cblas_dgemm64_", "scipy_cblas_dgemv64_")}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("which", ["nn", "tn", "nt"])
@pytest.mark.parametrize("n,k,m", [(1, 7, 5), (9, 7, 1), (1, 7, 1), (4, 1, 3), (1, 300, 200),
                                   (200, 300, 1)], ids=str)
def test_one_row_or_column_products(which, dtype, n, k, m):
    """One-row and one-column results go through gemv, which sums in its own order."""
    a, b, expected = _operands(which, dtype, n, k, m)
    out = np.full(expected.shape, np.nan, dtype)
    found = _products(a, b, out, which)
    assert found == (np.dtype(dtype).name in blas.numpy_blas_symbols())
    if found:
        rtol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    else:
        assert np.isnan(out).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("which", ["nn", "tn", "nt"])
def test_gemm_gives_numpys_product(which, dtype):
    """Where NumPy's BLAS is found the product is NumPy's to the bit; else nothing is written."""
    a, b, expected = _operands(which, dtype)
    out = np.full(expected.shape, np.nan, dtype)
    found = _products(a, b, out, which)
    assert found == (np.dtype(dtype).name in blas.numpy_blas_symbols())
    if found:
        np.testing.assert_array_equal(out, expected)
    else:
        assert np.isnan(out).all()


def test_use_numpy_blas_off_multiplies_by_np_dot():
    """With NumPy's BLAS switched off, a prepared dtype's products go through the
    np.dot fallback (SciPy's BLAS), called by address."""
    a, b, expected = _operands("tn", np.float32)
    out = np.full(expected.shape, np.nan, np.float32)
    blas.prepare(np.float32)
    blas.use_numpy_blas(False)
    try:
        assert blas.numpy_blas_symbols() == {}
        assert _products(a, b, out, "tn")
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    finally:
        blas.use_numpy_blas(True)
    assert _products(a, b, out, "tn")


def test_kernel_cached_on_disk_works_in_a_new_process(run_twice_on_one_cache):
    """The function pointers are read at run time, so a kernel loaded from the cache
    calls the BLAS of the process that loads it, and the np.dot fallbacks, also
    loaded from the cache, once they are prepared."""
    script = textwrap.dedent("""
        import numpy as np
        from numba import njit
        from fastmlp.kernels import blas

        @njit(cache=True)
        def product(a, b, c):
            return blas.gemm_nn(a, b, c)

        rng = np.random.default_rng(0)
        a, b = rng.normal(size=(20, 30)), rng.normal(size=(30, 10))
        c = np.zeros((20, 10))
        found = product(a, b, c)
        ok = bool((c == a @ b).all()) if found else bool((c == 0).all())
        # Without NumPy's BLAS, nothing is written until prepare publishes np.dot.
        blas.use_numpy_blas(False)
        c[:] = 0
        unprepared = not product(a, b, c) and bool((c == 0).all())
        blas.prepare(np.float64)
        by_np_dot = product(a, b, c) and np.allclose(c, a @ b)
        print(sum(product.stats.cache_hits.values()), found, ok, unprepared, by_np_dot,
              sum(p.stats.cache_hits[p.signatures[0]] for p in blas._FALLBACKS.values()
                  if p.signatures))
    """)
    runs = [out.split() for out in run_twice_on_one_cache(script, timeout=300)]
    found = str("float64" in blas.numpy_blas_symbols())
    assert runs == [["0", found, "True", "True", "True", "0"],
                    ["1", found, "True", "True", "True", "3"]]
