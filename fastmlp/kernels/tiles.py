"""Register-tiled matrix products for small shapes, in the host's widest vectors.

BLAS is built for large products: below a few hundred thousand multiply-adds it
spends most of its time packing its operands and dispatching, and a library may
choose its kernels by a processor table that lags behind the hardware (NumPy's
OpenBLAS 0.3.31 runs its AVX2 "Haswell" kernels on the AVX-512 Zen 5 test
machine). The products here keep a block of ``TILE_ROWS`` rows by
``TILE_VECTORS`` vectors of the output in registers while they run along the
shared dimension, each step one vector load per output vector, one broadcast per
row and ``TILE_ROWS * TILE_VECTORS`` fused multiply-adds, and store the block
once. Numba's loops cannot express this (an output row in memory is loaded and
stored at every step), so the tile is written as LLVM IR in an intrinsic.

Measured on the test machine (AMD EPYC Zen 5, AVX-512), ``x @ w`` and
``x.T @ d`` for the 32x100x32 products of the ``small`` benchmark, 320 steps of
both: 0.47 ms tiled (8 rows by 2 vectors of 16 floats) against 1.18 ms through
NumPy's BLAS.

The vector width follows the processor features Numba compiles for (64 bytes
with AVX-512, 32 with AVX, otherwise 16), and Numba keys its on-disk cache by
them too.

The tiles are compiled into one function per dtype and transpose, which writes a
block of the output (:func:`block_nn`, :func:`block_tn`; :func:`tiled_nn` and
:func:`tiled_tn` for the whole output) and which kernels call by address from a
table under the fixed symbol :data:`TABLE_SYMBOL` (as :mod:`.blas` calls NumPy's
BLAS), filled by :func:`prepare` for each dtype; until then they return False and
the caller uses BLAS. Called directly, the tiles would be linked into every kernel
that multiplies and optimized again there; the threaded products of
:mod:`.threaded` call the same functions for their blocks (with the tiles inlined
into them, their first compile took 4.4 s instead of 2.0 s).
"""

import functools

import llvmlite.binding as llvm
from llvmlite import ir
from numba import config, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .addressed import ProductTable, c_arrays

__all__ = ["block_nn", "block_tn", "prepare", "ready", "tiled_nn", "tiled_tn", "use_tiles",
           "TABLE_SYMBOL", "TILE_ROWS", "TILE_VECTORS", "VECTOR_BYTES"]


def _vector_bytes():
    """Bytes in one vector register of the processor Numba compiles for
    (``NUMBA_CPU_FEATURES``, or the host's)."""
    features = config.CPU_FEATURES
    if features is None:
        features = llvm.get_host_cpu_features().flatten()
    enabled = {name[1:] for name in features.split(",") if name.startswith("+")}
    if "avx512f" in enabled:
        return 64
    return 32 if "avx" in enabled else 16


#: Bytes in one vector register: the width of every vector operation.
VECTOR_BYTES = _vector_bytes()
#: Output rows held in registers at once: with 2 vectors a row, 8 rows take 16 of
#: AVX-512's 32 vector registers (the small benchmark's fit: 0.83-0.84 ms against
#: 0.91-0.97 ms with 4 rows), 4 rows 8 of AVX's 16. Leftover rows go through a
#: band of half as many, then one at a time.
TILE_ROWS = 8 if VECTOR_BYTES == 64 else 4
#: Output vectors per row held in registers at once.
TILE_VECTORS = 2
# Rows of the band after the full ones (a constant of its own, since Numba types
# a global int, but not an expression of one, as a literal).
_HALF_ROWS = TILE_ROWS // 2

_SERIAL = {"cache": True, "error_model": "numpy"}


@intrinsic
def _tile(typingctx, a, b, c, i, j, b_column, width, trans_a, rows, masked):
    """Write ``c[i:i + rows, j:j + width]`` of ``c = op(a) @ b``, reading its columns of
    ``b`` from column ``b_column`` on (``j``, unless ``b`` is a packed panel).

    ``trans_a``, ``rows`` and ``masked`` are constants: ``trans_a`` makes ``op(a)``
    ``a.T`` (``a`` of shape ``(k, m)``) instead of ``a``; without ``masked`` the block
    is exactly ``TILE_VECTORS`` vectors wide, with it ``width`` is less and loads and
    stores are masked to it.
    """
    if not c_arrays((a, b, c), (2, 2, 2)):
        return None
    if not (isinstance(trans_a, types.BooleanLiteral) and isinstance(rows, types.IntegerLiteral)
            and isinstance(masked, types.BooleanLiteral)):
        return None
    signature = types.void(a, b, c, types.intp, types.intp, types.intp, types.intp, trans_a,
                           rows, masked)
    return signature, functools.partial(_lower_tile, trans_a=trans_a.literal_value,
                                        rows=rows.literal_value, masked=masked.literal_value)


def _lower_tile(context, builder, sig, args, trans_a, rows, masked):
    """Lower :func:`_tile` for the given constants."""
    i64, i32 = ir.IntType(64), ir.IntType(32)
    a, b, c = (context.make_array(t)(context, builder, v) for t, v in zip(sig.args, args[:3]))
    first_row, first_column, b_column, width = args[3:7]
    real = context.get_value_type(sig.args[0].dtype)
    lanes = VECTOR_BYTES // context.get_abi_sizeof(real)
    vector = ir.VectorType(real, lanes)
    pointer = vector.as_pointer()
    suffix = f"v{lanes}f{sig.args[0].dtype.bitwidth}"
    fma = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vector, [vector] * 3), f"llvm.fma.{suffix}")
    mask_type = ir.VectorType(ir.IntType(1), lanes)
    load_masked = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vector, [pointer, i32, mask_type, vector]),
        f"llvm.masked.load.{suffix}.p0")
    store_masked = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [vector, pointer, i32, mask_type]),
        f"llvm.masked.store.{suffix}.p0")
    align = context.get_abi_sizeof(real)
    zero = ir.Constant(vector, [0.0] * lanes)

    def splat(value):
        """``value`` in every lane."""
        single = builder.insert_element(ir.Constant(ir.VectorType(value.type, lanes), None),
                                        value, i32(0))
        return builder.shuffle_vector(single, single,
                                      ir.Constant(ir.VectorType(i32, lanes), [0] * lanes))

    masks = []
    if masked:
        # Lane l of vector v is inside the block when v * lanes + l < width.
        limit = splat(width)
        for v in range(TILE_VECTORS):
            positions = ir.Constant(ir.VectorType(i64, lanes),
                                    [v * lanes + lane for lane in range(lanes)])
            masks.append(builder.icmp_signed("<", positions, limit))

    def vector_at(row_start, v):
        return builder.bitcast(builder.gep(row_start, [i64(v * lanes)]), pointer)

    def load(row_start, v):
        if masked:
            return builder.call(load_masked, [vector_at(row_start, v), i32(align), masks[v],
                                              zero])
        return builder.load(vector_at(row_start, v), align=align)

    def store(value, row_start, v):
        if masked:
            builder.call(store_masked, [value, vector_at(row_start, v), i32(align), masks[v]])
        else:
            builder.store(value, vector_at(row_start, v), align=align)

    a_rows, a_cols = cgutils.unpack_tuple(builder, a.shape, 2)
    b_cols = builder.extract_value(b.shape, 1)
    c_cols = builder.extract_value(c.shape, 1)
    depth = a_rows if trans_a else a_cols
    sums = [[cgutils.alloca_once(builder, vector) for _ in range(TILE_VECTORS)]
            for _ in range(rows)]
    for row in sums:
        for cell in row:
            builder.store(zero, cell)
    with cgutils.for_range(builder, depth) as loop:
        p = loop.index
        b_row = builder.gep(b.data, [builder.add(builder.mul(p, b_cols), b_column)])
        b_vectors = [load(b_row, v) for v in range(TILE_VECTORS)]
        for r in range(rows):
            row_index = builder.add(first_row, i64(r))
            if trans_a:
                at = builder.add(builder.mul(p, a_cols), row_index)
            else:
                at = builder.add(builder.mul(row_index, a_cols), p)
            broadcast = splat(builder.load(builder.gep(a.data, [at])))
            for v in range(TILE_VECTORS):
                total = builder.call(fma, [broadcast, b_vectors[v], builder.load(sums[r][v])])
                builder.store(total, sums[r][v])
    for r in range(rows):
        c_row = builder.gep(c.data, [builder.add(
            builder.mul(builder.add(first_row, i64(r)), c_cols), first_column)])
        for v in range(TILE_VECTORS):
            store(builder.load(sums[r][v]), c_row, v)
    return context.get_dummy_value()


@njit(cache=True, inline="always")
def _panel(a, b, c, first_row, last_row, j, b_column, width, trans_a, masked):
    """Rows ``first_row:last_row`` of the column panel ``c[:, j:j + width]`` of
    ``c = op(a) @ b`` (its columns of ``b`` from ``b_column`` on), a tile at a time:
    bands of ``TILE_ROWS`` rows, one of ``_HALF_ROWS``, then single rows. ``trans_a``
    and ``masked`` are constants (see :func:`_tile`)."""
    i = first_row
    while last_row - i >= TILE_ROWS:
        _tile(a, b, c, i, j, b_column, width, trans_a, TILE_ROWS, masked)
        i += TILE_ROWS
    if last_row - i >= _HALF_ROWS:
        _tile(a, b, c, i, j, b_column, width, trans_a, _HALF_ROWS, masked)
        i += _HALF_ROWS
    for i in range(i, last_row):
        _tile(a, b, c, i, j, b_column, width, trans_a, 1, masked)


@njit(cache=True, inline="always")
def _tiled_block(a, b, c, first_row, last_row, first_column, last_column, b_first_column,
                trans_a):
    """Write ``c[first_row:last_row, first_column:last_column]`` of ``c = op(a) @ b``,
    one column panel of ``TILE_VECTORS`` vectors after the other, so that a panel of
    ``b`` stays in cache while it meets every row. ``b``'s columns for the block start
    at ``b_first_column`` (``first_column``, unless ``b`` holds a copy of those columns
    alone). ``trans_a`` is a constant.

    The block's columns start at a multiple of the panel width, or at 0; each
    element of ``c`` sums its products in the same order, however the output is cut
    into blocks.
    """
    tile_columns = TILE_VECTORS * (VECTOR_BYTES // a.itemsize)
    full_columns = last_column - (last_column - first_column) % tile_columns
    shift = b_first_column - first_column
    for j in range(first_column, full_columns, tile_columns):
        _panel(a, b, c, first_row, last_row, j, j + shift, tile_columns, trans_a, False)
    if full_columns < last_column:
        _panel(a, b, c, first_row, last_row, full_columns, full_columns + shift,
               last_column - full_columns, trans_a, True)


def _block_product(trans_a):
    """``c[first_row:last_row, first_column:last_column] = op(a) @ b`` there, in register
    tiles, returning True; see :func:`_tiled_block`.

    ``trans_a`` is a closure constant, which Numba types as a literal and which
    keys the on-disk cache of each product apart.
    """

    @njit(**_SERIAL)
    def block(a, b, c, first_row, last_row, first_column, last_column, b_first_column):
        _tiled_block(a, b, c, first_row, last_row, first_column, last_column, b_first_column,
                    trans_a)
        return True

    return block


#: Name under which compiled code finds the table of the products' addresses.
TABLE_SYMBOL = "fastmlp_tiled_products"
_products = ProductTable(TABLE_SYMBOL, {"nn": _block_product(False), "tn": _block_product(True)},
                         ints=5)


def prepare(dtype):
    """Compile the tiled products for ``dtype`` (or load them from the disk cache) and
    publish their addresses to compiled code, once per process.

    Until then, the products here return False for ``dtype``. (Linked into every
    kernel that multiplies, the products made the first fit of a small relu network
    take 1.3 s longer; called by address, 0.3-0.7 s.)

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64.
    """
    _products.prepare(dtype)


#: ``ready(dtype)``: whether compiled code runs the tiled products for ``dtype`` now.
ready = _products.ready


def use_tiles(enabled):
    """Let the products here run the tiles (the default) or make them return False, so
    that callers use BLAS. Compiled kernels read the choice at run time, so it takes
    effect at once. The tests use it.

    Parameters
    ----------
    enabled : bool
    """
    _products.enable(enabled)


block_nn = _products.intrinsic("nn", "block_nn")
block_nn.__doc__ = """Write ``c[first_row:last_row, first_column:last_column]`` of ``c = a @ b``
in register tiles; returns False, writing nothing, until :func:`prepare` has run for
the dtype.

Parameters
----------
a : ndarray, shape (m, k)
b : ndarray, shape (k, n), or (k, w) for a copy of the block's columns alone
c : ndarray, shape (m, n)
    All three C-contiguous, of one float dtype; shapes not checked.
first_row, last_row, first_column, last_column : int
    The block; its first column is a multiple of the panel width (``TILE_VECTORS``
    vectors), or 0.
b_first_column : int
    The column of ``b`` that meets ``first_column``.
"""
block_tn = _products.intrinsic("tn", "block_tn")
block_tn.__doc__ = """A block of ``c = a.T @ b``, with ``a`` of shape (k, m); see
:func:`block_nn`."""


@njit(cache=True, inline="always")
def tiled_nn(a, b, c):
    """``c = a @ b`` in register tiles; returns False, writing nothing, until
    :func:`prepare` has run for the dtype.

    Parameters
    ----------
    a : ndarray, shape (m, k)
    b : ndarray, shape (k, n)
    c : ndarray, shape (m, n)
        Written in place. All three C-contiguous, of one float dtype; shapes not checked.
    """
    return block_nn(a, b, c, 0, c.shape[0], 0, c.shape[1], 0)


@njit(cache=True, inline="always")
def tiled_tn(a, b, c):
    """``c = a.T @ b``, with ``a`` of shape (k, m); see :func:`tiled_nn`."""
    return block_tn(a, b, c, 0, c.shape[0], 0, c.shape[1], 0)
