"""Matrix products through NumPy's own BLAS, callable from compiled code.

Numba's ``np.dot`` calls the BLAS that SciPy ships, which is a second library
with a second thread pool next to NumPy's. The BLAS floor of the benchmarks, and
any NumPy code the user runs, use NumPy's. On the 2-core test machine NumPy's
build (OpenBLAS 0.3.31) ran the mnist-shape products 4-6 % faster than SciPy's
(0.3.30), with one thread and with two; and two pools that both spin after a
call slow each other down.

:func:`gemm_nn`, :func:`gemm_tn` and :func:`gemm_nt` call NumPy's
``cblas_?gemm`` through a function pointer that this module looks up at import
and stores in a small table, which compiled code finds under the fixed symbol
name :data:`TABLE_SYMBOL`. The pointer is read at run time, never compiled in,
so kernels cached on disk stay valid in a new process (where the library lies
at another address) and with another NumPy. Where NumPy's BLAS has no CBLAS
entry point with 64-bit integers (builds other than the ``scipy-openblas64``
wheels, and Windows, where the search below does not reach it), the intrinsics
call ``np.dot`` instead (SciPy's BLAS, through Numba), compiled as functions of
their own by :func:`prepare` and also called by address from the table; before
that they return False. Called directly, ``np.dot`` would be compiled and
optimized again inside every kernel that multiplies, even where it never runs:
that took 0.45-0.6 s of the first fit of a small relu network.

The table's name and layout are compiled into every kernel that multiplies, as
inlined code always is: after changing them in a source checkout, clear the
Numba caches (``__pycache__/*.nbi``, ``*.nbc``). Installing a new version does not
need this, since it rewrites every source file and so invalidates their caches.
"""

import ctypes

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .addressed import AddressTable, c_arrays, call_jitted_at, matrix_product_address

__all__ = ["gemm_nn", "gemm_tn", "gemm_nt", "numpy_blas_symbols", "numpy_blas_threads", "prepare",
           "use_numpy_blas", "TABLE_SYMBOL"]

#: Name under which the compiled code finds the table of function pointers.
TABLE_SYMBOL = "fastmlp_numpy_blas_functions"

#: Naming schemes of CBLAS functions with 64-bit integers, as (prefix, suffix), in
#: the order they are tried: the NumPy wheels' OpenBLAS, then the usual ILP64
#: names of other builds.
_SCHEMES = (("scipy_cblas_", "64_"), ("cblas_", "64_"), ("cblas_", "_64"))
_LETTERS = {"float32": "s", "float64": "d"}
# Where each dtype's gemm and gemv pointers lie in the table.
_SLOTS = {"float32": 0, "float64": 2}
# Slots of NumPy's gemm and gemv, then where the np.dot fallbacks lie, by dtype and
# (trans_a, trans_b).
_CBLAS_SLOTS = 2 * len(_SLOTS)
_KINDS = ((False, False), (True, False), (False, True))
_FALLBACK_SLOTS = {(dtype, kind): _CBLAS_SLOTS + len(_KINDS) * d + k
                   for d, dtype in enumerate(_LETTERS) for k, kind in enumerate(_KINDS)}

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

# sgemm, sgemv, dgemm, dgemv (zeros for a dtype that NumPy's BLAS does not offer),
# then the np.dot fallbacks (zeros until prepared where needed).
_table = AddressTable(TABLE_SYMBOL, _CBLAS_SLOTS + len(_FALLBACK_SLOTS))
_found = {}
# The dtypes that prepare was asked for.
_prepared = set()


def _numpy_extension():
    """ctypes handle of NumPy's core extension module.

    On Linux and macOS a symbol search through it also covers the libraries it
    links, its BLAS among them. On Windows it does not, and ``np.dot`` is used.
    """
    try:
        from numpy._core import _multiarray_umath as core
    except ImportError:  # NumPy 1.x
        from numpy.core import _multiarray_umath as core
    return ctypes.CDLL(core.__file__)


def _look_up():
    """Fill the table with NumPy's gemm and gemv entry points, where it has both."""
    try:
        library = _numpy_extension()
    except OSError:
        return
    for dtype, letter in _LETTERS.items():
        for prefix, suffix in _SCHEMES:
            names = [f"{prefix}{letter}{kind}{suffix}" for kind in ("gemm", "gemv")]
            if all(hasattr(library, name) for name in names):
                for offset, name in enumerate(names):
                    address = ctypes.cast(getattr(library, name), ctypes.c_void_p).value
                    _table[_SLOTS[dtype] + offset] = address
                _found[dtype] = tuple(names)
                break


def numpy_blas_symbols():
    """The CBLAS functions the ``gemm_*`` intrinsics call, by dtype name.

    A dtype that is missing has no such functions, and its products go through
    ``np.dot`` instead.

    Returns
    -------
    dict
        For example ``{"float32": ("scipy_cblas_sgemm64_", "scipy_cblas_sgemv64_"), ...}``:
        the matrix-matrix and the matrix-vector product.
    """
    return dict(_found)


def numpy_blas_threads():
    """How many threads NumPy's OpenBLAS uses now (``OPENBLAS_NUM_THREADS``, or as set
    since), or None where it cannot be asked."""
    try:
        library = _numpy_extension()
    except OSError:
        return None
    for prefix, suffix in _SCHEMES:
        name = f"{prefix.replace('cblas_', '')}openblas_get_num_threads{suffix}"
        if hasattr(library, name):
            function = getattr(library, name)
            function.restype = ctypes.c_int
            return function()
    return None


def use_numpy_blas(enabled):
    """Route large products through NumPy's BLAS (the default) or through ``np.dot``.

    Compiled kernels read the choice at run time, so it takes effect at once. The
    tests use it to check the ``np.dot`` path.

    Parameters
    ----------
    enabled : bool
    """
    if enabled:
        _look_up()
    else:
        for slot in range(_CBLAS_SLOTS):
            _table[slot] = 0
        _found.clear()
    for dtype in _prepared:
        prepare(dtype)


def _dot_fallback(trans_a, trans_b):
    """``c = op(a) @ op(b)`` by ``np.dot``, returning True; the transposes are closure
    constants, which Numba types as literals and which key the disk cache apart."""

    @njit(cache=True)
    def product(a, b, c):
        if trans_a:
            np.dot(a.T, b, c)
        elif trans_b:
            np.dot(a, b.T, c)
        else:
            np.dot(a, b, c)
        return True

    return product


_FALLBACKS = {kind: _dot_fallback(*kind) for kind in _KINDS}


def prepare(dtype):
    """Make the products work for ``dtype`` in compiled code: where NumPy's BLAS has no
    entry point for it (or is switched off), compile the ``np.dot`` fallbacks (or load
    them from the disk cache) and publish their addresses. Until then the intrinsics
    return False for such a dtype.

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64.
    """
    name = np.dtype(dtype).name
    _prepared.add(name)
    if name in _found or _table[_FALLBACK_SLOTS[(name, _KINDS[0])]]:
        return
    for kind, product in _FALLBACKS.items():
        _table[_FALLBACK_SLOTS[(name, kind)]] = matrix_product_address(product, name)


_look_up()


def _lower_cblas(context, builder, sig, args, gemm_address, gemv_address, trans_a, trans_b):
    """Lower ``c = op(a) @ op(b)`` as a call of NumPy's CBLAS gemm, or of gemv for one
    row or column of ``c``, at the given addresses."""
    i32, i64 = ir.IntType(32), ir.IntType(64)
    real = context.get_value_type(sig.args[0].dtype)
    pointer = real.as_pointer()
    a, b, c = (context.make_array(t)(context, builder, v) for t, v in zip(sig.args, args))
    a_rows, a_cols = cgutils.unpack_tuple(builder, a.shape, 2)
    b_rows, b_cols = cgutils.unpack_tuple(builder, b.shape, 2)
    c_rows, c_cols = cgutils.unpack_tuple(builder, c.shape, 2)
    gemv_type = ir.FunctionType(ir.VoidType(), [
        i32, i32, i64, i64, real, pointer, i64, pointer, i64, real, pointer, i64])
    gemv = builder.inttoptr(gemv_address, gemv_type.as_pointer())

    def matrix_vector(matrix, rows, cols, transpose, vector):
        # One row or one column of c is a matrix-vector product. (NumPy's
        # OpenBLAS 0.3.31 ran one-row products about 10 % slower as gemm.)
        builder.call(gemv, [
            i32(_ROW_MAJOR), i32(_TRANS if transpose else _NO_TRANS), rows, cols,
            real(1.0), matrix, cols, vector, i64(1), real(0.0), c.data, i64(1)])

    one_row = builder.icmp_signed("==", c_rows, i64(1))
    one_column = builder.icmp_signed("==", c_cols, i64(1))
    with builder.if_else(one_row) as (row_case, other):
        with row_case:
            # c[0] = op(b).T @ (a's only row, or a's only column when transposed).
            matrix_vector(b.data, b_rows, b_cols, not trans_b, a.data)
        with other:
            with builder.if_else(one_column) as (column_case, general):
                with column_case:
                    # c[:, 0] = op(a) @ (b's only column, or only row when transposed).
                    matrix_vector(a.data, a_rows, a_cols, trans_a, b.data)
                with general:
                    gemm_type = ir.FunctionType(ir.VoidType(), [
                        i32, i32, i32, i64, i64, i64, real, pointer, i64, pointer, i64, real,
                        pointer, i64])
                    gemm = builder.inttoptr(gemm_address, gemm_type.as_pointer())
                    # op(a) is (m, k); a row-major array's leading dimension is its
                    # column count.
                    k = a_rows if trans_a else a_cols
                    builder.call(gemm, [
                        i32(_ROW_MAJOR), i32(_TRANS if trans_a else _NO_TRANS),
                        i32(_TRANS if trans_b else _NO_TRANS), c_rows, c_cols, k, real(1.0),
                        a.data, a_cols, b.data, b_cols, real(0.0), c.data, c_cols])


def _gemm_intrinsic(trans_a, trans_b):
    """An intrinsic computing ``c = op(a) @ op(b)``; see :func:`gemm_nn`."""

    def typer(typingctx, a, b, c):
        if not c_arrays((a, b, c), (2, 2, 2)):
            return None
        return types.boolean(a, b, c), codegen

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)

        def entry(slot):
            return _table.load(builder, slot)

        dtype = str(sig.args[0].dtype)
        gemm_address, gemv_address = entry(_SLOTS[dtype]), entry(_SLOTS[dtype] + 1)
        found = builder.icmp_unsigned("!=", gemm_address, i64(0))
        ran = cgutils.alloca_once_value(builder, found)
        with builder.if_else(found, likely=True) as (numpy_blas, fallback):
            with numpy_blas:
                _lower_cblas(context, builder, sig, args, gemm_address, gemv_address,
                             trans_a, trans_b)
            with fallback:
                address = entry(_FALLBACK_SLOTS[(dtype, (trans_a, trans_b))])
                prepared = builder.icmp_unsigned("!=", address, i64(0))
                builder.store(prepared, ran)
                plain = tuple(types.Array(t.dtype, 2, "C") for t in sig.args)
                with builder.if_then(prepared, likely=True):
                    call_jitted_at(context, builder, address, plain, args)
        return builder.load(ran)

    typer.__name__ = f"gemm_{'t' if trans_a else 'n'}{'t' if trans_b else 'n'}"
    return intrinsic(typer)


gemm_nn = _gemm_intrinsic(False, False)
gemm_nn.__doc__ = """``c = a @ b`` by NumPy's CBLAS, or by ``np.dot`` where it has none once
:func:`prepare` has run for the dtype; returns False, writing nothing, before that.

All three arrays must be 2-D, C-contiguous and of one float dtype, with shapes that
match (not checked) and no zero extent.
"""
gemm_tn = _gemm_intrinsic(True, False)
gemm_tn.__doc__ = """``c = a.T @ b``; see :func:`gemm_nn`."""
gemm_nt = _gemm_intrinsic(False, True)
gemm_nt.__doc__ = """``c = a @ b.T``; see :func:`gemm_nn`."""
