"""Training curves for ``fastmlp train --plot``; matplotlib is optional."""

import os

import click

from fastmlp.saving import atomic_write

from .pipeline import DataProblem

MISSING = ("--plot needs matplotlib, which is not installed; install it with "
           "'pip install matplotlib' (or 'pip install fastmlp[plot]').")


def check_plot_path(path):
    """Fail early when matplotlib is missing or cannot write the file's format.

    Returns
    -------
    str
        The image format, from the file's extension.

    Raises
    ------
    DataProblem
        When matplotlib cannot be imported.
    click.BadParameter
        For an extension matplotlib cannot write.
    """
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise DataProblem(MISSING) from None
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    formats = FigureCanvasBase.get_supported_filetypes()
    if extension not in formats:
        raise click.BadParameter(
            f"cannot tell the image format from {path!r}; use one of the extensions "
            f"{', '.join('.' + name for name in sorted(formats))}.", param_hint="'--plot'")
    return extension


def plot_history(history, path, title):
    """Draw the loss and accuracy (or mae) per epoch and write the image atomically.

    Parameters
    ----------
    history : dict of str to list of float
        ``History.history``: ``loss``, ``accuracy`` or ``mae``, and ``val_`` keys.
    path : str
        Image file; the format follows its extension.
    title : str
    """
    from matplotlib.figure import Figure

    extension = check_plot_path(path)
    panels = [key for key in ("loss", "accuracy", "mae") if key in history]
    figure = Figure(figsize=(5 * len(panels), 3.6), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    epochs = range(1, len(history["loss"]) + 1)
    for ax, key in zip(axes, panels):
        ax.plot(epochs, history[key], label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.suptitle(title)
    with atomic_write(path) as f:
        figure.savefig(f, format=extension)
