"""The ``fastmlp`` command: ``train``, ``evaluate``, ``predict``, ``summary`` and ``bench``.

Errors are one line on stderr: exit status 2 for a bad option or argument,
1 for bad data or a bad model file. No model or output file is left behind by
a failed command: files are written atomically, after everything else worked.
"""

import contextlib
import csv
import io
import json
import math
import os
import secrets
import sys
import types

import click
import numpy as np

import fastmlp
from fastmlp.saving import atomic_write, save_model, unwritable

from . import pipeline
from .pipeline import DataProblem

OPTIMIZERS = ("adam", "sgd", "rmsprop", "adagrad")
LOSSES = pipeline.CLASSIFICATION_LOSSES + pipeline.REGRESSION_LOSSES
DEFAULT_LAYERS = "100"
DEFAULT_EPOCHS = 300
DEFAULT_BATCH_SIZE = 32
DEFAULT_PATIENCE = 30


class Group(click.Group):
    """A click group whose errors are a single ``Error: ...`` line on stderr."""

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        try:
            result = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            message = " ".join(exc.format_message().split())
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                message += f" (see '{exc.ctx.command_path} --help')"
            click.echo(f"Error: {message}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


# ---------------------------------------------------------------------- option helpers


def parse_layers(ctx, param, value):
    """``"64,32"`` -> ``[64, 32]``; ``"none"`` or ``""`` -> no hidden layer."""
    if value.strip().lower() in ("", "none"):
        return []
    widths = []
    for part in value.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise click.BadParameter(f"{value!r}: each width must be a positive integer, as in "
                                     f"'64,32' ('none' for no hidden layer); got {part!r}.")
        widths.append(int(part))
    return widths


def parse_activation(ctx, param, value):
    """Check an activation name against fastmlp.activations."""
    try:
        return fastmlp.activations.get(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def finite(ctx, param, value):
    """Refuse nan (which passes click's range checks)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value!r} is not a finite number.")
    return value


def parse_delimiter(ctx, param, value):
    """One character; ``tab`` or ``\\t`` mean a tab."""
    if value is None:
        return None
    if value in ("tab", "\\t"):
        return "\t"
    if len(value) != 1 or value in "\" \r\n":
        raise click.BadParameter(f"{value!r}: the delimiter must be one character other than "
                                 f"a quote, a space or a line break ('tab' for a tab).")
    return value


def check_output(path, option, inputs=()):
    """Fail early when ``path`` cannot be written (or would overwrite an input)."""
    problem = unwritable(path)
    if problem:
        raise click.BadParameter(problem, param_hint=option)
    for other in inputs:
        if os.path.abspath(other) == os.path.abspath(path):
            raise click.BadParameter(f"{path!r} is also an input file; choose another name.",
                                     param_hint=option)


def csv_options(function):
    """The options that say how to read a CSV file."""
    function = click.option("--delimiter", callback=parse_delimiter, metavar="CHAR",
                            help="Field delimiter (default: sniffed among , ; and tab).")(function)
    function = click.option("--header/--no-header", default=None,
                            help="Whether the first row names the columns (default: "
                                 "detected). Without one, columns are named 0, 1, ...")(function)
    return function


def _format_scores(scores):
    return " - ".join(f"{key} {value:.4f}" if value is not None else f"{key} n/a"
                      for key, value in scores.items())


def _write(path, text):
    try:
        with atomic_write(path) as f:
            f.write(text.encode("utf-8"))
    except OSError as exc:
        raise DataProblem(f"cannot write {path}: {exc.strerror or exc}.") from None


DATA = click.Path(exists=True, dir_okay=False)


@click.group(cls=Group, no_args_is_help=True)
@click.version_option(fastmlp.__version__, prog_name="fastmlp")
def cli():
    """Train and use multi-layer perceptrons on CSV files.

    \b
    Examples:
      fastmlp train iris.csv                      # writes iris.fastmlp
      fastmlp evaluate iris.fastmlp test.csv
      fastmlp predict iris.fastmlp new.csv -o predictions.csv
      fastmlp summary iris.fastmlp
      fastmlp bench --only xor,small             # from a source checkout
    """


# ---------------------------------------------------------------------- train


@cli.command(short_help="Train a network on a CSV file and save it.")
@click.argument("data", type=DATA)
@csv_options
@click.option("--target", default="-1", show_default="last column", metavar="NAME|INDEX",
              help="Target column, by name or 0-based index.")
@click.option("--drop", multiple=True, metavar="NAME|INDEX",
              help="Column to leave out of the features (repeatable).")
@click.option("--task", type=click.Choice(["classification", "regression"]),
              help="Default: classification for text or few distinct integer targets.")
@click.option("--dropna", is_flag=True, help="Drop rows with missing values instead of failing.")
@click.option("--layers", "hidden", default=DEFAULT_LAYERS, show_default=True,
              callback=parse_layers, help="Hidden layer widths, comma-separated ('none' for "
                                          "no hidden layer).")
@click.option("--activation", default="relu", show_default=True, callback=parse_activation,
              help="Activation of the hidden layers.")
@click.option("--loss", type=click.Choice(LOSSES),
              help="Default: sparse_categorical_crossentropy (softmax output) for more than "
                   "2 classes, binary_crossentropy (sigmoid) for 2, mse (linear) for "
                   "regression.")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS, case_sensitive=False),
              default="adam", show_default=True)
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True, max=1e6),
              callback=finite,
              help="Default: the optimizer's (adam 0.001).")
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULT_EPOCHS, show_default=True,
              help="Most epochs to train.")
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE,
              show_default=True)
@click.option("--validation-split", type=click.FloatRange(0, 1, max_open=True), default=0.2,
              callback=finite,
              show_default=True, help="Share of rows held out for validation (stratified "
                                      "for classification); 0 for none.")
@click.option("--early-stopping", "patience", type=click.IntRange(min=0),
              default=DEFAULT_PATIENCE, show_default=True, metavar="PATIENCE",
              help="Stop after PATIENCE epochs without a lower validation loss and keep the "
                   "best weights; 0 turns it off.")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1),
              help="Random seed for the split, the initial weights and the shuffling "
                   "(default: random, and reported).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="PATH",
              help="Model file to write (default: DATA with the extension .fastmlp).")
@click.option("--plot", type=click.Path(dir_okay=False), metavar="PATH",
              help="Draw the loss and accuracy curves into an image (needs matplotlib).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors (and --json).")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON summary on stdout (progress goes to stderr).")
@click.pass_context
def train(ctx, data, output, plot, quiet, as_json, **options):
    """Train a network on a CSV file and save it, with its preprocessing.

    Numeric columns are standardised and text columns one-hot encoded. The
    output layer and loss follow the task: softmax with sparse categorical
    cross-entropy for more than two classes, sigmoid with binary cross-entropy
    for two, a linear unit with mean squared error for regression (trained on
    the standardised target).

    \b
    Examples:
      fastmlp train iris.csv
      fastmlp train houses.csv --target price --task regression --drop id
      fastmlp train data.tsv --delimiter tab --no-header --target 0
      fastmlp train iris.csv --layers 32 --epochs 100 --seed 1 -o small.fastmlp
      fastmlp train iris.csv --early-stopping 0 --plot history.png --json
    """
    output = output or os.path.splitext(data)[0] + ".fastmlp"
    check_output(output, "'--output'", [data])
    if plot is not None:
        check_output(plot, "'--plot'", [data, output])
        from .plot import check_plot_path

        check_plot_path(plot)
    if options["patience"] and options["validation_split"] == 0 and \
            ctx.get_parameter_source("patience") != click.core.ParameterSource.DEFAULT:
        raise click.BadParameter("early stopping watches the validation loss; it needs "
                                 "--validation-split above 0.", param_hint="'--early-stopping'")
    if options["seed"] is None:
        options["seed"] = secrets.randbelow(2**31)
    options["optimizer"] = options["optimizer"].lower()
    options["verbose"] = 0 if quiet else 2
    run = types.SimpleNamespace(data=data, **options)

    progress = sys.stderr if as_json else sys.stdout

    def echo(line):
        if not quiet:
            click.echo(line, file=progress)

    if as_json and not quiet:
        with contextlib.redirect_stdout(sys.stderr):
            model, metadata, summary, history = pipeline.train(run, echo)
    else:
        model, metadata, summary, history = pipeline.train(run, echo)
    try:
        save_model(model, output, metadata=metadata)
    except OSError as exc:
        raise DataProblem(f"cannot write {output}: {exc.strerror or exc}.") from None
    summary["model"] = output
    if plot is not None:
        from .plot import plot_history

        try:
            title = f"{os.path.basename(data)}: {summary['task']}"
            if summary["task"] == "regression":
                title += " (standardized target)"
            plot_history(history, plot, title)
        except OSError as exc:
            raise DataProblem(f"cannot write {plot}: {exc.strerror or exc}.") from None
        summary["plot"] = plot
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    elif not quiet:
        click.echo(_train_report(summary))


def _train_report(summary):
    task = summary["task"]
    if summary["classes"]:
        classes = summary["classes"]
        shown = ", ".join(classes[:10]) + (", ..." if len(classes) > 10 else "")
        task += f" ({len(classes)} classes: {shown})"
    rows = summary["rows"]
    lines = [f"Model saved to {summary['model']}",
             f"Target: {summary['target']!r}, {task}",
             f"Rows: {rows['train']} for training, {rows['validation']} for validation"
             + (f", {rows['dropped_missing']} dropped for missing values"
                if rows["dropped_missing"] else "")]
    epochs = f"Epochs: {summary['epochs_run']} of {summary['epochs']}"
    if summary["stopped_early"]:
        epochs += " (stopped early"
    elif summary["best_epoch"] is not None:
        epochs += " (completed"
    if summary["best_epoch"] is not None:
        epochs += f"; kept the weights of epoch {summary['best_epoch']}, the lowest val_loss)"
    lines.append(epochs)
    lines.append(f"Train:      {_format_scores(summary['train'])}")
    if summary["validation"] is not None:
        lines.append(f"Validation: {_format_scores(summary['validation'])}")
    lines.append(f"Time: {summary['seconds']:.2f} s (fit {summary['fit_seconds']:.2f} s), "
                 f"seed {summary['seed']}")
    if "plot" in summary:
        lines.append(f"Curves drawn in {summary['plot']}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- evaluate


@cli.command()
@click.argument("model_path", metavar="MODEL", type=DATA)
@click.argument("data", type=DATA)
@csv_options
@click.option("--dropna", is_flag=True, help="Drop rows with missing values instead of failing.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def evaluate(model_path, data, delimiter, header, dropna, as_json):
    """Score a model on labelled data.

    Classification: loss and accuracy. Regression: loss, mse, mae and r2.
    The target column is found by the name it had in training.

    \b
    Examples:
      fastmlp evaluate iris.fastmlp test.csv
      fastmlp evaluate houses.fastmlp test.csv --json
    """
    loaded = pipeline.LoadedModel(model_path)
    table, X, y = loaded.read(data, delimiter, header, dropna, need_target=True)
    scores = pipeline.scores(loaded.model, loaded.prep, loaded.loss, X, y)
    if as_json:
        click.echo(json.dumps({"model": model_path, "data": data, "rows": table.n_rows,
                               "dropped_missing": table.n_dropped, **scores}, indent=2))
        return
    click.echo(f"{data}: {table.n_rows} rows" + (
        f" ({table.n_dropped} dropped for missing values)" if table.n_dropped else ""))
    for key, value in scores.items():
        click.echo(f"{key}: {value:.4f}" if value is not None else f"{key}: n/a")


# ---------------------------------------------------------------------- predict


@cli.command()
@click.argument("model_path", metavar="MODEL", type=DATA)
@click.argument("data", type=DATA)
@csv_options
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="OUT.csv",
              help="CSV file to write (default: standard output).")
def predict(model_path, data, delimiter, header, output):
    """Predict the target for each row of a CSV file.

    Classification prints the predicted class and one probability column per
    class; regression prints the predicted value. Rows keep their order; the
    target column may be absent from DATA.

    \b
    Examples:
      fastmlp predict iris.fastmlp new.csv
      fastmlp predict iris.fastmlp new.csv -o predictions.csv
    """
    if output is not None:
        check_output(output, "'--output'", [model_path, data])
    loaded = pipeline.LoadedModel(model_path)
    _, X, _ = loaded.read(data, delimiter, header)
    prep = loaded.prep
    outputs = loaded.model.predict(X, verbose=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if prep.task == "regression":
        writer.writerow([prep.target_name])
        writer.writerows([f"{value:.7g}"] for value in outputs[:, 0])
    else:
        probs = pipeline.probabilities(outputs, loaded.loss)
        labels = prep.decode_target(np.argmax(probs, axis=1))
        writer.writerow([prep.target_name] + [f"probability_{name}" for name in prep.classes])
        for label, row in zip(labels, probs):
            writer.writerow([label] + [f"{p:.6f}" for p in row])
    if output is None:
        click.echo(buffer.getvalue(), nl=False)
    else:
        _write(output, buffer.getvalue())


# ---------------------------------------------------------------------- summary


@cli.command()
@click.argument("model_path", metavar="MODEL", type=DATA)
def summary(model_path):
    """Show a model's layers, compile settings and preprocessing.

    \b
    Examples:
      fastmlp summary iris.fastmlp
    """
    loaded = pipeline.LoadedModel(model_path)
    model, prep = loaded.model, loaded.prep
    model.summary()
    optimizer = model.optimizer.get_config()
    click.echo(f"Optimizer: {optimizer['name']} (learning rate {optimizer['learning_rate']:g}), "
               f"loss: {loaded.loss}")
    if prep.classes is not None:
        target = f"classification, {len(prep.classes)} classes: {', '.join(prep.classes)}"
    else:
        target = "regression"
    click.echo(f"Target: {prep.target_name!r} ({target})")
    click.echo(f"Features: {len(prep.features)} columns -> {prep.n_outputs} inputs")
    width = max(len(name) for name in prep.feature_names)
    for feature in prep.features:
        if feature["type"] == "numeric":
            detail = f"numeric, standardised (mean {feature['mean']:.6g}, std {feature['std']:.6g})"
        else:
            categories = feature["categories"]
            shown = ", ".join(categories[:8]) + (", ..." if len(categories) > 8 else "")
            detail = f"text, one-hot over {len(categories)} categories: {shown}"
        click.echo(f"  {feature['name']:<{width}}  {detail}")
    if prep.dropped:
        click.echo(f"Dropped columns: {', '.join(prep.dropped)}")
    training = loaded.metadata.get("training")
    if isinstance(training, dict):
        rows = training.get("rows", {})
        line = (f"Trained on {training.get('data')}: {rows.get('train')} rows, "
                f"{training.get('epochs_run')} epochs, seed {training.get('seed')}")
        if isinstance(training.get("validation"), dict):
            line += f"; validation {_format_scores(training['validation'])}"
        click.echo(line)


# ---------------------------------------------------------------------- bench

#: The source checkout: the benchmark suite (``bench/``) is not part of the package.
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@cli.command(context_settings={"ignore_unknown_options": True, "help_option_names": []},
             short_help="Run the benchmark suite (python -m bench).")
@click.argument("bench_args", nargs=-1, type=click.UNPROCESSED, metavar="[OPTIONS]")
def bench(bench_args):
    """Run the benchmark suite: the same as 'python -m bench' in the source checkout.

    Every option goes to the suite; 'fastmlp bench --help' lists them with examples.
    """
    if not os.path.isfile(os.path.join(SOURCE_ROOT, "bench", "cli.py")):
        raise click.ClickException(
            f"the benchmark suite ships with the source checkout, not the package: no bench/ "
            f"in {SOURCE_ROOT!r}. Install with 'pip install -e .' from a clone of fastmlp.")
    if SOURCE_ROOT not in sys.path:
        sys.path.insert(0, SOURCE_ROOT)
    from bench.cli import main as bench_main

    return bench_main(list(bench_args), prog="fastmlp bench")
