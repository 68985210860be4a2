"""Turning a :class:`~fastmlp.data.Table` into model inputs.

:class:`TabularPreprocessor` is fitted on training data.  It then turns any
table with the same columns into a float32 feature matrix ``X`` (numeric
columns standardised, text columns one-hot encoded) and a target ``y``
(class indices for classification, float32 for regression).  Its fitted
state is a plain JSON-able dict (:meth:`TabularPreprocessor.to_config`).
"""

import copy
import math

import numpy as np

__all__ = ["CLASSIFICATION", "REGRESSION", "PreprocessingError", "TabularPreprocessor"]

CLASSIFICATION = "classification"
REGRESSION = "regression"
_TASKS = (CLASSIFICATION, REGRESSION)
_FORMAT = "fastmlp.TabularPreprocessor"
_VERSION = 1
_NUMERIC, _TEXT = "numeric", "text"


class PreprocessingError(ValueError):
    """A table, a setting or a stored config does not suit the preprocessor."""


class TabularPreprocessor:
    """Standardise numeric columns, one-hot encode text columns, encode the
    target.

    Parameters
    ----------
    target : str or int, optional
        Target column, by name or position (negative positions count from
        the end).  Default: the last column.
    drop : sequence of str or int, optional
        Columns to leave out of the features, by name or position.
    task : {"classification", "regression"}, optional
        Default: classification when the target holds text, or integers with
        few distinct values (at most `max_classes`, and at most half the
        number of rows, or 2); regression otherwise.
    max_classes : int, default 20
        Most distinct integers a numeric target may hold to be guessed as a
        classification target.

    Attributes
    ----------
    target_name : str
        Name of the target column (once fitted).
    target_type : str
        "numeric" or "text": how the target column was read in training.
    task : str
        "classification" or "regression" (once fitted).
    classes : list of str or None
        Class names of a classification target, sorted (numerically for a
        numeric target); class ``i`` is ``classes[i]``.  None for regression.
    dropped : list of str
        Names of the columns left out.
    features : list of dict
        One entry per feature column, in order: ``{"name", "type":
        "numeric", "mean", "std"}`` or ``{"name", "type": "text",
        "categories"}``.

    Examples
    --------
    >>> prep = TabularPreprocessor(target="species")
    >>> X, y = prep.fit_transform(read_csv("iris.csv"))      # doctest: +SKIP
    >>> X_new, _ = prep.transform(read_csv("new.csv"))        # doctest: +SKIP
    """

    def __init__(self, target=None, drop=(), task=None, max_classes=20):
        if target is not None and not isinstance(target, (str, int)):
            raise PreprocessingError(f"target must be a column name or index, got {target!r}")
        if task is not None and task not in _TASKS:
            raise PreprocessingError(f"task must be one of {_TASKS}, got {task!r}")
        if not isinstance(max_classes, int) or max_classes < 2:
            raise PreprocessingError(f"max_classes must be an integer >= 2, got {max_classes!r}")
        self._target = -1 if target is None else target
        self._drop = list(drop)
        self._max_classes = max_classes
        self._task = task
        self.task = None
        self.target_name = None
        self.target_type = None
        self.classes = None
        self.dropped = None
        self.features = None

    # ------------------------------------------------------------------
    # Fitting and transforming.

    @property
    def is_fitted(self):
        """bool: Whether :meth:`fit` (or :meth:`from_config`) has set the state."""
        return self.features is not None

    def fit(self, table):
        """Learn the target encoding and the feature transforms from a table.

        Parameters
        ----------
        table : fastmlp.data.Table
            Training data.

        Returns
        -------
        TabularPreprocessor
            self.

        Raises
        ------
        PreprocessingError
            When the target or a dropped column does not exist (the message
            lists the columns), no feature column is left, the table has no
            rows, the target has a single class, a regression target holds
            text, or a numeric column holds non-finite values.
        """
        if table.n_rows == 0:
            raise PreprocessingError(f"{table.source}: cannot fit on a table with no rows")
        target = _column_name(table, self._target, "target")
        dropped = [_column_name(table, key, "drop") for key in self._drop]
        if target in dropped:
            raise PreprocessingError(f"column {target!r} is the target; it cannot be dropped")
        names = [name for name in table.names if name != target and name not in dropped]
        if not names:
            raise PreprocessingError(f"{table.source}: no feature columns left")

        values = table[target]
        target_type = _NUMERIC if table.is_numeric(target) else _TEXT
        if target_type == _NUMERIC:
            _check_finite(table, target)
        task = self._task or _guess_task(values, target_type, self._max_classes)
        classes = None
        if task == CLASSIFICATION:
            classes = _sorted_labels(values)
            if len(classes) < 2:
                raise PreprocessingError(
                    f"{table.source}: target column {target!r} has a single class "
                    f"{classes[0]!r}; classification needs at least two"
                )
        elif target_type == _TEXT:
            raise PreprocessingError(
                f"{table.source}: target column {target!r} holds text; "
                "regression needs a numeric target"
            )

        features = []
        for name in names:
            column = table[name]
            if table.is_numeric(name):
                _check_finite(table, name)
                std = float(np.std(column, dtype=np.float64))
                features.append({
                    "name": name,
                    "type": _NUMERIC,
                    "mean": float(np.mean(column, dtype=np.float64)),
                    "std": std if std > 0 else 1.0,
                })
            else:
                categories = _sorted_labels(column)
                features.append({"name": name, "type": _TEXT, "categories": categories})

        self.task, self.target_name, self.target_type = task, target, target_type
        self.classes, self.dropped, self.features = classes, dropped, features
        return self

    def transform(self, table):
        """Turn a table into model inputs.

        Parameters
        ----------
        table : fastmlp.data.Table
            Data with (at least) the feature columns seen in training, in any
            order; other columns are ignored.  The target column may be
            absent.

        Returns
        -------
        X : numpy.ndarray of float32, shape (n_rows, n_outputs)
            Standardised numeric columns and one-hot text columns, in the
            order of :attr:`output_names`.  Unknown categories encode as all
            zeros.
        y : numpy.ndarray or None
            Class indices (int64) for classification, float32 values for
            regression; None when the table has no target column.

        Raises
        ------
        PreprocessingError
            When feature columns are missing (all are listed), a numeric
            feature holds text or non-finite values, or the target holds
            classes not seen in training.
        """
        self._check_fitted()
        missing = [f["name"] for f in self.features if f["name"] not in table]
        if missing:
            raise PreprocessingError(
                f"{table.source}: missing columns used in training: "
                f"{_quoted(missing)} (the table has {_quoted(table.names)})"
            )
        X = np.zeros((table.n_rows, self.n_outputs), np.float32)
        offset = 0
        for feature in self.features:
            name = feature["name"]
            if feature["type"] == _NUMERIC:
                if not table.is_numeric(name):
                    raise PreprocessingError(
                        f"{table.source}: column {name!r} holds text, but held "
                        "numbers in training"
                    )
                _check_finite(table, name)
                X[:, offset] = (table[name] - feature["mean"]) / feature["std"]
                offset += 1
            else:
                codes = _codes(table[name], feature["categories"])
                known = codes >= 0
                X[np.flatnonzero(known), offset + codes[known]] = 1.0
                offset += len(feature["categories"])
        return X, self._encode_target(table)

    def fit_transform(self, table):
        """Fit on a table and transform it.

        Parameters
        ----------
        table : fastmlp.data.Table

        Returns
        -------
        X, y : numpy.ndarray
            As :meth:`transform`; y is never None.
        """
        return self.fit(table).transform(table)

    def decode_target(self, y):
        """Turn model outputs back into target values.

        Parameters
        ----------
        y : array_like
            Class indices (classification) or values (regression).

        Returns
        -------
        numpy.ndarray
            Class names (str) or float values.
        """
        self._check_fitted()
        if self.task == REGRESSION:
            return np.asarray(y, dtype=np.float64)
        y = np.asarray(y)
        if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= len(self.classes))):
            raise PreprocessingError(
                f"class indices must be integers in [0, {len(self.classes)})"
            )
        return np.array(self.classes)[y]

    def _encode_target(self, table):
        if self.target_name not in table:
            return None
        values = table[self.target_name]
        if self.task == REGRESSION:
            if not table.is_numeric(self.target_name):
                raise PreprocessingError(
                    f"{table.source}: target column {self.target_name!r} holds text; "
                    "the model predicts numbers"
                )
            _check_finite(table, self.target_name)
            return values.astype(np.float32)
        codes = _codes(values, self.classes)
        if (codes < 0).any():
            unknown = sorted(set(_labels(values[codes < 0])))
            raise PreprocessingError(
                f"{table.source}: target column {self.target_name!r} has classes not "
                f"seen in training: {_quoted(unknown[:10])}"
                f"{' ...' if len(unknown) > 10 else ''} (known: {_quoted(self.classes)})"
            )
        return codes

    # ------------------------------------------------------------------
    # Describing the fitted state.

    @property
    def feature_names(self):
        """list of str: The input columns used as features, in order."""
        self._check_fitted()
        return [f["name"] for f in self.features]

    @property
    def output_names(self):
        """list of str: Names of the columns of X (``"color=red"`` for a
        one-hot column)."""
        self._check_fitted()
        names = []
        for f in self.features:
            if f["type"] == _NUMERIC:
                names.append(f["name"])
            else:
                names.extend(f"{f['name']}={category}" for category in f["categories"])
        return names

    @property
    def n_outputs(self):
        """int: The number of columns of X."""
        self._check_fitted()
        return sum(1 if f["type"] == _NUMERIC else len(f["categories"]) for f in self.features)

    def column_types(self):
        """Column types to read new data with, for :func:`fastmlp.data.read_csv`.

        Reading with them keeps text columns as text even when their values
        look like numbers, and reports a non-number in a numeric column with
        its line.

        Returns
        -------
        dict of str to {"numeric", "text"}
        """
        self._check_fitted()
        types = {f["name"]: f["type"] for f in self.features}
        types[self.target_name] = self.target_type
        return types

    def _check_fitted(self):
        if not self.is_fitted:
            raise PreprocessingError("the preprocessor is not fitted; call fit() first")

    # ------------------------------------------------------------------
    # Serialisation.

    def to_config(self):
        """Return the fitted state as a JSON-able dict.

        Returns
        -------
        dict
            Holds only str, float, list, dict and None values.
        """
        self._check_fitted()
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "target": self.target_name,
            "target_type": self.target_type,
            "task": self.task,
            "classes": None if self.classes is None else list(self.classes),
            "dropped": list(self.dropped),
            "features": copy.deepcopy(self.features),
        }

    @classmethod
    def from_config(cls, config):
        """Rebuild a fitted preprocessor from :meth:`to_config` output.

        Parameters
        ----------
        config : dict

        Returns
        -------
        TabularPreprocessor

        Raises
        ------
        PreprocessingError
            When any field is missing, unexpected or invalid.
        """
        _check_keys(config, "config", {
            "format", "version", "target", "target_type", "task", "classes", "dropped",
            "features",
        })
        if config["format"] != _FORMAT or config["version"] != _VERSION:
            _invalid("format/version", f"expected {_FORMAT!r} version {_VERSION}, got "
                     f"{config['format']!r} version {config['version']!r}")
        target = config["target"]
        if not isinstance(target, str):
            _invalid("target", f"must be a string, got {target!r}")
        if config["target_type"] not in (_NUMERIC, _TEXT):
            _invalid("target_type", f"must be 'numeric' or 'text', got {config['target_type']!r}")
        task = config["task"]
        if task not in _TASKS:
            _invalid("task", f"must be one of {_TASKS}, got {task!r}")
        if task == CLASSIFICATION:
            classes = _check_strings(config["classes"], "classes")
            if len(classes) < 2:
                _invalid("classes", "classification needs at least two classes")
        elif config["classes"] is not None:
            _invalid("classes", "must be null for regression")
        elif config["target_type"] != _NUMERIC:
            _invalid("target_type", "must be 'numeric' for regression")
        dropped = _check_strings(config["dropped"], "dropped")
        features = config["features"]
        if not isinstance(features, list) or not features:
            _invalid("features", "must be a non-empty list")
        names = [_check_feature(f, f"features[{i}]") for i, f in enumerate(features)]
        used = names + dropped + [target]
        if len(set(used)) != len(used):
            _invalid("features", "feature, dropped and target column names must be distinct")

        prep = cls(target=target, drop=dropped, task=task)
        prep.task, prep.target_name, prep.target_type = task, target, config["target_type"]
        prep.classes = None if task == REGRESSION else list(config["classes"])
        prep.dropped = list(dropped)
        prep.features = copy.deepcopy(features)
        return prep


# ----------------------------------------------------------------------
# Helpers.


def _column_name(table, key, role):
    """Resolve a column given by name or position, with a clear error."""
    names = table.names
    if isinstance(key, str):
        if key in table:
            return key
    elif isinstance(key, (int, np.integer)) and -len(names) <= key < len(names):
        return names[key]
    raise PreprocessingError(
        f"{table.source}: {role} column {key!r} not found; "
        f"available columns: {_quoted(names)}"
    )


def _guess_task(values, target_type, max_classes):
    if target_type == _TEXT:
        return CLASSIFICATION
    if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
        return REGRESSION
    n_distinct = len(np.unique(values))
    limit = min(max_classes, max(2, len(values) // 2))
    return CLASSIFICATION if n_distinct <= limit else REGRESSION


def _label(value):
    """The class or category name of a cell: text as is, integral numbers
    without a decimal point (1.0 -> "1"), other numbers by repr."""
    if isinstance(value, str):
        return value
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _labels(values):
    return [_label(value) for value in values.tolist()]


def _sorted_labels(values):
    """Distinct labels of a column, sorted (numerically for numbers)."""
    return _labels(np.unique(values))


def _codes(values, labels):
    """Position of each value's label in `labels`, or -1 when absent."""
    index = {label: i for i, label in enumerate(labels)}
    distinct, inverse = np.unique(values, return_inverse=True)
    distinct_codes = np.array([index.get(label, -1) for label in _labels(distinct)], np.int64)
    return distinct_codes[inverse.reshape(-1)]


def _check_finite(table, name):
    if not np.all(np.isfinite(table[name])):
        raise PreprocessingError(f"{table.source}: column {name!r} has non-finite values")


def _quoted(names):
    return ", ".join(repr(name) for name in names)


def _invalid(field, message):
    raise PreprocessingError(f"invalid preprocessor config: {field} {message}")


def _check_keys(mapping, field, expected):
    if not isinstance(mapping, dict):
        _invalid(field, f"must be a dict, got {type(mapping).__name__}")
    if set(mapping) != expected:
        _invalid(field, f"must have the keys {sorted(expected)}, got {sorted(mapping)}")


def _check_strings(values, field):
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        _invalid(field, f"must be a list of strings, got {values!r}")
    if len(set(values)) != len(values):
        _invalid(field, "must not repeat names")
    return values


def _check_number(value, field):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _invalid(field, f"must be a finite number, got {value!r}")


def _check_feature(feature, field):
    """Validate one feature entry and return its name."""
    if not isinstance(feature, dict):
        _invalid(field, f"must be a dict, got {type(feature).__name__}")
    if feature.get("type") == _NUMERIC:
        _check_keys(feature, field, {"name", "type", "mean", "std"})
        _check_number(feature["mean"], f"{field}.mean")
        _check_number(feature["std"], f"{field}.std")
        if feature["std"] <= 0:
            _invalid(f"{field}.std", f"must be positive, got {feature['std']!r}")
    elif feature.get("type") == _TEXT:
        _check_keys(feature, field, {"name", "type", "categories"})
        if not _check_strings(feature["categories"], f"{field}.categories"):
            _invalid(f"{field}.categories", "must not be empty")
    else:
        _invalid(f"{field}.type", f"must be 'numeric' or 'text', got {feature.get('type')!r}")
    if not isinstance(feature["name"], str):
        _invalid(f"{field}.name", f"must be a string, got {feature['name']!r}")
    return feature["name"]
