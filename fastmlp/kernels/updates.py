"""The general path's optimizer updates: a compiled callback per optimizer and dtype.

Each update (SGD, RMSprop, Adagrad, Adam) of the general path is a C callback
(``numba.cfunc``) with the optimizer's code a constant of its code, so that Numba
compiles that optimizer's loops alone, the first time a model uses it, and caches
them on disk like the other kernels. The general path's driver gets the callback's
address as an argument (:func:`address`) and calls it through :func:`call_update`,
so it links the code of no optimizer (see :mod:`.addressed`). The tiny path's
drivers, one per optimizer, inline the update instead (see ``fastmlp.engine``):
there a call costs more than the arithmetic (XOR took 2.0-2.1 ms calling the
callback, 1.75-1.78 ms inlining the update).

RMSprop and Adagrad divide by a square root. With LLVM's ``arcp`` flag the
division goes through the reciprocal square-root estimate and a Newton step, which
made the RMSprop update over 235k parameters take 48 us instead of 68 (on the
2-core test machine). But the estimate rounds differently in each compiled copy of
a loop: when the drivers called a Numba kernel, it was compiled on its own and also
linked into the driver, and which copy ran depended on whether the process compiled
the kernels or loaded them from the disk cache (after one mnist-shape epoch,
125,569 of 235,146 weights differed in their last bits between the two). A callback
is a single compiled copy, so every process runs the same machine code. Each
estimated increment stays within a few ulp of the exactly rounded one. The general
path uses the estimate; the tiny path keeps Keras's exact arithmetic.
"""

from llvmlite import ir
from numba import carray, cfunc, types
from numba.core import cgutils
from numba.extending import intrinsic

from .addressed import address_of, c_arrays, call, numba_float
from .cpu import adagrad_update, adam_update, rmsprop_update, set_adam_alpha, sgd_update

__all__ = ["address", "call_update", "SGD", "RMSPROP", "ADAGRAD", "ADAM", "HYPER_SIZE"]

#: Optimizer codes.
SGD, RMSPROP, ADAGRAD, ADAM = range(4)

#: Length of the hyperparameter array every update takes (Adam's, the longest; see
#: :func:`.cpu.adam_update`).
HYPER_SIZE = 8

_FLAGS = {"cache": True, "error_model": "numpy"}


def _update_callback(opt, dtype):
    """The update of optimizer ``opt`` over ``dtype`` buffers, on ``(params, grads,
    slots, hyper, size, n_slots, step)``: ``slots`` holds ``n_slots`` rows of ``size``
    values (the optimizer's slot buffers, in the order of its :mod:`.cpu` kernel),
    ``hyper`` the :data:`HYPER_SIZE` hyperparameters, and ``step`` the number of
    updates applied before this one. RMSprop and Adagrad divide through the
    square-root estimate."""
    p, n = types.CPointer(dtype), types.intp
    signature = types.void(p, p, p, p, n, n, types.int64)

    def update(params, grads, slots, hyper, size, n_slots, step):
        P, G, h = carray(params, size), carray(grads, size), carray(hyper, HYPER_SIZE)
        S = carray(slots, (n_slots, size))
        # SGD and Adagrad have one slot row, RMSprop and Adam three.
        if opt == SGD:
            sgd_update(P, G, S[0], h)
        elif opt == RMSPROP:
            rmsprop_update(P, G, S[0], S[1], S[2], h)
        elif opt == ADAGRAD:
            adagrad_update(P, G, S[0], h)
        else:
            set_adam_alpha(h, step)
            adam_update(P, G, S[0], S[1], S[2], h)

    # The flags follow from opt, which keys the disk cache (the flags do not).
    flags = {**_FLAGS, "fastmath": {"arcp"}} if opt in (RMSPROP, ADAGRAD) else _FLAGS
    return cfunc(signature, **flags)(update)


def address(opt, dtype):
    """Address of the general path's update callback of optimizer code ``opt``,
    compiling it or loading it from the disk cache the first time this process asks
    for it.

    Parameters
    ----------
    opt : int
        :data:`SGD`, :data:`RMSPROP`, :data:`ADAGRAD` or :data:`ADAM`.
    dtype : numpy.dtype
        float32 or float64: the dtype of the parameters.

    Returns
    -------
    int
    """
    return address_of(_update_callback, int(opt), numba_float(dtype))


@intrinsic
def call_update(typingctx, address, params, grads, slots, hyper, step):
    """Apply one update by the callback at ``address`` (from :func:`address`).

    Takes ``address, params, grads, slots, hyper, step``: the flat parameters and
    gradients, the slot rows ``(n_slots, size)``, the :data:`HYPER_SIZE`
    hyperparameters and the number of updates applied so far. The arrays must be
    C-contiguous and of the callback's dtype.
    """
    arrays = (params, grads, slots, hyper)
    if not (c_arrays(arrays, (1, 1, 2, 1)) and isinstance(address, types.Integer)
            and isinstance(step, types.Integer)):
        return None
    signature = types.void(address, *arrays, step)

    def codegen(context, builder, sig, args):
        values = [context.make_array(t)(context, builder, v)
                  for t, v in zip(sig.args[1:5], args[1:5])]
        size = cgutils.unpack_tuple(builder, values[0].shape, 1)[0]
        n_slots = cgutils.unpack_tuple(builder, values[2].shape, 2)[0]
        step_value = context.cast(builder, args[5], sig.args[5], types.int64)
        call(context, builder, sig, args, ir.VoidType(),
             [v.data for v in values] + [size, n_slots, step_value])
        return context.get_dummy_value()

    return signature, codegen
