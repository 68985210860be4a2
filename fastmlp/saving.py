"""Saving and loading whole models: one zip file of JSON and ``.npy`` arrays, never pickle.

A model file is a zip archive with these members:

``config.json``
    The architecture (model name, input width, float type, each layer's class
    and ``get_config()``), the compile settings (optimizer class and config,
    loss class and config, metric names), ``format``, ``format_version``,
    ``fastmlp_version``, whether optimizer state is stored, and an optional
    user ``metadata`` dict (any JSON object; the command line tool keeps its
    preprocessing, class names and target column there).
``weights/0.npy``, ``weights/1.npy``, ...
    The variables in :meth:`fastmlp.Sequential.get_weights` order.
``optimizer/slots.npy``, ``optimizer/step.npy``
    The optimizer's slot buffers (rows x parameters) and its update count,
    present once the model has been trained, so that training can resume.

Arrays are stored uncompressed, so no member can expand beyond the size of the
file, and every array is read with ``np.load(..., allow_pickle=False)`` after
its header has been checked against the shape the architecture implies.
Files are written to a temporary file in the target directory and moved into
place with :func:`os.replace`, so a failed save leaves any existing file intact.

Examples
--------
>>> model.save("iris.fastmlp")                                # doctest: +SKIP
>>> model = fastmlp.saving.load_model("iris.fastmlp")          # doctest: +SKIP
"""

import contextlib
import io
import json
import math
import os
import random
import tempfile
import warnings
import zipfile

import numpy as np

from . import config as config_module, layers as layers_module, losses, metrics as metrics_module
from . import optimizers
from .engine import SLOT_ROWS

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelFileError", "atomic_write", "load_model",
           "load_model_with_metadata", "save_model", "unwritable"]

FORMAT = "fastmlp.model"
FORMAT_VERSION = 1
CONFIG_MEMBER = "config.json"
SLOTS_MEMBER = "optimizer/slots.npy"
STEP_MEMBER = "optimizer/step.npy"
MAX_CONFIG_BYTES = 16 * 2**20
# Room for an .npy header (magic, version, length and the padded dict) above the data.
NPY_HEADER_BYTES = 4096
_DTYPES = ("float32", "float64")
_LAYER_CLASSES = {"Dense": layers_module.Dense, "Activation": layers_module.Activation}
_OPTIMIZER_CLASSES = {cls.__name__: cls for cls in (
    optimizers.SGD, optimizers.RMSprop, optimizers.Adagrad, optimizers.Adam)}
_LOSS_CLASSES = {cls.__name__: cls for cls in (
    losses.MeanSquaredError, losses.MeanAbsoluteError, losses.Huber,
    losses.BinaryCrossentropy, losses.CategoricalCrossentropy,
    losses.SparseCategoricalCrossentropy)}
_TOP_KEYS = {"format", "format_version", "fastmlp_version", "model", "compile",
             "optimizer_state", "metadata"}
_MODEL_KEYS = {"class_name", "name", "input_width", "dtype", "layers"}
_COMPILE_KEYS = {"optimizer", "loss", "metrics"}
_EPOCH = (1980, 1, 1, 0, 0, 0)


class ModelFileError(ValueError):
    """A file is not a valid fastmlp model; the message names the file and the problem."""


# ---------------------------------------------------------------------- writing


def unwritable(path):
    """Why a file cannot be written at ``path``, or None if it can.

    Parameters
    ----------
    path : str
        The file to write.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"{path!r} is a directory."
    if not os.path.isdir(directory):
        return f"cannot write {path!r}: directory {directory!r} does not exist."
    if not os.access(directory, os.W_OK):
        return f"cannot write {path!r}: directory {directory!r} is not writable."
    return None


@contextlib.contextmanager
def atomic_write(filepath):
    """Open a binary file that replaces ``filepath`` only once the block succeeds.

    The data goes to a temporary file in the same directory, which is flushed
    to disk and then moved over ``filepath`` with :func:`os.replace`. When the
    block raises, the temporary file is removed and ``filepath`` is untouched.
    An existing file keeps its permission bits.

    Parameters
    ----------
    filepath : str or os.PathLike

    Yields
    ------
    file
        A binary file object open for writing.
    """
    path = os.fspath(filepath)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                                suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, _mode_for(path))
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _mode_for(path):
    """Permission bits for a new file at ``path``: the old file's, else 0o666 less umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def save_model(model, filepath, metadata=None):
    """Write a model (architecture, compile settings, weights, optimizer state) to a file.

    Parameters
    ----------
    model : fastmlp.Sequential
        A built model (compiled or not).
    filepath : str or os.PathLike
        Where to write; an existing file is replaced atomically.
    metadata : dict, optional
        Any JSON-serializable dict, stored as is and returned by
        :func:`load_model_with_metadata`.

    Raises
    ------
    ValueError
        When the model is not built or ``metadata`` is not a JSON-serializable
        dict; nothing is written then.
    OSError
        When the file cannot be written; an existing file is left as it was.

    Notes
    -----
    Metrics given as Python functions, or as metric objects whose name is not a
    registered metric name, cannot be stored: they are left out with a warning
    (pass them to ``compile`` again after loading).
    """
    from .models import Sequential

    if not isinstance(model, Sequential):
        raise ValueError(f"save_model: model must be a fastmlp.Sequential; got {model!r}.")
    if not model.built:
        raise ValueError(f"save_model: model {model.name!r} is not built yet; call build() "
                         f"or fit() first, or start it with fastmlp.Input((n_features,)).")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"save_model: metadata must be a dict; got "
                         f"{type(metadata).__name__}.")
    state = model.optimizer.state if model.compiled and model.optimizer is not None else None
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastmlp_version": _version(),
        "model": _model_config(model),
        "compile": _compile_config(model) if model.compiled else None,
        "optimizer_state": state is not None,
        "metadata": metadata,
    }
    try:
        text = json.dumps(config, indent=1, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"save_model: metadata must hold only JSON values (dict, list, str, "
                         f"finite numbers, bool, None): {exc}.") from None
    arrays = [(f"weights/{i}.npy", w) for i, w in enumerate(model.get_weights())]
    if state is not None:
        arrays += [(SLOTS_MEMBER, state.slots), (STEP_MEMBER, np.int64(state.step))]
    with atomic_write(filepath) as f, zipfile.ZipFile(f, "w") as archive:
        info = zipfile.ZipInfo(CONFIG_MEMBER, _EPOCH)
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, text.encode("utf-8"))
        for name, array in arrays:
            info = zipfile.ZipInfo(name, _EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            with archive.open(info, "w", force_zip64=True) as member:
                np.save(member, np.asarray(array), allow_pickle=False)


def _version():
    from . import __version__

    return __version__


def _model_config(model):
    layers = []
    for layer in model.layers:
        config = layer.get_config()
        for key, default in (("kernel_initializer", "glorot_uniform"),
                             ("bias_initializer", "zeros")):
            if key in config and not _known_initializer(config[key]):
                config[key] = default
        layers.append({"class_name": type(layer).__name__, "config": config})
    return {"class_name": "Sequential", "name": model.name, "input_width": model.input_width,
            "dtype": model.engine.dtype.name, "layers": layers}


def _known_initializer(name):
    from . import initializers

    with _kept_random_state():
        try:
            initializers.get(name)
        except ValueError:
            return False
    return True


def _compile_config(model):
    optimizer, loss = model.optimizer, model.loss
    metric_names = []
    for spec in model._metric_specs:
        name = spec if isinstance(spec, str) else getattr(spec, "name", None)
        if isinstance(name, str) and _known_metric(name):
            metric_names.append(name)
        else:
            warnings.warn(f"save_model: metric {name!r} is not a built-in metric name and is "
                          f"not saved; pass it to compile() again after loading.", stacklevel=3)
    return {
        "optimizer": {"class_name": type(optimizer).__name__, "config": optimizer.get_config()},
        "loss": {"class_name": type(loss).__name__, "config": loss.get_config()},
        "metrics": metric_names,
    }


def _known_metric(name):
    try:
        return isinstance(metrics_module.get(name), (str, metrics_module.Metric))
    except ValueError:
        return False


@contextlib.contextmanager
def _kept_random_state():
    """Leave Python's ``random`` as it was (initializers draw their seeds from it)."""
    state = random.getstate()
    try:
        yield
    finally:
        random.setstate(state)


# ---------------------------------------------------------------------- reading


def load_model(filepath, compile=True):
    """Read a model written by :func:`save_model` (or ``model.save``).

    Parameters
    ----------
    filepath : str or os.PathLike
    compile : bool
        Restore the compile settings and optimizer state (default); with
        False the model is returned uncompiled.

    Returns
    -------
    fastmlp.Sequential
        Built, with the saved weights; compiled with the saved optimizer (and
        its slots and step, so ``fit`` resumes where training stopped), loss
        and metrics when the file has them.

    Raises
    ------
    ModelFileError
        A ``ValueError`` naming the file and what is wrong when the file is
        missing, not a zip archive, truncated or corrupted, of another format
        version, lacks or has extra members, holds arrays of the wrong shape or
        dtype, oversized members, or a pickled object.
    """
    return load_model_with_metadata(filepath, compile)[0]


def load_model_with_metadata(filepath, compile=True):
    """Read a model and the ``metadata`` dict it was saved with.

    Parameters
    ----------
    filepath : str or os.PathLike
    compile : bool
        As in :func:`load_model`.

    Returns
    -------
    model : fastmlp.Sequential
    metadata : dict or None
        What was passed to :func:`save_model` as ``metadata``.

    Raises
    ------
    ModelFileError
        As :func:`load_model`.
    """
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such file.")
    if os.path.isdir(path):
        raise ModelFileError(f"{path}: is a directory, not a fastmlp model file.")
    reader = _Reader(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return reader.read(archive, compile)
    except zipfile.BadZipFile as exc:
        raise reader.error(f"not a valid fastmlp model file (not a zip archive or corrupted: "
                           f"{exc}).") from None
    except (OSError, EOFError) as exc:
        raise reader.error(f"cannot read the file ({exc}).") from None


class _Reader:
    """Reads and checks one model file; every problem becomes a ModelFileError."""

    def __init__(self, path):
        self.path = path
        self.size = os.path.getsize(path)

    def error(self, message):
        return ModelFileError(f"{self.path}: {message}")

    def read(self, archive, compile):
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            duplicate = next(name for name in names if names.count(name) > 1)
            raise self.error(f"member {duplicate!r} appears twice.")
        members = dict(zip(names, infos))
        if CONFIG_MEMBER not in members:
            raise self.error(f"not a fastmlp model file: it has no {CONFIG_MEMBER} "
                             f"(members: {', '.join(names[:5]) or 'none'}).")
        config = self._config(archive, members[CONFIG_MEMBER])
        layers, width, dtype, model_config = self._architecture(config["model"])
        compiled = self._compile_objects(config["compile"])
        shapes = _weight_shapes(layers, width)
        expected = {f"weights/{i}.npy": (shape, dtype) for i, shape in enumerate(shapes)}
        n_params = sum(math.prod(shape) for shape in shapes)
        if config["optimizer_state"]:
            if compiled is None:
                raise self.error("config.json: optimizer_state is true but compile is null.")
            rows = SLOT_ROWS[compiled[0].code]
            expected[SLOTS_MEMBER] = ((rows, n_params), dtype)
            expected[STEP_MEMBER] = ((), np.dtype(np.int64))
        self._check_members(members, expected)
        arrays = {name: self._array(archive, members[name], shape, want)
                  for name, (shape, want) in expected.items()}
        if config["optimizer_state"] and arrays[STEP_MEMBER] < 0:
            raise self.error(f"{STEP_MEMBER} holds a negative step count "
                             f"{int(arrays[STEP_MEMBER])}.")
        model = self._model(model_config, layers, width, dtype)
        model.set_weights([arrays[f"weights/{i}.npy"] for i in range(len(shapes))])
        if compile and compiled is not None:
            optimizer, loss, metric_names = compiled
            model.compile(optimizer=optimizer, loss=loss, metrics=metric_names)
            if config["optimizer_state"]:
                state = optimizer.build(model.engine.layout.size, model.engine.dtype)
                state.slots[...] = arrays[SLOTS_MEMBER]
                state.step = int(arrays[STEP_MEMBER])
        return model, config["metadata"]

    # ------------------------------------------------------------ members

    def _read_member(self, archive, info, limit):
        """Return the bytes of a member after checking its declared size against ``limit``."""
        if info.flag_bits & 0x1:
            raise self.error(f"member {info.filename!r} is encrypted.")
        if info.file_size > limit:
            raise self.error(f"member {info.filename!r} is too large: it declares "
                             f"{info.file_size:,} bytes, at most {limit:,} are expected.")
        with archive.open(info) as member:
            data = member.read(limit + 1)
        if len(data) != info.file_size:
            raise self.error(f"member {info.filename!r} is truncated or corrupted.")
        return data

    def _config(self, archive, info):
        data = self._read_member(archive, info, MAX_CONFIG_BYTES)
        try:
            config = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise self.error(f"{CONFIG_MEMBER} is not valid JSON ({exc}).") from None
        if not isinstance(config, dict):
            raise self.error(f"{CONFIG_MEMBER} must hold a JSON object; got "
                             f"{type(config).__name__}.")
        if config.get("format") != FORMAT:
            raise self.error(f"not a fastmlp model file: {CONFIG_MEMBER} has format "
                             f"{config.get('format')!r}, expected {FORMAT!r}.")
        version = config.get("format_version")
        if version != FORMAT_VERSION or isinstance(version, bool):
            newer = isinstance(version, int) and version > FORMAT_VERSION
            hint = " (written by a newer fastmlp; upgrade to read it)" if newer else ""
            raise self.error(f"unsupported format_version {version!r}; this fastmlp reads "
                             f"version {FORMAT_VERSION}{hint}.")
        self._keys(config, "", _TOP_KEYS)
        if not isinstance(config["fastmlp_version"], str):
            raise self.error("config.json: fastmlp_version must be a string.")
        if not isinstance(config["optimizer_state"], bool):
            raise self.error("config.json: optimizer_state must be true or false.")
        if config["metadata"] is not None and not isinstance(config["metadata"], dict):
            raise self.error("config.json: metadata must be an object or null.")
        return config

    def _keys(self, mapping, where, expected):
        if not isinstance(mapping, dict):
            raise self.error(f"config.json: {where} must be an object; got "
                             f"{type(mapping).__name__}.")
        missing, extra = expected - set(mapping), set(mapping) - expected
        if missing or extra:
            parts = ([f"missing {sorted(missing)}"] if missing else []) + (
                [f"unexpected {sorted(extra)}"] if extra else [])
            raise self.error(f"config.json: {where or 'the top level'} has "
                             f"{' and '.join(parts)} keys.")

    def _check_members(self, members, expected):
        missing = [name for name in expected if name not in members]
        if missing:
            raise self.error(f"member {missing[0]!r} is missing (truncated or incomplete "
                             f"file?).")
        extra = [name for name in members if name != CONFIG_MEMBER and name not in expected]
        if extra:
            raise self.error(f"unexpected member {extra[0]!r}.")
        needed = sum(math.prod(shape) * dtype.itemsize for shape, dtype in expected.values())
        if needed > self.size:
            raise self.error(f"the architecture needs {needed:,} bytes of arrays but the file "
                             f"has {self.size:,} bytes (truncated?).")

    def _array(self, archive, info, shape, dtype):
        """Read one .npy member, checking header, shape and dtype before the data."""
        name = info.filename
        if info.compress_type != zipfile.ZIP_STORED:
            raise self.error(f"member {name!r} is compressed; fastmlp stores arrays "
                             f"uncompressed.")
        limit = min(math.prod(shape) * dtype.itemsize + NPY_HEADER_BYTES, self.size)
        data = self._read_member(archive, info, limit)
        stream = io.BytesIO(data)
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                header = np.lib.format.read_array_header_1_0(stream)
            elif version == (2, 0):
                header = np.lib.format.read_array_header_2_0(stream)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except ValueError as exc:
            if data[:1] == b"\x80":
                raise self.error(f"member {name!r} holds a pickled object; fastmlp never "
                                 f"loads pickles.") from None
            raise self.error(f"member {name!r} is not a valid .npy array ({exc}).") from None
        found_shape, _, found_dtype = header
        if found_dtype.hasobject:
            raise self.error(f"member {name!r} holds pickled Python objects (dtype "
                             f"{found_dtype}); fastmlp never loads pickles.")
        if found_shape != shape:
            raise self.error(f"member {name!r} has shape {found_shape}; the architecture "
                             f"needs {shape}.")
        if found_dtype != dtype:
            raise self.error(f"member {name!r} has dtype {found_dtype}; expected {dtype}.")
        stream.seek(0)
        try:
            array = np.load(stream, allow_pickle=False)
        except ValueError as exc:
            raise self.error(f"member {name!r} is not a valid .npy array ({exc}).") from None
        return array

    # ------------------------------------------------------------ objects

    def _architecture(self, config):
        """Return the layers, input width and dtype described by ``config["model"]``."""
        self._keys(config, "model", _MODEL_KEYS)
        if config["class_name"] != "Sequential":
            raise self.error(f"config.json: model.class_name must be 'Sequential'; got "
                             f"{config['class_name']!r}.")
        if not isinstance(config["name"], str) or not config["name"]:
            raise self.error("config.json: model.name must be a non-empty string.")
        width = config["input_width"]
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise self.error(f"config.json: model.input_width must be a positive integer; "
                             f"got {width!r}.")
        if config["dtype"] not in _DTYPES:
            raise self.error(f"config.json: model.dtype must be one of {list(_DTYPES)}; got "
                             f"{config['dtype']!r}.")
        dtype = np.dtype(config["dtype"])
        if dtype != config_module.float_dtype():
            raise self.error(f"the model was saved with {dtype} weights but fastmlp uses "
                             f"{config_module.floatx()}; call fastmlp.config.set_floatx("
                             f"{dtype.name!r}) before loading it.")
        entries = config["layers"]
        if not isinstance(entries, list) or not entries:
            raise self.error("config.json: model.layers must be a non-empty list.")
        layers = []
        with _kept_random_state():
            for i, entry in enumerate(entries):
                where = f"model.layers[{i}]"
                self._keys(entry, where, {"class_name", "config"})
                cls = _LAYER_CLASSES.get(entry["class_name"])
                if cls is None:
                    raise self.error(f"config.json: {where}.class_name must be one of "
                                     f"{sorted(_LAYER_CLASSES)}; got {entry['class_name']!r}.")
                layers.append(self._construct(cls, entry["config"], where))
        names = [layer.name for layer in layers]
        if len(set(names)) != len(names):
            raise self.error("config.json: layer names must be unique.")
        return layers, width, dtype, config

    def _construct(self, cls, config, where):
        if not isinstance(config, dict):
            raise self.error(f"config.json: {where}.config must be an object.")
        try:
            return cls(**config)
        except (TypeError, ValueError) as exc:
            raise self.error(f"config.json: {where} is invalid: {exc}") from None

    def _compile_objects(self, config):
        """Return ``(optimizer, loss, metric names)`` or None for an uncompiled model."""
        if config is None:
            return None
        self._keys(config, "compile", _COMPILE_KEYS)
        optimizer = self._registered(config["optimizer"], "compile.optimizer",
                                     _OPTIMIZER_CLASSES)
        loss = self._registered(config["loss"], "compile.loss", _LOSS_CLASSES)
        metric_names = config["metrics"]
        if not isinstance(metric_names, list) or not all(
                isinstance(name, str) and _known_metric(name) for name in metric_names):
            raise self.error(f"config.json: compile.metrics must be a list of metric names; "
                             f"got {metric_names!r}.")
        return optimizer, loss, metric_names

    def _registered(self, entry, where, classes):
        self._keys(entry, where, {"class_name", "config"})
        cls = classes.get(entry["class_name"])
        if cls is None:
            raise self.error(f"config.json: {where}.class_name must be one of "
                             f"{sorted(classes)}; got {entry['class_name']!r}.")
        return self._construct(cls, entry["config"], where)

    def _model(self, config, layers, width, dtype):
        from .models import Sequential

        model = Sequential(name=config["name"])
        for layer in layers:
            model.add(layer)
        model.build((None, width))
        if model.engine.dtype != dtype:
            raise self.error(f"the model was saved with {dtype} weights but builds with "
                             f"{model.engine.dtype}.")
        return model


def _weight_shapes(layers, width):
    """Shapes of the variables of ``layers`` on inputs of ``width``, in weights order."""
    shapes = []
    for layer in layers:
        if isinstance(layer, layers_module.Dense):
            shapes.append((width, layer.units))
            if layer.use_bias:
                shapes.append((layer.units,))
            width = layer.units
    return shapes


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")
