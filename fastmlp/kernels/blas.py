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
"""

import ctypes

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["gemm_nn", "gemm_tn", "gemm_nt", "numpy_blas_symbols", "use_numpy_blas", "TABLE_SYMBOL"]

#: Name under which the compiled code finds the table of function pointers.
TABLE_SYMBOL = "fastmlp_numpy_blas_gemm"

#: CBLAS entry points with 64-bit integers, in the order they are tried: the
#: NumPy wheels' OpenBLAS, then the usual ILP64 names of other builds.
_CANDIDATES = {
    "float32": ("scipy_cblas_sgemm64_", "cblas_sgemm64_", "cblas_sgemm_64"),
    "float64": ("scipy_cblas_dgemm64_", "cblas_dgemm64_", "cblas_dgemm_64"),
}
_SLOTS = {"float32": 0, "float64": 1}

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

# Entry 0: sgemm, entry 1: dgemm; 0 where NumPy's BLAS offers none.
_table = (ctypes.c_uint64 * 2)()
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
    """Fill the table with NumPy's gemm entry points, where it has them."""
    try:
        library = _numpy_extension()
    except OSError:
        return
    for dtype, names in _CANDIDATES.items():
        for name in names:
            try:
                function = getattr(library, name)
            except AttributeError:
                continue
            _table[_SLOTS[dtype]] = ctypes.cast(function, ctypes.c_void_p).value
            _found[dtype] = name
            break


def numpy_blas_symbols():
    """The CBLAS functions the ``gemm_*`` intrinsics call, by dtype name.

    A dtype that is missing has no such function, and its products go through
    ``np.dot`` instead.

    Returns
    -------
    dict
        For example ``{"float32": "scipy_cblas_sgemm64_", "float64": "scipy_cblas_dgemm64_"}``.
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
        _table[0] = _table[1] = 0
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
        table = builder.module.globals.get(TABLE_SYMBOL)
        if table is None:
            table = ir.GlobalVariable(builder.module, ir.ArrayType(i64, 2), TABLE_SYMBOL)
            table.linkage = "external"
        slot = _SLOTS[str(sig.args[0].dtype)]
        address = builder.load(builder.gep(table, [i32(0), i32(slot)]))
        found = builder.icmp_unsigned("!=", address, i64(0))
        with builder.if_then(found, likely=True):
            a, b, c = (context.make_array(t)(context, builder, v) for t, v in zip(sig.args, args))
            a_rows, a_cols = cgutils.unpack_tuple(builder, a.shape, 2)
            b_cols = cgutils.unpack_tuple(builder, b.shape, 2)[1]
            c_rows, c_cols = cgutils.unpack_tuple(builder, c.shape, 2)
            # op(a) is (m, k) and c is (m, n); a row-major array's leading dimension
            # is its column count.
            k = a_rows if trans_a else a_cols
            pointer = real.as_pointer()
            function_type = ir.FunctionType(ir.VoidType(), [
                i32, i32, i32, i64, i64, i64, real, pointer, i64, pointer, i64, real,
                pointer, i64])
            function = builder.inttoptr(address, function_type.as_pointer())
            builder.call(function, [
                i32(_ROW_MAJOR), i32(_TRANS if trans_a else _NO_TRANS),
                i32(_TRANS if trans_b else _NO_TRANS), c_rows, c_cols, k, real(1.0), a.data,
                a_cols, b.data, b_cols, real(0.0), c.data, c_cols])
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
