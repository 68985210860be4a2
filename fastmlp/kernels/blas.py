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
wheels, and Windows, where the search below does not reach it), the table holds
zeros and the intrinsics return False: the caller then uses ``np.dot``.

The table's name and layout are compiled into every kernel that multiplies, as
inlined code always is: after changing them in a source checkout, clear the
Numba caches (``__pycache__/*.nbi``, ``*.nbc``). Installing a new version does not
need this, since it rewrites every source file and so invalidates their caches.
"""

import ctypes

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["gemm_nn", "gemm_tn", "gemm_nt", "numpy_blas_symbols", "use_numpy_blas", "TABLE_SYMBOL"]

#: Name under which the compiled code finds the table of function pointers.
TABLE_SYMBOL = "fastmlp_numpy_blas_functions"

#: Naming schemes of CBLAS functions with 64-bit integers, as (prefix, suffix), in
#: the order they are tried: the NumPy wheels' OpenBLAS, then the usual ILP64
#: names of other builds.
_SCHEMES = (("scipy_cblas_", "64_"), ("cblas_", "64_"), ("cblas_", "_64"))
_LETTERS = {"float32": "s", "float64": "d"}
# Where each dtype's gemm and gemv pointers lie in the table.
_SLOTS = {"float32": 0, "float64": 2}

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

# sgemm, sgemv, dgemm, dgemv; zeros for a dtype that NumPy's BLAS does not offer.
_table = (ctypes.c_uint64 * 4)()
_found = {}


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
        for slot in range(len(_table)):
            _table[slot] = 0
        _found.clear()


_look_up()
llvm.add_symbol(TABLE_SYMBOL, ctypes.addressof(_table))


def _gemm_intrinsic(trans_a, trans_b):
    """An intrinsic computing ``c = op(a) @ op(b)``; see :func:`gemm_nn`."""

    def typer(typingctx, a, b, c):
        arrays = (a, b, c)
        if not all(isinstance(x, types.Array) and x.ndim == 2 and x.layout == "C"
                   for x in arrays):
            return None
        if not a.dtype == b.dtype == c.dtype or str(a.dtype) not in _SLOTS:
            return None
        return types.boolean(a, b, c), codegen

    def codegen(context, builder, sig, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        real = context.get_value_type(sig.args[0].dtype)
        pointer = real.as_pointer()
        table = builder.module.globals.get(TABLE_SYMBOL)
        if table is None:
            table = ir.GlobalVariable(builder.module, ir.ArrayType(i64, len(_table)),
                                      TABLE_SYMBOL)
            table.linkage = "external"
        slot = _SLOTS[str(sig.args[0].dtype)]
        gemm_address, gemv_address = (
            builder.load(builder.gep(table, [i32(0), i32(slot + offset)])) for offset in (0, 1))
        found = builder.icmp_unsigned("!=", gemm_address, i64(0))
        with builder.if_then(found, likely=True):
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
                                i32, i32, i32, i64, i64, i64, real, pointer, i64, pointer,
                                i64, real, pointer, i64])
                            gemm = builder.inttoptr(gemm_address, gemm_type.as_pointer())
                            # op(a) is (m, k); a row-major array's leading dimension is
                            # its column count.
                            k = a_rows if trans_a else a_cols
                            builder.call(gemm, [
                                i32(_ROW_MAJOR), i32(_TRANS if trans_a else _NO_TRANS),
                                i32(_TRANS if trans_b else _NO_TRANS), c_rows, c_cols, k,
                                real(1.0), a.data, a_cols, b.data, b_cols, real(0.0), c.data,
                                c_cols])
        return found

    typer.__name__ = f"gemm_{'t' if trans_a else 'n'}{'t' if trans_b else 'n'}"
    return intrinsic(typer)


gemm_nn = _gemm_intrinsic(False, False)
gemm_nn.__doc__ = """``c = a @ b`` by NumPy's CBLAS; returns False, writing nothing, where it has none.

All three arrays must be 2-D, C-contiguous and of one float dtype, with shapes that
match (not checked) and no zero extent.
"""
gemm_tn = _gemm_intrinsic(True, False)
gemm_tn.__doc__ = """``c = a.T @ b``; see :func:`gemm_nn`."""
gemm_nt = _gemm_intrinsic(False, True)
gemm_nt.__doc__ = """``c = a @ b.T``; see :func:`gemm_nn`."""
