"""The drivers' activation kernels: a compiled callback per activation, forward and backward.

Each activation's forward pass (bias, then activation) and backward pass is a C
callback (``numba.cfunc``) with the activation code a constant of its code. Numba
drops the branches of the other activations before it inlines anything, so a
callback compiles one activation's loops alone, the first time a model uses it,
and caches them on disk like the other kernels. The drivers get one row of
addresses per layer (:func:`addresses`) and call them through
:func:`call_forward` and :func:`call_backward`, so they link the code of no
activation (see :mod:`.addressed`).

Measured on a cold cache (two processes): the two callbacks of relu took 0.34-0.47 s
to compile, of sigmoid 0.56-0.66 s, of tanh 0.65 s and of softmax 0.46 s, where the
forward and backward kernels that served every activation took 1.6-1.7 s, and were
linked again into every driver and into the evaluation and prediction loops. With
the losses' and metrics' callbacks (:mod:`.scoring`) already in place, the first fit
of a 2-2-1 sigmoid model took 8.4-9.6 s instead of 9.9-11.1 s, and of a 20-32-1
relu model with validation 10.8-11.5 s instead of 11.7-13.5 s (three cold processes
of each version, alternating).
"""

import numpy as np
from llvmlite import ir
from numba import carray, cfunc, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .addressed import address_of, c_arrays, call, numba_float
from .cpu import (
    add_bias, backward_from_outputs, bias_relu_forward, elementwise_backward,
    elementwise_forward, linear_forward, sigmoid_forward, softmax_forward,
)
from .scalar import LINEAR, RELU, SIGMOID, SOFTMAX, TANH

__all__ = ["addresses", "activate", "call_forward", "call_backward", "FORWARD", "BACKWARD"]

_FLAGS = {"cache": True, "error_model": "numpy"}

#: Columns of the array from :func:`addresses`.
FORWARD, BACKWARD = 0, 1


def _forward_callback(act, dtype):
    """Forward callback of activation ``act`` over ``dtype`` buffers, on
    ``(z, bias, use_bias, a, rows, cols)``: add the bias to ``Z`` in place when
    ``use_bias``, then ``A = act(Z)``. Relu works in place on ``A``, which must hold
    the pre-activations on entry (see :func:`.cpu.bias_relu_forward`)."""
    p, n = types.CPointer(dtype), types.intp
    signature = types.void(p, p, n, p, n, n)

    def forward(z, bias, use_bias, a, rows, cols):
        Z, b, A = carray(z, (rows, cols)), carray(bias, cols), carray(a, (rows, cols))
        if act == RELU:
            bias_relu_forward(b, use_bias != 0, A)
            return
        if use_bias != 0:
            add_bias(Z, b)
        # The common activations have loops of their own, free of the generic
        # dispatch, so that LLVM turns them into branch-free vector code.
        if act == SIGMOID:
            sigmoid_forward(Z, A)
        elif act == SOFTMAX:
            softmax_forward(Z, A)
        elif act == LINEAR:
            linear_forward(Z, A)
        else:
            elementwise_forward(act, Z, A)

    return cfunc(signature, **_FLAGS)(forward)


def _backward_callback(act, dtype):
    """Backward callback of activation ``act`` over ``dtype`` buffers, on
    ``(z, a, d, rows, cols)``: turn ``D`` from dL/dA into dL/dZ in place (relu,
    sigmoid, tanh and softmax read ``A`` alone, not ``Z``)."""
    p, n = types.CPointer(dtype), types.intp
    signature = types.void(p, p, p, n, n)

    def backward(z, a, d, rows, cols):
        Z, A, D = carray(z, (rows, cols)), carray(a, (rows, cols)), carray(d, (rows, cols))
        if act == SOFTMAX or act == RELU or act == SIGMOID or act == TANH:
            backward_from_outputs(A, act, D)
        elif act != LINEAR:
            elementwise_backward(act, Z, A, D)

    return cfunc(signature, **_FLAGS)(backward)


def addresses(activation_codes, dtype):
    """Forward and backward callbacks of each layer's activation, compiling or loading
    from the disk cache the ones this process has not made yet.

    Parameters
    ----------
    activation_codes : sequence of int
        Each layer's activation code.
    dtype : numpy.dtype
        float32 or float64: the dtype of the layers' buffers.

    Returns
    -------
    ndarray of int64, shape (n_layers, 2)
        Per layer, the address of its forward callback (column :data:`FORWARD`) and
        of its backward callback (column :data:`BACKWARD`).
    """
    numba_type = numba_float(dtype)
    return np.array([[address_of(_forward_callback, int(act), numba_type),
                      address_of(_backward_callback, int(act), numba_type)]
                     for act in activation_codes], dtype=np.int64).reshape(-1, 2)


@intrinsic
def call_forward(typingctx, address, Z, b, use_bias, A):
    """Run the forward callback at ``address`` (from :func:`addresses`) on ``Z``, the
    bias ``b`` (added when ``use_bias``) and ``A``. The arrays must be C-contiguous
    and of the callback's dtype."""
    if not (c_arrays((Z, b, A), (2, 1, 2)) and isinstance(address, types.Integer)
            and isinstance(use_bias, (types.Boolean, types.Integer))):
        return None
    signature = types.void(address, Z, b, use_bias, A)

    def codegen(context, builder, sig, args):
        z, bias, a = (context.make_array(sig.args[i])(context, builder, args[i])
                      for i in (1, 2, 4))
        rows, cols = cgutils.unpack_tuple(builder, z.shape, 2)
        use_bias_value = context.cast(builder, args[3], sig.args[3], types.int64)
        call(context, builder, sig, args, ir.VoidType(),
             [z.data, bias.data, use_bias_value, a.data, rows, cols])
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def call_backward(typingctx, address, Z, A, D):
    """Run the backward callback at ``address`` (from :func:`addresses`): turn ``D``
    from dL/dA into dL/dZ in place. The arrays must be C-contiguous and of the
    callback's dtype."""
    if not (c_arrays((Z, A, D), (2, 2, 2)) and isinstance(address, types.Integer)):
        return None
    signature = types.void(address, Z, A, D)

    def codegen(context, builder, sig, args):
        z, a, d = (context.make_array(sig.args[i])(context, builder, args[i])
                   for i in (1, 2, 3))
        rows, cols = cgutils.unpack_tuple(builder, d.shape, 2)
        call(context, builder, sig, args, ir.VoidType(), [z.data, a.data, d.data, rows, cols])
        return context.get_dummy_value()

    return signature, codegen


@njit(**_FLAGS)
def _forward_in_place(address, A):
    call_forward(address, A, A[0], False, A)


def activate(code, Z):
    """Activation ``code`` applied to every row of ``Z`` (user-facing calls).

    Parameters
    ----------
    code : int
        Activation code.
    Z : ndarray, shape (n, m)
        C-contiguous float32 or float64 inputs; left as they are.

    Returns
    -------
    ndarray, shape (n, m)
        The activations, in ``Z``'s dtype.
    """
    A = Z.copy()
    if A.size:
        _forward_in_place(addresses([code], A.dtype)[0, FORWARD], A)
    return A
