"""Callbacks, as Keras 3's ``keras.callbacks``, called once per epoch.

The compiled loop runs whole epochs, so callbacks see ``on_epoch_begin`` /
``on_epoch_end`` with the epoch's logs, and ``on_train_begin`` / ``on_train_end``.
Per-batch hooks are not called.
"""

import math
import sys
import time
import warnings

from ._validation import non_negative_int, number_in


class Callback:
    """Base class. ``self.model`` and ``self.params`` are set before training starts."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        """Attach the model being trained."""
        self.model = model

    def set_params(self, params):
        """Receive ``{"verbose", "epochs", "steps"}``."""
        self.params = params

    def on_train_begin(self, logs=None):
        """Called once before the first epoch."""

    def on_train_end(self, logs=None):
        """Called once after the last epoch."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called before epoch ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called after epoch ``epoch`` with its logs (loss, metrics, val_ values)."""


class History(Callback):
    """Records every epoch's logs: ``history.history[key]`` is a list, one value per epoch."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.record([epoch], {k: [v] for k, v in (logs or {}).items()})

    def record(self, epochs, columns):
        """Append several epochs at once: ``columns[key]`` holds one value per epoch."""
        self.epoch.extend(epochs)
        for key, values in columns.items():
            self.history.setdefault(key, []).extend(values)


def _format_value(value, absolute=True):
    shown = abs(value) if absolute else value
    return f"{value:.4f}" if shown > 1e-3 else f"{value:.4e}"


def _format_step_time(seconds):
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class ProgbarLogger(Callback):
    """Keras 3's progress output: a bar per epoch (verbose=1) or one line (verbose=2).

    On a terminal the bar is drawn at the start of each epoch and redrawn in place
    when it ends; elsewhere each epoch prints one finished line.
    """

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream

    def _out(self):
        return self.stream if self.stream is not None else sys.stdout

    def _dynamic(self):
        isatty = getattr(self._out(), "isatty", None)
        return bool(isatty and isatty())

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        if self.params.get("epochs", 1) > 1 and self.params.get("verbose") in (1, 2):
            self._out().write(f"Epoch {epoch + 1}/{self.params['epochs']}\n")
        if self.params.get("verbose") == 1 and self._dynamic():
            self._out().write(self._bar(0) + "\r")
            self._out().flush()

    def _bar(self, current):
        steps = self.params["steps"]
        filled = int(20 * current / steps) if steps else 20
        count = f"{current:>{len(str(steps))}d}/{steps}"
        if self._dynamic():
            return (f"\x1b[1m{count}\x1b[0m \x1b[32m{'━' * filled}\x1b[0m"
                    f"\x1b[37m{'━' * (20 - filled)}\x1b[0m")
        return f"{count} {'━' * 20}"

    def on_epoch_end(self, epoch, logs=None):
        verbose = self.params.get("verbose")
        if verbose not in (1, 2):
            return
        elapsed = time.perf_counter() - self._start
        steps = max(self.params["steps"], 1)
        per_step = _format_step_time(elapsed / steps)
        values = "".join(f" - {k}: {_format_value(v, verbose == 1)}" for k, v in logs.items())
        if verbose == 1:
            line = f"{self._bar(steps)} {elapsed:.0f}s {per_step}{values}"
        else:
            line = f"{steps}/{steps} - {elapsed:.0f}s - {per_step}{values}"
        self._out().write(line + "\n")
        self._out().flush()


class EarlyStopping(Callback):
    """Stop training when a monitored value stops improving (Keras 3 semantics).

    Parameters
    ----------
    monitor : str
        Log key to watch (default ``"val_loss"``).
    min_delta : float
        An improvement must beat the best value by more than this.
    patience : int
        Epochs without improvement before stopping.
    verbose : int
    mode : {"auto", "min", "max"}
        ``"auto"``: max for accuracy-like keys, min otherwise.
    baseline : float, optional
        Training stops unless the value beats the baseline within ``patience`` epochs.
    restore_best_weights : bool
        Restore the best epoch's weights when training ends (stopped early or not).
    start_from_epoch : int
        Epochs to wait before counting.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max'; got {mode!r}.")
        self.monitor = monitor
        self.min_delta = abs(number_in("EarlyStopping", "min_delta", min_delta, None, None))
        self.patience = non_negative_int("EarlyStopping", "patience", patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = non_negative_int("EarlyStopping", "start_from_epoch",
                                                 start_from_epoch)
        if mode == "auto":
            accuracy_like = monitor.endswith(("acc", "accuracy", "auc"))
            mode = "max" if accuracy_like else "min"
        self.mode = mode
        self.stopped_epoch = 0

    def _better(self, value, reference):
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"EarlyStopping: monitor {self.monitor!r} is not in the logs; "
                          f"available keys: {sorted(logs or {})}.", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._better(value, self.best):
            self.best = value
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._better(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class CallbackList:
    """Calls a list of callbacks in order."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            callback.set_model(model)
            callback.set_params(params)

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args, **kwargs):
            for callback in self.callbacks:
                getattr(callback, hook)(*args, **kwargs)

        return call

