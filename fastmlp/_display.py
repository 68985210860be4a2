"""Keras 3's model summary as plain text (box-drawn table and parameter footer)."""

# Keras renders its table with rich at 76 columns on an 80-column console: cell widths
# (padding included) of 33, 24 and 15 characters between the borders.
_DEFAULT_CELLS = (33, 24, 15)
_DEFAULT_WIDTH = sum(_DEFAULT_CELLS) + 4


def readable_size(n_bytes):
    """``244.0`` -> ``"244.00 B"``, ``19472.0`` -> ``"19.02 KB"`` (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n_bytes / 1024 < 1:
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.2f} PB"


def _cells(line_length):
    if line_length is None or line_length == _DEFAULT_WIDTH:
        return _DEFAULT_CELLS
    inner = line_length - 4
    first = int(inner * 33 / 72)
    second = int(inner * 57 / 72) - first
    return first, second, inner - first - second


def _row(texts, cells, right_last=True, edge="│"):
    parts = []
    for i, (text, width) in enumerate(zip(texts, cells)):
        room = width - 2
        text = text if len(text) <= room else text[:room - 1] + "…"
        parts.append(" " + (text.rjust(room) if right_last and i == len(cells) - 1
                            else text.ljust(room)) + " ")
    return edge + edge.join(parts) + edge


def _rule(cells, left, middle, right, fill):
    return left + middle.join(fill * w for w in cells) + right


def summary_text(model, line_length=None):
    """Return the summary of ``model`` as Keras 3 prints it (without colours).

    Parameters
    ----------
    model : fastmlp.Sequential
    line_length : int, optional
        Total width of the table.
    """
    cells = _cells(line_length)
    lines = [f'Model: "{model.name}"',
             _rule(cells, "┏", "┳", "┓", "━"),
             _row(["Layer (type)", "Output Shape", "Param #"], cells, edge="┃"),
             _rule(cells, "┡", "╇", "┩", "━")]
    width = model.input_width
    rows = []
    for layer in model.layers:
        name = f"{layer.name} ({type(layer).__name__})"
        if model.built:
            width = getattr(layer, "units", width)
            rows.append([name, f"(None, {width})", f"{layer.count_params():,}"])
        else:
            rows.append([name, "?", "0 (unbuilt)"])
    for i, row in enumerate(rows):
        if i:
            lines.append(_rule(cells, "├", "┼", "┤", "─"))
        lines.append(_row(row, cells))
    lines.append(_rule(cells, "└", "┴", "┘", "─"))
    itemsize = model.engine.dtype.itemsize if model.built else 4
    trainable = model.engine.layout.size if model.built else 0
    optimizer_count = model.optimizer.variables_count() if model.optimizer is not None else 0
    total = trainable + optimizer_count
    lines.append(f" Total params: {total:,} ({readable_size(total * itemsize)})")
    lines.append(f" Trainable params: {trainable:,} ({readable_size(trainable * itemsize)})")
    lines.append(" Non-trainable params: 0 (0.00 B)")
    if optimizer_count:
        lines.append(f" Optimizer params: {optimizer_count:,} "
                     f"({readable_size(optimizer_count * itemsize)})")
    return "\n".join(lines)
