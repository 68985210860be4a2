"""CPU kernels (Numba) for dense layers, activations, losses, metrics and optimizers.

Kernels write into arrays they are given and return nothing. Matrix products of at
least :data:`BLAS_MIN_FLOPS` multiply-adds go to NumPy's BLAS on contiguous views
(see :mod:`.blas`; ``np.dot`` where NumPy's has no usable entry point), and BLAS
owns the threads; up to :data:`TILED_MAX_FLOPS`, the forward and weight-gradient
products run in register tiles of our own instead (see :mod:`.tiles`), and smaller
products run as plain loops, so tiny networks pay no call overhead. On processors
with AVX-512, every product that BLAS would take goes instead to the same tiles
split over Numba's threads (see :mod:`.threaded`), which then own the threads. The
tiles, the threaded products and the ``np.dot`` fallback are called by address once
``tiles.prepare``, ``threaded.prepare`` and ``blas.prepare`` have run for the dtype
(the engine runs them): until then products go to BLAS, and without NumPy's BLAS
every product runs as loops.
Everything around the products (bias, activation, loss, metrics, optimizer
updates) runs as single-threaded, vectorised loops: row-level maths is
``inline="always"`` so it fuses into them, and the common activations have loops
of their own free of the generic dispatch. Layers of a few units train through
one-pass kernels instead (``dense_forward_small``, ``dense_backward_small``; see
``fastmlp.engine.TINY_UNITS``).

Why no ``prange`` here, outside the threaded products (measured on the 2-core
target machine): threaded elementwise kernels next to multi-threaded BLAS calls
fought BLAS for the cores (bias + relu on a 128x256 batch took 1.4 ms threaded
against 30 us serial), and a cached driver calling cached ``parallel=True``
kernels crashed when loaded from the on-disk cache (numba issue #8578; the
threaded products are called by address, and so are not linked into the drivers).
Measured again for the RMSprop update of an mnist-shape epoch: split over two
threads it made the epoch take 644 ms against 422 ms with Numba's workqueue
threads, and about 9x as long with OpenMP's. Sums that reach a reported number
run in a fixed order, so results do not depend on the thread count.
"""

import math

import numpy as np
from numba import njit

from .blas import gemm_nn, gemm_nt, gemm_tn
from .elementary import logistic
from .scalar import (
    BINARY_ACCURACY, BINARY_CROSSENTROPY, CATEGORICAL_ACCURACY, HUBER, LINEAR, LOSS_VALUE,
    MEAN_ABSOLUTE_ERROR, MEAN_SQUARED_ERROR, RELU, SIGMOID, SOFTMAX, SPARSE_CATEGORICAL_ACCURACY,
    SPARSE_CATEGORICAL_CROSSENTROPY, TANH, TOP_K_CATEGORICAL_ACCURACY, activate, activate_common,
    activation_grad, sigmoid,
)
from .threaded import threaded_nn, threaded_nt, threaded_tn
from .tiles import tiled_nn, tiled_tn
from .views import flat, row

#: Products with fewer multiply-adds than this run as plain loops instead of BLAS.
BLAS_MIN_FLOPS = 64
#: Products ``x @ w`` and ``x.T @ d`` with at most this many multiply-adds, and more
#: than one row and column, run in register tiles (see :mod:`.tiles`; once
#: ``tiles.prepare`` has run for the dtype, as the engine does) instead of BLAS. On
#: the test machine the tiles took less than half BLAS's time up to 64x64x64 and
#: 0.85x at 128x128x10. Up to 128x256x128 they still took 0.5-0.85x the time of
#: BLAS's two threads, but an mnist-shape epoch with those products tiled as well
#: (a limit of 2**22) took as long (267.6 and 279.9 ms against 268.0 and 288.6 ms).
TILED_MAX_FLOPS = 2**18

# error_model="numpy": a float division by zero gives inf/nan as in NumPy instead of
# raising, which also keeps divisions free of branches so that loops vectorise.
_INLINE = {"cache": True, "inline": "always", "error_model": "numpy"}
_SERIAL = {"cache": True, "error_model": "numpy"}
# Small kernels called every training step (copies, products, gradient clipping)
# are inlined into the compiled drivers: a call between separately compiled
# functions costs tens of nanoseconds, which for tiny networks is more than the
# step's arithmetic. Kernels whose loops must vectorise (bias gradient) stay
# separate: inlined, LLVM could no longer prove their buffers distinct and left the
# loops scalar (the 'small' benchmark's step: 9.1 us inlined, 7.0 us separate). So
# do the activation, loss, metric and optimizer kernels, which are inlined into
# callbacks of their own, one per activation, loss, metric or optimizer, and called
# by address (see .activation_callbacks, .scoring and .updates).
_STEP = {"cache": True, "error_model": "numpy", "inline": "always"}


# ----------------------------------------------------------------------------- data


@njit(**_INLINE)
def _copy_row(src, dst):
    for k in range(src.shape[0]):
        dst[k] = src[k]


@njit(**_STEP)
def gather_rows(X, order, start, out):
    """Copy rows ``X[order[start:start + len(out)]]`` into ``out``.

    Parameters
    ----------
    X : ndarray, shape (N, d)
        Source rows.
    order : ndarray of int32 or int64
        Row order of the epoch.
    start : int
        Position in ``order`` of the first row to copy.
    out : ndarray, shape (nb, d)
        Destination, written in place.
    """
    nb, d = out.shape
    for r in range(nb):
        _copy_row(row(X, order[start + r]), row(out, r))


# SplitMix64 (Steele, Lea and Flood, 2014): one 64-bit add and two multiply-xorshift
# rounds per number; any 64-bit seed is a valid state.
_SPLITMIX_STEP = np.uint64(0x9E3779B97F4A7C15)
_SPLITMIX_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_SPLITMIX_MUL2 = np.uint64(0x94D049BB133111EB)


@njit(**_INLINE)
def _splitmix64(state):
    """Advance the SplitMix64 ``state``; return the new state and a 64-bit random number."""
    state = state + _SPLITMIX_STEP
    z = state
    z = (z ^ (z >> np.uint64(30))) * _SPLITMIX_MUL1
    z = (z ^ (z >> np.uint64(27))) * _SPLITMIX_MUL2
    return state, z ^ (z >> np.uint64(31))


@njit(**_STEP)
def shuffle_order(order, seed):
    """Fill ``order`` with the random permutation of ``0..n-1`` that ``seed`` selects.

    A Fisher-Yates shuffle driven by SplitMix64. Seeding is free, unlike
    ``np.random.seed`` (initialising and twisting the Mersenne Twister's 624
    words took about 1.6 us per epoch, which doubled the time of the XOR fit:
    9.1 ms for 3000 epochs against 4.3 ms unshuffled). Position ``j <= i`` is
    drawn by multiplying 32 random bits by ``i + 1``, so each is picked with
    probability ``1 / (i + 1)`` up to a relative error below ``(i + 1) / 2**32``.

    Parameters
    ----------
    order : ndarray of int32 or int64, shape (n,)
        Overwritten with the permutation; ``n`` must be below ``2**32``.
    seed : int
        Any non-negative integer; equal seeds give equal permutations.
    """
    n = order.shape[0]
    for i in range(n):
        order[i] = i
    state = np.uint64(seed)
    for i in range(n - 1, 0, -1):
        state, bits = _splitmix64(state)
        j = np.int64(((bits >> np.uint64(32)) * np.uint64(i + 1)) >> np.uint64(32))
        swapped = order[j]
        order[j] = order[i]
        order[i] = swapped


@njit(**_STEP)
def copy_rows(src, dst, start):
    """``dst[start:start + len(src)] = src``, element by element (no temporary copy).

    Parameters
    ----------
    src : ndarray, shape (nb, m)
    dst : ndarray, shape (N, m)
    start : int
        First row of ``dst`` to write.
    """
    for r in range(src.shape[0]):
        _copy_row(row(src, r), row(dst, start + r))


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _nan_unless_finite(values):
    """Sum of ``values * 0``: NaN if any value is NaN or infinite, else zero.

    Reassociation (and nothing else: no "nnan" or "ninf") lets the sum vectorise;
    a NaN survives any order of additions.
    """
    zero = values[0] - values[0]
    total = zero
    for i in range(values.shape[0]):
        total += values[i] * zero
    return total


@njit(**_SERIAL)
def first_non_finite(values):
    """Index of the first NaN or infinite entry of a 1-D array, or -1 if there is none.

    One vectorised pass decides whether there is one (188 MB of float32: 7.7 ms,
    against 12.6 ms for NumPy's ``isfinite`` in chunks and 17 ms for a loop with an
    early exit); only then does a scalar loop find where.

    Parameters
    ----------
    values : ndarray, shape (n,)
    """
    if values.shape[0] == 0 or _nan_unless_finite(values) == 0:
        return -1
    for i in range(values.shape[0]):
        if not np.isfinite(values[i]):
            return i
    return -1


@njit(**_STEP)
def rows_finite(block):
    """Whether every entry of the 2-D array ``block`` is finite.

    The compiled drivers check each batch of inputs with it as they reach it (see
    ``fastmlp.engine``).

    Parameters
    ----------
    block : ndarray, shape (n, d), C-contiguous
    """
    total = 0.0
    for r in range(block.shape[0]):
        total += _nan_unless_finite(row(block, r))
    return total == 0.0


# ----------------------------------------------------------------------- products


@njit(**_STEP)
def matmul(X, W, out):
    """``out = X @ W``: by BLAS (or the threaded tiles) when large, in register tiles when
    small, by loops when tiny.

    Parameters
    ----------
    X : ndarray, shape (n, k)
    W : ndarray, shape (k, m)
    out : ndarray, shape (n, m)
        Written in place.
    """
    n, k = X.shape
    m = W.shape[1]
    flops = n * k * m
    if flops >= BLAS_MIN_FLOPS:
        small = flops <= TILED_MAX_FLOPS and n > 1 and m > 1
        if (small and tiled_nn(X, W, out)) or threaded_nn(X, W, out) or gemm_nn(X, W, out):
            return
    for r in range(n):
        for j in range(m):
            out[r, j] = 0
        for i in range(k):
            x = X[r, i]
            for j in range(m):
                out[r, j] += x * W[i, j]


@njit(**_STEP)
def matmul_tn(X, D, out):
    """``out = X.T @ D`` (weight gradient): by BLAS (or the threaded tiles) when large, in
    tiles when small, by loops when tiny.

    Parameters
    ----------
    X : ndarray, shape (n, k)
    D : ndarray, shape (n, m)
    out : ndarray, shape (k, m)
        Written in place.
    """
    n, k = X.shape
    m = D.shape[1]
    flops = n * k * m
    if flops >= BLAS_MIN_FLOPS:
        small = flops <= TILED_MAX_FLOPS and k > 1 and m > 1
        if (small and tiled_tn(X, D, out)) or threaded_tn(X, D, out) or gemm_tn(X, D, out):
            return
    for i in range(k):
        for j in range(m):
            out[i, j] = 0
    for r in range(n):
        for i in range(k):
            x = X[r, i]
            for j in range(m):
                out[i, j] += x * D[r, j]


@njit(**_STEP)
def matmul_nt(D, W, out):
    """``out = D @ W.T`` (input gradient), by BLAS (or the threaded tiles) when large, by loops
    when tiny or ``m == 1``.

    Parameters
    ----------
    D : ndarray, shape (n, m)
    W : ndarray, shape (k, m)
    out : ndarray, shape (n, k)
        Written in place.
    """
    n, m = D.shape
    k = W.shape[0]
    if m > 1 and n * k * m >= BLAS_MIN_FLOPS and (threaded_nt(D, W, out) or gemm_nt(D, W, out)):
        return
    if m == 1:
        # One output unit: an outer product, one vector loop per row (32x32: about
        # 80 ns against BLAS's 240).
        for r in range(n):
            d = D[r, 0]
            for i in range(k):
                out[r, i] = d * W[i, 0]
        return
    for r in range(n):
        for i in range(k):
            acc = D[r, 0] * W[i, 0]
            for j in range(1, m):
                acc += D[r, j] * W[i, j]
            out[r, i] = acc


# -------------------------------------------------------------------- activations


@njit(**_INLINE)
def softmax_row(z, a):
    """Softmax of one row ``z`` into ``a`` (max subtracted first, as Keras does)."""
    m = z[0]
    for j in range(1, z.shape[0]):
        m = max(m, z[j])
    for j in range(z.shape[0]):
        a[j] = math.exp(z[j] - m)
    s = a[0]
    for j in range(1, z.shape[0]):
        s += a[j]
    for j in range(z.shape[0]):
        a[j] = a[j] / s


# Each activation's forward and backward loops are inlined kernels of their own.
# The drivers reach them through compiled callbacks, one per activation
# (.activation_callbacks), whose code picks the kernel with the activation code a
# constant: Numba drops the other branches before it inlines anything, so each
# callback compiles one activation's loops alone.


@njit(**_INLINE)
def add_bias(Z, b):
    """``Z += b``, row by row."""
    n, m = Z.shape
    for r in range(n):
        z = row(Z, r)
        for j in range(m):
            z[j] += b[j]


@njit(**_INLINE)
def bias_relu_forward(b, use_bias, A):
    """Relu in place on ``A``, which holds the pre-activations on entry; with
    ``use_bias``, the bias is added first, in the same pass.

    The engine passes one buffer as a relu layer's ``Z`` and ``A``, and relu's
    backward pass reads ``A``. One pass over A alone: reading Z and writing A, the
    same buffer under two names, failed LLVM's run-time overlap check and ran the
    scalar loop (bias + relu on 128x256: 9.5 us that way, 2.7 us this way).
    """
    n, m = A.shape
    for r in range(n):
        a = row(A, r)
        if use_bias:
            for j in range(m):
                v = a[j] + b[j]
                a[j] = v if v > 0 else 0.0
        else:
            for j in range(m):
                v = a[j]
                a[j] = v if v > 0 else 0.0


@njit(**_INLINE)
def sigmoid_forward(Z, A):
    """``A = sigmoid(Z)`` as one vector loop over the whole batch, which also serves a
    single unit (the usual binary classifier) well: 32x1 took 186 ns row by row with
    the C library's exp, 109 ns here."""
    z, a = flat(Z), flat(A)
    for i in range(z.shape[0]):
        a[i] = logistic(z[i])


@njit(**_INLINE)
def softmax_forward(Z, A):
    """``A = softmax(Z)`` row by row."""
    for r in range(Z.shape[0]):
        softmax_row(row(Z, r), row(A, r))


@njit(**_INLINE)
def linear_forward(Z, A):
    """``A = Z``."""
    z, a = flat(Z), flat(A)
    for i in range(z.shape[0]):
        a[i] = z[i]


@njit(**_INLINE)
def elementwise_forward(act, Z, A):
    """``A = act(Z)`` for the activations without a kernel of their own."""
    z, a = flat(Z), flat(A)
    for i in range(z.shape[0]):
        a[i] = activate(act, z[i])


@njit(**_INLINE)
def _activation_backward_from_output_row(a, act, d):
    """dL/dA to dL/dZ in place for relu, sigmoid, tanh and softmax, from the outputs ``a``."""
    if act == SOFTMAX:
        dot = d[0] * a[0]
        for j in range(1, d.shape[0]):
            dot += d[j] * a[j]
        for j in range(d.shape[0]):
            d[j] = a[j] * (d[j] - dot)
    elif act == RELU:
        for j in range(d.shape[0]):
            d[j] = d[j] if a[j] > 0 else 0.0
    elif act == SIGMOID:
        for j in range(d.shape[0]):
            d[j] = d[j] * (a[j] * (1 - a[j]))
    elif act == TANH:
        for j in range(d.shape[0]):
            d[j] = d[j] * (1 - a[j] * a[j])


@njit(**_INLINE)
def backward_from_outputs(A, act, D):
    """Turn ``D`` from dL/dA into dL/dZ in place for relu, sigmoid, tanh or softmax,
    which read the activations ``A`` alone."""
    for r in range(D.shape[0]):
        _activation_backward_from_output_row(row(A, r), act, row(D, r))


@njit(**_INLINE)
def elementwise_backward(act, Z, A, D):
    """dL/dA to dL/dZ in place for the activations without a kernel of their own."""
    z, a, d = flat(Z), flat(A), flat(D)
    for i in range(d.shape[0]):
        d[i] = d[i] * activation_grad(act, z[i], a[i])


@njit(**_INLINE)
def _add_four_rows(D, r, db):
    """``db += D[r] + ... + D[r + 3]``, added in the order of one row at a time.

    Four rows per pass over db: one row per pass waits for the previous pass's
    stores to db (32x32: 104 ns one row at a time, 53 ns four; 128x128: 1.5 us,
    0.6 us).
    """
    d0, d1, d2, d3 = row(D, r), row(D, r + 1), row(D, r + 2), row(D, r + 3)
    for j in range(db.shape[0]):
        db[j] = (((db[j] + d0[j]) + d1[j]) + d2[j]) + d3[j]


@njit(**_INLINE)
def _add_row(d, db):
    """``db += d``."""
    for j in range(db.shape[0]):
        db[j] += d[j]


@njit(**_SERIAL)
def bias_gradient(D, db):
    """``db = D.sum(axis=0)``, each column summed in row order.

    Parameters
    ----------
    D : ndarray, shape (n, m)
    db : ndarray, shape (m,)
        Written in place.
    """
    n, m = D.shape
    for j in range(m):
        db[j] = 0
    if m == 1:
        # One column: a running sum in a register.
        total = db[0]
        for r in range(n):
            total += D[r, 0]
        db[0] = total
        return
    r = 0
    while r + 4 <= n:
        _add_four_rows(D, r, db)
        r += 4
    for r in range(r, n):
        _add_row(row(D, r), db)


@njit(**_SERIAL)
def relu_backward_bias_gradient(A, D, db):
    """Relu's backward pass and the bias gradient in one pass over ``D``.

    ``D`` becomes ``D * (A > 0)``, and ``db`` its column sums, added in the order of
    :func:`bias_gradient`. One pass instead of two: 1024x512 took 69 us against 78 us,
    and the fits of the 'wide' and mnist-shape benchmarks took 1.7 % and 0.7 % less
    (medians of paired runs).

    Parameters
    ----------
    A : ndarray, shape (n, m)
        Relu outputs of the forward pass.
    D : ndarray, shape (n, m)
        dL/dA on entry, dL/dZ on return.
    db : ndarray, shape (m,)
        Written in place.
    """
    n, m = D.shape
    for j in range(m):
        db[j] = 0
    for r in range(0, n, 4):
        # Mask up to four rows, then add them to db while they are still in the L1
        # cache. (One loop over the four rows at once ran scalar: 2.7 ms on 1024x512.)
        # The mask is written out here rather than inlined from
        # _activation_backward_from_output_row, whose every branch Numba would copy
        # before dropping all but relu's.
        end = min(r + 4, n)
        for k in range(r, end):
            a, d = row(A, k), row(D, k)
            for j in range(m):
                d[j] = d[j] if a[j] > 0 else 0.0
        if end - r == 4:
            _add_four_rows(D, r, db)
        else:
            for k in range(r, end):
                _add_row(row(D, k), db)


# ------------------------------------------------------------------------- losses
#
# Each loss's value and gradient are small kernels of their own; loss_value and
# loss_gradient only pick them by the loss code, and are inlined. Where the code is
# a constant of the compiled function (the loss and metric callbacks of .scoring),
# Numba drops the other branches before typing, so only the chosen kernels are
# compiled. Inlined kernels would instead be copied into the caller, all of them,
# before the branches are dropped; Numba's inliner copies the IR block by block,
# each copy taking the function's whole variable scope. The callback of one loss
# took 2.9 s to compile that way; with the kernels called, 0.55 s (mse) to 1.5 s
# (the cross-entropies).


@njit(**_INLINE)
def _crossentropy_index(y, label_mode, j):
    """Target probability of class ``j``: ``y[j]``, or ``1`` if ``j`` is the sparse label."""
    if label_mode:
        return 1.0 if j == int(y[0]) else 0.0
    return y[j]


@njit(**_SERIAL)
def _squared_error_value(a, y):
    """Mean squared error of one row (``a``: outputs, ``y``: targets)."""
    m = a.shape[0]
    total = 0.0
    for j in range(m):
        e = a[j] - y[j]
        total += e * e
    return total / m


@njit(**_SERIAL)
def _absolute_error_value(a, y):
    """Mean absolute error of one row."""
    m = a.shape[0]
    total = 0.0
    for j in range(m):
        total += abs(a[j] - y[j])
    return total / m


@njit(**_SERIAL)
def _huber_value(a, y, delta):
    """Huber loss of one row, quadratic within ``delta`` of the target."""
    m = a.shape[0]
    total = 0.0
    for j in range(m):
        e = abs(a[j] - y[j])
        if e <= delta:
            total += 0.5 * e * e
        else:
            total += delta * e - 0.5 * delta * delta
    return total / m


@njit(**_SERIAL)
def _binary_crossentropy_value(from_logits, a, y, eps, hi):
    """Binary cross-entropy of one row, of logits or of probabilities clipped to
    ``[eps, hi]``."""
    m = a.shape[0]
    total = 0.0
    for j in range(m):
        if from_logits:
            z = a[j]
            total += max(z, 0.0) - z * y[j] + math.log1p(math.exp(-abs(z)))
        else:
            total += _bce_value(a[j], y[j], eps, hi)
    return total / m


@njit(**_SERIAL)
def _crossentropy_value(sparse, from_logits, a, y, eps, hi):
    """Categorical cross-entropy of one row; ``sparse``: ``y`` holds the class index."""
    m = a.shape[0]
    total = 0.0
    if from_logits:
        zmax = a[0]
        for j in range(1, m):
            zmax = max(zmax, a[j])
        s = 0.0
        for j in range(m):
            s += math.exp(a[j] - zmax)
        lse = zmax + math.log(s)
        for j in range(m):
            t = _crossentropy_index(y, sparse, j)
            if t != 0:
                total -= t * (a[j] - lse)
        return total
    s = 0.0
    for j in range(m):
        s += a[j]
    for j in range(m):
        t = _crossentropy_index(y, sparse, j)
        if t != 0:
            total -= t * math.log(min(max(a[j] / s, eps), hi))
    return total


@njit(**_INLINE)
def loss_value(code, from_logits, a, y, lp):
    """Per-sample loss of one row, reduced over the last axis as Keras does.

    Parameters
    ----------
    code : int
        Loss code.
    from_logits : bool
        Whether ``a`` holds logits (cross-entropies only).
    a : ndarray, shape (m,)
        Model output row.
    y : ndarray
        Target row (``(m,)``; ``(1,)`` class index for the sparse loss).
    lp : ndarray
        Loss parameters ``[epsilon, 1 - epsilon, huber delta]``.
    """
    if code == MEAN_SQUARED_ERROR:
        return _squared_error_value(a, y)
    if code == MEAN_ABSOLUTE_ERROR:
        return _absolute_error_value(a, y)
    if code == HUBER:
        return _huber_value(a, y, lp[2])
    if code == BINARY_CROSSENTROPY:
        return _binary_crossentropy_value(from_logits, a, y, lp[0], lp[1])
    # Categorical and sparse categorical cross-entropy.
    return _crossentropy_value(code == SPARSE_CATEGORICAL_CROSSENTROPY, from_logits, a, y,
                               lp[0], lp[1])


@njit(**_INLINE)
def _clip_slope(p, lo, hi):
    """Slope of Keras's clip(p, lo, hi) = minimum(maximum(p, lo), hi): 1 inside, 0 outside,
    and 0.5 exactly at a bound (the two branches share the gradient there)."""
    if p < lo or p > hi:
        return 0.0
    if p == lo or p == hi:
        return 0.5
    return 1.0


# The data's own precision for "1 - p": a float32 constant takes the type of the
# value it meets (float64 data stays float64), so float32 models take float32 logs
# as Keras does.
_ONE = np.float32(1.0)


@njit(**_INLINE)
def _bce_value(p, t, eps, hi):
    """Binary cross-entropy of probability ``p`` (clipped to ``[eps, hi]``) for label ``t``."""
    p = min(max(p, eps), hi)
    # A term whose label weight is exactly 0 is exactly 0 (p is clipped, so its log
    # is finite): hard labels need one log, not two.
    term = 0.0
    if t != 0:
        term = t * math.log(p)
    if t != 1:
        term += (_ONE - t) * math.log(_ONE - p)
    return -term


@njit(**_INLINE)
def _bce_gradient(p, t, eps, hi, fused):
    """dL/dp of :func:`_bce_value`, or dL/dz through a sigmoid when ``fused``."""
    slope = _clip_slope(p, eps, hi)
    if slope == 0.0:
        return 0.0
    if fused:
        return slope * (p - t)
    return slope * (p - t) / (p * (_ONE - p))


@njit(**_SERIAL)
def _squared_error_gradient(a, y, scale, d):
    """``d`` = gradient of ``scale`` times the row's mean squared error."""
    m = a.shape[0]
    for j in range(m):
        d[j] = 2.0 * (a[j] - y[j]) * scale / m


@njit(**_SERIAL)
def _absolute_error_gradient(a, y, scale, d):
    """``d`` = gradient of ``scale`` times the row's mean absolute error (0 at a tie)."""
    m = a.shape[0]
    for j in range(m):
        e = a[j] - y[j]
        d[j] = (1.0 if e > 0 else (-1.0 if e < 0 else 0.0)) * scale / m


@njit(**_SERIAL)
def _huber_gradient(a, y, delta, scale, d):
    """``d`` = gradient of ``scale`` times the row's Huber loss."""
    m = a.shape[0]
    for j in range(m):
        e = a[j] - y[j]
        if abs(e) <= delta:
            d[j] = e * scale / m
        else:
            d[j] = (delta if e > 0 else -delta) * scale / m


@njit(**_SERIAL)
def _binary_crossentropy_gradient(from_logits, fused, a, y, eps, hi, scale, d):
    """``d`` = gradient of ``scale`` times the row's binary cross-entropy: dL/dZ for
    logits or when ``fused`` (through a sigmoid), dL/dA otherwise."""
    m = a.shape[0]
    for j in range(m):
        p = a[j]
        if from_logits:
            d[j] = (sigmoid(p) - y[j]) * scale / m
            continue
        d[j] = _bce_gradient(p, y[j], eps, hi, fused) * scale / m


@njit(**_SERIAL)
def _crossentropy_gradient(sparse, from_logits, fused, a, y, eps, hi, scale, d):
    """``d`` = gradient of ``scale`` times the row's categorical cross-entropy: dL/dZ
    for logits or when ``fused`` (through a softmax), dL/dA otherwise; ``sparse``:
    ``y`` holds the class index."""
    m = a.shape[0]
    if from_logits:
        softmax_row(a, d)
        y_sum = 0.0
        for j in range(m):
            y_sum += _crossentropy_index(y, sparse, j)
        for j in range(m):
            d[j] = (d[j] * y_sum - _crossentropy_index(y, sparse, j)) * scale
        return
    # Probabilities: p is renormalised by its sum s and clipped to [eps, 1 - eps].
    s = 0.0
    for j in range(m):
        s += a[j]
    c = 0.0
    for j in range(m):
        c += _clip_slope(a[j] / s, eps, hi) * _crossentropy_index(y, sparse, j)
    c = c / s
    for j in range(m):
        t = _clip_slope(a[j] / s, eps, hi) * _crossentropy_index(y, sparse, j)
        if fused:
            d[j] = (a[j] * c - t) * scale
        elif t != 0:
            d[j] = (c - t / a[j]) * scale
        else:
            d[j] = c * scale


@njit(**_INLINE)
def loss_gradient(code, from_logits, fused, a, y, lp, scale, d):
    """Gradient of ``scale * loss_value`` for one row.

    With ``fused`` (sigmoid + binary cross-entropy, or softmax + categorical
    cross-entropy, on probabilities) ``d`` receives dL/dZ of the output layer;
    otherwise it receives dL/dA. The closed forms include Keras's clipping: an
    entry whose probability was clipped passes no gradient.

    Parameters
    ----------
    code, from_logits, a, y, lp
        As in :func:`loss_value`.
    fused : bool
        Whether to return dL/dZ through the matching output activation.
    scale : float
        Sample weight divided by the batch size.
    d : ndarray, shape (m,)
        Written in place.
    """
    if code == MEAN_SQUARED_ERROR:
        _squared_error_gradient(a, y, scale, d)
    elif code == MEAN_ABSOLUTE_ERROR:
        _absolute_error_gradient(a, y, scale, d)
    elif code == HUBER:
        _huber_gradient(a, y, lp[2], scale, d)
    elif code == BINARY_CROSSENTROPY:
        _binary_crossentropy_gradient(from_logits, fused, a, y, lp[0], lp[1], scale, d)
    else:
        _crossentropy_gradient(code == SPARSE_CATEGORICAL_CROSSENTROPY, from_logits, fused, a,
                               y, lp[0], lp[1], scale, d)


@njit(**_INLINE)
def loss_rows(code, from_logits, fused, A, Y, SW, lp, D, row_loss):
    """Per-row losses and output gradients of one batch.

    Inlined into each loss's compiled callback (see :mod:`.scoring`), with ``code``
    a constant there.

    Parameters
    ----------
    code, from_logits, fused
        As in :func:`loss_gradient`.
    A : ndarray, shape (nb, m)
        Model outputs of the batch.
    Y : ndarray, shape (nb, m) or (nb, 1)
        The batch's targets.
    SW : ndarray, shape (nb,) or (0,)
        The batch's sample weights; empty for a weight of 1 on every row.
    lp : ndarray
        Loss parameters, see :func:`loss_value`.
    D : ndarray, shape (nb, m)
        Output gradient, written in place (scaled by weight / nb).
    row_loss : ndarray, shape (nb,)
        Weighted per-row loss, written in place.
    """
    nb, m = A.shape
    weighted = SW.shape[0] > 0
    unit = row_loss.dtype.type(1)
    if code == BINARY_CROSSENTROPY and not from_logits and m == 1:
        # One sigmoid unit, the usual binary classifier: the same arithmetic as the
        # general loop without its per-row dispatch and length-1 loops (32 rows:
        # 540 ns before, 230 ns).
        eps, hi = lp[0], lp[1]
        for r in range(nb):
            w = SW[r] if weighted else unit
            p, t = A[r, 0], Y[r, 0]
            row_loss[r] = w * _bce_value(p, t, eps, hi)
            D[r, 0] = _bce_gradient(p, t, eps, hi, fused) * (w / nb)
        return
    for r in range(nb):
        a, y, w = row(A, r), row(Y, r), SW[r] if weighted else unit
        row_loss[r] = w * loss_value(code, from_logits, a, y, lp)
        loss_gradient(code, from_logits, fused, a, y, lp, w / nb, row(D, r))


# ------------------------------------------------------------------------ metrics


@njit(**_INLINE)
def _argmax(v):
    best = 0
    for j in range(1, v.shape[0]):
        if v[j] > v[best]:
            best = j
    return best


@njit(**_INLINE)
def _in_top_k(p, target, k):
    """Whether ``p[target]`` is among the ``k`` largest (ties count as in, like Keras)."""
    above = 0
    for j in range(p.shape[0]):
        if p[j] > p[target]:
            above += 1
    return above < k


@njit(**_INLINE)
def accuracy_value(kind, k, threshold, a, y):
    """Per-sample value of one built-in accuracy metric on one row.

    Parameters
    ----------
    kind : int
        Metric kind code (any but ``LOSS_VALUE``).
    k : int
        ``k`` of the top-k metrics.
    threshold : float
        Threshold of binary accuracy.
    a, y
        As in :func:`loss_value`.
    """
    m = a.shape[0]
    if kind == BINARY_ACCURACY:
        hits = 0
        for j in range(m):
            predicted = 1.0 if a[j] > threshold else 0.0
            if predicted == y[j]:
                hits += 1
        return hits / m
    if kind == CATEGORICAL_ACCURACY:
        return 1.0 if _argmax(a) == _argmax(y) else 0.0
    if kind == SPARSE_CATEGORICAL_ACCURACY:
        return 1.0 if _argmax(a) == y[0] else 0.0
    if kind == TOP_K_CATEGORICAL_ACCURACY:
        return 1.0 if _in_top_k(a, _argmax(y), k) else 0.0
    # SPARSE_TOP_K_CATEGORICAL_ACCURACY
    return 1.0 if _in_top_k(a, int(y[0]), k) else 0.0


@njit(**_INLINE)
def metric_total(kind, iparam, fparam, A, Y, lp):
    """Sum over one batch of one metric's per-sample values.

    Inlined into each metric's compiled callback (see :mod:`.scoring`), with
    ``kind`` a constant there (and ``iparam`` too for ``LOSS_VALUE``).

    Parameters
    ----------
    kind : int
        Metric kind code.
    iparam : int
        ``k`` for the top-k metrics; the loss code for ``LOSS_VALUE``.
    fparam : float
        The threshold of binary accuracy; 1.0 means logits for ``LOSS_VALUE``.
    A : ndarray, shape (nb, m)
        Model outputs of the batch.
    Y : ndarray, shape (nb, m) or (nb, 1)
        The batch's targets.
    lp : ndarray
        Loss parameters, see :func:`loss_value`.

    Returns
    -------
    float
    """
    # Losses go straight to loss_value rather than through accuracy_value: each
    # level of inlining copies the inlined code's IR, and a loss nested two levels
    # deep cost about a second more of the first compile.
    total = 0.0
    for r in range(A.shape[0]):
        a, y = row(A, r), row(Y, r)
        if kind == LOSS_VALUE:
            total += loss_value(iparam, fparam == 1.0, a, y, lp)
        else:
            total += accuracy_value(kind, iparam, fparam, a, y)
    return total


# --------------------------------------------------------------------- optimizers


@njit(**_STEP)
def clip_gradients(grads, var_offsets, var_sizes, clip):
    """Clip gradients in place the way Keras does before an update.

    Parameters
    ----------
    grads : ndarray
        Flat gradient buffer.
    var_offsets, var_sizes : ndarray of int64
        Where each variable (kernel, bias) lies in ``grads``.
    clip : ndarray, shape (3,)
        ``[clipnorm, clipvalue, global_clipnorm]``; a value <= 0 is off.
    """
    clipnorm = clip[0]
    clipvalue = clip[1]
    global_clipnorm = clip[2]
    if clipnorm > 0:
        for v in range(var_offsets.shape[0]):
            g = grads[var_offsets[v]:var_offsets[v] + var_sizes[v]]
            total = 0.0
            for i in range(g.shape[0]):
                total += g[i] * g[i]
            norm = math.sqrt(total)
            if norm > clipnorm:
                for i in range(g.shape[0]):
                    g[i] = g[i] * clipnorm / norm
    if global_clipnorm > 0:
        total = 0.0
        for i in range(grads.shape[0]):
            total += grads[i] * grads[i]
        norm = math.sqrt(total)
        if norm > global_clipnorm:
            for i in range(grads.shape[0]):
                grads[i] = grads[i] * global_clipnorm / norm
    if clipvalue > 0:
        for i in range(grads.shape[0]):
            grads[i] = min(max(grads[i], -clipvalue), clipvalue)


@njit(**_INLINE)
def sgd_update(params, grads, momentum_slot, h):
    """Keras SGD step over the flat buffer.

    Parameters
    ----------
    params, grads, momentum_slot : ndarray
        Flat buffers; ``momentum_slot`` is used when momentum > 0.
    h : ndarray
        ``[learning_rate, momentum, nesterov]`` in the parameters' dtype.
    """
    lr, mu = h[0], h[1]
    if mu == 0:
        for i in range(params.shape[0]):
            params[i] -= lr * grads[i]
    elif h[2] != 0:
        for i in range(params.shape[0]):
            m = mu * momentum_slot[i] - lr * grads[i]
            momentum_slot[i] = m
            params[i] += mu * m - lr * grads[i]
    else:
        for i in range(params.shape[0]):
            m = mu * momentum_slot[i] - lr * grads[i]
            momentum_slot[i] = m
            params[i] += m


# RMSprop and Adagrad here divide by the exactly rounded square root, as Keras does.
# The general path compiles the same loops with the reciprocal square-root estimate
# (see .updates).
@njit(**_INLINE)
def rmsprop_update(params, grads, velocity, average_grad, momentum_slot, h):
    """Keras RMSprop step (epsilon inside the square root).

    Parameters
    ----------
    params, grads, velocity, average_grad, momentum_slot : ndarray
        Flat buffers; ``average_grad`` is used when centered, ``momentum_slot``
        when momentum > 0.
    h : ndarray
        ``[learning_rate, rho, 1 - rho, momentum, epsilon, centered]``.
    """
    lr, rho, one_minus_rho, mu, eps = h[0], h[1], h[2], h[3], h[4]
    if h[5] != 0:
        for i in range(params.shape[0]):
            g = grads[i]
            v = rho * velocity[i] + one_minus_rho * (g * g)
            velocity[i] = v
            avg = rho * average_grad[i] + one_minus_rho * g
            average_grad[i] = avg
            increment = lr * g / np.sqrt(v - avg * avg + eps)
            if mu > 0:
                increment = mu * momentum_slot[i] + increment
                momentum_slot[i] = increment
            params[i] -= increment
    elif mu > 0:
        for i in range(params.shape[0]):
            g = grads[i]
            v = rho * velocity[i] + one_minus_rho * (g * g)
            velocity[i] = v
            increment = mu * momentum_slot[i] + lr * g / np.sqrt(v + eps)
            momentum_slot[i] = increment
            params[i] -= increment
    else:
        for i in range(params.shape[0]):
            g = grads[i]
            v = rho * velocity[i] + one_minus_rho * (g * g)
            velocity[i] = v
            params[i] -= lr * g / np.sqrt(v + eps)


@njit(**_INLINE)
def adagrad_update(params, grads, accumulator, h):
    """Keras Adagrad step (epsilon inside the square root).

    Parameters
    ----------
    params, grads, accumulator : ndarray
        Flat buffers.
    h : ndarray
        ``[learning_rate, epsilon]``.
    """
    lr, eps = h[0], h[1]
    for i in range(params.shape[0]):
        g = grads[i]
        acc = accumulator[i] + g * g
        accumulator[i] = acc
        params[i] -= lr * g / np.sqrt(acc + eps)


@njit(**_INLINE)
def adam_update(params, grads, m_slot, v_slot, vhat_slot, h):
    """Keras Adam step in the epsilon-hat form.

    Parameters
    ----------
    params, grads, m_slot, v_slot, vhat_slot : ndarray
        Flat buffers; ``vhat_slot`` is used with amsgrad.
    h : ndarray
        ``[learning_rate, 1 - beta_1, 1 - beta_2, epsilon, amsgrad, beta_1, beta_2,
        alpha]`` where the caller sets ``alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``
        for step ``t`` (1-based) before each call.
    """
    one_minus_b1, one_minus_b2, eps, alpha = h[1], h[2], h[3], h[7]
    amsgrad = h[4] != 0
    for i in range(params.shape[0]):
        g = grads[i]
        m = m_slot[i] + (g - m_slot[i]) * one_minus_b1
        v = v_slot[i] + (g * g - v_slot[i]) * one_minus_b2
        m_slot[i] = m
        v_slot[i] = v
        if amsgrad:
            v = max(vhat_slot[i], v)
            vhat_slot[i] = v
        params[i] -= alpha * m / (np.sqrt(v) + eps)


@njit(**_INLINE)
def set_adam_alpha(h, step):
    """Set ``h[7]``, :func:`adam_update`'s ``alpha``, for the update after ``step``
    updates (``h`` as :func:`adam_update` reads it)."""
    t = step + 1.0
    h[7] = h[0] * math.sqrt(1.0 - h[6] ** t) / (1.0 - h[5] ** t)


# ------------------------------------------------------------ whole-array helpers


@njit(**_SERIAL)
def loss_values(code, from_logits, A, Y, lp, out):
    """Per-sample loss values of every row (user-facing calls and tests).

    Parameters
    ----------
    code, from_logits, lp
        As in :func:`loss_value`.
    A : ndarray, shape (n, m)
        Predictions.
    Y : ndarray, shape (n, m) or (n, 1)
        Targets.
    out : ndarray, shape (n,)
        Written in place.
    """
    for r in range(A.shape[0]):
        out[r] = loss_value(code, from_logits, A[r], Y[r], lp)


# ------------------------------------------------------------------- tiny layers

#: Activations the one-pass tiny-layer kernels handle; a model with any other
#: trains through the general kernels (keeping these kernels free of calls keeps
#: them fast: a call left in, even one never taken, cost XOR 25 ns per step).
TINY_ACTIVATIONS = (LINEAR, RELU, SIGMOID, TANH, SOFTMAX)


@njit(**_INLINE)
def dense_forward_small(X, W, b, use_bias, act, Z, A):
    """``Z = X @ W + b`` and ``A = act(Z)`` in one pass over each row (tiny layers).

    For layers of a few units, separate product, bias and activation passes cost
    more in loop overhead than in arithmetic: XOR took 240 ns per step with this
    kernel and its backward twin against 310 without. Sums run in :func:`matmul`'s
    order, bias last, so the results are those of the separate passes. ``A`` may
    be ``Z`` itself.

    Parameters
    ----------
    X : ndarray, shape (n, k)
    W : ndarray, shape (k, m)
    b : ndarray, shape (m,)
        Bias (ignored unless ``use_bias``).
    use_bias : bool
    act : int
        Activation code, one of :data:`TINY_ACTIVATIONS`.
    Z, A : ndarray, shape (n, m)
        Pre-activations and activations, written in place.
    """
    n, k = X.shape
    m = W.shape[1]
    for r in range(n):
        x = row(X, r)
        z = row(Z, r)
        a = row(A, r)
        for j in range(m):
            total = x[0] * W[0, j]
            for i in range(1, k):
                total += x[i] * W[i, j]
            if use_bias:
                total += b[j]
            z[j] = total
            if act != SOFTMAX:
                a[j] = activate_common(act, total)
        if act == SOFTMAX:
            softmax_row(z, a)


@njit(**_INLINE)
def dense_backward_small(X, W, A, act, skip_activation, D, dW, db, use_bias, D_in, want_d_in):
    """Back-propagate one tiny dense layer in one pass over each row.

    Turns ``D`` from dL/dA into dL/dZ (unless ``skip_activation``: the loss
    gradient is already dL/dZ), then ``dW = X.T @ D``, ``db = D.sum(0)`` and, if
    ``want_d_in``, ``D_in = D @ W.T``. Sums run in the order of
    :func:`matmul_tn`, :func:`bias_gradient` and :func:`matmul_nt`, so the
    results are those of the separate passes.

    Parameters
    ----------
    X : ndarray, shape (n, k)
        The layer's input.
    W : ndarray, shape (k, m)
    A : ndarray, shape (n, m)
        Activations of the forward pass.
    act : int
        Activation code, one of :data:`TINY_ACTIVATIONS`.
    skip_activation : bool
    D : ndarray, shape (n, m)
        dL/dA on entry, dL/dZ on return.
    dW : ndarray, shape (k, m)
    db : ndarray, shape (m,)
        Written in place (``db`` only if ``use_bias``).
    use_bias : bool
    D_in : ndarray, shape (n, k)
        dL/dX, written if ``want_d_in``.
    want_d_in : bool
    """
    n, k = X.shape
    m = W.shape[1]
    for i in range(k):
        for j in range(m):
            dW[i, j] = 0
    if use_bias:
        for j in range(m):
            db[j] = 0
    for r in range(n):
        d = row(D, r)
        if not skip_activation:
            _activation_backward_from_output_row(row(A, r), act, d)
        x = row(X, r)
        for i in range(k):
            xi = x[i]
            for j in range(m):
                dW[i, j] += xi * d[j]
        if use_bias:
            for j in range(m):
                db[j] += d[j]
        if want_d_in:
            d_in = row(D_in, r)
            for i in range(k):
                total = d[0] * W[i, 0]
                for j in range(1, m):
                    total += d[j] * W[i, j]
                d_in[i] = total
