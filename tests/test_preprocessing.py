"""Tests for fastmlp.preprocessing.TabularPreprocessor."""

import copy
import json

import numpy as np
import pytest

from fastmlp.data import Table, read_csv
from fastmlp.preprocessing import PreprocessingError, TabularPreprocessor


def table(**columns):
    return Table(
        {name: np.array(values, dtype=None if isinstance(values[0], str) else float)
         for name, values in columns.items()},
        source="train.csv",
    )


def example():
    return table(
        size=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        color=["red", "blue", "red", "green", "blue", "red"],
        const=[7.0] * 6,
        label=["b", "a", "b", "a", "c", "a"],
    )


# --------------------------------------------------------------------------
# Fitting and transforming


def test_fit_transform_iris():
    prep = TabularPreprocessor()
    X, y = prep.fit_transform(read_csv("examples/iris.csv"))
    assert prep.target_name == "species" and prep.task == "classification"
    assert prep.classes == ["setosa", "versicolor", "virginica"]
    assert X.shape == (150, 4) and X.dtype == np.float32
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(X.std(axis=0), 1, atol=1e-6)
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [50, 50, 50]


def test_standardises_and_one_hot_encodes():
    prep = TabularPreprocessor()
    X, y = prep.fit_transform(example())
    assert prep.output_names == ["size", "color=blue", "color=green", "color=red", "const"]
    assert prep.n_outputs == 5
    size = np.arange(1.0, 7.0)
    np.testing.assert_allclose(X[:, 0], (size - size.mean()) / size.std(), rtol=1e-6)
    assert X[:, 1:4].tolist() == [
        [0, 0, 1], [1, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1]
    ]
    # A constant column has std 0, which is replaced by 1.
    assert prep.features[2] == {"name": "const", "type": "numeric", "mean": 7.0, "std": 1.0}
    assert X[:, 4].tolist() == [0.0] * 6
    assert prep.classes == ["a", "b", "c"] and y.tolist() == [1, 0, 1, 0, 2, 0]


@pytest.mark.parametrize("target", ["size", 0, -4])
def test_target_by_name_or_index(target):
    prep = TabularPreprocessor(target=target, drop=["label"]).fit(example())
    assert prep.target_name == "size"
    assert prep.feature_names == ["color", "const"]


def test_missing_target_lists_columns():
    with pytest.raises(PreprocessingError) as info:
        TabularPreprocessor(target="price").fit(example())
    assert str(info.value) == (
        "train.csv: target column 'price' not found; "
        "available columns: 'size', 'color', 'const', 'label'"
    )
    with pytest.raises(PreprocessingError, match="target column 4 not found"):
        TabularPreprocessor(target=4).fit(example())


def test_drop_errors():
    with pytest.raises(PreprocessingError, match="drop column 'nope' not found"):
        TabularPreprocessor(drop=["nope"]).fit(example())
    with pytest.raises(PreprocessingError, match="is the target"):
        TabularPreprocessor(drop=["label"]).fit(example())
    with pytest.raises(PreprocessingError, match="no feature columns left"):
        TabularPreprocessor(drop=["size", "color", "const"]).fit(example())


def test_drop_by_index():
    prep = TabularPreprocessor(drop=[1, -2]).fit(example())
    assert prep.feature_names == ["size"] and prep.dropped == ["color", "const"]


@pytest.mark.parametrize(
    "values, task",
    [
        (["x", "y", "x", "y"], "classification"),
        (["true", "false", "true", "true"], "classification"),
        ([0, 1, 1, 0, 1, 0], "classification"),
        ([3, 1, 2, 3, 1, 2, 2, 1], "classification"),
        ([0.5, 1.5, 0.5, 1.5], "regression"),
        (list(range(30)) * 2, "regression"),  # more than 20 distinct integers
        ([1, 2, 3, 4, 5, 6], "regression"),  # as many distinct values as rows
    ],
)
def test_guesses_task(values, task):
    data = table(x=list(range(len(values))), y=values)
    assert TabularPreprocessor().fit(data).task == task


def test_task_override():
    data = table(x=[1, 2, 3, 4], y=[0, 1, 0, 1])
    prep = TabularPreprocessor(task="regression").fit(data)
    assert prep.task == "regression" and prep.classes is None
    assert prep.transform(data)[1].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert prep.transform(data)[1].dtype == np.float32
    prep = TabularPreprocessor(task="classification").fit(table(x=[1, 2, 3], y=[0.5, 2, 0.5]))
    assert prep.classes == ["0.5", "2"]


def test_numeric_classes_sorted_numerically():
    data = table(x=[1, 2, 3, 4, 5, 6], y=[10, 2, 1, 2, 10, 1])
    prep = TabularPreprocessor().fit(data)
    assert prep.classes == ["1", "2", "10"]
    _, y = prep.transform(data)
    assert y.tolist() == [2, 1, 0, 1, 2, 0]
    assert prep.decode_target(y).tolist() == ["10", "2", "1", "2", "10", "1"]


def test_single_class_is_an_error():
    with pytest.raises(PreprocessingError) as info:
        TabularPreprocessor().fit(table(x=[1, 2, 3], y=["a", "a", "a"]))
    assert "target column 'y' has a single class 'a'" in str(info.value)


def test_non_finite_target_is_an_error():
    with pytest.raises(PreprocessingError, match="column 'y' has non-finite values"):
        TabularPreprocessor().fit(table(x=[1, 2, 3], y=[0, 1, np.nan]))


def test_regression_needs_numeric_target():
    with pytest.raises(PreprocessingError, match="holds text"):
        TabularPreprocessor(task="regression").fit(table(x=[1, 2], y=["a", "b"]))


def test_transform_new_data():
    prep = TabularPreprocessor().fit(example())
    new = table(
        label=["c", "a"], extra=[0.0, 0.0], color=["purple", "green"], const=[7.0, 8.0],
        size=[3.5, 3.5],
    )
    X, y = prep.transform(new)
    assert X[:, 0].tolist() == [0.0, 0.0]
    assert X[0, 1:4].tolist() == [0.0, 0.0, 0.0]  # unknown category
    assert X[1, 1:4].tolist() == [0.0, 1.0, 0.0]
    assert X[:, 4].tolist() == [0.0, 1.0]
    assert y.tolist() == [2, 0]


def test_transform_without_target():
    prep = TabularPreprocessor().fit(example())
    X, y = prep.transform(table(size=[1.0], color=["red"], const=[7.0]))
    assert y is None and X.shape == (1, 5)


def test_transform_lists_missing_columns():
    prep = TabularPreprocessor().fit(example())
    with pytest.raises(PreprocessingError) as info:
        prep.transform(table(color=["red"], label=["a"]))
    assert str(info.value) == (
        "train.csv: missing columns used in training: 'size', 'const' "
        "(the table has 'color', 'label')"
    )


def test_transform_errors():
    prep = TabularPreprocessor().fit(example())
    with pytest.raises(PreprocessingError, match="classes not seen in training: 'd', 'e'"):
        prep.transform(table(size=[1.0, 2, 3], color=["red"] * 3, const=[7.0] * 3,
                             label=["e", "d", "a"]))
    with pytest.raises(PreprocessingError, match="column 'size' holds text"):
        prep.transform(table(size=["big"], color=["red"], const=[7.0]))
    with pytest.raises(PreprocessingError, match="column 'size' has non-finite values"):
        prep.transform(table(size=[np.nan], color=["red"], const=[7.0]))


def test_numeric_column_for_a_text_feature_uses_labels():
    prep = TabularPreprocessor().fit(table(code=["1", "2", "x", "2"], y=[0, 1, 0, 1]))
    X, _ = prep.transform(table(code=[2.0, 1.0]))
    assert prep.output_names == ["code=1", "code=2", "code=x"]
    assert X.tolist() == [[0, 1, 0], [1, 0, 0]]


def test_decode_target():
    prep = TabularPreprocessor().fit(example())
    assert prep.decode_target(np.array([2, 0])).tolist() == ["c", "a"]
    with pytest.raises(PreprocessingError, match="class indices"):
        prep.decode_target(np.array([3]))
    with pytest.raises(PreprocessingError, match="class indices"):
        prep.decode_target(np.array([0.5]))
    regression = TabularPreprocessor(target="size").fit(example())
    assert regression.decode_target([1.5]).tolist() == [1.5]


def test_column_types_for_reading_new_data(tmp_path):
    (tmp_path / "train.csv").write_text("zip,x,y\n01,1,a\nA1,2,b\nB2,3,a\n02,4,b\nC3,5,a\n")
    (tmp_path / "new.csv").write_text("zip,x\n02,5\n01,6\n")
    prep = TabularPreprocessor().fit(read_csv(tmp_path / "train.csv"))
    assert prep.column_types() == {"zip": "text", "x": "numeric", "y": "text"}
    assert prep.output_names[:5] == ["zip=01", "zip=02", "zip=A1", "zip=B2", "zip=C3"]
    # Read without the types, "02" and "01" would be the numbers 2 and 1.
    new = read_csv(tmp_path / "new.csv", column_types=prep.column_types())
    X, y = prep.transform(new)
    assert X[:, :5].tolist() == [[0, 1, 0, 0, 0], [1, 0, 0, 0, 0]] and y is None


def test_unfitted():
    prep = TabularPreprocessor()
    assert not prep.is_fitted
    for call in (lambda: prep.transform(example()), prep.to_config, prep.column_types):
        with pytest.raises(PreprocessingError, match="not fitted"):
            call()


@pytest.mark.parametrize(
    "kwargs", [{"target": 1.5}, {"task": "clustering"}, {"max_classes": 1}]
)
def test_invalid_settings(kwargs):
    with pytest.raises(PreprocessingError):
        TabularPreprocessor(**kwargs)


# --------------------------------------------------------------------------
# Config round trip and validation


@pytest.mark.parametrize("target", ["label", "size"])
def test_config_round_trip(target):
    data = example()
    prep = TabularPreprocessor(target=target).fit(data)
    config = json.loads(json.dumps(prep.to_config()))
    assert config == prep.to_config()
    loaded = TabularPreprocessor.from_config(config)
    assert loaded.to_config() == config
    X1, y1 = prep.transform(data)
    X2, y2 = loaded.transform(data)
    assert X1.tobytes() == X2.tobytes() and y1.tobytes() == y2.tobytes()
    assert loaded.output_names == prep.output_names


def test_to_config_is_a_copy():
    prep = TabularPreprocessor().fit(example())
    config = prep.to_config()
    config["features"][0]["mean"] = 99.0
    config["features"][1]["categories"].append("pink")
    assert prep.features[0]["mean"] == 3.5
    assert prep.features[1]["categories"] == ["blue", "green", "red"]


def corrupt(path, value):
    """A valid config with the field at `path` set to `value` (or deleted)."""
    config = TabularPreprocessor().fit(example()).to_config()
    node = config
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return config


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("format",), "other", "format/version"),
        (("version",), 2, "format/version"),
        (("target",), 3, "target must be a string"),
        (("target",), KeyError, "must have the keys"),
        (("extra",), 1, "must have the keys"),
        (("task",), "clustering", "task must be one of"),
        (("target_type",), "int", "target_type must be"),
        (("classes",), ["a"], "at least two classes"),
        (("classes",), ["a", "a"], "must not repeat"),
        (("classes",), None, "classes must be a list of strings"),
        (("dropped",), ["label"], "must be distinct"),
        (("dropped",), "x", "dropped must be a list of strings"),
        (("features",), [], "features must be a non-empty list"),
        (("features", 0, "std"), 0.0, "features[0].std must be positive"),
        (("features", 0, "std"), float("nan"), "features[0].std must be a finite number"),
        (("features", 0, "mean"), True, "features[0].mean must be a finite number"),
        (("features", 0, "mean"), "1", "features[0].mean must be a finite number"),
        (("features", 0, "type"), "date", "features[0].type must be"),
        (("features", 0, "name"), None, "features[0].name must be a string"),
        (("features", 0, "name"), "color", "must be distinct"),
        (("features", 1, "categories"), [], "features[1].categories must not be empty"),
        (("features", 1, "categories"), ["a", 1], "must be a list of strings"),
        (("features", 1, "mean"), 0.0, "features[1] must have the keys"),
        (("features", 1), "color", "features[1] must be a dict"),
    ],
)
def test_from_config_rejects_invalid_fields(path, value, message):
    config = corrupt(path, value)
    with pytest.raises(PreprocessingError) as info:
        TabularPreprocessor.from_config(config)
    assert str(info.value).startswith("invalid preprocessor config: ")
    assert message in str(info.value)


def test_from_config_rejects_classes_for_regression():
    config = TabularPreprocessor(target="size").fit(example()).to_config()
    bad = copy.deepcopy(config)
    bad["classes"] = ["a", "b"]
    with pytest.raises(PreprocessingError, match="classes must be null for regression"):
        TabularPreprocessor.from_config(bad)
    bad = copy.deepcopy(config)
    bad["target_type"] = "text"
    with pytest.raises(PreprocessingError, match="must be 'numeric' for regression"):
        TabularPreprocessor.from_config(bad)


def test_from_config_rejects_non_dict():
    with pytest.raises(PreprocessingError, match="config must be a dict"):
        TabularPreprocessor.from_config([])
