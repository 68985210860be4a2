"""The drivers' loss and metric kernels: a compiled callback per loss and per metric.

Numba links every kernel that a function calls into that function's own module,
then optimizes and generates machine code for all of it again. When the drivers
called the loss and metric kernels directly, a first fit compiled the code of
every loss and every metric, whichever the model used, once on its own and again
inside each driver and :func:`fastmlp.engine.evaluate_kernel`.

Here each loss, and each metric, is a C callback (``numba.cfunc``) with its code a
constant of the compiled function, so that Numba compiles only that loss's or
metric's kernels (see the notes on losses in :mod:`.cpu`). A callback is made the
first time a model needs it, and cached on disk like the other kernels. A driver
gets the callbacks' addresses as an argument (:func:`addresses`), a plain array of
integers that is never compiled in, and calls them through :func:`call_loss` and
:func:`call_metric`; so the drivers link none of this code, and their disk-cache
entries stay valid in a process where the callbacks lie at other addresses.

Measured on a cold cache (three processes of each version, alternating), the first
fit of a 2-2-1 sigmoid model took 10.5-10.8 s instead of 15.3-15.7 s, and of a
20-32-1 relu model with validation 12.7-12.9 s instead of 15.7-16.5 s. The XOR and
mnist-shape benchmarks ran as fast as before, with the same final losses.
"""

import numpy as np
from llvmlite import ir
from numba import carray, cfunc, types
from numba.core import cgutils
from numba.extending import intrinsic

from .addressed import address_of, c_arrays, call, numba_float
from .cpu import loss_rows, metric_total
from .scalar import LOSS_VALUE

__all__ = ["addresses", "call_loss", "call_metric"]

_FLAGS = {"cache": True, "error_model": "numpy"}
#: Entries of a loss's parameter array (see ``fastmlp.losses.Loss.parameters``).
_LOSS_PARAMETERS = 3


def _loss_callback(code, dtype):
    """The callback of loss ``code`` over ``dtype`` buffers: :func:`.cpu.loss_rows` on
    ``(outputs, targets, weights, parameters, gradient, row_loss, rows, width,
    target_width, n_weights, from_logits, fused)``."""
    p, n = types.CPointer(dtype), types.intp
    signature = types.void(p, p, p, p, p, p, n, n, n, n, n, n)

    def loss(outputs, targets, weights, parameters, gradient, row_loss, rows, width,
             target_width, n_weights, from_logits, fused):
        loss_rows(code, from_logits != 0, fused != 0, carray(outputs, (rows, width)),
                  carray(targets, (rows, target_width)), carray(weights, n_weights),
                  carray(parameters, _LOSS_PARAMETERS), carray(gradient, (rows, width)),
                  carray(row_loss, rows))

    return cfunc(signature, **_FLAGS)(loss)


def _metric_callback(kind, loss_code, dtype):
    """The callback of metric ``kind`` (of loss ``loss_code`` for ``LOSS_VALUE``) over
    ``dtype`` buffers: :func:`.cpu.metric_total` on ``(outputs, targets, parameters,
    rows, width, target_width, iparam, fparam)``."""
    p, n = types.CPointer(dtype), types.intp
    signature = types.float64(p, p, p, n, n, n, n, types.float64)

    if kind == LOSS_VALUE:
        def metric(outputs, targets, parameters, rows, width, target_width, iparam, fparam):
            return metric_total(kind, loss_code, fparam, carray(outputs, (rows, width)),
                                carray(targets, (rows, target_width)),
                                carray(parameters, _LOSS_PARAMETERS))
    else:
        def metric(outputs, targets, parameters, rows, width, target_width, iparam, fparam):
            return metric_total(kind, iparam, fparam, carray(outputs, (rows, width)),
                                carray(targets, (rows, target_width)),
                                carray(parameters, _LOSS_PARAMETERS))

    return cfunc(signature, **_FLAGS)(metric)


def addresses(loss_code, metrics_i, dtype):
    """Addresses of the callbacks of one loss and its metrics, compiling or loading
    from the disk cache the ones this process has not made yet.

    Parameters
    ----------
    loss_code : int
        The loss code.
    metrics_i : ndarray of int64, shape (n_metrics, 2)
        Rows ``[kind, iparam]`` of the metric table (``iparam`` is the loss code of
        ``LOSS_VALUE`` metrics).
    dtype : numpy.dtype
        float32 or float64: the dtype of the outputs, targets and parameters.

    Returns
    -------
    ndarray of int64, shape (1 + n_metrics,)
        The loss's callback, then each metric's, in the table's order.
    """
    numba_type = numba_float(dtype)
    found = [address_of(_loss_callback, int(loss_code), numba_type)]
    for kind, iparam in metrics_i:
        loss_of_metric = int(iparam) if kind == LOSS_VALUE else -1
        found.append(address_of(_metric_callback, int(kind), loss_of_metric, numba_type))
    return np.array(found, dtype=np.int64)


def _batch_values(context, builder, sig, args, n_arrays):
    """The ``n_arrays`` arrays after the address (the outputs first, the targets
    second) as LLVM structs, and ``[rows, width, target_width]``: the outputs' shape
    and the targets' width."""
    arrays = [context.make_array(t)(context, builder, v)
              for t, v in zip(sig.args[1:1 + n_arrays], args[1:1 + n_arrays])]
    rows, width = cgutils.unpack_tuple(builder, arrays[0].shape, 2)
    target_width = cgutils.unpack_tuple(builder, arrays[1].shape, 2)[1]
    return arrays, [rows, width, target_width]


@intrinsic
def call_loss(typingctx, address, outputs, targets, weights, parameters, gradient, row_loss,
              from_logits, fused):
    """Run the loss callback at ``address`` (from :func:`addresses`) on one batch.

    Takes the arguments of :func:`.cpu.loss_rows` after ``address``, in the order
    ``outputs, targets, weights, parameters, gradient, row_loss, from_logits, fused``;
    the arrays must be C-contiguous and of the callback's dtype.
    """
    arrays = (outputs, targets, weights, parameters, gradient, row_loss)
    flags = (address, from_logits, fused)
    if not (c_arrays(arrays, (2, 2, 1, 1, 2, 1))
            and all(isinstance(f, types.Integer) for f in flags)):
        return None
    signature = types.void(address, *arrays, from_logits, fused)

    def codegen(context, builder, sig, args):
        arrays, shape = _batch_values(context, builder, sig, args, 6)
        n_weights = cgutils.unpack_tuple(builder, arrays[2].shape, 1)[0]
        flag_values = [context.cast(builder, args[i], sig.args[i], types.int64) for i in (7, 8)]
        call(context, builder, sig, args, ir.VoidType(),
              [a.data for a in arrays] + shape + [n_weights] + flag_values)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def call_metric(typingctx, address, outputs, targets, parameters, iparam, fparam):
    """Sum of one metric's per-sample values over a batch, by the metric callback at
    ``address`` (from :func:`addresses`).

    Takes ``address, outputs, targets, parameters, iparam, fparam``, as in
    :func:`.cpu.metric_total`; the arrays must be C-contiguous and of the callback's
    dtype. Returns a float64.
    """
    arrays = (outputs, targets, parameters)
    if not (c_arrays(arrays, (2, 2, 1)) and isinstance(address, types.Integer)
            and isinstance(iparam, types.Integer) and isinstance(fparam, types.Float)):
        return None
    signature = types.float64(address, *arrays, iparam, fparam)

    def codegen(context, builder, sig, args):
        arrays, shape = _batch_values(context, builder, sig, args, 3)
        iparam_value = context.cast(builder, args[4], sig.args[4], types.int64)
        fparam_value = context.cast(builder, args[5], sig.args[5], types.float64)
        return call(context, builder, sig, args, ir.DoubleType(),
                     [a.data for a in arrays] + shape + [iparam_value, fparam_value])

    return signature, codegen
