"""Compiled drivers: whole epochs of training, evaluation and prediction in one call.

Python hands a driver arrays and integers only (the layout table, flat buffers,
workspaces, codes) and gets back sums; no Python runs per batch. The drivers are
serial loops over batches and layers; the kernels they call pick threads or not by
size. :class:`Engine` owns the workspaces of one model.

The drivers also check that the inputs are finite, a batch at a time as they reach
it, and stop at the first batch that is not: the batch is then in cache for the
products, where a pass over the whole input beforehand reads it from memory once
more. That pass took 7.7 ms of mnist-shape's epoch (188 MB); the check per batch
costs no time beyond the noise (the median of 15 fits: 416 ms unchecked, 413 ms
checked per batch, 424 ms checked beforehand).
"""

import numpy as np
from numba import njit

from .kernels.cpu import (
    BLAS_MIN_FLOPS, TILED_MAX_FLOPS, TINY_ACTIVATIONS, adagrad_update, adam_update, bias_gradient,
    clip_gradients, copy_rows, dense_backward_small, dense_forward_small, gather_rows, matmul,
    matmul_nt, matmul_tn, relu_backward_bias_gradient, rmsprop_update, rows_finite,
    set_adam_alpha, sgd_update, shuffle_order,
)
from .kernels.activation_callbacks import BACKWARD, FORWARD
from .kernels.activation_callbacks import addresses as activation_addresses
from .kernels.activation_callbacks import call_backward, call_forward
from .kernels.addressed import call_jitted, jitted_address
from .kernels.blas import prepare as prepare_blas
from .kernels.scalar import RELU
from .kernels.scoring import addresses as scoring_addresses
from .kernels.scoring import call_loss, call_metric
from .kernels.threaded import prepare as prepare_threaded
from .kernels.tiles import prepare as prepare_tiles
from .kernels.updates import ADAGRAD, ADAM, RMSPROP, SGD, call_update
from .kernels.updates import address as update_address
from .kernels.views import borrowed, row, row_block, view1d, view2d
from .params import ACT, B_OFFSET, DENSE, KIND, N_IN, N_OUT, W_OFFSET

#: Number of slot buffers each optimizer code uses.
SLOT_ROWS = {SGD: 1, RMSPROP: 3, ADAGRAD: 1, ADAM: 3}

# Loss settings packed as [code, from_logits, fused].
LOSS_CODE, LOSS_LOGITS, LOSS_FUSED = range(3)

#: When every layer is at most this wide and uses one of the activations in
#: ``kernels.cpu.TINY_ACTIVATIONS``, training takes the tiny path: each dense layer
#: runs forward and backward in one pass per row (``dense_forward_small``,
#: ``dense_backward_small``) and the optimizer update is inlined into the step.
#: For XOR-sized models separate passes and calls cost more than the arithmetic:
#: XOR took 240 ns per step this way against 350-430 ns with the general kernels.
#: Each path has its own compiled drivers (:func:`_training_driver`; the tiny path
#: one per optimizer), so neither adds to the other's first compile. Inlining the
#: generic activation and loss kernels as well was measured and dropped: 10-30 ns
#: less per step, but the first compile went from 19 s to 32-41 s.
TINY_UNITS = 8

#: ``predict`` and ``evaluate`` without a batch size run up to this many rows per
#: step (Keras runs 32): BLAS is more efficient on taller products. 10,000 rows
#: through the mnist-shape network took 41 ms at 32 rows, 30.5 at 128, 28.1 at 256
#: and 26.5 at 1024, with bitwise-equal outputs.
INFERENCE_ROWS = 1024
#: ... and no more rows than keep the workspaces within this many bytes.
INFERENCE_WORKSPACE_BYTES = 16 * 2**20

_JIT = {"cache": True, "error_model": "numpy"}
_INLINE = {"cache": True, "error_model": "numpy", "inline": "always"}


def _batch_passes(tiny):
    """The forward and backward pass of one batch, for one training path.

    Parameters
    ----------
    tiny : bool
        The tiny path (see :data:`TINY_UNITS`) or the general one.

    Returns
    -------
    forward, backward : numba dispatchers (``inline="always"``)
        With ``tiny`` a constant of their code.

    Notes
    -----
    Numba inlines these into a driver by running each one's own front end, which
    inlines their callees in turn. With ``tiny`` an argument, both paths' kernels
    went through that front end before the driver's constant pruned one of them.
    As a constant here, it prunes them first. On a cold cache, the general driver's
    inlining pass took 0.9 s instead of 2.3 s. Three cold processes of each version,
    alternating: the first fit of a 2-2-1 sigmoid model took 15.9-16.9 s instead of
    18.4-19.3 s, and of a 20-32-1 relu model with validation 17.6-18.7 s instead of
    19.3-20.2 s (its first ``evaluate`` and ``predict`` 1.2-1.4 s instead of 1.7-2.2 s).
    """

    @njit(**_INLINE)
    def forward(layers, act_fns, params, x0, a_ws, z_ws, a_off, z_off, nb):
        """Run every layer on the batch ``x0`` (``nb`` rows); ``act_fns`` holds each
        layer's activation callbacks (see :func:`.kernels.activation_callbacks.addresses`)."""
        for l in range(layers.shape[0]):
            n_in = layers[l, N_IN]
            n_out = layers[l, N_OUT]
            x = x0 if l == 0 else view2d(a_ws, a_off[l], nb, n_in)
            a = view2d(a_ws, a_off[l + 1], nb, n_out)
            # Relu runs in place on A, which saves a pass over memory: its backward
            # pass reads A, not Z.
            z = a if layers[l, ACT] == RELU else view2d(z_ws, z_off[l], nb, n_out)
            b_at = layers[l, B_OFFSET]
            bias = view1d(params, max(b_at, 0), n_out)
            if layers[l, KIND] != DENSE:
                copy_rows(x, z, 0)
            elif tiny:
                dense_forward_small(x, view2d(params, layers[l, W_OFFSET], n_in, n_out), bias,
                                    b_at >= 0, layers[l, ACT], z, a)
                continue
            else:
                matmul(x, view2d(params, layers[l, W_OFFSET], n_in, n_out), z)
            call_forward(act_fns[l, FORWARD], z, bias, b_at >= 0, a)
        last = layers.shape[0] - 1
        n_out = layers[last, N_OUT]
        return view2d(a_ws, a_off[last + 1], nb, n_out)

    @njit(**_INLINE)
    def backward(layers, act_fns, params, grads, x0, a_ws, z_ws, d_ws, a_off, z_off, nb, fused):
        """Back-propagate the output gradient at ``d_ws[z_off[-1]:]`` into ``grads``."""
        last = layers.shape[0] - 1
        for l in range(last, -1, -1):
            n_in = layers[l, N_IN]
            n_out = layers[l, N_OUT]
            x = x0 if l == 0 else view2d(a_ws, a_off[l], nb, n_in)
            z = view2d(z_ws, z_off[l], nb, n_out)
            a = view2d(a_ws, a_off[l + 1], nb, n_out)
            d = view2d(d_ws, z_off[l], nb, n_out)
            d_in = view2d(d_ws, z_off[l - 1], nb, n_in) if l > 0 else d
            w_at = layers[l, W_OFFSET]
            b_at = layers[l, B_OFFSET]
            if layers[l, KIND] != DENSE:
                if not (l == last and fused):
                    call_backward(act_fns[l, BACKWARD], z, a, d)
                if l > 0:
                    copy_rows(d, d_in, 0)
            elif tiny:
                dense_backward_small(x, view2d(params, w_at, n_in, n_out), a, layers[l, ACT],
                                     l == last and fused, d, view2d(grads, w_at, n_in, n_out),
                                     view1d(grads, max(b_at, 0), n_out), b_at >= 0, d_in, l > 0)
            else:
                # A relu layer with a bias takes both in one pass over d.
                relu_with_bias = layers[l, ACT] == RELU and b_at >= 0
                if relu_with_bias:
                    relu_backward_bias_gradient(a, d, view1d(grads, b_at, n_out))
                elif not (l == last and fused):
                    call_backward(act_fns[l, BACKWARD], z, a, d)
                matmul_tn(x, d, view2d(grads, w_at, n_in, n_out))
                if b_at >= 0 and not relu_with_bias:
                    bias_gradient(d, view1d(grads, b_at, n_out))
                if l > 0:
                    matmul_nt(d, view2d(params, w_at, n_in, n_out), d_in)

    return forward, backward


_forward, _backward = _batch_passes(tiny=False)
_forward_tiny, _backward_tiny = _batch_passes(tiny=True)


@njit(**_INLINE)
def _score_batch(out, Y, SW, loss, lp, metrics_i, metrics_f, score_fns, d_out, row_loss, sums):
    """Add one batch's weighted loss, metric values and row count to ``sums``.

    ``Y`` and ``SW`` hold the batch's targets and weights (``SW`` empty for weights
    of 1); ``score_fns`` the loss's and metrics' callbacks (see
    :func:`.kernels.scoring.addresses`). The loss gradient with respect to the
    output layer goes to ``d_out``.
    """
    nb = out.shape[0]
    call_loss(score_fns[0], out, Y, SW, lp, d_out, view1d(row_loss, 0, nb), loss[LOSS_LOGITS],
              loss[LOSS_FUSED])
    batch_loss = 0.0
    for r in range(nb):
        batch_loss += row_loss[r]
    sums[0] += batch_loss
    for i in range(metrics_i.shape[0]):
        sums[1 + i] += call_metric(score_fns[1 + i], out, Y, lp, metrics_i[i, 1], metrics_f[i])
    sums[sums.shape[0] - 1] += nb


@njit(**_INLINE)
def _weights_block(SW, start, nb):
    """The sample weights of rows ``start:start + nb``; empty when ``SW`` is."""
    n = nb if SW.shape[0] > 0 else 0
    return view1d(SW, start if n > 0 else 0, n)


@njit(**_INLINE)
def _gather_weights(SW, order, start, nb, sw_ws):
    """The sample weights of the rows ``order[start:start + nb]``, gathered at the start
    of ``sw_ws``; empty when ``SW`` is."""
    n = nb if SW.shape[0] > 0 else 0
    for r in range(n):
        sw_ws[r] = SW[order[start + r]]
    return view1d(sw_ws, 0, n)


@njit(**_JIT)
def evaluate_kernel(X, Y, SW, batch_size, layers, act_fns, params, a_ws, z_ws, d_ws, a_off,
                    z_off, loss, lp, metrics_i, metrics_f, score_fns, sums, row_loss, preds,
                    check_rows):
    """Loss and metric sums over ``X`` in order; each batch's outputs go to ``preds``.

    ``act_fns`` and ``score_fns`` hold the addresses of the activation callbacks
    (see :func:`.kernels.activation_callbacks.addresses`) and of the loss's and
    metrics' (see :func:`.kernels.scoring.addresses`). With ``check_rows``, returns
    False as soon as a batch of ``X`` holds NaN or infinity, and True otherwise.
    """
    X, Y, SW, layers = borrowed(X), borrowed(Y), borrowed(SW), borrowed(layers)
    act_fns = borrowed(act_fns)
    params, a_ws, z_ws, d_ws = borrowed(params), borrowed(a_ws), borrowed(z_ws), borrowed(d_ws)
    a_off, z_off, loss, lp = borrowed(a_off), borrowed(z_off), borrowed(loss), borrowed(lp)
    metrics_i, metrics_f, score_fns = borrowed(metrics_i), borrowed(metrics_f), borrowed(score_fns)
    sums, row_loss, preds = borrowed(sums), borrowed(row_loss), borrowed(preds)
    n = X.shape[0]
    last = layers.shape[0] - 1
    for start in range(0, n, batch_size):
        nb = min(batch_size, n - start)
        x0 = row_block(X, start, nb)
        if check_rows and not rows_finite(x0):
            return False
        out = _forward(layers, act_fns, params, x0, a_ws, z_ws, a_off, z_off, nb)
        if preds.shape[0] > 0:
            copy_rows(out, preds, start)
        _score_batch(out, row_block(Y, start, nb), _weights_block(SW, start, nb), loss, lp,
                     metrics_i, metrics_f, score_fns,
                     view2d(d_ws, z_off[last], nb, out.shape[1]), row_loss, sums)
    return True


@njit(**_JIT)
def predict_kernel(X, batch_size, layers, act_fns, params, a_ws, z_ws, a_off, z_off, out):
    """Model outputs for every row of ``X`` into ``out``, ``batch_size`` rows at a time.

    ``act_fns`` holds the activation callbacks (see
    :func:`.kernels.activation_callbacks.addresses`). Returns False as soon as a batch
    of ``X`` holds NaN or infinity, True otherwise.
    """
    X, layers, params, out = borrowed(X), borrowed(layers), borrowed(params), borrowed(out)
    act_fns = borrowed(act_fns)
    a_ws, z_ws, a_off, z_off = borrowed(a_ws), borrowed(z_ws), borrowed(a_off), borrowed(z_off)
    n = X.shape[0]
    for start in range(0, n, batch_size):
        nb = min(batch_size, n - start)
        x0 = row_block(X, start, nb)
        if not rows_finite(x0):
            return False
        batch_out = _forward(layers, act_fns, params, x0, a_ws, z_ws, a_off, z_off, nb)
        copy_rows(batch_out, out, start)
    return True


def _training_driver(tiny, opt=None):
    """The compiled training loop for the tiny path (``tiny``) or the general one.

    ``tiny`` is a constant of the compiled code (see :data:`TINY_UNITS`): Numba
    drops the other path's branches before compiling, so a model compiles only the
    kernels of its own path. With both paths in one driver, the driver's compile
    (Numba's compile events, cold cache) took 22.8 s for a 2-2-1 sigmoid model and
    22.7 s for a 20-64-1 relu model; with one path each, 17.4 s and 19.8 s.

    The tiny path inlines the update of optimizer code ``opt``, also a constant, so
    it has a driver per optimizer; the general path calls the update callback it is
    given (see :mod:`.kernels.updates`). With every optimizer's update in the
    drivers, the first fit of a 2-2-1 sigmoid model with SGD took 9.1-9.4 s and of
    a 20-32-1 relu model with validation 12.3-12.9 s; this way 7.9-8.2 s and
    10.5-11.0 s (two cold processes of each, alternating). Numba's disk cache keeps
    the drivers apart: it keys a closure's entries by the values the closure
    captures.
    """

    @njit(**_JIT)
    def fit_epochs_kernel(X, Y, SW, order, seeds, batch_size, n_epochs, layers, act_fns, params,
                          grads, slots, update_fn, h, clip, var_offsets, var_sizes, step, a_ws,
                          z_ws, d_ws, a_off, z_off, y_ws, sw_ws, loss, lp, metrics_i, metrics_f,
                          score_fns, sums, row_loss, preds, Xv, Yv, SWv, val_batch_size, val_sums,
                          val_preds, evaluate_fn, check_rows):
        """Train ``n_epochs`` epochs; return the optimizer step count and whether the
        inputs were finite.

        See :meth:`Engine.fit_epochs` for the arguments; ``update_fn`` is the address
        of the general path's update callback (see :func:`.kernels.updates.address`),
        which the tiny path ignores, and ``evaluate_fn`` that of :func:`evaluate_kernel`
        for the validation pass (see :func:`.kernels.addressed.jitted_address`), 0
        without validation data. With ``check_rows``, the first epoch stops at the
        first batch of ``X`` or ``Xv`` that holds NaN or infinity, and returns False.
        """
        # Every buffer the batch loop hands to the inlined helpers is borrowed (see
        # kernels.views): XOR's fit took 2.9-3.0 ms with their reference counting and
        # 2.0-2.7 ms without, over five processes each.
        X, Y, SW, order = borrowed(X), borrowed(Y), borrowed(SW), borrowed(order)
        layers, act_fns = borrowed(layers), borrowed(act_fns)
        params, grads = borrowed(params), borrowed(grads)
        slots, h, clip = borrowed(slots), borrowed(h), borrowed(clip)
        var_offsets, var_sizes = borrowed(var_offsets), borrowed(var_sizes)
        a_ws, z_ws, d_ws = borrowed(a_ws), borrowed(z_ws), borrowed(d_ws)
        a_off, z_off, loss, lp = borrowed(a_off), borrowed(z_off), borrowed(loss), borrowed(lp)
        y_ws, sw_ws = borrowed(y_ws), borrowed(sw_ws)
        metrics_i, metrics_f = borrowed(metrics_i), borrowed(metrics_f)
        score_fns = borrowed(score_fns)
        sums, row_loss, preds = borrowed(sums), borrowed(row_loss), borrowed(preds)
        n, d = X.shape
        k = Y.shape[1]
        last = layers.shape[0] - 1
        for e in range(n_epochs):
            if seeds[e] >= 0:
                shuffle_order(order, seeds[e])
            # Batches of rows in order (an empty order, or one that shuffling left as
            # it was) are read from X, Y and SW where they lie; shuffled ones are
            # gathered into the first workspace block, y_ws and sw_ws.
            in_order = True
            for i in range(order.shape[0]):
                if order[i] != i:
                    in_order = False
                    break
            for start in range(0, n, batch_size):
                nb = min(batch_size, n - start)
                if in_order:
                    x0 = row_block(X, start, nb)
                    y0 = row_block(Y, start, nb)
                    sw0 = _weights_block(SW, start, nb)
                else:
                    x0 = view2d(a_ws, a_off[0], nb, d)
                    gather_rows(X, order, start, x0)
                    y0 = view2d(y_ws, 0, nb, k)
                    gather_rows(Y, order, start, y0)
                    sw0 = _gather_weights(SW, order, start, nb, sw_ws)
                if check_rows and e == 0 and not rows_finite(x0):
                    return step, False
                if tiny:
                    out = _forward_tiny(layers, act_fns, params, x0, a_ws, z_ws, a_off, z_off, nb)
                else:
                    out = _forward(layers, act_fns, params, x0, a_ws, z_ws, a_off, z_off, nb)
                _score_batch(out, y0, sw0, loss, lp, metrics_i, metrics_f, score_fns,
                             view2d(d_ws, z_off[last], nb, out.shape[1]), row_loss, row(sums, e))
                if preds.shape[0] > 0:
                    copy_rows(out, preds, start)
                fused = loss[LOSS_FUSED] != 0
                if tiny:
                    _backward_tiny(layers, act_fns, params, grads, x0, a_ws, z_ws, d_ws, a_off,
                                   z_off, nb, fused)
                else:
                    _backward(layers, act_fns, params, grads, x0, a_ws, z_ws, d_ws, a_off, z_off,
                              nb, fused)
                clip_gradients(grads, var_offsets, var_sizes, clip)
                if not tiny:
                    call_update(update_fn, params, grads, slots, h, step)
                elif opt == SGD:
                    sgd_update(params, grads, row(slots, 0), h)
                elif opt == RMSPROP:
                    rmsprop_update(params, grads, row(slots, 0), row(slots, 1), row(slots, 2), h)
                elif opt == ADAGRAD:
                    adagrad_update(params, grads, row(slots, 0), h)
                else:
                    set_adam_alpha(h, step)
                    adam_update(params, grads, row(slots, 0), row(slots, 1), row(slots, 2), h)
                step += 1
            if Xv.shape[0] > 0:
                check = check_rows and e == 0
                if not call_jitted(evaluate_fn, (Xv, Yv, SWv, val_batch_size, layers, act_fns,
                                                 params, a_ws, z_ws, d_ws, a_off, z_off, loss, lp,
                                                 metrics_i, metrics_f, score_fns,
                                                 row(val_sums, e), row_loss, val_preds, check)):
                    return step, False
        return step, True

    return fit_epochs_kernel


#: The training loop of the general path, and of the tiny path by optimizer code.
fit_epochs_kernel = _training_driver(tiny=False)
fit_epochs_tiny_kernels = {opt: _training_driver(tiny=True, opt=opt) for opt in SLOT_ROWS}


def row_order(n, shuffle):
    """The row order that a fit over ``n`` rows starts from.

    ``0..n-1`` for the drivers to shuffle, or an empty array for the rows in their
    stored order, which needs no index array at all. The indices are int32 where
    that holds them all: 4 bytes a row instead of 8.

    Parameters
    ----------
    n : int
    shuffle : bool

    Returns
    -------
    ndarray of int32, or of int64 for more than ``2**31`` rows
    """
    if not shuffle:
        return np.zeros(0, np.int32)
    return np.arange(n, dtype=np.int32 if n <= 2**31 else np.int64)


class Engine:
    """Buffers and workspaces of one built model, and the calls into the drivers.

    Parameters
    ----------
    layout : fastmlp.params.Layout
        Where each parameter lives.
    n_features : int
        Width of the model's input.
    dtype : numpy.dtype
        Float type of parameters and workspaces.
    """

    def __init__(self, layout, n_features, dtype):
        self.layout = layout
        self.n_features = n_features
        self.dtype = np.dtype(dtype)
        self.params = np.zeros(layout.size, dtype=self.dtype)
        self.grads = np.zeros(layout.size, dtype=self.dtype)
        widths = layout.widths()
        self._a_off_units = np.cumsum([0, n_features] + widths)[:-1]
        self._z_off_units = np.cumsum([0] + widths)[:-1]
        self._act_units = n_features + sum(widths)
        self._z_units = sum(widths)
        self._widest = max([n_features] + widths)
        dense = layout.table[:, KIND] == DENSE
        # Multiply-adds per row of the largest layer's product.
        self._largest_layer_products = int(
            (layout.table[dense, N_IN] * layout.table[dense, N_OUT]).max(initial=0))
        self._tiny_activations = bool(np.isin(layout.table[:, ACT], TINY_ACTIVATIONS).all())
        row_bytes = (self._act_units + 2 * self._z_units) * self.dtype.itemsize
        #: Rows per step of ``predict`` and ``evaluate`` without a batch size (see
        #: :data:`INFERENCE_ROWS` and :data:`INFERENCE_WORKSPACE_BYTES`).
        self.inference_rows = max(32, min(INFERENCE_ROWS, INFERENCE_WORKSPACE_BYTES // row_bytes))
        self.capacity = 0
        self._activation_addresses = None

    def takes_tiny_path(self):
        """Whether training takes the tiny path (see :data:`TINY_UNITS`)."""
        return self._widest <= TINY_UNITS and self._tiny_activations

    def _reserve(self, rows):
        """Make the workspaces hold batches of ``rows`` rows, and prepare the matrix
        products of the model's dtype that such batches can take (the drivers reach
        them through tables: see :func:`.kernels.blas.prepare`,
        :func:`.kernels.tiles.prepare` and :func:`.kernels.threaded.prepare`). The
        tiles compile only for batches with products large enough for them, so a 2-2-1
        network fitted a row at a time does not compile them, and the threaded
        products only for batches with products too large for the tiles."""
        if rows <= self.capacity:
            return
        prepare_blas(self.dtype)
        if rows * self._largest_layer_products >= BLAS_MIN_FLOPS:
            prepare_tiles(self.dtype)
        if rows * self._largest_layer_products > TILED_MAX_FLOPS:
            prepare_threaded(self.dtype)
        # Allocate everything first, so a MemoryError leaves the old workspaces intact.
        a_ws = np.zeros(rows * self._act_units, dtype=self.dtype)
        z_ws = np.zeros(rows * self._z_units, dtype=self.dtype)
        d_ws = np.zeros(rows * self._z_units, dtype=self.dtype)
        row_loss = np.zeros(rows, dtype=self.dtype)
        self.a_ws, self.z_ws, self.d_ws, self.row_loss = a_ws, z_ws, d_ws, row_loss
        self.a_off = (self._a_off_units * rows).astype(np.int64)
        self.z_off = (self._z_off_units * rows).astype(np.int64)
        self.capacity = rows

    def fit_epochs(self, X, Y, SW, order, seeds, batch_size, optimizer_state, loss, lp,
                   metrics_i, metrics_f, preds, validation, val_batch_size, val_preds,
                   check_rows):
        """Train ``n_epochs`` epochs in one compiled call.

        Parameters
        ----------
        X, Y, SW : ndarray
            Inputs ``(N, d)``, targets ``(N, k)`` and sample weights ``(N,)``, or
            ``(0,)`` for a weight of 1 on every row.
        order : ndarray of int32 or int64, shape (N,) or (0,)
            Row order (see :func:`row_order`); reshuffled at the start of epoch ``e``
            when ``seeds[e] >= 0``, which needs all ``N`` entries. Empty for the rows
            in their stored order.
        seeds : ndarray of int64, shape (n_epochs,)
            Per-epoch seeds of ``kernels.cpu.shuffle_order``, -1 to keep ``order``.
        batch_size : int
        optimizer_state : fastmlp.optimizers.OptimizerState
            Slots, hyperparameters, clip settings and step counter (updated).
        loss : ndarray of int64
            ``[code, from_logits, fused]``.
        lp : ndarray
            Loss parameters ``[epsilon, 1 - epsilon, huber delta]``.
        metrics_i, metrics_f : ndarray
            Built-in metric table: rows ``[kind, iparam]`` and each metric's ``fparam``
            (see ``fastmlp.kernels.cpu.metric_total``).
        preds : ndarray, shape (N, m) or (0, m)
            Receives the pre-update outputs in epoch order when it has rows.
        validation : tuple of ndarray
            ``(Xv, Yv, SWv)``, with zero rows when there is no validation data.
        val_batch_size : int
        val_preds : ndarray, shape (Nv, m) or (0, m)
            Receives the validation outputs of the last epoch when it has rows.
        check_rows : bool
            Check in the first epoch that ``X`` and the validation inputs are finite.

        Returns
        -------
        sums, val_sums : ndarray of float64, shape (n_epochs, 2 + n_metrics)
            Per epoch: weighted loss sum, metric sums, row count.
        finite : bool
            False if the check found NaN or infinity. Training then stopped at that
            batch, with the parameters and optimizer state partly updated.
        """
        n_epochs = seeds.shape[0]
        width = 2 + metrics_i.shape[0]
        sums = np.zeros((n_epochs, width))
        val_sums = np.zeros((n_epochs, width))
        Xv, Yv, SWv = validation
        rows = min(batch_size, X.shape[0])
        if Xv.shape[0] > 0:
            rows = max(rows, min(val_batch_size, Xv.shape[0]))
        self._reserve(rows)
        # Where a shuffled batch's targets and weights are gathered.
        gathered_rows = min(batch_size, X.shape[0]) if order.shape[0] > 0 else 0
        y_ws = np.empty(gathered_rows * Y.shape[1], self.dtype)
        sw_ws = np.empty(gathered_rows if SW.shape[0] > 0 else 0, self.dtype)
        score_fns = scoring_addresses(loss[LOSS_CODE], metrics_i, self.dtype)
        state = optimizer_state
        if self.takes_tiny_path():
            driver, update_fn = fit_epochs_tiny_kernels[state.code], 0
        else:
            driver, update_fn = fit_epochs_kernel, update_address(state.code, self.dtype)
        act_fns = self._activation_fns()
        evaluate_fn = 0
        if Xv.shape[0] > 0:
            # The values the driver hands evaluate_kernel, with one row of val_sums.
            evaluate_fn = jitted_address(evaluate_kernel, (
                Xv, Yv, SWv, val_batch_size, self.layout.table, act_fns, self.params,
                self.a_ws, self.z_ws, self.d_ws, self.a_off, self.z_off, loss, lp, metrics_i,
                metrics_f, score_fns, val_sums[0], self.row_loss, val_preds, check_rows))
        state.step, finite = driver(
            X, Y, SW, order, seeds, batch_size, n_epochs, self.layout.table, act_fns, self.params,
            self.grads, state.slots, update_fn, state.hyper, state.clip, self.layout.var_offsets,
            self.layout.var_sizes, state.step, self.a_ws, self.z_ws, self.d_ws, self.a_off,
            self.z_off, y_ws, sw_ws, loss, lp, metrics_i, metrics_f, score_fns, sums,
            self.row_loss, preds, Xv, Yv, SWv, val_batch_size, val_sums, val_preds, evaluate_fn,
            check_rows,
        )
        return sums, val_sums, finite

    def _activation_fns(self):
        """Each layer's activation callbacks (looked up on the first call, then kept)."""
        if self._activation_addresses is None:
            self._activation_addresses = activation_addresses(self.layout.table[:, ACT],
                                                              self.dtype)
        return self._activation_addresses

    def predict(self, X, batch_size, out):
        """Write the model's outputs for ``X`` into ``out`` (shape ``(N, units)``).

        Returns False, with ``out`` partly written, if ``X`` holds NaN or infinity.
        """
        self._reserve(min(batch_size, X.shape[0]))
        return predict_kernel(X, batch_size, self.layout.table, self._activation_fns(),
                              self.params, self.a_ws, self.z_ws, self.a_off, self.z_off, out)

    def evaluate(self, X, Y, SW, batch_size, loss, lp, metrics_i, metrics_f, preds):
        """Loss and metric sums over ``X`` in row order; outputs go to ``preds`` if it has rows.

        Returns
        -------
        sums : ndarray of float64, shape (2 + n_metrics,)
            Weighted loss sum, metric sums, row count.
        finite : bool
            False if ``X`` holds NaN or infinity; ``sums`` are then partial.
        """
        sums = np.zeros(2 + metrics_i.shape[0])
        self._reserve(min(batch_size, X.shape[0]))
        score_fns = scoring_addresses(loss[LOSS_CODE], metrics_i, self.dtype)
        finite = evaluate_kernel(X, Y, SW, batch_size, self.layout.table, self._activation_fns(),
                                 self.params, self.a_ws, self.z_ws, self.d_ws, self.a_off,
                                 self.z_off, loss, lp, metrics_i, metrics_f, score_fns, sums,
                                 self.row_loss, preds, True)
        return sums, finite
