"""Tests for the ``fastmlp`` command line tool (click's CliRunner and the installed script)."""

import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

import fastmlp
from fastmlp_cli.main import cli

IRIS = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "iris.csv")
FAST = ["--epochs", "3", "--seed", "0"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(*args):
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def fails(code, *args, fragments=()):
    """Run a command that must fail: exit ``code``, one line on stderr, no traceback."""
    result = run(*args)
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def write(path, text):
    path.write_text(text)
    return path


def classes_csv(path, n=30, seed=0):
    """Three classes told apart by x, a text feature and a useless noise column."""
    rng = np.random.default_rng(seed)
    lines = ["x,noise,colour,label"]
    for i in range(n):
        k = i % 3
        lines.append(f"{k + rng.normal(0, 0.1):.3f},{rng.normal():.3f},"
                     f"{['red', 'green', 'blue'][k]},{['a', 'b', 'c'][k]}")
    return write(path, "\n".join(lines) + "\n")


def regression_csv(path, n=40, seed=0):
    rng = np.random.default_rng(seed)
    lines = ["id,a,b,y"]
    for i in range(n):
        a, b = rng.normal(size=2)
        lines.append(f"{i},{a:.3f},{b:.3f},{3 * a - b + 10:.3f}")
    return write(path, "\n".join(lines) + "\n")


def files(directory):
    return sorted(os.listdir(directory))


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("iris")
    data = directory / "iris.csv"
    shutil.copy(IRIS, data)
    ok("train", data, "--epochs", "20", "--seed", "1", "-q")
    return directory / "iris.fastmlp", data


# ---------------------------------------------------------------------- help and version


def test_version_and_help():
    assert ok("--version").output.strip() == f"fastmlp, version {fastmlp.__version__}"
    assert "Examples:" in ok("--help").output
    for command in ("train", "evaluate", "predict", "summary"):
        text = ok(command, "--help").output
        assert "Examples:" in text and f"fastmlp {command} " in text
    text = ok("train", "--help").output
    for option in ("--target", "--drop", "--task", "--dropna", "--no-header", "--delimiter",
                   "--layers", "--activation", "--loss", "--optimizer", "--learning-rate",
                   "--epochs", "--batch-size", "--validation-split", "--early-stopping",
                   "--seed", "--output", "--plot", "--quiet", "--json"):
        assert option in text
    assert "Usage:" in run().output


# ---------------------------------------------------------------------- train


def test_train_iris_defaults_output_and_other_commands(tmp_path):
    data = tmp_path / "iris.csv"
    shutil.copy(IRIS, data)
    result = ok("train", data, "--epochs", "4", "--seed", "3")
    assert "Epoch 1/4" in result.stdout and " - val_loss: " in result.stdout
    assert f"Model saved to {tmp_path / 'iris.fastmlp'}" in result.stdout
    assert "Rows: 120 for training, 30 for validation" in result.stdout
    assert "Validation: loss " in result.stdout and "accuracy" in result.stdout
    assert "Time: " in result.stdout
    assert files(tmp_path) == ["iris.csv", "iris.fastmlp"]
    model = fastmlp.saving.load_model(tmp_path / "iris.fastmlp")
    assert [layer.units for layer in model.layers] == [100, 3]
    assert model.layers[-1].activation == "softmax"
    assert model.loss.name == "sparse_categorical_crossentropy"
    assert model.optimizer.name == "adam"


def test_train_json_summary_and_quiet(tmp_path):
    data = classes_csv(tmp_path / "c.csv")
    result = ok("train", data, *FAST, "--json")
    summary = json.loads(result.stdout)
    assert "Epoch 1/3" in result.stderr
    assert summary["model"] == str(tmp_path / "c.fastmlp")
    assert summary["task"] == "classification" and summary["classes"] == ["a", "b", "c"]
    assert summary["rows"] == {"train": 24, "validation": 6, "dropped_missing": 0}
    assert summary["epochs_run"] == 3 and summary["seed"] == 0
    assert set(summary["train"]) == set(summary["validation"]) == {"loss", "accuracy"}
    assert summary["seconds"] > 0 and summary["loss"] == "sparse_categorical_crossentropy"
    assert summary["layers"] == [100] and summary["features"] == ["x", "noise", "colour"]
    quiet = ok("train", data, *FAST, "--quiet", "-o", tmp_path / "q.fastmlp")
    assert quiet.output == ""
    quiet_json = ok("train", data, *FAST, "-q", "--json", "-o", tmp_path / "q.fastmlp")
    assert quiet_json.stderr == "" and json.loads(quiet_json.stdout)["epochs_run"] == 3


def test_same_seed_gives_the_same_file(tmp_path):
    data = classes_csv(tmp_path / "c.csv")
    ok("train", data, *FAST, "-q", "-o", tmp_path / "a.fastmlp")
    ok("train", data, *FAST, "-q", "-o", tmp_path / "b.fastmlp")
    ok("train", data, "--epochs", "3", "--seed", "1", "-q", "-o", tmp_path / "c.fastmlp")
    assert (tmp_path / "a.fastmlp").read_bytes() == (tmp_path / "b.fastmlp").read_bytes()
    assert (tmp_path / "a.fastmlp").read_bytes() != (tmp_path / "c.fastmlp").read_bytes()


def test_binary_classification_uses_sigmoid(tmp_path):
    data = write(tmp_path / "b.csv", "v,label\n" + "".join(
        f"{i},{'yes' if i >= 10 else 'no'}\n" for i in range(20)))
    summary = json.loads(ok("train", data, *FAST, "-q", "--json").stdout)
    assert summary["loss"] == "binary_crossentropy" and summary["output_activation"] == "sigmoid"
    model = fastmlp.saving.load_model(tmp_path / "b.fastmlp")
    assert model.layers[-1].units == 1
    lines = ok("predict", tmp_path / "b.fastmlp", data).stdout.splitlines()
    assert lines[0] == "label,probability_no,probability_yes"
    label, p_no, p_yes = lines[1].split(",")
    assert label in ("no", "yes") and abs(float(p_no) + float(p_yes) - 1) < 1e-5
    assert (label == "yes") == (float(p_yes) > 0.5)


def test_regression_evaluate_and_predict(tmp_path):
    data = regression_csv(tmp_path / "r.csv")
    result = ok("train", data, "--epochs", "30", "--seed", "0", "--drop", "id")
    assert "standardized target" in result.stdout and "r2" in result.stdout
    model_path = tmp_path / "r.fastmlp"
    scores = json.loads(ok("evaluate", model_path, data, "--json").stdout)
    assert set(scores) == {"model", "data", "rows", "dropped_missing", "loss", "mse", "mae",
                           "r2"}
    assert scores["rows"] == 40 and scores["r2"] > 0.5
    assert scores["loss"] == pytest.approx(scores["mse"], rel=1e-4)
    text = ok("evaluate", model_path, data).stdout
    assert "r2: " in text and "mae: " in text
    lines = ok("predict", model_path, data).stdout.splitlines()
    assert lines[0] == "y" and len(lines) == 41
    predictions = np.array([float(v) for v in lines[1:]])
    truth = np.loadtxt(data, delimiter=",", skiprows=1)[:, 3]
    assert np.mean((predictions - truth) ** 2) == pytest.approx(scores["mse"], rel=1e-3)
    # The target column may be absent when predicting.
    no_target = write(tmp_path / "new.csv", "id,a,b\n0,1.0,2.0\n1,-1.0,0.5\n")
    assert len(ok("predict", model_path, no_target).stdout.splitlines()) == 3


def test_losses_optimizers_and_learning_rate(tmp_path):
    data = classes_csv(tmp_path / "c.csv")
    for optimizer in ("SGD", "rmsprop", "adagrad"):
        summary = json.loads(ok("train", data, *FAST, "-q", "--json", "--optimizer", optimizer,
                                "--learning-rate", "0.05").stdout)
        assert summary["optimizer"] == optimizer.lower() and summary["learning_rate"] == 0.05
    summary = json.loads(ok("train", data, *FAST, "-q", "--json", "--loss",
                            "categorical_crossentropy", "--layers", "8,4", "--activation",
                            "tanh", "--batch-size", "5").stdout)
    assert summary["loss"] == "categorical_crossentropy" and summary["layers"] == [8, 4]
    assert ok("evaluate", tmp_path / "c.fastmlp", data, "--json").stdout
    assert "colour  text, one-hot over 3 categories: blue, green, red" in ok(
        "summary", tmp_path / "c.fastmlp").stdout
    model = fastmlp.saving.load_model(tmp_path / "c.fastmlp")
    assert [layer.activation for layer in model.layers] == ["tanh", "tanh", "softmax"]
    summary = json.loads(ok("train", data, *FAST, "-q", "--json", "--layers", "none").stdout)
    assert summary["layers"] == []
    regression = regression_csv(tmp_path / "r.csv")
    summary = json.loads(ok("train", regression, *FAST, "-q", "--json", "--loss", "huber").stdout)
    assert summary["loss"] == "huber" and summary["task"] == "regression"


def test_target_drop_task_and_csv_options(tmp_path):
    data = write(tmp_path / "d.csv", "".join(
        f"{i % 2};{i};{i * 0.5};{'odd' if i % 2 else 'even'}\n" for i in range(30)))
    summary = json.loads(ok("train", data, *FAST, "-q", "--json", "--no-header", "--delimiter",
                            ";", "--target", "0", "--drop", "1", "--drop", "-1", "--drop",
                            "3").stdout)
    assert summary["target"] == "0" and summary["features"] == ["2"]
    assert summary["dropped_columns"] == ["1", "3"] and summary["classes"] == ["0", "1"]
    summary = json.loads(ok("train", data, *FAST, "-q", "--json", "--target", "0",
                            "--task", "regression", "--drop", "3").stdout)
    assert summary["task"] == "regression" and summary["target"] == "0"
    tabbed = write(tmp_path / "t.tsv", "a\tb\tname\n" + "".join(
        f"{i}\t{i * 2}\t{'x' if i < 10 else 'y'}\n" for i in range(20)))
    summary = json.loads(ok("train", tabbed, *FAST, "-q", "--json", "--delimiter", "tab",
                            "--target", "name").stdout)
    assert summary["features"] == ["a", "b"]
    assert os.path.exists(tmp_path / "t.fastmlp")
    text = ok("summary", tmp_path / "d.fastmlp").stdout
    assert "Dropped columns: 3" in text


def test_dropna(tmp_path):
    rows = [f"{i},{i % 3 if i != 4 else ''},{'a' if i % 2 else 'b'}" for i in range(30)]
    data = write(tmp_path / "m.csv", "u,v,label\n" + "\n".join(rows) + "\n")
    fails(1, "train", data, *FAST, fragments=["line 6", '"v"', "empty cell", "dropna"])
    summary = json.loads(ok("train", data, *FAST, "-q", "--json", "--dropna").stdout)
    assert summary["rows"]["dropped_missing"] == 1
    assert summary["rows"]["train"] + summary["rows"]["validation"] == 29
    result = ok("evaluate", tmp_path / "m.fastmlp", data, "--dropna")
    assert "1 dropped" in result.stdout


def test_early_stopping_and_validation_split(tmp_path):
    rng = np.random.default_rng(0)
    data = write(tmp_path / "noise.csv", "a,b,label\n" + "".join(
        f"{rng.normal():.3f},{rng.normal():.3f},{rng.integers(2)}\n" for _ in range(60)))
    summary = json.loads(ok("train", data, "--epochs", "300", "--seed", "0", "-q", "--json",
                            "--early-stopping", "2", "--layers", "64").stdout)
    assert summary["stopped_early"] and summary["epochs_run"] < 300
    assert summary["early_stopping"] == 2 and 1 <= summary["best_epoch"] < summary["epochs_run"]
    # The best weights are restored: the reported validation loss is the lowest one.
    text = ok("train", data, "--epochs", "300", "--seed", "0", "--early-stopping", "2",
              "--layers", "64").stdout
    assert "stopped early; kept the weights of epoch" in text
    summary = json.loads(ok("train", data, *FAST, "-q", "--json",
                            "--early-stopping", "0").stdout)
    assert summary["early_stopping"] is None and summary["epochs_run"] == 3
    summary = json.loads(ok("train", data, *FAST, "-q", "--json", "--validation-split", "0").stdout)
    assert summary["validation"] is None and summary["rows"]["validation"] == 0
    summary = json.loads(ok("train", data, *FAST, "-q", "--json", "--validation-split", "0.5").stdout)
    assert summary["rows"] == {"train": 30, "validation": 30, "dropped_missing": 0}
    fails(2, "train", data, "--validation-split", "0", "--early-stopping", "5",
          fragments=["--early-stopping", "--validation-split"])


def test_stratified_split_keeps_every_class_in_training(tmp_path):
    # Class "rare" has a single row: it must stay in the training part.
    rows = [f"{i},{'a' if i % 2 else 'b'}" for i in range(19)] + ["100,rare"]
    data = write(tmp_path / "s.csv", "x,label\n" + "\n".join(rows) + "\n")
    for seed in range(5):
        summary = json.loads(ok("train", data, "--epochs", "1", "--seed", seed, "-q",
                                "--json").stdout)
        assert summary["classes"] == ["a", "b", "rare"] and summary["rows"]["validation"] == 4


def test_plot(tmp_path):
    data = classes_csv(tmp_path / "c.csv")
    ok("train", data, *FAST, "-q", "--plot", tmp_path / "history.png")
    assert (tmp_path / "history.png").read_bytes()[:4] == b"\x89PNG"
    ok("train", regression_csv(tmp_path / "r.csv"), *FAST, "-q", "--plot", tmp_path / "r.svg")
    assert b"<svg" in (tmp_path / "r.svg").read_bytes()
    fails(2, "train", data, *FAST, "--plot", tmp_path / "history.xyz",
          fragments=["--plot", ".png"])


def test_plot_without_matplotlib(tmp_path, monkeypatch):
    data = classes_csv(tmp_path / "c.csv")
    monkeypatch.setitem(sys.modules, "matplotlib.backend_bases", None)
    fails(1, "train", data, *FAST, "--plot", tmp_path / "h.png",
          fragments=["matplotlib", "pip install"])
    assert files(tmp_path) == ["c.csv"]


def test_summary(iris_model):
    model_path, _ = iris_model
    text = ok("summary", model_path).stdout
    assert 'Model: "sequential"' in text and "Total params:" in text
    assert "Target: 'species' (classification, 3 classes: setosa, versicolor, virginica)" in text
    assert "petal_width" in text and "standardised" in text
    assert "Optimizer: adam (learning rate 0.001), loss: sparse_categorical_crossentropy" in text
    assert "Trained on iris.csv: 120 rows, 20 epochs, seed 1" in text


def test_evaluate_and_predict_iris(iris_model, tmp_path):
    model_path, data = iris_model
    text = ok("evaluate", model_path, data).stdout
    assert text.splitlines()[0].endswith("150 rows")
    scores = json.loads(ok("evaluate", model_path, data, "--json").stdout)
    assert set(scores) == {"model", "data", "rows", "dropped_missing", "loss", "accuracy"}
    assert scores["accuracy"] > 0.6
    out = tmp_path / "p.csv"
    assert ok("predict", model_path, data, "-o", out).stdout == ""
    lines = out.read_text().splitlines()
    assert lines[0] == ("species,probability_setosa,probability_versicolor,"
                        "probability_virginica")
    assert len(lines) == 151
    labels = [line.split(",")[0] for line in lines[1:]]
    truth = [line.split(",")[-1] for line in open(data).read().splitlines()[1:]]
    assert np.mean(np.array(labels) == np.array(truth)) == pytest.approx(scores["accuracy"])
    # Columns in another order, extra columns and no target are fine.
    shuffled = write(tmp_path / "new.csv", "extra,petal_width,petal_length,sepal_width,"
                                           "sepal_length\n1,0.2,1.4,3.5,5.1\n")
    assert ok("predict", model_path, shuffled).stdout.splitlines()[1].startswith("setosa,")


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize("content, code, fragments", [
    ("", 1, ["empty"]),
    ("a,b,label\n", 1, ["header but no data rows"]),
    ("a,b,label\n1,2,x\n3,4\n5,6,y\n", 1, ["line 3", "expected 3 fields, found 2"]),
    ("a,b,label\n1,2,x\n3,4,y\n5,oops,x\n7,8,y\n", 1, ["line 4", '"b"', "'oops'"]),
    ("a,b,label\n1,2,x\n3,,y\n5,6,x\n", 1, ["line 3", '"b"', "empty cell"]),
    ("a,b,label\n1,2,x\n3,inf,y\n5,6,x\n", 1, ["line 3", '"b"', "not a finite number"]),
    ("a,b,label\n1,2,x\n3,4,x\n5,6,x\n", 1, ["single class"]),
])
def test_bad_data(tmp_path, content, code, fragments):
    data = write(tmp_path / "bad.csv", content)
    fails(code, "train", data, *FAST, fragments=[str(data)] + fragments)
    assert files(tmp_path) == ["bad.csv"]


@pytest.mark.parametrize("args, fragments", [
    (["--epochs", "0"], ["'--epochs'", "0"]),
    (["--batch-size", "0"], ["'--batch-size'"]),
    (["--layers", "64,abc"], ["'--layers'", "'abc'"]),
    (["--layers", "0"], ["'--layers'"]),
    (["--optimizer", "adamw"], ["'--optimizer'", "adamw"]),
    (["--loss", "hinge"], ["'--loss'"]),
    (["--loss", "mse"], ["'--loss'", "regression"]),
    (["--loss", "binary_crossentropy"], ["'--loss'", "2 classes"]),
    (["--activation", "nope"], ["'--activation'"]),
    (["--learning-rate", "0"], ["'--learning-rate'"]),
    (["--learning-rate", "abc"], ["'--learning-rate'"]),
    (["--learning-rate", "nan"], ["'--learning-rate'", "finite"]),
    (["--validation-split", "nan"], ["'--validation-split'", "finite"]),
    (["--validation-split", "1"], ["'--validation-split'"]),
    (["--early-stopping", "-1"], ["'--early-stopping'"]),
    (["--seed", "-5"], ["'--seed'"]),
    (["--task", "ranking"], ["'--task'"]),
    (["--delimiter", ";;"], ["'--delimiter'"]),
    (["--target", "nope"], ["'--target'", "'nope'", "'x'", "'label'"]),
    (["--target", "7"], ["'--target'", "'7'"]),
    (["--drop", "nope"], ["'--drop'", "'nope'"]),
    (["--drop", "label"], ["'--drop'", "target"]),
    (["--bogus"], ["--bogus"]),
])
def test_bad_options(tmp_path, args, fragments):
    data = classes_csv(tmp_path / "c.csv")
    fails(2, "train", data, *FAST, *args, fragments=fragments)
    assert files(tmp_path) == ["c.csv"]


def test_bad_paths(tmp_path):
    data = classes_csv(tmp_path / "c.csv")
    fails(2, "train", tmp_path / "missing.csv", fragments=["missing.csv", "does not exist"])
    fails(2, "train", data, "-o", tmp_path / "no" / "m.fastmlp", fragments=["'--output'", "no"])
    (tmp_path / "dir").mkdir()
    fails(2, "train", data, "-o", tmp_path / "dir", fragments=["'--output'", "directory"])
    fails(2, "train", data, "-o", data, fragments=["'--output'", "input file"])
    fails(2, "train", data, "--plot", tmp_path / "no" / "h.png", fragments=["'--plot'"])
    assert files(tmp_path) == ["c.csv", "dir"]


def test_regression_text_target_and_divergence(tmp_path):
    data = classes_csv(tmp_path / "c.csv")
    fails(1, "train", data, *FAST, "--task", "regression", fragments=["holds text"])
    regression = regression_csv(tmp_path / "r.csv")
    fails(1, "train", regression, *FAST, "--optimizer", "sgd", "--learning-rate", "100000",
          fragments=["diverged", "--learning-rate"])
    assert files(tmp_path) == ["c.csv", "r.csv"]


def test_bad_model_files(iris_model, tmp_path):
    model_path, data = iris_model
    not_model = write(tmp_path / "notes.fastmlp", "hello")
    truncated = tmp_path / "cut.fastmlp"
    truncated.write_bytes(model_path.read_bytes()[:-100])
    pickled = tmp_path / "pickled.fastmlp"
    with zipfile.ZipFile(model_path) as source, zipfile.ZipFile(pickled, "w") as target:
        for name in source.namelist():
            payload = pickle.dumps(object) if name == "weights/0.npy" else source.read(name)
            target.writestr(name, payload)
    plain = tmp_path / "plain.fastmlp"
    fastmlp.saving.save_model(fastmlp.saving.load_model(model_path), plain)
    for command in (["evaluate"], ["predict"], ["summary"]):
        tail = [data] if command != ["summary"] else []
        fails(1, *command, not_model, *tail, fragments=["notes.fastmlp", "not a zip"])
        fails(1, *command, truncated, *tail, fragments=["cut.fastmlp"])
        fails(1, *command, pickled, *tail, fragments=["pickled.fastmlp", "pickled"])
        fails(1, *command, plain, *tail, fragments=["plain.fastmlp", "fastmlp train"])
        fails(2, *command, tmp_path / "none.fastmlp", *tail, fragments=["does not exist"])


def test_evaluate_and_predict_bad_data(iris_model, tmp_path):
    model_path, _ = iris_model
    missing = write(tmp_path / "m.csv", "sepal_length,petal_length,species\n5.1,1.4,setosa\n")
    for command in ("evaluate", "predict"):
        fails(1, command, model_path, missing,
              fragments=["m.csv", "missing columns", "'sepal_width'", "'petal_width'"])
    no_target = write(tmp_path / "n.csv", "sepal_length,sepal_width,petal_length,petal_width\n"
                                          "5.1,3.5,1.4,0.2\n")
    fails(1, "evaluate", model_path, no_target, fragments=["n.csv", "'species'", "missing"])
    unknown = write(tmp_path / "u.csv", "sepal_length,sepal_width,petal_length,petal_width,"
                                        "species\n5.1,3.5,1.4,0.2,tulip\n")
    fails(1, "evaluate", model_path, unknown, fragments=["tulip", "not seen in training"])
    assert ok("predict", model_path, unknown).stdout.splitlines()[1].count(",") == 3
    text = write(tmp_path / "t.csv", "sepal_length,sepal_width,petal_length,petal_width\n"
                                     "5.1,3.5,1.4,0.2\n5.0,wide,1.4,0.2\n")
    fails(1, "predict", model_path, text, fragments=["line 3", '"sepal_width"', "'wide'"])
    fails(2, "predict", model_path, no_target, "-o", tmp_path / "no" / "p.csv",
          fragments=["'--output'"])
    fails(2, "predict", model_path, no_target, "-o", no_target, fragments=["input file"])
    assert files(tmp_path) == ["m.csv", "n.csv", "t.csv", "u.csv"]


def test_failed_writes_leave_no_file(iris_model, tmp_path, monkeypatch):
    model_path, data = iris_model
    out = tmp_path / "p.csv"
    small = classes_csv(tmp_path / "c.csv")

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    fails(1, "predict", model_path, data, "-o", out, fragments=["p.csv", "No space left"])
    fails(1, "train", small, *FAST, fragments=["c.fastmlp", "No space left"])
    assert files(tmp_path) == ["c.csv"]


# ---------------------------------------------------------------------- the installed script


def script(*args, cwd):
    executable = shutil.which("fastmlp")
    assert executable, "the fastmlp console script is not installed (pip install -e .)"
    return subprocess.run([executable, *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_script_train_predict_evaluate(tmp_path):
    shutil.copy(IRIS, tmp_path / "iris.csv")
    result = script("train", "iris.csv", "--epochs", "5", "--seed", "0", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "iris.fastmlp"
    assert "Epoch 5/5" in result.stderr
    result = script("predict", "iris.fastmlp", "iris.csv", "-o", "out.csv", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == "", result.stderr
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 151


def test_script_errors_are_one_line(tmp_path):
    write(tmp_path / "bad.csv", "a,b\n1,2\n3\n")
    result = script("train", "bad.csv", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == "Error: bad.csv, line 3: expected 2 fields, found 1.\n"
    result = script("--version", cwd=tmp_path)
    assert result.returncode == 0 and fastmlp.__version__ in result.stdout
    result = script("train", "bad.csv", "--epochs", "0", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert files(tmp_path) == ["bad.csv"]


# ---------------------------------------------------------------------- bench


def test_bench_help_lists_the_suite_options_with_examples():
    result = ok("bench", "--help")
    assert "usage: fastmlp bench" in result.output
    for option in ("--only", "--repeat", "--systems", "--threads", "--json", "--plot"):
        assert option in result.output
    assert "fastmlp bench --only xor,small" in result.output
    assert "bench" in ok("--help").output


@pytest.mark.parametrize("args,fragment", [
    (["--bogus"], "--bogus"),
    (["--repeat", "many"], "--repeat"),
    (["--only", "nosuch"], "'nosuch'"),
    (["--systems", "fastmlp,abacus"], "abacus"),
    (["--only", "xor", "--json", os.path.join("no-such-dir", "r.json")], "--json"),
])
def test_bench_bad_options_are_one_line(args, fragment):
    result = run("bench", *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastmlp bench: error: "), result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.output


def test_script_bench_runs_a_workload(tmp_path):
    result = script("bench", "--only", "xor", "--systems", "fastmlp,numpy", "--repeat", "1",
                    "--json", "r.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "== xor" in result.stdout and "xor: fastmlp >= 100x faster than numpy" in result.stdout
    workload = json.loads((tmp_path / "r.json").read_text())["workloads"][0]
    assert workload["name"] == "xor"
    assert [(s["system"], s["status"]) for s in workload["systems"]] == [
        ("fastmlp", "ok"), ("numpy", "ok")]
    # Both trained the same network from the same weights to the same loss.
    losses = [s["loss"] for s in workload["systems"]]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
