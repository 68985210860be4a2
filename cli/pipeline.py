"""What the commands do, apart from parsing options and printing: data, models, scores.

Problems with the user's data or model files raise :class:`DataProblem` (exit
status 1); problems with option values raise :class:`click.BadParameter`
(exit status 2). Every message names the file, line, column or option.
"""

import os
import time
import warnings

import click
import numpy as np

import fastmlp
from fastmlp.callbacks import EarlyStopping
from fastmlp.data import DataError, Table, read_csv
from fastmlp.layers import Dense, Input
from fastmlp.preprocessing import (CLASSIFICATION, REGRESSION, PreprocessingError,
                                   TabularPreprocessor)
from fastmlp.saving import ModelFileError, load_model_with_metadata

METADATA_FORMAT = "fastmlp.cli"
METADATA_VERSION = 1
REGRESSION_LOSSES = ("mse", "mae", "huber")
CLASSIFICATION_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy",
                         "binary_crossentropy")


class DataProblem(click.ClickException):
    """Bad data or a bad model file: exit status 1, one line on stderr."""

    exit_code = 1


# ---------------------------------------------------------------------- reading data


def read_table(path, delimiter=None, header=None, dropna=False, column_types=None):
    """Read a CSV file with :func:`fastmlp.data.read_csv`, turning its errors into DataProblem.

    Parameters
    ----------
    path : str
    delimiter : str, optional
        Sniffed when None.
    header : bool, optional
        Detected when None.
    dropna : bool
        Drop rows with missing values instead of failing.
    column_types : dict, optional
        Forced column types (from a fitted preprocessor).

    Returns
    -------
    fastmlp.data.Table
    """
    try:
        return read_csv(path, delimiter=delimiter, header=header, dropna=dropna,
                        column_types=column_types)
    except DataError as exc:
        raise DataProblem(str(exc)) from None


def column_name(table, key, option):
    """Resolve a column given by name or by 0-based index (negative from the end).

    A name wins over an index when a column is called, say, ``"2"``.

    Raises
    ------
    click.BadParameter
        Naming ``option`` and listing the columns, when there is no such column.
    """
    names = table.names
    if key in names:
        return key
    try:
        index = int(key)
    except ValueError:
        index = None
    if index is not None and -len(names) <= index < len(names):
        return names[index]
    shown = ", ".join(repr(name) for name in names)
    raise click.BadParameter(f"{table.source} has no column {key!r} (columns: {shown}).",
                             param_hint=option)


def subset(table, rows):
    """Return the table's rows ``rows`` as a new Table with the same source."""
    return Table({name: values[rows] for name, values in table.columns.items()},
                 source=table.source)


def split_rows(labels, fraction, rng):
    """Shuffle row indices and split off a validation part.

    For classification (integer ``labels``) the split is stratified: each
    class gives about ``fraction`` of its rows, and always keeps at least one
    for training. For regression (float ``labels``) it is random.

    Parameters
    ----------
    labels : numpy.ndarray
        Class index per row, or the target values for regression.
    fraction : float
        Share of rows for validation; 0 keeps every row for training.
    rng : numpy.random.Generator

    Returns
    -------
    train, validation : numpy.ndarray of int
        Row indices in shuffled order.
    """
    n = len(labels)
    order = rng.permutation(n)
    if fraction == 0:
        return order, order[:0]
    n_val = max(1, round(n * fraction))
    if labels.dtype.kind in "iu":
        # Rank each row within its class (in shuffled order) and send the rows with
        # the highest relative rank to validation: every class gives its share.
        shuffled = labels[order]
        key = np.empty(n)
        for cls in np.unique(shuffled):
            where = np.flatnonzero(shuffled == cls)
            key[where] = (np.arange(len(where)) + 0.5) / len(where)
            key[where[0]] = -1.0
        by_key = np.argsort(key, kind="stable")
        n_val = min(n_val, int((key >= 0).sum()))
        val = np.sort(by_key[n - n_val:]) if n_val else by_key[:0]
        train = np.setdiff1d(np.arange(n), val)
        return order[train], order[val]
    return order[n_val:], order[:n_val]


# ---------------------------------------------------------------------- the network


def output_layer(task, n_classes, loss):
    """Return ``(units, activation, loss)`` of the output layer for a task.

    Raises
    ------
    click.BadParameter
        When ``--loss`` does not fit the task.
    """
    if task == REGRESSION:
        loss = loss or "mse"
        if loss not in REGRESSION_LOSSES:
            raise click.BadParameter(f"{loss} is for classification; regression uses one of "
                                     f"{', '.join(REGRESSION_LOSSES)}.", param_hint="'--loss'")
        return 1, "linear", loss
    if loss is None:
        loss = "binary_crossentropy" if n_classes == 2 else "sparse_categorical_crossentropy"
    if loss not in CLASSIFICATION_LOSSES:
        raise click.BadParameter(f"{loss} is for regression; classification uses one of "
                                 f"{', '.join(CLASSIFICATION_LOSSES)}.", param_hint="'--loss'")
    if loss == "binary_crossentropy":
        if n_classes != 2:
            raise click.BadParameter(f"binary_crossentropy needs 2 classes; the target has "
                                     f"{n_classes}.", param_hint="'--loss'")
        return 1, "sigmoid", loss
    return n_classes, "softmax", loss


def build_model(n_inputs, hidden, activation, units, output_activation):
    """Return an uncompiled Sequential MLP: Dense hidden layers, then the output layer."""
    fastmlp.backend.clear_session()
    layers = [Input((n_inputs,))]
    layers += [Dense(width, activation=activation) for width in hidden]
    layers.append(Dense(units, activation=output_activation))
    return fastmlp.Sequential(layers)


def loss_targets(y, loss, n_classes):
    """Targets in the form ``loss`` expects: class indices, one-hot rows or values."""
    if loss == "categorical_crossentropy":
        return fastmlp.utils.to_categorical(y, n_classes).astype(np.float32)
    if loss == "binary_crossentropy":
        return y.astype(np.float32)
    return y


def probabilities(outputs, loss):
    """Per-class probabilities from the model's outputs (a sigmoid gives one column)."""
    if loss == "binary_crossentropy":
        return np.column_stack([1.0 - outputs[:, 0], outputs[:, 0]])
    return outputs


def fold_target_scaling(model, mean, std):
    """Make a model trained on ``(y - mean) / std`` predict ``y`` itself.

    The last Dense layer is linear with a bias, so scaling its kernel by
    ``std`` and mapping its bias ``b`` to ``b * std + mean`` is exact.
    """
    weights = model.get_weights()
    weights[-2] = weights[-2] * std
    weights[-1] = weights[-1] * std + mean
    model.set_weights(weights)


def scores(model, prep, loss, X, y):
    """Loss and accuracy (classification) or loss, mse, mae and r2 (regression).

    Returns
    -------
    dict of str to float or None
        None for a value that is not finite, and for ``r2`` when the
        targets are constant.
    """
    n_classes = len(prep.classes) if prep.classes else 1
    logs, outputs = model.evaluate_with_outputs(X, loss_targets(y, loss, n_classes))
    result = {"loss": _finite(logs["loss"])}
    if prep.task == CLASSIFICATION:
        predicted = np.argmax(probabilities(outputs, loss), axis=1)
        result["accuracy"] = _finite(np.mean(predicted == y))
        return result
    error = outputs[:, 0].astype(np.float64) - y
    result["mse"] = _finite(np.mean(error ** 2))
    result["mae"] = _finite(np.mean(np.abs(error)))
    spread = float(np.sum((y - np.mean(y, dtype=np.float64)) ** 2))
    result["r2"] = _finite(1.0 - np.sum(error ** 2) / spread) if spread > 0 else None
    return result


def _finite(value):
    """A score as a float, or None when it is not finite (so JSON stays valid)."""
    value = float(value)
    return value if np.isfinite(value) else None


# ---------------------------------------------------------------------- training


def train(options, echo):
    """Read the data, fit the preprocessing and the network, and return the results.

    Parameters
    ----------
    options : types.SimpleNamespace
        The checked settings of the run: ``data, delimiter, header, dropna, target, drop, task, hidden, activation,
        loss, optimizer, learning_rate, epochs, batch_size, validation_split,
        seed, patience, verbose``.
    echo : callable
        Prints one line of progress information.

    Returns
    -------
    model : fastmlp.Sequential
    metadata : dict
        What the model file keeps for evaluate, predict and summary.
    summary : dict
        The JSON summary of the run.
    history : dict
        Per-epoch logs.
    """
    started = time.perf_counter()
    table = read_table(options.data, options.delimiter, options.header, options.dropna)
    target = column_name(table, options.target, "'--target'")
    dropped = list(dict.fromkeys(column_name(table, key, "'--drop'") for key in options.drop))
    if target in dropped:
        raise click.BadParameter(f"{target!r} is the target column; it cannot be dropped.",
                                 param_hint="'--drop'")
    try:
        probe = TabularPreprocessor(target=target, drop=dropped, task=options.task).fit(table)
        _, y_all = probe.transform(table)
        n_classes = len(probe.classes) if probe.classes else 0
        units, output_activation, loss = output_layer(probe.task, n_classes, options.loss)
        rng = np.random.default_rng(options.seed)
        train_rows, val_rows = split_rows(y_all, options.validation_split, rng)
        if options.validation_split and len(val_rows) == 0:
            raise DataProblem(f"{table.source}: {table.n_rows} rows are too few to set "
                              f"{options.validation_split:g} of them aside for validation "
                              f"(use --validation-split 0).")
        prep = TabularPreprocessor(target=target, drop=dropped, task=probe.task)
        X, y = prep.fit_transform(subset(table, train_rows))
        X_val, y_val = prep.transform(subset(table, val_rows)) if len(val_rows) else (None, None)
    except PreprocessingError as exc:
        raise DataProblem(str(exc)) from None

    fastmlp.utils.set_random_seed(options.seed)
    model = build_model(X.shape[1], options.hidden, options.activation, units, output_activation)
    optimizer = fastmlp.optimizers.get(options.optimizer)
    if options.learning_rate is not None:
        optimizer = type(optimizer)(learning_rate=options.learning_rate)
    regression = prep.task == REGRESSION
    model.compile(optimizer=optimizer, loss=loss, metrics=["mae"] if regression else ["accuracy"])

    mean, std = 0.0, 1.0
    if regression:
        mean = float(np.mean(y, dtype=np.float64))
        std = float(np.std(y, dtype=np.float64)) or 1.0
        echo(f"Training on the standardized target (mean {mean:.4g}, std {std:.4g}); "
             f"epoch losses are in those units.")
    callbacks = []
    stopper = None
    if options.patience and len(val_rows):
        stopper = EarlyStopping(monitor="val_loss", patience=options.patience,
                                restore_best_weights=True)
        callbacks.append(stopper)

    def fit_targets(values):
        return (values - mean) / std if regression else loss_targets(values, loss, n_classes)

    validation = (X_val, fit_targets(y_val)) if X_val is not None else None
    fit_started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(X, fit_targets(y), batch_size=options.batch_size, epochs=options.epochs,
                            verbose=options.verbose, callbacks=callbacks,
                            validation_data=validation, shuffle=True).history
    fit_seconds = time.perf_counter() - fit_started
    for warning in caught:
        echo(f"Warning: {warning.message}")
    if not np.isfinite(history["loss"][-1]):
        raise DataProblem(f"{table.source}: training diverged (loss {history['loss'][-1]}); "
                          f"try a lower --learning-rate or --optimizer adam.")
    if regression:
        fold_target_scaling(model, mean, std)

    epochs_run = len(history["loss"])
    stopped_early = stopper is not None and stopper.stopped_epoch > 0
    summary = {
        "data": options.data,
        "task": prep.task,
        "target": prep.target_name,
        "classes": prep.classes,
        "features": prep.feature_names,
        "dropped_columns": prep.dropped,
        "rows": {"train": len(train_rows), "validation": len(val_rows),
                 "dropped_missing": table.n_dropped},
        "layers": list(options.hidden),
        "activation": options.activation,
        "output_activation": output_activation,
        "loss": loss,
        "optimizer": optimizer.name,
        "learning_rate": optimizer.learning_rate,
        "batch_size": options.batch_size,
        "epochs": options.epochs,
        "epochs_run": epochs_run,
        "early_stopping": options.patience if stopper else None,
        "stopped_early": stopped_early,
        "best_epoch": stopper.best_epoch + 1 if stopper and stopper.best_weights is not None
        else None,
        "seed": options.seed,
        "train": scores(model, prep, loss, X, y),
        "validation": scores(model, prep, loss, X_val, y_val) if X_val is not None else None,
        "fit_seconds": fit_seconds,
        "seconds": time.perf_counter() - started,
    }
    metadata = {
        "format": METADATA_FORMAT,
        "version": METADATA_VERSION,
        "preprocessing": prep.to_config(),
        "loss": loss,
        "training": {key: summary[key] for key in (
            "data", "rows", "epochs_run", "best_epoch", "seed", "train", "validation")},
    }
    metadata["training"]["data"] = os.path.basename(options.data)
    return model, metadata, summary, history


# ---------------------------------------------------------------------- saved models


class LoadedModel:
    """A model file written by ``fastmlp train``: the network and its preprocessing.

    Attributes
    ----------
    model : fastmlp.Sequential
    prep : fastmlp.preprocessing.TabularPreprocessor
    loss : str
    metadata : dict
    """

    def __init__(self, path):
        try:
            self.model, metadata = load_model_with_metadata(path)
        except ModelFileError as exc:
            raise DataProblem(str(exc)) from None
        if not isinstance(metadata, dict) or metadata.get("format") != METADATA_FORMAT:
            raise DataProblem(f"{path}: the model has no preprocessing metadata; only models "
                              f"written by 'fastmlp train' can be used here.")
        if metadata.get("version") != METADATA_VERSION:
            raise DataProblem(f"{path}: unsupported metadata version "
                              f"{metadata.get('version')!r}.")
        try:
            self.prep = TabularPreprocessor.from_config(metadata.get("preprocessing"))
        except PreprocessingError as exc:
            raise DataProblem(f"{path}: {exc}.") from None
        self.loss = metadata.get("loss")
        self.metadata = metadata
        n_classes = len(self.prep.classes) if self.prep.classes else 0
        try:
            units, _, _ = output_layer(self.prep.task, n_classes, self.loss)
        except click.BadParameter:
            units = None
        model = self.model
        if (units is None or not model.compiled or model.loss.name != self.loss
                or model.input_width != self.prep.n_outputs
                or model.layers[-1].get_config().get("units") != units):
            raise DataProblem(f"{path}: the network does not match its preprocessing metadata "
                              f"(inputs, outputs or loss differ).")

    def read(self, path, delimiter, header, dropna=False, need_target=False):
        """Read a CSV file with the training columns' types and turn it into inputs.

        Returns
        -------
        table : fastmlp.data.Table
        X : numpy.ndarray
        y : numpy.ndarray or None
            Encoded targets, when ``need_target``.
        """
        prep = self.prep
        table = read_table(path, delimiter, header, dropna, prep.column_types())
        if need_target and prep.target_name not in table:
            shown = ", ".join(repr(name) for name in table.names)
            raise DataProblem(f"{path}: the target column {prep.target_name!r} is missing "
                              f"(columns: {shown}).")
        if not need_target and prep.target_name in table:
            table = Table({k: v for k, v in table.columns.items() if k != prep.target_name},
                          source=table.source, n_dropped=table.n_dropped)
        try:
            X, y = prep.transform(table)
        except PreprocessingError as exc:
            raise DataProblem(str(exc)) from None
        return table, X, y
