"""Adapters that train or run one workload in one system and time it.

Every adapter has the same life cycle:

``unavailable()``
    A reason string when the system cannot run at all (e.g. not installed).
``prepare(workload, x, y, weights)``
    Build the model, load the shared initial weights and make one warm-up
    call (so compile/trace time is never in the timings); returns the
    seconds that took.
``run()``
    One timed run from the initial weights; returns a dict with
    ``seconds`` and, where comparable, the final ``weights``, ``loss``
    or prediction ``output``, plus an optional ``note``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import os
import statistics
import time

import numpy as np

from bench.blas_floor import BlasFloor
from bench.numpy_mlp import NumpyMLP, make_optimizer

__all__ = ["make_systems", "SYSTEM_NAMES", "time_predict_one"]

SYSTEM_NAMES = ("fastmlp", "numpy", "blas-floor", "torch", "keras")

# One-row prediction latency: call until either limit is reached.
_PREDICT1_MAX_CALLS = 3000
_PREDICT1_MAX_SECONDS = 1.0


def time_predict_one(fn, x_row):
    """Median wall time of ``fn(x_row)`` over many calls.

    Parameters
    ----------
    fn : callable
        Prediction function.
    x_row : ndarray
        A ``(1, d)`` input.

    Returns
    -------
    median : float
        Median seconds per call.
    calls : int
        Number of calls timed.
    output : ndarray
        The last call's result.
    """
    times = []
    clock = time.perf_counter
    deadline = clock() + _PREDICT1_MAX_SECONDS
    out = None
    while len(times) < _PREDICT1_MAX_CALLS and (len(times) < 20 or clock() < deadline):
        t0 = clock()
        out = fn(x_row)
        times.append(clock() - t0)
    return statistics.median(times), len(times), out


def _warmup_rows(workload):
    """Rows for the warm-up fit: two full batches and a partial one."""
    bs = workload.batch_size
    return min(workload.n_rows, 2 * bs + max(1, bs // 2))


class _Base:
    """Shared bookkeeping for the adapters.

    Subclasses implement ``_build()`` (model for ``self.workload``),
    ``_warm_call()`` (one call the size of the warm-up), ``_predict(x)`` and
    ``_run_fit()``.  Those that can limit their threads implement
    ``_threads(n)``, a context manager for ``n`` threads (None: the
    library's default); unless ``--threads`` fixes the count, the faster of
    the default and one thread in a short trial is used (see
    :meth:`_choose_threads`).
    """

    name = "?"
    fixed_threads = None
    chosen_threads = None  # None: the library's default

    def unavailable(self):
        """Reason this system cannot run, or None."""
        return None

    def label(self):
        """Name shown in reports."""
        return self.name

    def _threads_label(self, default):
        if self.fixed_threads:
            return f"{self.fixed_threads} thr"
        n = self.chosen_threads or default
        return f"{n} thr, faster in trial"

    def set_threads(self, n):
        """Use ``n`` threads from now on (``--threads``)."""
        self.fixed_threads = n

    def _threads(self, n):
        return contextlib.nullcontext()

    def _can_limit_threads(self):
        return False

    def prepare(self, workload, x, y, weights):
        """Build, load ``weights``, warm up; return the warm-up seconds."""
        self.workload, self.x, self.y, self.weights = workload, x, y, weights
        t0 = time.perf_counter()
        self.model = self._build()
        with self._threads(self.fixed_threads):
            self._warm_call()
        if not self.fixed_threads and self._can_limit_threads():
            self._choose_threads()
        return time.perf_counter() - t0

    def _trial(self, min_seconds):
        """Seconds per warm-up-sized call, repeated for at least ``min_seconds``."""
        calls, t0 = 0, time.perf_counter()
        while True:
            self._warm_call()
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_seconds:
                return elapsed / calls

    def _choose_threads(self):
        """Keep whichever of the default thread count and 1 thread is faster.

        On a small machine that other processes also use, a BLAS or OpenMP
        pool with one thread per core can be several times slower than one
        thread (threads wait for descheduled siblings); giving every baseline
        its better setting keeps the comparison meaningful.
        """
        best = None
        for n in (None, 1):
            with self._threads(n):
                self._trial(0.0)
                t = self._trial(0.1)
            if best is None or t < best[0]:
                best = (t, n)
        self.chosen_threads = best[1]

    def run(self):
        """One timed run; see the module docstring."""
        with self._threads(self.fixed_threads or self.chosen_threads):
            if self.workload.kind == "fit":
                return self._run_fit()
            if self.workload.kind == "predict1":
                median, calls, out = time_predict_one(self._predict, self.x)
                return {"seconds": median, "output": out,
                        "note": f"median of {calls} calls"}
            t0 = time.perf_counter()
            out = self._predict(self.x)
            return {"seconds": time.perf_counter() - t0, "output": out}

    def _warm_call(self):
        w = self.workload
        if w.kind == "fit":
            k = _warmup_rows(w)
            self.model.fit(self.x[:k], self.y[:k], w.batch_size, 1)
        else:
            self._predict(self.x)

    def _timed_fit(self):
        """Reset to the initial weights and time a full ``fit``."""
        w = self.workload
        self.model.set_weights(self.weights)
        t0 = time.perf_counter()
        hist = self.model.fit(self.x, self.y, w.batch_size, w.epochs)
        seconds = time.perf_counter() - t0
        return {"seconds": seconds, "weights": self.model.get_weights(),
                "loss": hist["loss"][-1]}

    _run_fit = _timed_fit


class NumpySystem(_Base):
    """The plain-NumPy reference (:mod:`bench.numpy_mlp`)."""

    name = "numpy"

    def _can_limit_threads(self):
        return importlib.util.find_spec("threadpoolctl") is not None

    def _threads(self, n):
        if not n:
            return contextlib.nullcontext()
        import threadpoolctl

        return threadpoolctl.threadpool_limits(n)

    def set_threads(self, n):
        if not self._can_limit_threads():
            raise RuntimeError("--threads needs threadpoolctl to limit NumPy's BLAS")
        self.fixed_threads = n

    def label(self):
        if not self._can_limit_threads():
            return f"{self.name} (default BLAS threads)"
        try:
            import threadpoolctl

            default = max(p["num_threads"] for p in threadpoolctl.threadpool_info())
        except ValueError:
            default = "?"
        return f"{self.name} ({self._threads_label(default)})"

    def _build(self):
        w = self.workload
        model = NumpyMLP(w.input_dim, w.layers, w.loss,
                         make_optimizer(w.optimizer, **w.optimizer_kwargs))
        model.set_weights(self.weights)
        return model

    def _predict(self, x):
        return self.model.predict(x)


class BlasFloorSystem(NumpySystem):
    """Matrix products only (:mod:`bench.blas_floor`); forward-only for predict."""

    name = "blas-floor"

    def _build(self):
        w = self.workload
        rows = w.batch_size if w.kind == "fit" else max(1, len(self.x))
        return BlasFloor(w.input_dim, w.units, rows)

    def _warm_call(self):
        if self.workload.kind == "fit":
            self.model.fit(self.x[:_warmup_rows(self.workload)])
        else:
            self._predict(self.x)

    def _predict(self, x):
        inp = x
        for weight, out in zip(self.model.weights, self.model.acts):
            out = out[:len(x)]
            np.dot(inp, weight, out=out)
            inp = out
        return None

    def _run_fit(self):
        t0 = time.perf_counter()
        self.model.fit(self.x, self.workload.epochs)
        return {"seconds": time.perf_counter() - t0}


class TorchSystem(_Base):
    """PyTorch CPU (:mod:`bench.torch_mlp`)."""

    name = "torch"
    _default = None

    def unavailable(self):
        if importlib.util.find_spec("torch") is None:
            return "skipped: not installed"
        import torch

        if self._default is None:
            self._default = torch.get_num_threads()
        return None

    def label(self):
        import torch

        return f"torch {torch.__version__} ({self._threads_label(self._default)})"

    def _can_limit_threads(self):
        return True

    @contextlib.contextmanager
    def _threads(self, n):
        import torch

        torch.set_num_threads(n or self._default)
        try:
            yield
        finally:
            torch.set_num_threads(self._default)

    def _build(self):
        from bench.torch_mlp import TorchMLP

        w = self.workload
        model = TorchMLP(w.input_dim, w.layers, w.loss, w.optimizer, w.optimizer_kwargs)
        model.set_weights(self.weights)
        return model

    def _predict(self, x):
        return self.model.predict(x)


class KerasAPISystem(_Base):
    """Any library with the Keras 3 API: fastmlp itself, or Keras.

    Parameters
    ----------
    module : str
        ``"fastmlp"`` or ``"keras"``.
    fresh_model : bool
        Build a new model (outside the timer) for every timed run, so each
        run also starts from fresh optimizer state.  Used for fastmlp, whose
        compiled kernels are shared by all models.  Keras retraces for every
        new model, so its one model is reused: its weights and a snapshot
        of its freshly built optimizer state are restored before each run.
    max_steps : int or None
        Time at most this many optimizer steps and extrapolate linearly to
        the full workload (for slow systems).
    """

    def __init__(self, module, fresh_model=True, max_steps=None):
        self.name = module
        self.fresh_model = fresh_model
        self.max_steps = max_steps
        self.mod = None

    def unavailable(self):
        if self.mod is not None:
            return None
        if importlib.util.find_spec(self.name) is None:
            return "skipped: not installed"
        if self.name == "keras" and "KERAS_BACKEND" not in os.environ \
                and importlib.util.find_spec("jax") is not None:
            # Keras reads its backend at import; prefer jax over a configured
            # backend that may not be installed (e.g. tensorflow).
            os.environ["KERAS_BACKEND"] = "jax"
        try:
            self.mod = importlib.import_module(self.name)
        except Exception as exc:  # noqa: BLE001 - e.g. a missing backend
            return f"skipped: import {self.name} failed: {type(exc).__name__}: {exc}"[:120]
        return None

    def label(self):
        if self.name == "keras":
            try:
                return f"keras {self.mod.__version__} ({self.mod.backend.backend()})"
            except Exception:  # noqa: BLE001 - only a label
                return "keras"
        try:
            return f"fastmlp {self.mod.__version__} ({self.mod.config.get_num_threads()} thr)"
        except Exception:  # noqa: BLE001 - only a label
            return self.name

    def set_threads(self, n):
        if self.name == "fastmlp":
            self.mod.config.set_num_threads(n)
        else:
            raise RuntimeError("keras' thread count cannot be changed after import")
        self.fixed_threads = n

    def _build(self):
        mod, w = self.mod, self.workload
        layers = [mod.Input((w.input_dim,))]
        layers += [mod.layers.Dense(u, activation=a) for u, a in w.layers]
        model = mod.Sequential(layers)
        opt_cls = {"sgd": mod.optimizers.SGD, "rmsprop": mod.optimizers.RMSprop,
                   "adam": mod.optimizers.Adam}[w.optimizer]
        model.compile(optimizer=opt_cls(**w.optimizer_kwargs), loss=w.loss)
        model.set_weights(self.weights)
        self._opt_state = None
        if not self.fresh_model:
            try:  # Keras 3: snapshot the fresh optimizer state to restore per run
                opt = model.optimizer
                if not opt.built:
                    opt.build(model.trainable_variables)
                self._opt_state = [np.array(v.numpy()) for v in opt.variables]
            except Exception:  # noqa: BLE001 - fall back to carrying state over
                self._opt_state = None
        return model

    def _reset(self):
        """Reset the reused model to the initial weights and optimizer state."""
        self.model.set_weights(self.weights)
        if self._opt_state is None:
            return False
        for v, value in zip(self.model.optimizer.variables, self._opt_state):
            v.assign(value)
        return True

    def _warm_call(self):
        w = self.workload
        if w.kind == "fit":
            k = _warmup_rows(w)
            self.model.fit(self.x[:k], self.y[:k], batch_size=w.batch_size, epochs=1,
                           shuffle=False, verbose=0)
        else:
            self._predict(self.x)

    def _predict(self, x):
        return self.model.predict(x, verbose=0)

    def _schedule(self):
        """Rows, epochs and the extrapolation factor for the timed run."""
        w = self.workload
        if not self.max_steps or w.steps <= self.max_steps:
            return w.n_rows, w.epochs, 1.0
        per_epoch = -(-w.n_rows // w.batch_size)
        if w.epochs > 1:
            epochs = max(1, math.ceil(self.max_steps / per_epoch))
            return w.n_rows, epochs, w.steps / (per_epoch * epochs)
        return self.max_steps * w.batch_size, 1, w.steps / self.max_steps

    def _run_fit(self):
        w = self.workload
        exact = True
        if self.fresh_model:
            self.model = self._build()
        else:
            exact = self._reset()
        rows, epochs, factor = self._schedule()
        x, y = self.x[:rows], self.y[:rows]
        t0 = time.perf_counter()
        hist = self.model.fit(x, y, batch_size=w.batch_size, epochs=epochs,
                              shuffle=False, verbose=0)
        seconds = time.perf_counter() - t0
        result = {"seconds": seconds * factor, "loss": float(hist.history["loss"][-1])}
        notes = []
        if factor != 1.0:
            steps = round(w.steps / factor)
            notes.append(f"extrapolated x{factor:.1f} from {steps} of {w.steps} steps "
                         f"({seconds:.2f} s measured)")
            result["loss"] = None
        if exact and factor == 1.0:
            result["weights"] = [np.asarray(a) for a in self.model.get_weights()]
        if not exact:
            notes.append("model reused: weights reset, optimizer state carried over")
        result["note"] = "; ".join(notes)
        return result


def make_systems(names=SYSTEM_NAMES, keras_max_steps=320):
    """Instantiate the adapters named in ``names``, in the canonical order."""
    factories = {
        "fastmlp": lambda: KerasAPISystem("fastmlp", fresh_model=True),
        "numpy": NumpySystem,
        "blas-floor": BlasFloorSystem,
        "torch": TorchSystem,
        "keras": lambda: KerasAPISystem("keras", fresh_model=False,
                                        max_steps=keras_max_steps),
    }
    return [factories[n]() for n in SYSTEM_NAMES if n in names]
