"""Tests for fastmlp.data.read_csv and Table."""

import numpy as np
import pytest

from fastmlp import data
from fastmlp.data import DataError, Table, read_csv

ENGINES = ["compiled", "python"]


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


def write(tmp_path, content, name="data.csv"):
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def as_lists(table):
    return {name: table[name].tolist() for name in table.names}


def read_error(path, **kwargs):
    with pytest.raises(DataError) as info:
        read_csv(path, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------
# Reading values


def test_reads_numeric_and_text_columns(tmp_path, engine):
    path = write(tmp_path, "x,y,label\n1.5,-2,cat\n3e2,0.25,dog\n")
    table = read_csv(path, engine=engine)
    assert table.names == ["x", "y", "label"]
    assert as_lists(table) == {"x": [1.5, 300.0], "y": [-2.0, 0.25], "label": ["cat", "dog"]}
    assert table.is_numeric("x") and not table.is_numeric("label")
    assert table["x"].dtype == np.float64 and table.n_rows == 2 and table.n_dropped == 0


def test_float32_dtype(tmp_path, engine):
    table = read_csv(write(tmp_path, "a,b\n0.1,2\n"), dtype=np.float32, engine=engine)
    assert table["a"].dtype == np.float32
    assert table["a"][0] == np.float32(0.1)


def test_iris_example():
    table = read_csv("examples/iris.csv")
    assert table.names == ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    assert table.n_rows == 150
    assert sorted(set(table["species"].tolist())) == ["setosa", "versicolor", "virginica"]
    assert table["sepal_length"][0] == 5.1


def test_cells_are_stripped(tmp_path, engine):
    table = read_csv(write(tmp_path, "a , b\n 1 ,  x \n2,y\n"), engine=engine)
    assert as_lists(table) == {"a": [1.0, 2.0], "b": ["x", "y"]}


def test_white_space_around_cells(tmp_path, engine):
    table = read_csv(write(tmp_path, "a,b\n\t1\x0b, x\t\n \t\n2,y\n"), engine=engine)
    assert as_lists(table) == {"a": [1.0, 2.0], "b": ["x", "y"]}


def test_tab_delimiter_is_not_white_space(tmp_path, engine):
    path = write(tmp_path, "a\tb\n1\t2\n\t3\n")
    assert 'line 3, column "a": empty cell' in read_error(path, engine=engine)


def test_booleans_are_text(tmp_path, engine):
    table = read_csv(write(tmp_path, "x,flag\n1,true\n2,false\n"), engine=engine)
    assert table["flag"].tolist() == ["true", "false"]


def test_mostly_text_column_with_numbers_is_text(tmp_path, engine):
    # The fast path cannot keep the text of "01"; it must hand over to the
    # csv module, which keeps it.
    table = read_csv(write(tmp_path, "x,code\n1,a\n2,b\n3,01\n"), engine=engine)
    assert table["code"].tolist() == ["a", "b", "01"]


# --------------------------------------------------------------------------
# Header detection


def test_header_detected_above_numbers(tmp_path, engine):
    table = read_csv(write(tmp_path, "a,b\n1,2\n3,4\n"), engine=engine)
    assert table.names == ["a", "b"]


def test_no_header_when_first_row_is_numeric(tmp_path, engine):
    table = read_csv(write(tmp_path, "1,2\n3,4\n"), engine=engine)
    assert table.names == ["0", "1"]
    assert as_lists(table) == {"0": [1.0, 3.0], "1": [2.0, 4.0]}


def test_header_detected_for_text_columns(tmp_path, engine):
    with_header = read_csv(write(tmp_path, "color,size\nred,big\nblue,small\n"), engine=engine)
    assert with_header.names == ["color", "size"]
    without = read_csv(write(tmp_path, "red,big\nblue,small\nred,big\n"), engine=engine)
    assert without.names == ["0", "1"] and without.n_rows == 3


def test_empty_header_cell_is_named_by_index(tmp_path, engine):
    table = read_csv(write(tmp_path, ",a\n0,x\n1,y\n"), engine=engine)
    assert table.names == ["0", "a"]


def test_forced_header(tmp_path, engine):
    path = write(tmp_path, "1,2\n3,4\n")
    assert read_csv(path, header=True, engine=engine).names == ["1", "2"]
    message = read_error(write(tmp_path, "a,b\n1,2\n3,4\n"), header=False, engine=engine)
    assert 'line 1, column "0": could not read \'a\' as a number' in message


def test_duplicate_header_names(tmp_path, engine):
    message = read_error(write(tmp_path, "\na,b,a\n1,2,3\n"), engine=engine)
    assert message.endswith('line 2: duplicate column name "a".')


# --------------------------------------------------------------------------
# Dialect: delimiter, quotes, BOM, line endings, blank lines


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_sniffs_delimiter(tmp_path, engine, delimiter):
    text = f"a{delimiter}b{delimiter}c\n1{delimiter}2{delimiter}x\n3{delimiter}4{delimiter}y\n"
    table = read_csv(write(tmp_path, text), engine=engine)
    assert as_lists(table) == {"a": [1.0, 3.0], "b": [2.0, 4.0], "c": ["x", "y"]}


def test_sniffing_prefers_consistent_delimiter(tmp_path, engine):
    # Commas appear, but only semicolons split every row the same way.
    table = read_csv(write(tmp_path, "name;note\nx;a,b\ny;c\n"), engine=engine)
    assert as_lists(table) == {"name": ["x", "y"], "note": ["a,b", "c"]}


def test_explicit_delimiter(tmp_path, engine):
    table = read_csv(write(tmp_path, "a|b\n1|2\n"), delimiter="|", engine=engine)
    assert as_lists(table) == {"a": [1.0], "b": [2.0]}


@pytest.mark.parametrize("delimiter", ["", ",,", '"', " ", "\n"])
def test_invalid_delimiter(tmp_path, delimiter):
    with pytest.raises(ValueError, match="delimiter"):
        read_csv(write(tmp_path, "a\n1\n"), delimiter=delimiter)


def test_quoted_fields(tmp_path, engine):
    text = 'id,name,score\n1,plain,2\n2,"Smith, J",3\n3,"say ""hi""",4\n4,"two\nlines",5\n'
    table = read_csv(write(tmp_path, text), engine=engine)
    assert table["name"].tolist() == ["plain", "Smith, J", 'say "hi"', "two\nlines"]
    assert table["score"].tolist() == [2.0, 3.0, 4.0, 5.0]


def test_quoted_numbers_are_numbers(tmp_path, engine):
    table = read_csv(write(tmp_path, 'a;b\n"1,5";"2"\n"3";"4"\n'), delimiter=";", engine=engine)
    # "1,5" is not a number (no decimal commas), so column a is mostly text.
    assert table["a"].tolist() == ["1,5", "3"]
    assert table["b"].tolist() == [2.0, 4.0]


def test_bom_crlf_and_blank_lines(tmp_path, engine):
    content = b"\xef\xbb\xbfa,b\r\n\r\n1,x\r\n   \r\n2,y\r\n\r\n"
    table = read_csv(write(tmp_path, content), engine=engine)
    assert table.names == ["a", "b"]
    assert as_lists(table) == {"a": [1.0, 2.0], "b": ["x", "y"]}


def test_no_final_newline(tmp_path, engine):
    table = read_csv(write(tmp_path, "a,b\n1,2\n3,4"), engine=engine)
    assert as_lists(table) == {"a": [1.0, 3.0], "b": [2.0, 4.0]}


def test_lone_carriage_returns(tmp_path, engine):
    table = read_csv(write(tmp_path, "a,b\r1,2\r3,4\r"), engine=engine)
    assert as_lists(table) == {"a": [1.0, 3.0], "b": [2.0, 4.0]}


def test_single_column(tmp_path, engine):
    table = read_csv(write(tmp_path, "y\n1\n2\n"), engine=engine)
    assert as_lists(table) == {"y": [1.0, 2.0]}


# --------------------------------------------------------------------------
# Errors, with file, line and column


def test_missing_file(tmp_path, engine):
    path = tmp_path / "nope.csv"
    assert read_error(path, engine=engine) == f"{path}: no such file."


@pytest.mark.parametrize("content", ["", "\n\n  \n", b"\xef\xbb\xbf\r\n"])
def test_empty_file(tmp_path, engine, content):
    path = write(tmp_path, content)
    assert read_error(path, engine=engine) == f"{path}: the file is empty."


@pytest.mark.parametrize("kwargs", [{}, {"header": True}])
def test_header_without_rows(tmp_path, engine, kwargs):
    path = write(tmp_path, "a,b\n\n")
    assert read_error(path, engine=engine, **kwargs) == (
        f"{path}: the file has a header but no data rows."
    )


@pytest.mark.parametrize(
    "text, line, found",
    [("a,b\n1,2\n3\n", 3, 1), ("a,b\n\n1,2\n\n3,4,5\n", 5, 3), ('a,b\n"1",2\n3,4,5\n', 3, 3)],
)
def test_ragged_rows(tmp_path, engine, text, line, found):
    path = write(tmp_path, text)
    assert read_error(path, engine=engine) == (
        f"{path}, line {line}: expected 2 fields, found {found}."
    )


def test_non_numeric_cell(tmp_path, engine):
    rows = "".join(f"{i},{i * 2}\n" for i in range(14))
    path = write(tmp_path, "id,age\n\n" + rows + "14,abc\n15,3\n")
    assert read_error(path, engine=engine) == (
        f"{path}, line 17, column \"age\": could not read 'abc' as a number."
    )


def test_first_problem_in_the_file_is_reported(tmp_path, engine):
    path = write(tmp_path, "a,b\n1,2\n3,4\n5,x\ny,6\n7,\n")
    assert "line 4, column \"b\": could not read 'x'" in read_error(path, engine=engine)


@pytest.mark.parametrize(
    "cell, problem",
    [
        ("", "empty cell"),
        ("nan", "'nan' is not a finite number"),
        ("-inf", "'-inf' is not a finite number"),
        ("1e999", "'1e999' is not a finite number"),
    ],
)
def test_missing_values(tmp_path, engine, cell, problem):
    path = write(tmp_path, f"a,b\n1,2\n3,{cell}\n5,6\n")
    assert read_error(path, engine=engine) == (
        f'{path}, line 3, column "b": {problem} '
        "(use dropna to drop rows with missing values)."
    )


def test_empty_text_cell_is_missing(tmp_path, engine):
    path = write(tmp_path, "a,b\n1,x\n2,\n")
    assert 'line 3, column "b": empty cell' in read_error(path, engine=engine)


def test_too_large_for_float32(tmp_path, engine):
    path = write(tmp_path, "a\n1\n1e39\n")
    assert read_csv(path, engine=engine)["a"].tolist() == [1.0, 1e39]
    message = read_error(path, dtype=np.float32, engine=engine)
    assert "line 3, column \"a\": '1e39' is not a finite number" in message


def test_invalid_utf8(tmp_path, engine):
    path = write(tmp_path, b"a,b\n1,x\n2,\xff\n")
    assert read_error(path, engine=engine) == f"{path}, line 3: not valid UTF-8 text."


def test_unterminated_quote(tmp_path):
    path = write(tmp_path, 'a,b\n1,"x\n')
    assert read_error(path).startswith(f"{path}, line 2: ")


# --------------------------------------------------------------------------
# dropna


def test_dropna_drops_rows_and_counts_them(tmp_path, engine):
    path = write(tmp_path, "a,b,c\n1,2,x\n,3,y\n4,nan,z\n5,6,\n7,8,w\n")
    table = read_csv(path, dropna=True, engine=engine)
    assert as_lists(table) == {"a": [1.0, 7.0], "b": [2.0, 8.0], "c": ["x", "w"]}
    assert table.n_dropped == 3


def test_dropna_does_not_hide_non_numbers(tmp_path, engine):
    path = write(tmp_path, "a\n1\n\n2\nabc\n3\n")
    assert "line 5, column \"a\": could not read 'abc'" in read_error(
        path, dropna=True, engine=engine
    )


def test_dropna_of_every_row(tmp_path, engine):
    path = write(tmp_path, "a,b\n1,\n,2\n")
    assert read_error(path, dropna=True, engine=engine) == (
        f"{path}: all 2 rows have missing values."
    )


# --------------------------------------------------------------------------
# column_types


def test_forced_text_column_keeps_text(tmp_path, engine):
    path = write(tmp_path, "zip,x\n01234,1\n98765,2\n")
    table = read_csv(path, column_types={"zip": "text", "other": "numeric"}, engine=engine)
    assert table["zip"].tolist() == ["01234", "98765"]
    assert table["x"].tolist() == [1.0, 2.0]


def test_forced_numeric_column_reports_text(tmp_path, engine):
    path = write(tmp_path, "x\na\nb\n1\n")
    assert read_csv(path, engine=engine)["x"].tolist() == ["a", "b", "1"]
    message = read_error(path, column_types={"x": "numeric"}, engine=engine)
    assert message == f"{path}, line 2, column \"x\": could not read 'a' as a number."


def test_invalid_arguments(tmp_path):
    path = write(tmp_path, "a\n1\n")
    with pytest.raises(ValueError, match="dtype"):
        read_csv(path, dtype=np.int32)
    with pytest.raises(ValueError, match="engine"):
        read_csv(path, engine="c")
    with pytest.raises(ValueError, match="column_types"):
        read_csv(path, column_types={"a": "int"})


# --------------------------------------------------------------------------
# The compiled fast path against the csv module


def random_cells(rng, n, max_exp10):
    """Numbers in many spellings, including ones the fast path hands over to
    Python (more than 19 digits, huge exponents, underscores)."""
    cells = []
    for kind in rng.integers(0, 8, n):
        x = rng.standard_normal()
        if kind == 0:
            cells.append(repr(x))
        elif kind == 1:
            cells.append(f"{x:.18e}")
        elif kind == 2:
            cells.append(f"{x * 10.0 ** rng.integers(-320, max_exp10):.17g}")
        elif kind == 3:
            cells.append(str(rng.integers(-(10**18), 10**18)))
        elif kind == 4:
            cells.append(f"{x:.25f}")
        elif kind == 5:
            cells.append(f"{x:.3f}".replace("0.", "."))
        elif kind == 6:
            cells.append(f" {x:+.2E} ")
        else:
            cells.append(rng.choice(["0", "-0", "1_000", "5.", "0.5e-3", "1E+2"]))
    return cells


@pytest.mark.parametrize("dtype, max_exp10", [(np.float64, 300), (np.float32, 30)])
def test_fast_path_matches_csv_module(tmp_path, monkeypatch, dtype, max_exp10):
    rng = np.random.default_rng(7)
    n_rows, n_cols = 600, 5
    cells = np.array(random_cells(rng, n_rows * n_cols, max_exp10)).reshape(n_rows, n_cols)
    labels = rng.choice(["red", "green", "blue"], n_rows)
    lines = [",".join(row) + f",{label}" for row, label in zip(cells, labels)]
    path = write(tmp_path, "a,b,c,d,e,color\n" + "\n".join(lines) + "\n")
    # Small chunks exercise lines split across reads and growing buffers.
    monkeypatch.setattr(data, "_CHUNK_BYTES", 97)
    fast = read_csv(path, dtype=dtype, engine="compiled")
    slow = read_csv(path, dtype=dtype, engine="python")
    assert fast.names == slow.names
    for name in "abcde":
        assert fast[name].dtype == slow[name].dtype == dtype
        assert fast[name].tobytes() == slow[name].tobytes()
        expected = np.array([float(cell) for cell in cells[:, "abcde".index(name)]])
        assert fast[name].tobytes() == expected.astype(dtype).tobytes()
    assert fast["color"].tolist() == slow["color"].tolist() == labels.tolist()


def test_fast_path_grows_its_cell_and_text_buffers(tmp_path):
    # More text cells (2,100) than the first cell table holds (1,024), and more text
    # (about 90 kB) than the first text buffer (64 kB).
    labels = [f"label-{i:05d}-" + "x" * (i % 50) for i in range(2100)]
    path = write(tmp_path, "a,name\n" + "".join(f"{i},{label}\n" for i, label in enumerate(labels)))
    fast = read_csv(path, engine="compiled")
    assert fast["name"].tolist() == labels
    assert fast["a"].tolist() == list(range(2100))


def test_fast_path_line_numbers_across_chunks(tmp_path, monkeypatch):
    rows = "".join(f"{i},{i}\n\n" for i in range(200))
    path = write(tmp_path, "a,b\n" + rows + "1,oops\n" + rows)
    monkeypatch.setattr(data, "_CHUNK_BYTES", 50)
    assert "line 402, column \"b\": could not read 'oops'" in read_error(path, engine="compiled")


def test_fast_path_is_used_for_plain_files(tmp_path, monkeypatch):
    def fail(spec):
        raise AssertionError("the general path should not be needed")

    monkeypatch.setattr(data, "_read_general", fail)
    table = read_csv(write(tmp_path, "a,b\n1,x\n2,y\n"), engine="compiled")
    assert as_lists(table) == {"a": [1.0, 2.0], "b": ["x", "y"]}


def test_auto_engine_reads_small_files_with_the_csv_module(tmp_path, monkeypatch):
    """Below COMPILED_MIN_BYTES the compiled scanner would cost its first compile for
    no gain; from there on "auto" uses it."""
    scanned = []
    read_fast = data._read_fast
    monkeypatch.setattr(data, "_read_fast", lambda spec: scanned.append(spec) or read_fast(spec))
    content = "a,b\n1,x\n2,y\n"
    path = write(tmp_path, content)
    assert as_lists(read_csv(path)) == {"a": [1.0, 2.0], "b": ["x", "y"]}
    assert scanned == []
    monkeypatch.setattr(data, "COMPILED_MIN_BYTES", len(content))
    assert as_lists(read_csv(path)) == {"a": [1.0, 2.0], "b": ["x", "y"]}
    assert len(scanned) == 1


def test_fast_path_stops_when_the_file_grew(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_count_lines", lambda path: 2)
    path = write(tmp_path, "a\n1\n2\n3\n")
    assert read_error(path, engine="compiled") == f"{path}: the file changed while it was read."


@pytest.mark.parametrize(
    "cell", ["12345678901234567890123", "1e-330", "0.30000000000000004441", "9" * 19]
)
def test_numbers_the_fast_path_leaves_to_python(tmp_path, cell):
    table = read_csv(write(tmp_path, f"a\n1\n{cell}\n"), engine="compiled")
    assert table["a"][1] == float(cell)


# --------------------------------------------------------------------------
# Table


def test_table_validation():
    with pytest.raises(ValueError, match="different lengths"):
        Table({"a": np.zeros(2), "b": np.zeros(3)})
    with pytest.raises(ValueError, match="at least one column"):
        Table({})
    with pytest.raises(ValueError, match="float or str"):
        Table({"a": np.zeros(2, int)})
    table = Table({"a": np.zeros(2), "b": np.array(["x", "y"])}, source="mem")
    assert table.names == ["a", "b"] and "a" in table and table.n_rows == 2
    assert repr(table) == "Table(2 rows; a: numeric, b: text)"
