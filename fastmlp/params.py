"""The layout table: where each layer's kernel and bias live in the flat parameter buffer.

Every parameter of a model lives in one contiguous vector. A layer row of the
layout table holds ``[kind, n_in, n_out, kernel offset, bias offset, activation]``
(bias offset -1 when the layer has no bias). Kernels have Keras's shape
``(n_in, n_out)`` and come before their bias, so the buffer reads
``W1, b1, W2, b2, ...`` in ``get_weights`` order.
"""

import numpy as np

DENSE = 0
ACTIVATION = 1

KIND, N_IN, N_OUT, W_OFFSET, B_OFFSET, ACT = range(6)


class Layout:
    """Layout of a model's flat parameter buffer.

    Parameters
    ----------
    rows : list of tuple
        ``(kind, n_in, n_out, activation_code, use_bias)`` per layer.

    Attributes
    ----------
    table : ndarray of int64, shape (n_layers, 6)
        The layout table (see the module docstring).
    size : int
        Number of parameters.
    var_offsets, var_sizes : ndarray of int64
        Offset and length of each variable, in ``get_weights`` order.
    var_shapes : list of tuple
        Shape of each variable.
    var_layers : list of int
        Index of the layer each variable belongs to.
    """

    def __init__(self, rows):
        table = np.zeros((len(rows), 6), dtype=np.int64)
        offsets, shapes, layers = [], [], []
        position = 0
        for i, (kind, n_in, n_out, act, use_bias) in enumerate(rows):
            table[i] = (kind, n_in, n_out, -1, -1, act)
            if kind != DENSE:
                continue
            table[i, W_OFFSET] = position
            offsets.append(position)
            shapes.append((n_in, n_out))
            layers.append(i)
            position += n_in * n_out
            if use_bias:
                table[i, B_OFFSET] = position
                offsets.append(position)
                shapes.append((n_out,))
                layers.append(i)
                position += n_out
        self.table = table
        self.size = position
        self.var_offsets = np.array(offsets, dtype=np.int64)
        self.var_sizes = np.array([int(np.prod(s)) for s in shapes], dtype=np.int64)
        self.var_shapes = shapes
        self.var_layers = layers

    def views(self, buffer):
        """Return one array view into ``buffer`` per variable, in ``get_weights`` order.

        Parameters
        ----------
        buffer : ndarray, shape (size,)
            A flat buffer with this layout (parameters, gradients or a slot).
        """
        return [
            buffer[o:o + n].reshape(shape)
            for o, n, shape in zip(self.var_offsets, self.var_sizes, self.var_shapes)
        ]

    def widths(self):
        """Return the output width of every layer."""
        return [int(w) for w in self.table[:, N_OUT]]
