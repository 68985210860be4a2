"""Zero-cost views into flat buffers, for use inside compiled code.

``buffer[start:start + rows * cols].reshape((rows, cols))`` costs about 14 ns in
Numba (it calls a C helper to check the reshape) plus two atomic reference-count
updates, and a plain slice still pays the two reference-count updates; the
training loop takes a few dozen such views per step, which for tiny networks is
more than the arithmetic. The intrinsics here build the same C-contiguous views
directly and without reference counting: a view borrows its buffer, so it is
valid only while the buffer is alive, and it must never be returned to Python.
The compiled drivers use them on buffers they receive as arguments.

:func:`borrowed` drops the reference counting of a whole argument. Numba counts
references to an array each time it enters an inlined helper (an atomic increment
and decrement per array and call), so a driver borrows its buffers once, before
its loops.
"""

from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_untracked
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array


def _borrowed_view(context, builder, view_type, data, shape):
    """Lower a C-contiguous array of ``view_type`` over ``data``, with no meminfo."""
    view = make_array(view_type)(context, builder)
    itemsize = context.get_constant(
        types.intp, context.get_abi_sizeof(context.get_data_type(view_type.dtype)))
    strides = [itemsize]
    for extent in reversed(shape[1:]):
        strides.insert(0, builder.mul(extent, strides[0]))
    populate_array(
        view,
        data=data,
        shape=cgutils.pack_array(builder, shape),
        strides=cgutils.pack_array(builder, strides),
        itemsize=itemsize,
        meminfo=None,
    )
    return impl_ret_untracked(context, builder, view_type, view._getvalue())


def _is_c_array(value, ndim):
    return isinstance(value, types.Array) and value.ndim == ndim and value.layout == "C"


@intrinsic
def view1d(typingctx, buffer, start, length):
    """``buffer[start:start + length]`` as a borrowed view.

    Parameters
    ----------
    buffer : 1-D C-contiguous array
    start, length : int
        Offset of the first element, and the view's length. Not checked.
    """
    if not _is_c_array(buffer, 1):
        return None
    signature = buffer(buffer, types.intp, types.intp)

    def codegen(context, builder, sig, args):
        buffer_value, start_value, length_value = args
        source = make_array(sig.args[0])(context, builder, buffer_value)
        return _borrowed_view(context, builder, sig.return_type,
                              builder.gep(source.data, [start_value]), [length_value])

    return signature, codegen


@intrinsic
def view2d(typingctx, buffer, start, rows, cols):
    """C-contiguous ``(rows, cols)`` view of ``buffer[start:start + rows * cols]``.

    Parameters
    ----------
    buffer : 1-D C-contiguous array
    start, rows, cols : int
        Offset of the first element, and the view's shape. Not checked.
    """
    if not _is_c_array(buffer, 1):
        return None
    signature = types.Array(buffer.dtype, 2, "C")(buffer, types.intp, types.intp, types.intp)

    def codegen(context, builder, sig, args):
        buffer_value, start_value, rows_value, cols_value = args
        source = make_array(sig.args[0])(context, builder, buffer_value)
        return _borrowed_view(context, builder, sig.return_type,
                              builder.gep(source.data, [start_value]), [rows_value, cols_value])

    return signature, codegen


@intrinsic
def row(typingctx, matrix, index):
    """Row ``index`` of a C-contiguous 2-D array, as a borrowed 1-D view.

    Like ``matrix[index]`` without the reference counting; ``index`` is not checked.

    Parameters
    ----------
    matrix : 2-D C-contiguous array
    index : int
    """
    if not _is_c_array(matrix, 2):
        return None
    signature = types.Array(matrix.dtype, 1, "C")(matrix, types.intp)

    def codegen(context, builder, sig, args):
        matrix_value, index_value = args
        source = make_array(sig.args[0])(context, builder, matrix_value)
        cols = cgutils.unpack_tuple(builder, source.shape, 2)[1]
        return _borrowed_view(context, builder, sig.return_type,
                              builder.gep(source.data, [builder.mul(index_value, cols)]), [cols])

    return signature, codegen


@intrinsic
def flat(typingctx, matrix):
    """All elements of a C-contiguous 2-D array, in order, as a borrowed 1-D view.

    Like ``matrix.reshape(-1)`` without the reshape check and the reference counting.

    Parameters
    ----------
    matrix : 2-D C-contiguous array
    """
    if not _is_c_array(matrix, 2):
        return None
    signature = types.Array(matrix.dtype, 1, "C")(matrix)

    def codegen(context, builder, sig, args):
        source = make_array(sig.args[0])(context, builder, args[0])
        rows, cols = cgutils.unpack_tuple(builder, source.shape, 2)
        return _borrowed_view(context, builder, sig.return_type, source.data,
                              [builder.mul(rows, cols)])

    return signature, codegen


@intrinsic
def row_block(typingctx, matrix, start, count):
    """Rows ``start:start + count`` of a C-contiguous 2-D array, as a borrowed view.

    Like ``matrix[start:start + count]`` without the reference counting; nothing
    is checked.

    Parameters
    ----------
    matrix : 2-D C-contiguous array
    start, count : int
    """
    if not _is_c_array(matrix, 2):
        return None
    signature = types.Array(matrix.dtype, 2, "C")(matrix, types.intp, types.intp)

    def codegen(context, builder, sig, args):
        matrix_value, start_value, count_value = args
        source = make_array(sig.args[0])(context, builder, matrix_value)
        cols = cgutils.unpack_tuple(builder, source.shape, 2)[1]
        data = builder.gep(source.data, [builder.mul(start_value, cols)])
        return _borrowed_view(context, builder, sig.return_type, data, [count_value, cols])

    return signature, codegen


@intrinsic
def borrowed(typingctx, array):
    """``array`` itself, as a borrowed view: the same data, shape and strides, no meminfo.

    Only for arrays that outlive the view, such as a compiled function's arguments:
    Numba frees a local array after its last use, even while a borrowed view of it
    is still in use.

    Parameters
    ----------
    array : C-contiguous array of any dimension
    """
    if not isinstance(array, types.Array) or array.layout != "C":
        return None
    signature = array(array)

    def codegen(context, builder, sig, args):
        source = make_array(sig.args[0])(context, builder, args[0])
        view = make_array(sig.return_type)(context, builder)
        populate_array(view, data=source.data, shape=source.shape, strides=source.strides,
                       itemsize=source.itemsize, meminfo=None)
        return impl_ret_untracked(context, builder, sig.return_type, view._getvalue())

    return signature, codegen
