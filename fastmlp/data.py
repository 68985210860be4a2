"""Reading CSV files into tables of numeric and text columns.

:func:`read_csv` is the entry point.  Files of at least
:data:`COMPILED_MIN_BYTES` made only of plain numbers (no quotes) are parsed
by a Numba-compiled scanner that reads the file in chunks and writes straight
into the final array; any file is handled by the general path built on the
standard :mod:`csv` module.  Both paths classify columns and report problems
with the same rules, so they give the same result.
"""

import csv
import io
import math
import os
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numba import njit

__all__ = ["COMPILED_MIN_BYTES", "DataError", "Table", "read_csv"]

_DELIMITERS = (",", ";", "\t")
_BOM = b"\xef\xbb\xbf"
_CHUNK_BYTES = 1 << 20
_SAMPLE_BYTES = 1 << 16
_SAMPLE_ROWS = 200
_COLUMN_TYPES = ("numeric", "text")
#: Files smaller than this are read by the general path even with ``engine="auto"``.
#: The compiled scanner compiles in about 2.4 s the first time it runs on a machine
#: (a quarter of a first ``fastmlp train examples/iris.csv``), while the general
#: path reads 256 KiB in about 12 ms; past that size the scanner's 7-10 ms/MB against
#: the general path's 45-65 ms/MB pays for itself.
COMPILED_MIN_BYTES = 1 << 18
# Cells are stripped of ASCII white space, in both paths.
_WHITESPACE = " \t\n\r\v\f"


class DataError(ValueError):
    """A CSV file cannot be read; the message names the file and the place."""


class _NeedsGeneralPath(Exception):
    """The fast path met something only the general path can handle."""


class Table:
    """Named columns of equal length, as read from a CSV file.

    Parameters
    ----------
    columns : dict of str to numpy.ndarray
        One-dimensional arrays, all of the same length: float32/float64
        arrays for numeric columns, arrays of ``str`` for text columns.
        The order of the dict is the column order.
    source : str, optional
        Where the data came from (a file name), used in error messages.
    n_dropped : int, optional
        Number of rows that :func:`read_csv` dropped for missing values.
    """

    def __init__(self, columns, source="<table>", n_dropped=0):
        columns = dict(columns)
        if not columns:
            raise ValueError("a table needs at least one column")
        lengths = {len(values) for values in columns.values()}
        if len(lengths) != 1:
            raise ValueError(f"columns have different lengths: {sorted(lengths)}")
        for name, values in columns.items():
            if not isinstance(name, str):
                raise ValueError(f"column names must be strings, got {name!r}")
            if not isinstance(values, np.ndarray) or values.ndim != 1:
                raise ValueError(f"column {name!r} must be a 1-D numpy array")
            if values.dtype.kind not in "fU":
                raise ValueError(
                    f"column {name!r} must be a float or str array, "
                    f"got dtype {values.dtype}"
                )
        self.columns = columns
        self.source = source
        self.n_dropped = n_dropped

    @property
    def names(self):
        """list of str: The column names, in order."""
        return list(self.columns)

    @property
    def n_rows(self):
        """int: The number of rows."""
        return len(next(iter(self.columns.values())))

    def __getitem__(self, name):
        return self.columns[name]

    def __contains__(self, name):
        return name in self.columns

    def is_numeric(self, name):
        """Tell whether a column holds numbers (rather than text).

        Parameters
        ----------
        name : str
            Column name.

        Returns
        -------
        bool
        """
        return self.columns[name].dtype.kind == "f"

    def __repr__(self):
        kinds = ", ".join(
            f"{name}: {'numeric' if self.is_numeric(name) else 'text'}"
            for name in self.columns
        )
        return f"Table({self.n_rows} rows; {kinds})"


def read_csv(
    path,
    delimiter=None,
    header=None,
    dropna=False,
    dtype=np.float64,
    column_types=None,
    engine="auto",
):
    """Read a CSV file into a :class:`Table`.

    Blank lines are skipped, cells are stripped of surrounding white space,
    quoted fields, a UTF-8 byte order mark and CRLF line endings are handled.
    A column is numeric when its non-empty cells are numbers (as Python's
    ``float`` reads them); it is a text column when at least half of them
    are not numbers ("true"/"false" are text).  A column of mostly numbers
    with some non-numbers is an error.  Empty cells, and numbers that are
    not finite (nan, inf, or too large for `dtype`), are missing values.

    Numeric columns of the returned table may be views into one
    (rows, columns) array.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file.
    delimiter : str, optional
        Field delimiter, one character other than a quote, a space or a line
        break.  By default it is sniffed among comma, semicolon and tab.
    header : bool, optional
        Whether the first non-blank row holds column names.  By default this
        is guessed: the first row is a header when it has text where the
        rows below have numbers (or, when no column is numeric, when none of
        its cells appears again below it).  Without a header, columns are
        named by their index: ``"0"``, ``"1"``, ...
    dropna : bool, default False
        Drop rows with missing values instead of raising an error.  The
        number of dropped rows is stored in ``Table.n_dropped``.
    dtype : {numpy.float64, numpy.float32}
        Data type of the numeric columns.
    column_types : dict of str to {"numeric", "text"}, optional
        Force the type of some columns, by name; names that are not columns
        of the file are ignored.  A forced text column keeps numbers as text;
        a forced numeric column reports every non-number as an error.
    engine : {"auto", "compiled", "python"}
        ``"compiled"`` uses the compiled scanner when the file allows it (no
        quotes); ``"auto"`` does so for files of at least
        :data:`COMPILED_MIN_BYTES` and reads smaller ones with the :mod:`csv`
        module; ``"python"`` always uses the :mod:`csv` module.

    Returns
    -------
    Table
        Numeric columns as `dtype` arrays, text columns as ``str`` arrays.

    Raises
    ------
    DataError
        When the file is missing, empty, has a header but no rows, has rows
        with the wrong number of fields, a non-number in a numeric column, a
        missing value (unless `dropna`), or is not valid UTF-8.  The message
        names the file and, where there is one, the 1-based line number and
        the column.
    ValueError
        When an argument is invalid.
    """
    path = os.fspath(path)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if engine not in ("auto", "compiled", "python"):
        raise ValueError(f"engine must be 'auto', 'compiled' or 'python', got {engine!r}")
    column_types = dict(column_types or {})
    for name, kind in column_types.items():
        if kind not in _COLUMN_TYPES:
            raise ValueError(
                f"column_types[{name!r}] must be 'numeric' or 'text', got {kind!r}"
            )
    if delimiter is not None and (
        not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\" \r\n"
    ):
        raise ValueError(
            "delimiter must be one character other than a quote, a space "
            f"or a line break, got {delimiter!r}"
        )

    sample = _read_sample(path)
    if delimiter is None:
        delimiter = _sniff_delimiter(path, sample)
    rows, first_line = _sample_rows(path, sample, delimiter)
    if not rows:
        raise DataError(f"{path}: the file is empty.")
    if header is None:
        header = _looks_like_header(rows[0], rows[1:])
    names = _column_names(path, rows[0], header, first_line)
    types = [column_types.get(name) for name in names]
    spec = _Spec(path, delimiter, header, names, types, dtype, dropna)

    if engine == "auto":
        engine = "compiled" if os.path.getsize(path) >= COMPILED_MIN_BYTES else "python"
    if engine == "compiled":
        try:
            return _read_fast(spec)
        except _NeedsGeneralPath:
            pass
    return _read_general(spec)


@dataclass
class _Spec:
    """What read_csv knows about a file before reading its rows."""

    path: str
    delimiter: str
    header: bool
    names: list  # column names
    types: list  # per column: "numeric", "text" or None (decide from the data)
    dtype: np.dtype
    dropna: bool


# --------------------------------------------------------------------------
# Looking at the start of the file: delimiter, header, column names.


def _open(path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file.") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot open the file ({exc.strerror}).") from None


def _read_sample(path):
    """Return the first complete lines of the file (at least three when the
    file has them), decoded, without a byte order mark."""
    with _open(path) as f:
        data = f.read(_SAMPLE_BYTES)
        while data.count(b"\n") < 3:
            more = f.read(_SAMPLE_BYTES)
            if not more:
                break
            data += more
        else:
            data = data[: data.rfind(b"\n") + 1]
    return _decode_file(path, data)


def _decode_file(path, data):
    data = data.removeprefix(_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}, line {line}: not valid UTF-8 text.") from None


def _records(path, text, delimiter, strict):
    """Yield (line number, stripped cells) for the non-blank records of text."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        skipinitialspace=True,
        strict=strict,
    )
    line = 1
    try:
        for record in reader:
            cells = [cell.strip(_WHITESPACE) for cell in record]
            if cells and cells != [""]:
                yield line, cells
            line = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path}, line {reader.line_num}: {exc}.") from None


def _sniff_delimiter(path, sample):
    """Pick the candidate delimiter that splits the sample rows into the same
    number (> 1) of fields, preferring more fields; comma when none does."""
    best, best_width = ",", 1
    for delimiter in _DELIMITERS:
        widths = {len(cells) for _, cells in _records(path, sample, delimiter, False)}
        if len(widths) == 1 and max(widths) > best_width:
            best, best_width = delimiter, max(widths)
    return best


def _sample_rows(path, sample, delimiter):
    """Return the first rows of the sample and the line number of the first."""
    rows, first_line = [], 1
    for line, cells in _records(path, sample, delimiter, strict=False):
        if not rows:
            first_line = line
        rows.append(cells)
        if len(rows) > _SAMPLE_ROWS:
            break
    return rows, first_line


def _is_number(cell):
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _looks_like_header(first, body):
    """Guess whether the row `first` names the columns of the rows `body`.

    It does when it has text above a column of numbers.  It does not when
    it has numbers there.  Otherwise (no numeric column, or only empty cells
    above them) it does when none of its non-empty cells appears again in
    its column.
    """
    if not body:
        return any(cell and not _is_number(cell) for cell in first)
    above_numbers, above_text = [], []
    for j, name in enumerate(first):
        cells = [row[j] for row in body if j < len(row) and row[j]]
        if name:
            numeric = bool(cells) and all(map(_is_number, cells))
            (above_numbers if numeric else above_text).append((name, cells))
    if above_numbers:
        return not all(_is_number(name) for name, _ in above_numbers)
    return bool(above_text) and all(name not in cells for name, cells in above_text)


def _column_names(path, first, header, line):
    if not header:
        return [str(j) for j in range(len(first))]
    names = [cell or str(j) for j, cell in enumerate(first)]
    seen = set()
    for name in names:
        if name in seen:
            raise DataError(f'{path}, line {line}: duplicate column name "{name}".')
        seen.add(name)
    return names


# --------------------------------------------------------------------------
# The fast path: a compiled scanner over the bytes of the file.

_SPACE, _TAB, _VTAB, _FORMFEED, _CR, _NL, _QUOTE = 32, 9, 11, 12, 13, 10, 34
_PLUS, _MINUS, _DOT, _ZERO, _NINE = 43, 45, 46, 48, 57
_LOWER_E, _UPPER_E = 101, 69
_MAX_DIGITS = 19
_MIN_EXP10, _MAX_EXP10 = -270, 270
_U10, _U32, _LOW32 = np.uint64(10), np.uint64(32), np.uint64(0xFFFFFFFF)
_EXACT_MANTISSA = np.uint64(2**53)
_STATUS_OK, _STATUS_RAGGED, _STATUS_NOT_PLAIN, _STATUS_FULL = 0, 1, 2, 3
# Python's error model would test every division for a zero divisor.
_JIT_OPTIONS = {"cache": True, "error_model": "numpy"}
# Indices into the scanner's state vector, which carries over between chunks.
_ROW, _LINE, _N_CELLS, _TEXT_LEN, _SKIP, _FOUND = range(6)


def _powers_of_ten():
    """10**k for k in [_MIN_EXP10, _MAX_EXP10] as unevaluated sums hi + lo of
    two doubles, exact to about 106 bits."""
    hi = np.empty(_MAX_EXP10 - _MIN_EXP10 + 1)
    lo = np.empty_like(hi)
    for i, k in enumerate(range(_MIN_EXP10, _MAX_EXP10 + 1)):
        exact = Fraction(10) ** k
        hi[i] = float(exact)
        lo[i] = float(exact - Fraction(hi[i]))
    return hi, lo


_POW10_HI, _POW10_LO = _powers_of_ten()


@njit(**_JIT_OPTIONS, inline="always")
def _two_product(a, b):
    """Return p, e with p = fl(a * b) and p + e = a * b exactly (Dekker)."""
    p = a * b
    c = 134217729.0 * a
    a_hi = c - (c - a)
    a_lo = a - a_hi
    c = 134217729.0 * b
    b_hi = c - (c - b)
    b_lo = b - b_hi
    return p, ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


@njit(**_JIT_OPTIONS, inline="always")
def _decimal_to_double(mantissa, exp10):
    """Return mantissa * 10**exp10 correctly rounded, or nan when undecided.

    The product is computed in double-double arithmetic with a relative
    error below 2**-100.  Its rounding to a double is certain unless it lies
    within 2**-90 (relative) of a midpoint between two doubles; then nan is
    returned and the caller falls back to Python's ``float``.
    """
    if mantissa <= _EXACT_MANTISSA and -22 <= exp10 <= 22:
        # Both operands are exact doubles, so one rounding gives the answer.
        if exp10 < 0:
            return float(mantissa) / _POW10_HI[-exp10 - _MIN_EXP10]
        return float(mantissa) * _POW10_HI[exp10 - _MIN_EXP10]
    if exp10 < _MIN_EXP10 or exp10 > _MAX_EXP10:
        return np.nan
    top = float(mantissa >> _U32) * 4294967296.0
    bottom = float(mantissa & _LOW32)
    m_hi = top + bottom
    m_lo = bottom - (m_hi - top)
    p_hi = _POW10_HI[exp10 - _MIN_EXP10]
    p_lo = _POW10_LO[exp10 - _MIN_EXP10]
    s, e = _two_product(m_hi, p_hi)
    e += m_hi * p_lo + m_lo * p_hi
    hi = s + e
    lo = abs(e - (hi - s))
    ulp = math.ldexp(1.0, math.frexp(hi)[1] - 53)
    tolerance = hi * 2.0**-90
    if abs(lo - 0.5 * ulp) <= tolerance or abs(lo - 0.25 * ulp) <= tolerance:
        return np.nan
    return hi


@njit(**_JIT_OPTIONS, inline="always")
def _is_digit(byte):
    return _ZERO <= byte <= _NINE


@njit(**_JIT_OPTIONS, inline="always")
def _is_space(byte, delimiter):
    """Whether byte is white space (other than a line break) within a field."""
    return byte != delimiter and (
        byte == _SPACE or byte == _TAB or byte == _VTAB or byte == _FORMFEED
    )


@njit(**_JIT_OPTIONS, inline="always")
def _is_lone_cr(buf, i):
    """Whether buf[i] is a carriage return not followed by a newline."""
    return buf[i] == _CR and (i + 1 == buf.size or buf[i + 1] != _NL)


@njit(**_JIT_OPTIONS, inline="always")
def _parse_number(buf, i, delimiter):
    """Parse a plain decimal number in the field starting at buf[i].

    Returns (value, end) where end is the index of the delimiter, newline or
    end of buffer that ends the field, or (nan, -1) when the field is not a
    plain number or its value is undecided.
    """
    n = buf.size
    k = i
    while k < n and _is_space(buf[k], delimiter):
        k += 1
    negative = False
    if k < n and (buf[k] == _MINUS or buf[k] == _PLUS):
        negative = buf[k] == _MINUS
        k += 1
    mantissa = np.uint64(0)
    n_digits = 0
    exp10 = 0
    any_digit = False
    in_fraction = False
    while k < n:
        byte = buf[k]
        if _is_digit(byte):
            any_digit = True
            if mantissa != 0 or byte != _ZERO:
                if n_digits == _MAX_DIGITS:
                    return np.nan, -1
                mantissa = mantissa * _U10 + np.uint64(byte - _ZERO)
                n_digits += 1
            if in_fraction:
                exp10 -= 1
        elif byte == _DOT and not in_fraction:
            in_fraction = True
        else:
            break
        k += 1
    if not any_digit:
        return np.nan, -1
    if k < n and (buf[k] == _LOWER_E or buf[k] == _UPPER_E):
        k += 1
        exp_negative = False
        if k < n and (buf[k] == _MINUS or buf[k] == _PLUS):
            exp_negative = buf[k] == _MINUS
            k += 1
        if k == n or not _is_digit(buf[k]):
            return np.nan, -1
        exponent = 0
        while k < n and _is_digit(buf[k]):
            if exponent < 100000:
                exponent = exponent * 10 + (buf[k] - _ZERO)
            k += 1
        exp10 += -exponent if exp_negative else exponent
    while k < n and _is_space(buf[k], delimiter):
        k += 1
    if k + 1 < n and buf[k] == _CR and buf[k + 1] == _NL:
        k += 1
    if k < n and buf[k] != delimiter and buf[k] != _NL:
        return np.nan, -1
    value = _decimal_to_double(mantissa, exp10)
    if np.isnan(value):
        return np.nan, -1
    return (-value if negative else value), k


@njit(**_JIT_OPTIONS)
def _grow(array, min_size):
    bigger = np.empty((max(2 * array.shape[0], min_size),) + array.shape[1:], array.dtype)
    # Element by element: a slice assignment would compile Numba's shape-mismatch
    # error message, about 3 s of the first run's compile.
    old, new = array.reshape(-1), bigger.reshape(-1)
    for i in range(old.size):
        new[i] = old[i]
    return bigger


@njit(**_JIT_OPTIONS)
def _parse_chunk(buf, delimiter, as_text, out, state, cells, text):
    """Parse the complete lines in buf into rows of out.

    Numbers go into ``out[row, col]``.  Every other cell (text, or a number
    the scanner leaves to Python) is recorded in ``cells`` as (row, column,
    line), and its stripped bytes, followed by a newline, are appended to
    ``text``; cells of columns flagged in ``as_text`` are always recorded.
    ``state`` (see the _ROW... indices) carries counters between chunks.

    Returns (status, cells, text); the arrays are reallocated when they grow.
    Stops at the first line with the wrong number of fields (status
    _STATUS_RAGGED, fields found in state[_FOUND]), at the first quote or
    lone carriage return (status _STATUS_NOT_PLAIN), and when out has no room
    for another row (status _STATUS_FULL: the file grew after its lines were
    counted).
    """
    n = buf.size
    n_cols = out.shape[1]
    row, line = state[_ROW], state[_LINE]
    n_cells, text_len = state[_N_CELLS], state[_TEXT_LEN]
    status = _STATUS_OK
    i = 0
    while i < n:
        line += 1
        j = i
        while j < n and _is_space(buf[j], delimiter):
            j += 1
        if j + 1 < n and buf[j] == _CR and buf[j + 1] == _NL:
            j += 1
        if j == n or buf[j] == _NL:
            i = j + 1
            continue
        if state[_SKIP] > 0:
            state[_SKIP] -= 1
            while j < n and buf[j] != _NL and not _is_lone_cr(buf, j):
                j += 1
            if j < n and buf[j] == _CR:
                status = _STATUS_NOT_PLAIN
                break
            i = j + 1
            continue
        if row == out.shape[0]:
            status = _STATUS_FULL
            break
        col = 0
        while True:
            end = -1
            if col < n_cols and not as_text[col]:
                value, end = _parse_number(buf, i, delimiter)
                if end >= 0:
                    out[row, col] = value
                    if not np.isfinite(out[row, col]):
                        end = -1
            if end < 0:
                end = i
                while end < n and buf[end] != delimiter and buf[end] != _NL:
                    if buf[end] == _QUOTE or _is_lone_cr(buf, end):
                        status = _STATUS_NOT_PLAIN
                        break
                    end += 1
                if status != _STATUS_OK:
                    break
                if col < n_cols:
                    start, stop = i, end
                    while start < stop and _is_space(buf[start], delimiter):
                        start += 1
                    while stop > start and (
                        _is_space(buf[stop - 1], delimiter) or buf[stop - 1] == _CR
                    ):
                        stop -= 1
                    if n_cells == cells.shape[0]:
                        cells = _grow(cells, n_cells + 1)
                    cells[n_cells, 0] = row
                    cells[n_cells, 1] = col
                    cells[n_cells, 2] = line
                    n_cells += 1
                    size = stop - start
                    if text_len + size + 1 > text.size:
                        text = _grow(text, text_len + size + 1)
                    for k in range(size):
                        text[text_len + k] = buf[start + k]
                    text[text_len + size] = _NL
                    text_len += size + 1
            col += 1
            i = end + 1
            if end == n or buf[end] == _NL:
                break
        if status != _STATUS_OK:
            break
        if col != n_cols:
            status = _STATUS_RAGGED
            state[_FOUND] = col
            break
        row += 1
    state[_ROW], state[_LINE] = row, line
    state[_N_CELLS], state[_TEXT_LEN] = n_cells, text_len
    return status, cells, text


def _count_lines(path):
    """Return the number of newlines in the file plus one."""
    count = 1
    with _open(path) as f:
        for block in iter(lambda: f.read(_CHUNK_BYTES), b""):
            count += block.count(b"\n")
    return count


def _chunks(path):
    """Yield the file's bytes as uint8 arrays of whole lines, without a BOM."""
    with _open(path) as f:
        pending = f.read(len(_BOM)).removeprefix(_BOM)
        for block in iter(lambda: f.read(_CHUNK_BYTES), b""):
            data = pending + block
            cut = data.rfind(b"\n") + 1
            pending = data[cut:]
            if cut:
                yield np.frombuffer(data, np.uint8, cut)
        if pending:
            yield np.frombuffer(pending, np.uint8)


def _read_fast(spec):
    """Read the file with the compiled scanner; raise _NeedsGeneralPath when
    the file has quotes or lone carriage returns."""
    n_cols = len(spec.names)
    out = np.empty((_count_lines(spec.path), n_cols), spec.dtype)
    as_text = np.array([kind == "text" for kind in spec.types])
    state = np.zeros(6, np.int64)
    state[_SKIP] = int(spec.header)
    cells = np.empty((1024, 3), np.int64)
    text = np.empty(1 << 16, np.uint8)
    for chunk in _chunks(spec.path):
        status, cells, text = _parse_chunk(
            chunk, ord(spec.delimiter), as_text, out, state, cells, text
        )
        if status == _STATUS_NOT_PLAIN:
            raise _NeedsGeneralPath
        if status == _STATUS_RAGGED:
            raise _ragged_error(spec, state[_LINE], state[_FOUND])
        if status == _STATUS_FULL:
            raise DataError(f"{spec.path}: the file changed while it was read.")
    cells = cells[: state[_N_CELLS]]
    raw = text[: state[_TEXT_LEN]].tobytes()
    try:
        texts = np.array(raw.decode("utf-8").split("\n")[:-1], dtype=object)
    except UnicodeDecodeError as exc:
        line = cells[raw.count(b"\n", 0, exc.start), 2]
        raise DataError(f"{spec.path}, line {line}: not valid UTF-8 text.") from None
    recorded = []
    for j in range(n_cols):
        index = np.flatnonzero(cells[:, 1] == j)
        recorded.append((cells[index, 0], cells[index, 2], texts[index].tolist()))
    return _build_table(spec, out[: state[_ROW]], recorded)


def _ragged_error(spec, line, found):
    return DataError(
        f"{spec.path}, line {line}: expected {len(spec.names)} fields, found {found}."
    )


# --------------------------------------------------------------------------
# The general path: the csv module.


def _read_general(spec):
    """Read the whole file with the csv module."""
    with _open(spec.path) as f:
        text = _decode_file(spec.path, f.read())
    lines, rows = [], []
    records = _records(spec.path, text, spec.delimiter, strict=True)
    if spec.header:
        next(records)
    for line, cells in records:
        if len(cells) != len(spec.names):
            raise _ragged_error(spec, line, len(cells))
        lines.append(line)
        rows.append(cells)
    del text
    lines = np.array(lines, np.int64)
    row_index = np.arange(len(rows))
    recorded = [
        (row_index, lines, [cells[j] for cells in rows]) for j in range(len(spec.names))
    ]
    out = np.empty((len(rows), len(spec.names)), spec.dtype)
    return _build_table(spec, out, recorded)


# --------------------------------------------------------------------------
# Shared by both paths: column types, missing values, errors.


def _build_table(spec, out, recorded):
    """Turn parsed cells into a Table, or raise the first problem in the file.

    Parameters
    ----------
    spec : _Spec
    out : numpy.ndarray
        (n_rows, n_columns) array holding the numbers the parser read.
    recorded : list of (rows, lines, texts)
        Per column, the cells the parser did not read as numbers: their row
        indices, line numbers and stripped text.
    """
    n_rows = out.shape[0]
    if n_rows == 0:
        raise DataError(f"{spec.path}: the file has a header but no data rows.")
    problems = []
    missing = np.zeros(n_rows, bool)
    columns = {}
    for j, (kind, (rows, lines, texts)) in enumerate(zip(spec.types, recorded)):
        values, bad, nonfinite = _column_values(out[:, j], kind, rows, texts, spec.dtype)
        if bad:
            k = bad[0]
            problems.append((lines[k], j, f"could not read {texts[k]!r} as a number."))
        absent = sorted(nonfinite + [k for k, cell in enumerate(texts) if not cell])
        if absent and spec.dropna:
            missing[rows[absent]] = True
        elif absent:
            k = absent[0]
            what = f"{texts[k]!r} is not a finite number" if texts[k] else "empty cell"
            problems.append(
                (lines[k], j, f"{what} (use dropna to drop rows with missing values).")
            )
        columns[spec.names[j]] = values
    if problems:
        line, j, message = min(problems)
        raise DataError(f'{spec.path}, line {line}, column "{spec.names[j]}": {message}')
    n_dropped = int(missing.sum())
    if n_dropped == n_rows:
        raise DataError(f"{spec.path}: all {n_rows} rows have missing values.")
    if n_dropped:
        columns = {name: values[~missing] for name, values in columns.items()}
    return Table(columns, source=spec.path, n_dropped=n_dropped)


def _column_values(values, kind, rows, texts, dtype):
    """Decide the type of a column and return its values.

    Parameters
    ----------
    values : numpy.ndarray
        The column of numbers the parser read; the recorded cells are filled
        in when the column is numeric.
    kind : {"numeric", "text", None}
        The forced type of the column, if any.
    rows, texts : numpy.ndarray, list of str
        Row indices and text of the cells the parser did not read.

    Returns
    -------
    values : numpy.ndarray
        Numbers, or ``str`` for a text column.
    bad, nonfinite : list of int
        Positions in `texts` of the non-numbers and non-finite numbers of a
        numeric column.
    """
    if kind == "text":
        return np.array(texts), [], []
    counts = Counter(texts)
    numbers = {cell: _to_float(cell) for cell in counts}
    n_bad = sum(n for cell, n in counts.items() if cell and numbers[cell] is None)
    if kind is None and n_bad and n_bad >= len(values) - n_bad - counts[""]:
        if len(rows) < len(values):
            raise _NeedsGeneralPath
        return np.array(texts), [], []
    # None (an empty cell or a non-number) becomes nan.
    parsed = np.array([numbers[cell] for cell in texts], dtype=np.float64)
    with np.errstate(over="ignore"):
        parsed = parsed.astype(dtype)
    values[rows] = parsed
    absent = np.flatnonzero(~np.isfinite(parsed)).tolist()
    bad = [k for k in absent if texts[k] and numbers[texts[k]] is None]
    nonfinite = [k for k in absent if numbers[texts[k]] is not None]
    return values, bad, nonfinite


def _to_float(cell):
    """Return cell as a float, or None when it is not a number."""
    try:
        return float(cell)
    except ValueError:
        return None
