"""Compiled code that the drivers call by address: the registry and the lowering.

The activation, loss, metric and optimizer kernels of a model are C callbacks
(``numba.cfunc``), one per activation, loss, metric or optimizer code, each
compiled with its code a constant (see :mod:`.activation_callbacks`, :mod:`.scoring`
and :mod:`.updates`). Python looks up their addresses before a driver runs and
hands them over as integers; the drivers call them through small intrinsics that
lower to :func:`call`. The addresses are never compiled in, so cached drivers stay
valid in a new process.

The training drivers also call the validation pass (``fastmlp.engine.evaluate_kernel``)
by address, in Numba's own calling convention (:func:`jitted_address`,
:func:`call_jitted`). A direct call makes Numba link the callee's code into the
caller and optimize it again there: with the validation pass called directly, the
first XOR fit (no validation data) took 8.3-8.8 s, by address 6.4-6.9 s, since the
pass now compiles only when a fit has validation data or ``evaluate`` runs; with
validation data, 10.8-11.1 s against 10.1-10.9 s (two cold processes of each,
alternating).
"""

import ctypes

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import typeof, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["AddressTable", "ProductTable", "address_of", "c_arrays", "call", "call_jitted",
           "call_jitted_at", "jitted_address", "made", "matrix_product_address", "numba_float"]

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


# Addresses of jitted functions, by dispatcher and argument kinds: see jitted_address.
_jitted = {}


def _plain_type(numba_type):
    """The type a value of ``numba_type`` has in :func:`call_jitted`'s call: C-contiguous
    arrays as writable and aligned, integers as int64; None for any other type."""
    if isinstance(numba_type, types.Array) and numba_type.layout == "C":
        return types.Array(numba_type.dtype, numba_type.ndim, "C")
    if isinstance(numba_type, types.Boolean):
        return types.boolean
    if isinstance(numba_type, types.Integer):
        return types.int64
    return None


def jitted_address(dispatcher, values):
    """Address of the machine code of ``dispatcher`` (an ``@njit`` function returning a
    bool) for ``values``, compiling it or loading it from the disk cache the first time.

    The code is compiled for the values' plain types, by the rule that
    :func:`call_jitted` applies to its arguments (:func:`_plain_type`): NumPy arrays,
    which must be C-contiguous, as writable and aligned arrays of their dtype and
    dimension, ints as int64.

    Parameters
    ----------
    dispatcher : numba dispatcher
    values : sequence of ndarray, bool and int

    Returns
    -------
    int
    """
    # Keyed by dtypes and dimensions, which are quicker to read than Numba types to
    # make (4 against 110 us for 21 values).
    key = (dispatcher,) + tuple((v.dtype, v.ndim) if isinstance(v, np.ndarray) else type(v)
                                for v in values)
    if key not in _jitted:
        signature = tuple(_plain_type(typeof(v)) for v in values)
        if None in signature:
            raise TypeError(f"jitted_address: no plain type for argument "
                            f"{signature.index(None)} of {dispatcher.py_func.__name__}: "
                            f"expected a C-contiguous array, a bool or an int")
        dispatcher.compile(signature)
        result = dispatcher.overloads[signature]
        _jitted[key] = result.library.get_pointer_to_function(result.fndesc.llvm_func_name)
    return _jitted[key]


def matrix_product_address(dispatcher, dtype, ints=0):
    """Address of the product ``dispatcher(a, b, c, *ints)`` (an ``@njit`` function
    returning a bool) compiled for three C-contiguous 2-D ``dtype`` arrays and ``ints``
    integers; see :func:`jitted_address`.
    """
    square = np.zeros((1, 1), dtype=dtype)
    return jitted_address(dispatcher, (square, square, square) + (0,) * ints)


@intrinsic
def call_jitted(typingctx, address, args):
    """Call the jitted function at ``address`` (from :func:`jitted_address`) with the
    values of the tuple ``args``, and return its bool.

    The call runs in Numba's own calling convention, so the caller links none of the
    callee's code, yet an exception the callee raises propagates as from a direct
    call. The callee must have been compiled for the plain types of ``args``: their
    arrays, C-contiguous, as writable and aligned (a read-only or unaligned array
    has the same layout in memory), their integers as int64.
    """
    if not (isinstance(address, types.Integer) and isinstance(args, types.BaseTuple)):
        return None
    plain = tuple(_plain_type(t) for t in args)
    if any(t is None for t in plain):
        return None
    signature = types.boolean(address, args)

    def codegen(context, builder, sig, llargs):
        values = [context.cast(builder, v, t, p) if p in (types.int64, types.boolean) else v
                  for v, t, p in zip(cgutils.unpack_tuple(builder, llargs[1], len(plain)),
                                     sig.args[1], plain)]
        address_value = context.cast(builder, llargs[0], sig.args[0], types.int64)
        return call_jitted_at(context, builder, address_value, plain, values)

    return signature, codegen


def call_jitted_at(context, builder, address, plain, values):
    """Lower a call of the jitted function at ``address`` (an LLVM int64) that returns a
    bool, with ``values`` of the Numba types ``plain``; see :func:`call_jitted`."""
    function = context.call_conv.get_function_type(types.boolean, plain)
    callee = builder.inttoptr(address, function.as_pointer())
    status, result = context.call_conv.call_function(builder, callee, types.boolean, plain,
                                                     values)
    with cgutils.if_unlikely(builder, status.is_error):
        context.call_conv.return_status_propagate(builder, status)
    return result


class AddressTable:
    """Machine-code addresses that compiled code reads at run time from a table under a
    fixed symbol name, so that nothing process-specific is compiled in and kernels
    cached on disk stay valid in a new process.

    The table's name and size are compiled into the kernels that read it: after
    changing them in a source checkout, clear the Numba caches.

    Parameters
    ----------
    symbol : str
        The table's symbol name.
    size : int
        Number of entries, all 0 at first.
    """

    def __init__(self, symbol, size):
        self.symbol = symbol
        self._entries = (ctypes.c_uint64 * size)()
        llvm.add_symbol(symbol, ctypes.addressof(self._entries))

    def __len__(self):
        return len(self._entries)

    def __getitem__(self, slot):
        return self._entries[slot]

    def __setitem__(self, slot, address):
        self._entries[slot] = address

    def load(self, builder, slot):
        """Lower a read of entry ``slot`` (an LLVM int64)."""
        i32, i64 = ir.IntType(32), ir.IntType(64)
        table = builder.module.globals.get(self.symbol)
        if table is None:
            table = ir.GlobalVariable(builder.module, ir.ArrayType(i64, len(self)), self.symbol)
            table.linkage = "external"
        return builder.load(builder.gep(table, [i32(0), i32(slot)]))


class ProductTable:
    """Matrix products ``product(a, b, c, *ints)`` (``@njit`` functions returning whether
    they wrote ``c``), one for each kind and float dtype, that compiled code calls by
    address through intrinsics made by :meth:`intrinsic`, once :meth:`prepare` has
    compiled them for the dtype (or loaded them from the disk cache).

    Called directly, a product would be linked into every kernel that multiplies and
    optimized again there, even where it never runs.

    Parameters
    ----------
    symbol : str
        Symbol name of the table of addresses (see :class:`AddressTable`).
    products : dict
        The products by kind (any hashable constant, such as ``"nn"``).
    ints : int
        How many integers each product takes after its three arrays.
    enabled : bool
        Whether :meth:`prepare` publishes the products (see :meth:`enable`).
    """

    def __init__(self, symbol, products, ints=0, enabled=True):
        self.products = dict(products)
        self.ints = ints
        self._slots = {(dtype, kind): slot for slot, (dtype, kind) in enumerate(
            (dtype, kind) for dtype in _FLOATS for kind in self.products)}
        self._table = AddressTable(symbol, len(self._slots))
        self.enabled = bool(enabled)
        # The dtypes that prepare was asked for.
        self._prepared = set()

    def prepare(self, dtype):
        """Compile the products for ``dtype`` and publish their addresses, once per
        process; nothing is published while the table is switched off.

        Parameters
        ----------
        dtype : numpy dtype
            float32 or float64.
        """
        name = np.dtype(dtype).name
        self._prepared.add(name)
        if not self.enabled or self.ready(name):
            return
        for kind, product in self.products.items():
            self._table[self._slots[(name, kind)]] = matrix_product_address(product, name,
                                                                            self.ints)

    def ready(self, dtype):
        """Whether compiled code runs the products for ``dtype`` now.

        Parameters
        ----------
        dtype : numpy dtype
        """
        name = np.dtype(dtype).name
        return all(self._table[self._slots[(name, kind)]] for kind in self.products)

    def enable(self, enabled):
        """Switch the products on (preparing again the dtypes asked for so far) or off,
        so that the intrinsics return False. Compiled kernels read the table at run
        time, so this takes effect at once.

        Parameters
        ----------
        enabled : bool
        """
        self.enabled = bool(enabled)
        if self.enabled:
            for name in self._prepared:
                self.prepare(name)
        else:
            for slot in range(len(self._table)):
                self._table[slot] = 0

    def intrinsic(self, kind, name):
        """An intrinsic ``name(a, b, c, *ints)`` that runs the product of ``kind`` for the
        arrays' dtype and returns what it returns, or returns False, writing nothing,
        while it is not prepared. The three arrays must be 2-D, C-contiguous and of one
        float dtype."""
        table, slots, count = self._table, self._slots, self.ints

        def typer(typingctx, a, b, c, *ints):
            if not (c_arrays((a, b, c), (2, 2, 2)) and len(ints) == count
                    and all(isinstance(t, types.Integer) for t in ints)):
                return None
            return types.boolean(a, b, c, types.StarArgTuple(ints)), codegen

        def codegen(context, builder, sig, args):
            address = table.load(builder, slots[(str(sig.args[0].dtype), kind)])
            found = builder.icmp_unsigned("!=", address, ir.IntType(64)(0))
            ints = [context.cast(builder, v, t, types.int64) for v, t in zip(
                cgutils.unpack_tuple(builder, args[3], count), sig.args[3].types)]
            plain = tuple(types.Array(t.dtype, 2, "C") for t in sig.args[:3])
            ran = cgutils.alloca_once_value(builder, cgutils.false_bit)
            with builder.if_then(found, likely=True):
                builder.store(call_jitted_at(context, builder, address,
                                             plain + (types.int64,) * count,
                                             list(args[:3]) + ints), ran)
            return builder.load(ran)

        typer.__name__ = name
        return intrinsic(typer)
