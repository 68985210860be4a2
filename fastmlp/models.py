"""Models, as Keras 3's ``keras.Sequential``: build, compile, fit, evaluate, predict.

The model holds configuration and an :class:`fastmlp.engine.Engine` (flat buffers and
workspaces). ``fit`` validates every argument before it changes anything, then hands
whole epochs to the compiled driver: all epochs in one call when nothing needs Python
between epochs, one epoch per call when progress output, callbacks or Python metric
functions do.
"""

import math
import sys
import time
import warnings

import numpy as np

from . import backend, callbacks as callbacks_module, config, losses, metrics as metrics_module
from . import optimizers
from .activations import code as activation_code
from .engine import Engine, row_order
from .kernels import scalar
from .layers import Dense, InputSpec, Layer
from .params import ACTIVATION, DENSE, Layout
from ._validation import (
    float_array, non_finite_error, non_negative_int, number_in, positive_int, same_length,
)

_FUSED_PAIRS = {
    (scalar.BINARY_CROSSENTROPY, "sigmoid"), (scalar.CATEGORICAL_CROSSENTROPY, "softmax"),
    (scalar.SPARSE_CATEGORICAL_CROSSENTROPY, "softmax"),
}


def _verbosity(owner, verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"{owner}: verbose must be 0, 1, 2 or 'auto'; got verbose={verbose!r}.")
    return verbose


def _logged(value):
    """A reported number as Keras logs it: a Python float of the float type's precision."""
    return float(np.asarray(value, dtype=config.float_dtype()))


class Sequential:
    """A linear stack of layers, as ``keras.Sequential``.

    Parameters
    ----------
    layers : list, optional
        Layers (and optionally a leading ``fastmlp.Input``) to add in order.
    name : str, optional
        Model name (default ``"sequential"``, ``"sequential_1"``, ...).
    """

    def __init__(self, layers=None, name=None, trainable=True):
        self.name = name if name is not None else backend.unique_name("sequential")
        self.trainable = trainable
        self._layers = []
        self._input = None
        self.engine = None
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.history = None
        self.stop_training = False
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ structure

    @property
    def layers(self):
        """The model's layers (without the input)."""
        return list(self._layers)

    def add(self, layer):
        """Append a layer (or set the input with ``fastmlp.Input``).

        Raises
        ------
        ValueError
            For something that is not a layer, a duplicate name, or a second input.
        """
        if isinstance(layer, InputSpec):
            if self._layers or self._input is not None:
                raise ValueError("Sequential.add: an Input can only be the first element; "
                                 "this model already has layers.")
            self._input = layer
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"Sequential.add: only fastmlp layers can be added "
                             f"(Dense, Activation, Input); got {layer!r}.")
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"Sequential.add: all layers must have unique names; "
                             f"{layer.name!r} is already in the model.")
        if self._layers and layer.input_width is not None:
            raise ValueError(f"Sequential.add: only the first layer may set input_dim or "
                             f"input_shape; layer {layer.name!r} does.")
        self._layers.append(layer)
        self._rebuild()

    def pop(self):
        """Remove and return the last layer."""
        if not self._layers:
            raise ValueError("Sequential.pop: the model has no layers to remove.")
        layer = self._layers.pop()
        self._rebuild()
        return layer

    def _rebuild(self):
        """Rebuild after a change of layers; layers that were built keep their weights."""
        kept = {id(layer): layer.get_weights() for layer in self._layers if layer.built}
        width = self.input_width
        self._unbuild()
        if not self._layers or width is None:
            return
        self.build((None, width))
        for layer in self._layers:
            old = kept.get(id(layer), [])
            if [w.shape for w in old] == [v.shape for v in layer.weights]:
                for variable, value in zip(layer.weights, old):
                    variable.value[...] = value

    def _unbuild(self):
        self.engine = None
        for layer in self._layers:
            layer.built = False
            layer._variables = []
        if self.optimizer is not None:
            self.optimizer.state = None

    @property
    def input_width(self):
        """Number of input features, or None until known."""
        if self._input is not None:
            return self._input.shape[0]
        if self._layers and self._layers[0].input_width is not None:
            return self._layers[0].input_width
        return self.engine.n_features if self.engine is not None else None

    @property
    def built(self):
        """Whether the parameter buffer exists."""
        return self.engine is not None

    def _rows(self, n_features):
        rows, width = [], n_features
        for layer in self._layers:
            if isinstance(layer, Dense):
                rows.append((DENSE, width, layer.units, activation_code(layer.activation),
                             layer.use_bias))
                width = layer.units
            else:
                rows.append((ACTIVATION, width, width, activation_code(layer.activation), False))
        return rows

    def _output_width(self, n_features):
        for layer in reversed(self._layers):
            if isinstance(layer, Dense):
                return layer.units
        return n_features

    def build(self, input_shape=None):
        """Allocate and initialise the parameters for inputs of ``input_shape``.

        Parameters
        ----------
        input_shape : tuple, optional
            ``(batch, n_features)`` or ``(n_features,)``; defaults to the declared input.
        """
        if input_shape is not None:
            width = input_shape[-1]
        else:
            width = self.input_width
        if width is None:
            raise ValueError("build: the input width is unknown; pass input_shape=(None, d), "
                             "start the model with fastmlp.Input((d,)), or call fit/predict.")
        width = positive_int("build", "input width", width)
        if not self._layers:
            raise ValueError("build: the model has no layers; add a Dense layer first.")
        if self.engine is not None and self.engine.n_features == width:
            return
        self._unbuild()
        layout = Layout(self._rows(width))
        engine = Engine(layout, width, config.float_dtype())
        views = layout.views(engine.params)
        for view, shape, layer_index in zip(views, layout.var_shapes, layout.var_layers):
            layer = self._layers[layer_index]
            is_kernel = len(shape) == 2
            init = layer.kernel_initializer if is_kernel else layer.bias_initializer
            view[...] = init(shape, engine.dtype)
            short = "kernel" if is_kernel else "bias"
            layer._variables.append(backend.Variable(view, short, f"{self.name}/{layer.name}/{short}"))
        for layer in self._layers:
            layer.built = True
        self.engine = engine

    @property
    def weights(self):
        """All variables in order ``[kernel_1, bias_1, kernel_2, ...]`` (views, always current)."""
        return [v for layer in self._layers for v in layer._variables]

    trainable_weights = weights

    @property
    def non_trainable_weights(self):
        """Always empty: every dense parameter is trainable."""
        return []

    def get_weights(self):
        """Return copies of all variables as NumPy arrays, in ``weights`` order."""
        return [v.numpy() for v in self.weights]

    def set_weights(self, weights):
        """Overwrite all variables from a list of arrays in ``weights`` order.

        Raises
        ------
        ValueError
            When the count or any shape differs; the model is unchanged then.
        """
        if not self.built:
            self.build()
        current = self.weights
        weights = list(weights)
        if len(weights) != len(current):
            raise ValueError(f"set_weights: expected {len(current)} arrays "
                             f"({', '.join(v.path for v in current)}); got {len(weights)}.")
        arrays = []
        for variable, value in zip(current, weights):
            array = np.asarray(value)
            if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                             or array.dtype == np.bool_):
                raise TypeError(f"set_weights: {variable.path} must be numeric; got an array of "
                                f"dtype {array.dtype}.")
            if array.shape != variable.shape:
                raise ValueError(f"set_weights: {variable.path} has shape {variable.shape}; "
                                 f"got an array of shape {array.shape}.")
            arrays.append(array)
        for variable, array in zip(current, arrays):
            variable.value[...] = array

    def count_params(self):
        """Number of parameters (the model must be built)."""
        if not self.built:
            raise ValueError(f"count_params: model {self.name!r} is not built yet; "
                             f"call build() or fit() first.")
        return self.engine.layout.size

    # ------------------------------------------------------------------ compile

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Choose the optimizer, loss and metrics (Keras 3 defaults: ``"rmsprop"``).

        Parameters
        ----------
        optimizer : str or Optimizer
        loss : str, Loss or fastmlp.losses function
        metrics : list, optional
            Names (``"accuracy"``, ``"mae"``, ...), Metric objects, or Python functions
            ``f(y_true, y_pred)`` written with ``fastmlp.backend`` ops.
        """
        if loss is None:
            raise ValueError("compile: loss is required; e.g. loss='mse' or "
                             "loss='categorical_crossentropy'.")
        if loss_weights is not None or weighted_metrics is not None:
            raise ValueError("compile: loss_weights and weighted_metrics apply to multi-output "
                             "models, which fastmlp does not build.")
        new_optimizer = optimizers.get(optimizer)
        new_loss = losses.get(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, (str, dict)) or not hasattr(metrics, "__iter__"):
            raise ValueError(f"compile: metrics must be a list; got metrics={metrics!r}.")
        new_metrics = [metrics_module.get(m) for m in metrics]
        if new_optimizer.state is not None and new_optimizer is not self.optimizer:
            new_optimizer.state = None
        self.optimizer, self.loss, self._metric_specs = new_optimizer, new_loss, new_metrics
        self.compiled = True

    # ------------------------------------------------------------------ data checks

    def _float_dtype(self):
        """The float dtype that data are converted to: the parameters' once the model is
        built, ``floatx`` before. A built model keeps computing in its own dtype when
        ``floatx`` changes afterwards, as Keras layers do."""
        return self.engine.dtype if self.engine is not None else config.float_dtype()

    def _inputs(self, owner, x):
        dtype = self._float_dtype()
        x = self._input_array(owner, x, dtype)
        width = self.input_width
        if width is not None and x.shape[1] != width:
            raise ValueError(f"{owner}: x has {x.shape[1]} columns but the model's input "
                             f"expects {width} (x.shape={x.shape}).")
        return x

    @staticmethod
    def _input_array(owner, x, dtype):
        """``x`` as a 2-D float array; the compiled passes check that its values are
        finite, a batch at a time (see :mod:`fastmlp.engine`)."""
        if np.ndim(x) == 1:
            raise ValueError(f"{owner}: x must be 2-D (samples, features); got shape "
                             f"{np.shape(x)}. For one feature use x.reshape(-1, 1).")
        return float_array(owner, "x", x, dtype, ndim_choices=(2,), finite=False)

    def _targets(self, owner, y, n_out):
        """Return ``(Y, y_ndim, y_last)``: targets as a 2-D float array and their given shape."""
        dtype = self._float_dtype()
        Y = float_array(owner, "y", y, dtype, ndim_choices=(1, 2))
        y_ndim = Y.ndim
        y_last = Y.shape[1] if Y.ndim == 2 else 1
        Y = Y.reshape(Y.shape[0], -1)
        if self.loss.sparse:
            if Y.shape[1] != 1:
                raise ValueError(f"{owner}: {self.loss.name} expects integer class labels of "
                                 f"shape (N,) or (N, 1); got y with shape {np.shape(y)}. "
                                 f"For one-hot targets use categorical_crossentropy.")
            labels = Y[:, 0]
            bad = (labels != np.round(labels)) | (labels < 0) | (labels >= n_out)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"{owner}: y holds class labels for {self.loss.name}, which "
                                 f"must be integers from 0 to {n_out - 1} (the model outputs "
                                 f"{n_out} classes); got y[{i}]={labels[i]:g}.")
        elif Y.shape[1] != n_out:
            hint = (" For integer labels use sparse_categorical_crossentropy or "
                    "fastmlp.utils.to_categorical." if Y.shape[1] == 1 else "")
            raise ValueError(f"{owner}: y has {Y.shape[1]} column(s) but the model outputs "
                             f"{n_out} (y.shape={np.shape(y)}).{hint}")
        return np.ascontiguousarray(Y), y_ndim, y_last

    def _sample_weights(self, owner, sample_weight, n):
        dtype = self._float_dtype()
        if sample_weight is not None:
            sw = float_array(owner, "sample_weight", sample_weight, dtype, ndim_choices=(1, 2))
            sw = sw.reshape(sw.shape[0], -1)
            if sw.shape[1] != 1:
                raise ValueError(f"{owner}: sample_weight must have one value per sample; got "
                                 f"shape {np.shape(sample_weight)}.")
            if sw.shape[0] != n:
                raise ValueError(f"{owner}: x and sample_weight must have the same number of "
                                 f"rows; got {n} and {sw.shape[0]}.")
            return np.ascontiguousarray(sw[:, 0])
        # Empty: every row weighs 1, without an array of N ones.
        return np.zeros(0, dtype=dtype)

    @staticmethod
    def _class_weights(owner, class_weight, Y):
        """Per-sample weights from ``{class: weight}`` (class = argmax, or the rounded label)."""
        if not isinstance(class_weight, dict):
            raise ValueError(f"{owner}: class_weight must be a dict {{class: weight}}; got "
                             f"{type(class_weight).__name__}.")
        sw = np.ones(Y.shape[0], dtype=Y.dtype)
        classes = np.argmax(Y, axis=1) if Y.shape[1] > 1 else np.round(Y[:, 0]).astype(int)
        for cls, weight in class_weight.items():
            sw[classes == int(cls)] = number_in(owner, f"class_weight[{cls!r}]", weight, 0, None)
        return sw

    def _metric_objects(self, y_ndim, y_last, n_out):
        resolved = []
        for spec in self._metric_specs:
            if isinstance(spec, str):
                spec = metrics_module.resolve_accuracy(spec, y_ndim, y_last, n_out)
            resolved.append(spec)
        compiled = [m for m in resolved if isinstance(m, metrics_module.Metric)]
        python = [m for m in resolved if isinstance(m, metrics_module.FunctionMetric)]
        table_i = np.array([[m.table_row()[0], m.table_row()[1]] for m in compiled],
                           dtype=np.int64).reshape(-1, 2)
        table_f = np.array([m.table_row()[2] for m in compiled],
                           dtype=self._float_dtype()).reshape(-1)
        return compiled, python, table_i, table_f

    def _metric_names(self, compiled, python):
        """Metric names in compile order."""
        by_id = {id(m): m.name for m in compiled + python}
        names = []
        for spec in self._metric_specs:
            names.append(spec if isinstance(spec, str) else by_id[id(spec)])
        return names

    def _loss_settings(self):
        last = self._layers[-1].activation
        fused = not self.loss.from_logits and (self.loss.code, last) in _FUSED_PAIRS
        settings = np.array([self.loss.code, int(self.loss.from_logits), int(fused)],
                            dtype=np.int64)
        return settings, self.loss.parameters(self._float_dtype())

    def _require_compiled(self, owner):
        if not self.compiled:
            raise ValueError(f"{owner}: the model must be compiled first; call "
                             f"model.compile(optimizer=..., loss=...) before {owner}().")

    def _prepare(self, owner, x, y, sample_weight=None):
        """Check and convert one data set; returns X, Y, SW and the target shape info."""
        X = self._inputs(owner, x)
        n_out = self._output_width(X.shape[1])
        Y, y_ndim, y_last = self._targets(owner, y, n_out)
        same_length(owner, [("x", X), ("y", Y)])
        SW = self._sample_weights(owner, sample_weight, X.shape[0])
        return X, Y, SW, (y_ndim, y_last, n_out)

    # ------------------------------------------------------------------ training

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Train the model; returns a :class:`fastmlp.callbacks.History`.

        Follows Keras 3: ``batch_size`` defaults to 32, ``validation_split`` takes the
        last fraction of the data before shuffling, the reported loss is the
        batch-size-weighted mean of the pre-update batch losses, and history keys are
        sorted. With ``verbose=0``, no callbacks and no Python metric functions, all
        epochs run in a single compiled call. Without ``validation_batch_size``, the
        validation pass computes up to ``engine.INFERENCE_ROWS`` rows per step, while
        Python metric functions see batches of ``batch_size`` rows.
        """
        owner = "fit"
        self._require_compiled(owner)
        if steps_per_epoch is not None or validation_steps is not None or validation_freq != 1:
            raise ValueError("fit: steps_per_epoch, validation_steps and validation_freq are "
                             "not supported; fastmlp trains on whole arrays every epoch.")
        batch_size = 32 if batch_size is None else positive_int(owner, "batch_size", batch_size)
        epochs = positive_int(owner, "epochs", epochs)
        initial_epoch = non_negative_int(owner, "initial_epoch", initial_epoch)
        if initial_epoch >= epochs:
            raise ValueError(f"fit: initial_epoch must be smaller than epochs; got "
                             f"initial_epoch={initial_epoch}, epochs={epochs}.")
        verbose = _verbosity(owner, verbose)
        if not isinstance(shuffle, bool):
            raise ValueError(f"fit: shuffle must be True or False; got shuffle={shuffle!r}.")
        user_callbacks = list(callbacks or [])
        for callback in user_callbacks:
            if not isinstance(callback, callbacks_module.Callback):
                raise ValueError(f"fit: callbacks must be fastmlp.callbacks.Callback instances; "
                                 f"got {callback!r}.")
        val_batch = None if validation_batch_size is None else positive_int(
            owner, "validation_batch_size", validation_batch_size)

        if sample_weight is not None and class_weight is not None:
            raise ValueError(f"{owner}: pass sample_weight or class_weight, not both.")
        X, Y, SW, shape_info = self._prepare(owner, x, y, sample_weight)
        # Where to look for the NaN or infinity that the first epoch may meet.
        inputs = [(owner, "x", X)]
        validation = None
        if validation_data is not None:
            validation = self._validation_data(validation_data)
            inputs.append(("fit (validation_data)", "x", validation[0]))
        elif validation_split:
            split = validation_split
            if isinstance(split, bool) or not isinstance(split, (int, float)) \
                    or not 0 < split < 1:
                raise ValueError(f"fit: validation_split must be a number in (0, 1); got "
                                 f"validation_split={validation_split!r}.")
            split_at = int(math.floor(X.shape[0] * (1.0 - split)))
            if split_at == 0 or split_at == X.shape[0]:
                raise ValueError(f"fit: validation_split={split} leaves "
                                 f"{split_at} training and {X.shape[0] - split_at} validation "
                                 f"rows out of {X.shape[0]}; both need at least one.")
            validation = (X[split_at:], Y[split_at:], SW[split_at:])
            X, Y, SW = X[:split_at], Y[:split_at], SW[:split_at]
        if class_weight is not None:
            SW = self._class_weights(owner, class_weight, Y)
        return self._train(X, Y, SW, shape_info, validation, batch_size, val_batch, epochs,
                           initial_epoch, verbose, user_callbacks, shuffle, inputs)

    def _validation_data(self, validation_data):
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or "
                             "(x_val, y_val, sample_weight_val).")
        xv, yv = validation_data[0], validation_data[1]
        swv = validation_data[2] if len(validation_data) == 3 else None
        Xv, Yv, SWv, _ = self._prepare("fit (validation_data)", xv, yv, swv)
        return Xv, Yv, SWv

    def _train(self, X, Y, SW, shape_info, validation, batch_size, val_batch, epochs,
               initial_epoch, verbose, user_callbacks, shuffle, inputs):
        """Run the epochs; ``inputs`` lists ``(owner, name, array)`` for the error that
        a NaN or infinity in the training or validation inputs raises.

        The first epoch checks the inputs a batch at a time. If one is not finite,
        the weights and optimizer state go back to what they were and nothing is
        recorded, but callbacks have seen ``on_train_begin`` (and, when they run per
        epoch, ``on_epoch_begin``).
        """
        self.build(X.shape)
        engine = self.engine
        # Python metrics see validation batches of validation_batch_size rows (by default
        # batch_size), as in Keras; without a validation_batch_size the compiled pass
        # takes taller steps, as evaluate does.
        val_rows = engine.inference_rows if val_batch is None else val_batch
        val_batch = batch_size if val_batch is None else val_batch
        state = self.optimizer.build(engine.layout.size, engine.dtype)
        compiled, python, table_i, table_f = self._metric_objects(*shape_info)
        loss_settings, lp = self._loss_settings()
        n = X.shape[0]
        steps = -(-n // batch_size)
        _, _, m_out = shape_info
        dtype = engine.dtype
        if validation is None:
            validation = (np.zeros((0, X.shape[1]), dtype), np.zeros((0, Y.shape[1]), dtype),
                          np.zeros(0, dtype))
        has_val = validation[0].shape[0] > 0
        preds = np.zeros((n if python else 0, m_out), dtype)
        val_preds = np.zeros((validation[0].shape[0] if python else 0, m_out), dtype)

        # What a NaN or infinity met in the first epoch puts back.
        saved = engine.params.copy(), state.slots.copy(), state.step, self.history
        history = callbacks_module.History()
        chain = ([callbacks_module.ProgbarLogger()] if verbose else []) + user_callbacks + [history]
        run_params = {"verbose": verbose, "epochs": epochs, "steps": steps}
        callback_list = callbacks_module.CallbackList(chain, self, run_params)
        history.set_model(self)
        self.history = history
        self.stop_training = False
        epoch_seeds = (np.random.randint(0, 2**31 - 1, size=epochs - initial_epoch)
                       if shuffle else np.full(epochs - initial_epoch, -1))
        order = row_order(n, shuffle)
        per_epoch = bool(verbose or user_callbacks or python)
        chunk = 1 if per_epoch else epochs - initial_epoch
        names = [m.name for m in compiled]
        callback_list.on_train_begin()
        epoch = initial_epoch
        warned = False
        while epoch < epochs and not self.stop_training:
            count = min(chunk, epochs - epoch)
            if per_epoch:
                callback_list.on_epoch_begin(epoch)
            self.optimizer.refresh()
            seeds = epoch_seeds[epoch - initial_epoch:epoch - initial_epoch + count]
            sums, val_sums, finite = engine.fit_epochs(
                X, Y, SW, order, seeds, batch_size, state, loss_settings, lp, table_i, table_f,
                preds, validation, val_rows, val_preds, epoch == initial_epoch)
            if not finite:
                engine.params[:], state.slots[:], state.step, self.history = saved
                raise next(error for error in (non_finite_error(*source) for source in inputs)
                           if error is not None)
            columns = self._columns(sums, names)
            epoch_targets = Y[order] if python and order.size else Y
            for metric in python:
                columns[metric.name] = [self._python_metric(metric, preds, epoch_targets,
                                                            batch_size)]
            if has_val:
                val_columns = self._columns(val_sums, names)
                for metric in python:
                    val_columns[metric.name] = [
                        self._python_metric(metric, val_preds, validation[1], val_batch)]
                columns.update({f"val_{k}": v for k, v in val_columns.items()})
            columns = dict(sorted(columns.items()))
            if not warned:
                warned = self._warn_if_diverged(columns["loss"], epoch)
            if per_epoch:
                callback_list.on_epoch_end(epoch, {k: v[0] for k, v in columns.items()})
            else:
                history.record(range(epoch, epoch + count), columns)
            epoch += count
        callback_list.on_train_end()
        history.params = run_params
        return history

    @staticmethod
    def _columns(sums, names):
        """Per-epoch means from the driver's sums: ``{"loss": [...], name: [...]}``."""
        means = (sums[:, :-1] / sums[:, -1:]).astype(config.float_dtype())
        columns = {"loss": means[:, 0].tolist()}
        for i, name in enumerate(names):
            columns[name] = means[:, 1 + i].tolist()
        return columns

    def _warn_if_diverged(self, losses_per_epoch, first_epoch):
        """Warn once if a loss is NaN or infinite; return whether it warned."""
        for offset, value in enumerate(losses_per_epoch):
            if not math.isfinite(value):
                warnings.warn(
                    f"fit: the loss became {value} at epoch {first_epoch + offset + 1}; training "
                    f"diverged. Try a lower learning rate (now "
                    f"{self.optimizer.learning_rate:g}) or scale the inputs.",
                    RuntimeWarning, stacklevel=4)
                return True
        return False

    @staticmethod
    def _python_metric(metric, preds, Y, batch_size):
        total, count = 0.0, 0
        for start in range(0, preds.shape[0], batch_size):
            t, c = metric.batch_value(Y[start:start + batch_size], preds[start:start + batch_size])
            total += t
            count += c
        return _logged(total / count)

    # ------------------------------------------------------------------ inference

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Loss and metrics on ``(x, y)``: a scalar, a list, or a dict with ``return_dict``.

        The list holds the loss, then the metrics in compile order; the dict's keys
        are sorted, as Keras 3 returns them. Without ``batch_size``, the progress line
        and Python metric functions see batches of 32 rows as in Keras, but the rows
        are computed up to ``engine.INFERENCE_ROWS`` at a time.
        """
        owner = "evaluate"
        self._require_compiled(owner)
        if batch_size is not None:
            batch_size = positive_int(owner, "batch_size", batch_size)
        verbose = _verbosity(owner, verbose)
        start = time.perf_counter()
        logs, _, compiled, python, n = self._evaluate(owner, x, y, sample_weight, batch_size,
                                                      outputs=False)
        steps_of = 32 if batch_size is None else batch_size
        if verbose:
            self._progress_line(n, steps_of, start, logs, verbose)
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[name] for name in self._metric_names(compiled, python)]
        return values[0] if len(values) == 1 else values

    def evaluate_with_outputs(self, x, y, sample_weight=None):
        """Loss and metrics on ``(x, y)`` as :meth:`evaluate` with ``return_dict=True``
        gives them, and the model's outputs for ``x`` from the same pass.

        One compiled pass does both; calling ``evaluate`` and then ``predict`` would
        also compile the prediction kernel on a first run (about 1.6 s).

        Returns
        -------
        logs : dict of str to float
        outputs : ndarray, shape (N, units)
        """
        owner = "evaluate_with_outputs"
        self._require_compiled(owner)
        logs, outputs, *_ = self._evaluate(owner, x, y, sample_weight, None, outputs=True)
        return logs, outputs

    def _evaluate(self, owner, x, y, sample_weight, batch_size, outputs):
        """Shared by :meth:`evaluate` and :meth:`evaluate_with_outputs` (``batch_size``:
        a checked int, or None).

        Returns the sorted logs, the outputs (zero rows unless ``outputs`` or a
        Python metric needs them), the compiled and Python metrics, and the row count.
        """
        steps_of = 32 if batch_size is None else batch_size
        X, Y, SW, shape_info = self._prepare(owner, x, y, sample_weight)
        self.build(X.shape)
        compiled, python, table_i, table_f = self._metric_objects(*shape_info)
        loss_settings, lp = self._loss_settings()
        rows_out = X.shape[0] if python or outputs else 0
        preds = np.zeros((rows_out, shape_info[2]), self.engine.dtype)
        rows = self.engine.inference_rows if batch_size is None else batch_size
        sums, finite = self.engine.evaluate(X, Y, SW, rows, loss_settings, lp, table_i, table_f,
                                            preds)
        if not finite:
            raise non_finite_error(owner, "x", X)
        logs = {k: v[0] for k, v in self._columns(sums[None], [m.name for m in compiled]).items()}
        for metric in python:
            logs[metric.name] = self._python_metric(metric, preds, Y, steps_of)
        return dict(sorted(logs.items())), preds, compiled, python, X.shape[0]

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Return the model's outputs for ``x`` as a NumPy array of shape ``(N, units)``.

        Without ``batch_size``, the progress line counts steps of 32 rows as Keras
        does, but the rows are computed up to ``engine.INFERENCE_ROWS`` at a time.
        """
        owner = "predict"
        steps_of = 32 if batch_size is None else positive_int(owner, "batch_size", batch_size)
        verbose = _verbosity(owner, verbose)
        start = time.perf_counter()
        X = self._inputs(owner, x)
        if not self.built:
            self.build(X.shape)
        out = np.empty((X.shape[0], self._output_width(X.shape[1])), self.engine.dtype)
        if not self.engine.predict(
                X, self.engine.inference_rows if batch_size is None else steps_of, out):
            raise non_finite_error(owner, "x", X)
        if verbose:
            self._progress_line(X.shape[0], steps_of, start, {}, verbose)
        return out

    def __call__(self, x):
        """Outputs for ``x`` without progress output (Keras returns a tensor; this an array)."""
        return self.predict(x, verbose=0)

    def _progress_line(self, n, batch_size, start, logs, verbose):
        steps = -(-n // batch_size)
        bar = callbacks_module.ProgbarLogger()
        bar.set_params({"verbose": verbose, "epochs": 1, "steps": steps})
        bar._start = start
        bar.on_epoch_end(0, logs)

    def save(self, filepath):
        """Write the model (architecture, compile settings, weights, optimizer state) to a file.

        See :func:`fastmlp.saving.save_model`.
        """
        from .saving import save_model

        save_model(self, filepath)

    # ------------------------------------------------------------------ display

    def summary(self, line_length=None, print_fn=None, **kwargs):
        """Print Keras 3's summary table and parameter footer.

        Parameters
        ----------
        line_length : int, optional
            Total width (default 76, Keras's width on an 80-column console).
        print_fn : callable, optional
            Called with the whole text instead of printing it.
        """
        from ._display import summary_text

        text = summary_text(self, line_length)
        if print_fn is not None:
            print_fn(text)
        else:
            sys.stdout.write(text + "\n")


def load_model(filepath, compile=True):
    """Read a model saved with ``model.save`` (see :func:`fastmlp.saving.load_model`).

    Parameters
    ----------
    filepath : str or os.PathLike
    compile : bool
        Restore the compile settings and optimizer state (default).
    """
    from .saving import load_model as read_model_file

    return read_model_file(filepath, compile=compile)
