"""Zero-cost 2-D views into flat buffers, for use inside compiled code.

``buffer[start:start + rows * cols].reshape((rows, cols))`` costs about 14 ns in
Numba (it calls a C helper to check the reshape) plus two atomic reference-count
updates; the training loop takes a few dozen such views per step, which for tiny
networks is more than the arithmetic. :func:`view2d` builds the same C-contiguous
view directly and without reference counting: it borrows the buffer, so it is
valid only while the buffer is alive, and it must never be returned to Python.
The compiled drivers use it on buffers they receive as arguments.
"""

from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_untracked
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array


@intrinsic
def view2d(typingctx, buffer, start, rows, cols):
    """C-contiguous ``(rows, cols)`` view of ``buffer[start:start + rows * cols]``.

    The view holds no reference to the buffer (see the module docstring).

    Parameters
    ----------
    buffer : 1-D C-contiguous array
    start, rows, cols : int
        Offset of the first element, and the view's shape. Not checked.
    """
    if not (isinstance(buffer, types.Array) and buffer.ndim == 1 and buffer.layout == "C"):
        return None
    signature = types.Array(buffer.dtype, 2, "C")(buffer, types.intp, types.intp, types.intp)

    def codegen(context, builder, sig, args):
        buffer_value, start_value, rows_value, cols_value = args
        source = make_array(sig.args[0])(context, builder, buffer_value)
        view = make_array(sig.return_type)(context, builder)
        itemsize = context.get_constant(
            types.intp, context.get_abi_sizeof(context.get_data_type(sig.args[0].dtype)))
        populate_array(
            view,
            data=builder.gep(source.data, [start_value]),
            shape=cgutils.pack_array(builder, [rows_value, cols_value]),
            strides=cgutils.pack_array(builder, [builder.mul(cols_value, itemsize), itemsize]),
            itemsize=itemsize,
            meminfo=None,
        )
        return impl_ret_untracked(context, builder, sig.return_type, view._getvalue())

    return signature, codegen


@intrinsic
def row(typingctx, matrix, index):
    """Row ``index`` of a C-contiguous 2-D array, as a borrowed 1-D view.

    Like ``matrix[index]`` without the reference counting (see the module
    docstring); ``index`` is not checked.

    Parameters
    ----------
    matrix : 2-D C-contiguous array
    index : int
    """
    if not (isinstance(matrix, types.Array) and matrix.ndim == 2 and matrix.layout == "C"):
        return None
    signature = types.Array(matrix.dtype, 1, "C")(matrix, types.intp)

    def codegen(context, builder, sig, args):
        matrix_value, index_value = args
        source = make_array(sig.args[0])(context, builder, matrix_value)
        view = make_array(sig.return_type)(context, builder)
        cols = cgutils.unpack_tuple(builder, source.shape, 2)[1]
        itemsize = context.get_constant(
            types.intp, context.get_abi_sizeof(context.get_data_type(sig.args[0].dtype)))
        populate_array(
            view,
            data=builder.gep(source.data, [builder.mul(index_value, cols)]),
            shape=cgutils.pack_array(builder, [cols]),
            strides=cgutils.pack_array(builder, [itemsize]),
            itemsize=itemsize,
            meminfo=None,
        )
        return impl_ret_untracked(context, builder, sig.return_type, view._getvalue())

    return signature, codegen
