"""Compiled callbacks that the drivers call by address: the registry and the lowering.

The activation, loss and metric kernels of a model are C callbacks
(``numba.cfunc``), one per activation, loss or metric code, each compiled with its
code a constant (see :mod:`.activation_callbacks` and :mod:`.scoring`). Python
looks up their addresses before a driver runs and hands them over in an integer
array; the drivers call them through small intrinsics that lower to :func:`call`.
The addresses are never compiled in, so cached drivers stay valid in a new process.
"""

import numpy as np
from llvmlite import ir
from numba import types

__all__ = ["address_of", "c_arrays", "call", "made", "numba_float"]

_FLOATS = {"float32": types.float32, "float64": types.float64}

# Callbacks made so far, by (factory, *arguments); held for the life of the process,
# since compiled code may call them at any time.
_made = {}


def numba_float(dtype):
    """The Numba type of the float32 or float64 NumPy ``dtype``."""
    return _FLOATS[np.dtype(dtype).name]


def address_of(make, *key):
    """Address of the callback ``make(*key)``, compiled (or loaded from the disk cache)
    the first time it is asked for."""
    if (make, *key) not in _made:
        _made[(make, *key)] = make(*key)
    return _made[(make, *key)].address


def made():
    """The callbacks made so far in this process, in the order they were made."""
    return list(_made.values())


def c_arrays(arrays, ndims):
    """Whether the Numba types ``arrays`` are C-contiguous arrays of the given
    dimensions, all of one float dtype that the callbacks serve."""
    return (all(isinstance(a, types.Array) and a.layout == "C" and a.ndim == d
                for a, d in zip(arrays, ndims))
            and arrays[0].dtype in _FLOATS.values()
            and all(a.dtype == arrays[0].dtype for a in arrays))


def call(context, builder, sig, args, return_type, values):
    """Call the callback at the integer address ``args[0]`` with ``values`` (LLVM values)."""
    address = context.cast(builder, args[0], sig.args[0], types.int64)
    function = ir.FunctionType(return_type, [v.type for v in values])
    return builder.call(builder.inttoptr(address, function.as_pointer()), values)
