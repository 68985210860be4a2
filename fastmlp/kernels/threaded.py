"""Matrix products of any size in the register tiles of :mod:`.tiles`, split over
Numba's threads: BLAS's replacement on processors with AVX-512.

NumPy's OpenBLAS 0.3.31 does not recognise the test machine's processor (AMD EPYC
Zen 5) and multiplies there with its AVX2 kernels. The tiles use its 64-byte
vectors: a 1024x512x512 product, split over two threads by column panels, took
0.98-1.01 ms against 1.94-1.96 ms in OpenBLAS with two threads (1.07 ms with
OpenBLAS forced to its AVX-512 kernels by ``OPENBLAS_CORETYPE``).

Numba's threads and BLAS's must not take turns: each pool spins for a while after
its work, and on 2 cores that product followed by a 1024x512 matrix-vector
product in BLAS took 8.1 ms instead of 1.06 ms. So once :func:`prepare` has run
for a dtype, the kernels send every product to these functions except the small
ones of the serial tiles, one-row and one-column outputs included (as vector
loops), and BLAS runs no more.

NumPy's own products still start OpenBLAS's threads, which then spin for up to a
few hundred milliseconds: after one 512x512x512 NumPy product, about 15 of the
threaded 128x784x256 products of the next 100-300 ms took 3-8 ms instead of
0.1 ms. Setting ``OPENBLAS_THREAD_TIMEOUT=4`` before NumPy loads makes those threads
sleep at once (0-2 slow products, and NumPy's 1024x512x512 product took as long);
:func:`use_threaded` switches these products off. In the other direction, see
:data:`SPIN_COUNT`.

They are used (see :func:`prepare`) where the vectors are 64 bytes wide and
Numba's threads are OpenMP's. With TBB's, two parts of a 128x784x256 product took
as long as one; Numba's own workqueue took 98 us to start a parallel loop. GNU
OpenMP cannot run in a child forked from a process that used it, so a forked child
switches these products off and multiplies through BLAS.

Each output element sums its products in one order, whatever the number of
threads and however the output is split, so results do not depend on the thread
count.
"""

import os

import numba
import numpy as np
from numba import njit, prange

from .addressed import ProductTable
from .blas import numpy_blas_threads
from .tiles import TILE_ROWS, TILE_VECTORS, VECTOR_BYTES, block_nn, block_tn
from .tiles import prepare as prepare_tiles

__all__ = ["prepare", "ready", "threaded_nn", "threaded_nt", "threaded_tn", "use_threaded",
           "ON_BY_DEFAULT", "PARALLEL_MIN_FLOPS", "TABLE_SYMBOL"]

#: Products with fewer multiply-adds than this run in the calling thread alone.
PARALLEL_MIN_FLOPS = 2**18

# Outputs of fewer column panels than this are shared out among the threads by bands
# of rows instead.
_MIN_PANELS = 4
_PARALLEL = {"cache": True, "error_model": "numpy", "parallel": True}


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _dots(matrix, vector, out):
    """``out[r] = matrix[r] @ vector`` for every row: a matrix-vector product, its sums
    reordered into vector lanes (the same order at every call)."""
    for r in range(matrix.shape[0]):
        total = matrix[r, 0] * vector[0]
        for p in range(1, matrix.shape[1]):
            total += matrix[r, p] * vector[p]
        out[r] = total


@njit(cache=True, error_model="numpy")
def _vector_times_matrix(vector, matrix, out):
    """``out = vector @ matrix``, a row of ``matrix`` at a time, each a vectorised
    multiply-add into ``out`` (1x512x512: 8.5 us, against 17.8 us in a one-row tile,
    whose two accumulators wait on each other, and 9.1 us in BLAS)."""
    for j in range(out.shape[0]):
        out[j] = 0
    for p in range(matrix.shape[0]):
        x = vector[p]
        for j in range(out.shape[0]):
            out[j] += x * matrix[p, j]


@njit(cache=True, inline="always")
def _block(a, b, c, first_row, last_row, first_column, last_column, b_first_column, trans_a):
    """A block of ``c = op(a) @ b`` in the tiles (see :func:`.tiles.block_nn`); False
    while they are not prepared. ``trans_a`` is a constant."""
    if trans_a:
        return block_tn(a, b, c, first_row, last_row, first_column, last_column,
                        b_first_column)
    return block_nn(a, b, c, first_row, last_row, first_column, last_column, b_first_column)


def _threaded_product(trans_a):
    """``c = op(a) @ b`` (``op(a)`` is ``a.T`` with ``trans_a``, a closure constant),
    returning True, or False while the tiles are not prepared: tiles over column
    panels shared out among the threads, or over bands of rows where there are few
    panels; one output row or column as a vector-matrix product."""

    @njit(**_PARALLEL)
    def product(a, b, c):
        m, n = c.shape
        depth = a.shape[0] if trans_a else a.shape[1]
        if m == 1:
            _vector_times_matrix(a.reshape(depth), b, c.reshape(n))
            return True
        if n == 1 and trans_a:
            _vector_times_matrix(b.reshape(depth), a, c.reshape(m))
            return True
        if n == 1:
            _dots(a, b.reshape(depth), c.reshape(m))
            return True
        if m * n * depth < PARALLEL_MIN_FLOPS:
            return _block(a, b, c, 0, m, 0, n, 0, trans_a)
        if not _block(a, b, c, 0, 0, 0, 0, 0, trans_a):
            return False
        tile_columns = TILE_VECTORS * (VECTOR_BYTES // a.itemsize)
        panels = (n + tile_columns - 1) // tile_columns
        by_panels = panels >= _MIN_PANELS
        parts = panels if by_panels else (m + TILE_ROWS - 1) // TILE_ROWS
        for part in prange(parts):
            if by_panels:
                first_row, last_row = 0, m
                first_column = part * tile_columns
                last_column = min(n, first_column + tile_columns)
            else:
                first_row = part * TILE_ROWS
                last_row = min(m, first_row + TILE_ROWS)
                first_column, last_column = 0, n
            _block(a, b, c, first_row, last_row, first_column, last_column, first_column,
                   trans_a)
        return True

    return product


@njit(cache=True, error_model="numpy", inline="always")
def _packed_panels(d, w, c, first_panel, last_panel):
    """Column panels ``first_panel:last_panel`` of ``c = d @ w.T``, each through a copy
    of its rows of ``w`` laid out as columns, so that the tiles read it in rows."""
    rows, depth = d.shape
    tile_columns = TILE_VECTORS * (VECTOR_BYTES // d.itemsize)
    packed = np.empty((depth, tile_columns), d.dtype)
    for panel in range(first_panel, last_panel):
        j = panel * tile_columns
        width = min(tile_columns, w.shape[0] - j)
        for q in range(width):
            for p in range(depth):
                packed[p, q] = w[j + q, p]
        block_nn(d, packed, c, 0, rows, j, j + width, 0)


@njit(**_PARALLEL)
def _threaded_nt(d, w, c):
    """``c = d @ w.T``, returning True, or False while the tiles are not prepared:
    packed column panels shared out among the threads; one output row or column as a
    matrix-vector product."""
    rows, depth = d.shape
    columns = w.shape[0]
    if rows == 1:
        _dots(w, d.reshape(depth), c.reshape(columns))
        return True
    if columns == 1:
        _dots(d, w.reshape(depth), c.reshape(rows))
        return True
    if not block_nn(d, w, c, 0, 0, 0, 0, 0):
        return False
    tile_columns = TILE_VECTORS * (VECTOR_BYTES // d.itemsize)
    panels = (columns + tile_columns - 1) // tile_columns
    if rows * columns * depth < PARALLEL_MIN_FLOPS:
        _packed_panels(d, w, c, 0, panels)
        return True
    for panel in prange(panels):
        _packed_panels(d, w, c, panel, panel + 1)
    return True


#: Name under which compiled code finds the table of the products' addresses.
TABLE_SYMBOL = "fastmlp_threaded_products"
#: Whether the products start switched on: where vectors are 64 bytes wide. (On
#: processors with narrower vectors, OpenBLAS has kernels of the same width.)
ON_BY_DEFAULT = VECTOR_BYTES == 64
#: How long OpenMP's threads wait for work, spinning, before they sleep
#: (``GOMP_SPINCOUNT``, unless set already). GNU OpenMP's default spin kept a core
#: busy long enough that a 512x512x512 NumPy product right after a threaded product
#: took 2.7-5.7 ms instead of 1.0 ms; with 10,000 it took 1.2 ms, and an mnist-shape
#: epoch as long as with the default (149-172 against 148-176 ms, alternating
#: processes; 1,000: 179 ms, sleeping at once: 243 ms). It must be set before OpenMP
#: loads, so it is set on import.
SPIN_COUNT = "10000"
if ON_BY_DEFAULT:
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)
_products = ProductTable(TABLE_SYMBOL, {"nn": _threaded_product(False),
                                        "tn": _threaded_product(True), "nt": _threaded_nt},
                         enabled=ON_BY_DEFAULT)
# Whether prepare has checked Numba's threading layer.
_layer_checked = False


def _openmp_threads():
    """Start Numba's threads and tell whether they are OpenMP's (False where no
    threading layer starts, such as a ``NUMBA_THREADING_LAYER`` that is not installed)."""
    from numba.np.ufunc.parallel import _launch_threads
    try:
        _launch_threads()
    except (ImportError, ValueError):
        return False
    return numba.threading_layer() == "omp"


def prepare(dtype):
    """Compile the threaded products for ``dtype`` (or load them from the disk cache)
    and publish their addresses to compiled code, once per process, where they are
    switched on: by default where vectors are 64 bytes wide (AVX-512) and Numba's
    threading layer is OpenMP. The first time, Numba's thread count is brought down
    to that of NumPy's BLAS, if that is lower.

    Until then, :func:`threaded_nn`, :func:`threaded_tn` and :func:`threaded_nt`
    return False for ``dtype``, and the kernels use BLAS.

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64.
    """
    global _layer_checked
    if _products.enabled and not _layer_checked:
        _layer_checked = True
        blas_threads = numpy_blas_threads()
        if not _openmp_threads():
            _products.enable(False)
        elif blas_threads:
            # The products take over BLAS's work, and its thread count
            # (OPENBLAS_NUM_THREADS, say) with it.
            numba.set_num_threads(min(numba.get_num_threads(), blas_threads))
    prepare_tiles(dtype)
    _products.prepare(dtype)


#: ``ready(dtype)``: whether compiled code runs the threaded products for ``dtype`` now.
ready = _products.ready


def use_threaded(enabled):
    """Switch the threaded products on (on any processor) or off, so that the kernels
    use BLAS; compiled kernels read the choice at run time. The tests use it.

    Parameters
    ----------
    enabled : bool
    """
    _products.enable(enabled)


def _after_fork_in_child():
    """Switch the products off in a forked child of a process that has started Numba's
    threads (by any means), which may be OpenMP's and then cannot run there."""
    from numba.np.ufunc import parallel
    if getattr(parallel, "_is_initialized", True):
        _products.enable(False)


os.register_at_fork(after_in_child=_after_fork_in_child)

threaded_nn = _products.intrinsic("nn", "threaded_nn")
threaded_nn.__doc__ = """``c = a @ b`` in tiles split over Numba's threads; returns False,
writing nothing, until :func:`prepare` has run for the dtype (where the products are
switched on).

Parameters
----------
a : ndarray, shape (m, k)
b : ndarray, shape (k, n)
c : ndarray, shape (m, n)
    Written in place. All three C-contiguous, of one float dtype, with no zero
    extent; shapes not checked.
"""
threaded_tn = _products.intrinsic("tn", "threaded_tn")
threaded_tn.__doc__ = """``c = a.T @ b``, with ``a`` of shape (k, m); see :func:`threaded_nn`."""
threaded_nt = _products.intrinsic("nt", "threaded_nt")
threaded_nt.__doc__ = """``c = a @ b.T``, with ``b`` of shape (n, k); see :func:`threaded_nn`."""
