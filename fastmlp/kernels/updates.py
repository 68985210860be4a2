"""RMSprop and Adagrad updates of the general path, each compiled once and called by address.

Both updates divide by a square root. With LLVM's ``arcp`` flag the division goes
through the reciprocal square-root estimate and a Newton step, which made the
RMSprop update over 235k parameters take 48 us instead of 68 (on the 2-core test
machine). But the estimate rounds differently in each compiled copy of a loop: a
Numba kernel called from a driver is compiled on its own and also linked into the
driver, and which copy runs depended on whether the process compiled the kernels
or loaded them from the disk cache (after one mnist-shape epoch, 125,569 of 235,146
weights differed in their last bits between the two).

So the estimated updates here are C callbacks (``numba.cfunc``), each a single
compiled copy whose address a small table holds. Compiled code reads the address
at run time under the fixed symbol name :data:`TABLE_SYMBOL` (as :mod:`.blas` does
for NumPy's BLAS) and calls it, so every process and every caller runs the same
machine code, cached on disk like the other kernels. Each increment stays within a
few ulp of the exactly rounded one. The tiny path keeps the exact arithmetic of
:func:`.cpu.rmsprop_update` and :func:`.cpu.adagrad_update`, inlined into its
driver (there a call costs more than the arithmetic).

The table's name and layout are compiled into the callers: after changing them in
a source checkout, clear the Numba caches (``__pycache__/*.nbi``, ``*.nbc``).
"""

import ctypes

import llvmlite.binding as llvm
from llvmlite import ir
from numba import carray, cfunc, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .cpu import adagrad_update_inline, rmsprop_update_inline

__all__ = ["load", "rmsprop_update_estimated", "adagrad_update_estimated", "TABLE_SYMBOL"]

#: Name under which compiled code finds the table of update addresses.
TABLE_SYMBOL = "fastmlp_update_functions"

_DTYPES = (types.float32, types.float64)
_RMSPROP, _ADAGRAD = 0, 1
_ESTIMATE = {"cache": True, "error_model": "numpy", "fastmath": {"arcp"}}


def _rmsprop_callback(dtype):
    """RMSprop over raw buffers: ``(params, grads, velocity, average_grad, momentum_slot,
    h, n, n_average, n_momentum)``."""
    p = types.CPointer(dtype)
    signature = types.void(p, p, p, p, p, p, types.intp, types.intp, types.intp)

    def update(params, grads, velocity, average_grad, momentum_slot, h, n, n_average,
               n_momentum):
        # The tiny path's inlined twin, compiled here with the callback's flags.
        rmsprop_update_inline(carray(params, n), carray(grads, n), carray(velocity, n),
                              carray(average_grad, n_average), carray(momentum_slot, n_momentum),
                              carray(h, 6))

    return cfunc(signature, **_ESTIMATE)(update)


def _adagrad_callback(dtype):
    """Adagrad over raw buffers: ``(params, grads, accumulator, h, n)``."""
    p = types.CPointer(dtype)
    signature = types.void(p, p, p, p, types.intp)

    def update(params, grads, accumulator, h, n):
        adagrad_update_inline(carray(params, n), carray(grads, n), carray(accumulator, n),
                              carray(h, 2))

    return cfunc(signature, **_ESTIMATE)(update)


# Slot 2 * kernel + dtype index: RMSprop float32, float64, then Adagrad. Zero until
# load() fills it.
_table = (ctypes.c_uint64 * 4)()
_callbacks = []
llvm.add_symbol(TABLE_SYMBOL, ctypes.addressof(_table))


def load():
    """Compile the callbacks, or load them from the disk cache, and publish their
    addresses; later calls return at once.

    Call it before running compiled code that calls :func:`rmsprop_update_estimated`
    or :func:`adagrad_update_estimated` (``fastmlp.engine.Engine.fit_epochs`` does):
    it is not done at import, so that importing fastmlp stays quick (loading the
    callbacks starts LLVM, about 0.3 s).
    """
    if _callbacks:
        return
    made = [_rmsprop_callback(t) for t in _DTYPES] + [_adagrad_callback(t) for t in _DTYPES]
    for slot, callback in enumerate(made):
        _table[slot] = callback.address
    _callbacks.extend(made)


def _check(arrays):
    """Whether ``arrays`` are 1-D, C-contiguous and of one float dtype the table serves."""
    return all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C"
               and a.dtype == arrays[0].dtype for a in arrays) and arrays[0].dtype in _DTYPES


def _codegen(kernel):
    """Code that calls ``kernel``'s callback for the arrays it is given.

    The callback gets each array's data pointer, then the first array's length and,
    for RMSprop, the lengths of the optional slots (the 4th and 5th arrays).
    """

    def codegen(context, builder, sig, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        table = builder.module.globals.get(TABLE_SYMBOL)
        if table is None:
            table = ir.GlobalVariable(builder.module, ir.ArrayType(i64, len(_table)),
                                      TABLE_SYMBOL)
            table.linkage = "external"
        slot = 2 * kernel + _DTYPES.index(sig.args[0].dtype)
        address = builder.load(builder.gep(table, [i32(0), i32(slot)]))
        arrays = [context.make_array(t)(context, builder, v) for t, v in zip(sig.args, args)]
        lengths = [cgutils.unpack_tuple(builder, a.shape, 1)[0] for a in arrays]
        sizes = [lengths[0]] + ([lengths[3], lengths[4]] if kernel == _RMSPROP else [])
        pointer = context.get_value_type(sig.args[0].dtype).as_pointer()
        function = ir.FunctionType(ir.VoidType(), [pointer] * len(arrays) + [i64] * len(sizes))
        builder.call(builder.inttoptr(address, function.as_pointer()),
                     [a.data for a in arrays] + sizes)
        return context.get_dummy_value()

    return codegen


@intrinsic
def _call_rmsprop(typingctx, params, grads, velocity, average_grad, momentum_slot, h):
    arrays = (params, grads, velocity, average_grad, momentum_slot, h)
    if not _check(arrays):
        return None
    return types.void(*arrays), _codegen(_RMSPROP)


@intrinsic
def _call_adagrad(typingctx, params, grads, accumulator, h):
    arrays = (params, grads, accumulator, h)
    if not _check(arrays):
        return None
    return types.void(*arrays), _codegen(_ADAGRAD)


@njit(cache=True, error_model="numpy")
def rmsprop_update_estimated(params, grads, velocity, average_grad, momentum_slot, h):
    """:func:`.cpu.rmsprop_update` through the reciprocal square-root estimate.

    Takes the arguments of :func:`.cpu.rmsprop_update`; ``h`` must hold its six
    entries. Runs the one compiled callback (see the module's docstring), which
    :func:`load` must have published.
    """
    _call_rmsprop(params, grads, velocity, average_grad, momentum_slot, h)


@njit(cache=True, error_model="numpy")
def adagrad_update_estimated(params, grads, accumulator, h):
    """:func:`.cpu.adagrad_update` through the reciprocal square-root estimate.

    Takes the arguments of :func:`.cpu.adagrad_update`; ``h`` must hold its two
    entries. Runs the one compiled callback (see the module's docstring), which
    :func:`load` must have published.
    """
    _call_adagrad(params, grads, accumulator, h)
