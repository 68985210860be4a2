"""Tests for fastmlp.saving: the zip model file, atomic writes and validated loading."""

import io
import json
import os
import pickle
import random
import zipfile

import numpy as np
import pytest

import fastmlp
from fastmlp import saving
from fastmlp.layers import Activation, Dense
from fastmlp.saving import ModelFileError, load_model, load_model_with_metadata, save_model


def make_model(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=("accuracy",)):
    fastmlp.utils.set_random_seed(0)
    model = fastmlp.Sequential([fastmlp.Input((4,)), Dense(6, activation="relu"),
                                Activation("tanh"), Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics))
    return model


def data(n=40):
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 3, n)


@pytest.fixture
def trained(tmp_path):
    model = make_model()
    x, y = data()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    path = tmp_path / "model.fastmlp"
    save_model(model, path, metadata={"classes": ["a", "b", "c"], "n": 3})
    return model, path


def rewrite(src, dst, replace=None, config=None, compress=None):
    """Copy a model archive, replacing members (None removes one) or editing config.json."""
    replace = dict(replace or {})
    with zipfile.ZipFile(src) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if config is not None:
        parsed = json.loads(members["config.json"])
        config(parsed)
        members["config.json"] = json.dumps(parsed).encode()
    members.update(replace)
    with zipfile.ZipFile(dst, "w") as archive:
        for name, payload in members.items():
            if payload is not None:
                archive.writestr(name, payload, compress_type=compress or zipfile.ZIP_STORED)
    return dst


def npy(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def assert_load_error(path, *fragments):
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# ---------------------------------------------------------------------- round trips


def test_round_trip_reproduces_predictions_and_settings(trained):
    model, path = trained
    loaded, metadata = load_model_with_metadata(path)
    x, y = data()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert metadata == {"classes": ["a", "b", "c"], "n": 3}
    assert loaded.name == model.name and loaded.input_width == 4
    assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.loss.get_config() == model.loss.get_config()
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 10
    np.testing.assert_array_equal(loaded.optimizer.state.slots, model.optimizer.state.slots)


@pytest.mark.parametrize("optimizer", ["adam", fastmlp.optimizers.SGD(momentum=0.9),
                                       fastmlp.optimizers.RMSprop(centered=True)])
def test_training_resumes_identically(tmp_path, optimizer):
    model = make_model(optimizer=optimizer)
    x, y = data()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    save_model(model, tmp_path / "m.fastmlp")
    loaded = load_model(tmp_path / "m.fastmlp")
    first = model.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False).history
    second = loaded.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False).history
    assert first == second
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_save_method_and_untrained_and_uncompiled_models(tmp_path):
    model = make_model(loss="mse", metrics=["mae"])
    model.save(tmp_path / "untrained.fastmlp")
    loaded = load_model(tmp_path / "untrained.fastmlp")
    assert loaded.compiled and loaded.optimizer.state is None
    assert loaded.loss.name == "mse"

    plain = fastmlp.Sequential([Dense(2, input_dim=3, use_bias=False)])
    save_model(plain, tmp_path / "plain.fastmlp")
    loaded = load_model(tmp_path / "plain.fastmlp")
    assert not loaded.compiled and loaded.get_weights()[0].shape == (3, 2)
    np.testing.assert_array_equal(loaded.get_weights()[0], plain.get_weights()[0])

    not_compiled = load_model(tmp_path / "untrained.fastmlp", compile=False)
    assert not not_compiled.compiled


def test_loading_keeps_python_random_state(trained):
    _, path = trained
    random.seed(5)
    expected = random.random()
    random.seed(5)
    load_model(path)
    assert random.random() == expected


def test_python_metric_is_left_out_with_a_warning(tmp_path):
    def mean_pred(y_true, y_pred):
        return fastmlp.backend.mean(y_pred)

    model = make_model(metrics=["accuracy", mean_pred])
    with pytest.warns(UserWarning, match="mean_pred"):
        save_model(model, tmp_path / "m.fastmlp")
    assert load_model(tmp_path / "m.fastmlp")._metric_specs == ["accuracy"]


def test_file_holds_json_config_and_plain_arrays(trained):
    _, path = trained
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        config = json.loads(archive.read("config.json"))
        for name in names[1:]:
            assert archive.getinfo(name).compress_type == zipfile.ZIP_STORED
            np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
    assert names == ["config.json", "weights/0.npy", "weights/1.npy", "weights/2.npy",
                     "weights/3.npy", "optimizer/slots.npy", "optimizer/step.npy"]
    assert config["format"] == "fastmlp.model" and config["format_version"] == 1
    assert config["fastmlp_version"] == fastmlp.__version__
    assert config["compile"]["metrics"] == ["accuracy"]


# ---------------------------------------------------------------------- writing safely


def test_unbuilt_model_or_bad_metadata_writes_nothing(tmp_path):
    path = tmp_path / "m.fastmlp"
    with pytest.raises(ValueError, match="not built"):
        save_model(fastmlp.Sequential([Dense(2)]), path)
    with pytest.raises(ValueError, match="metadata must be a dict"):
        save_model(make_model(), path, metadata=[1])
    with pytest.raises(ValueError, match="JSON"):
        save_model(make_model(), path, metadata={"x": np.float32(1)})
    with pytest.raises(ValueError, match="JSON"):
        save_model(make_model(), path, metadata={"x": float("nan")})
    assert os.listdir(tmp_path) == []


def test_failed_save_keeps_the_existing_file(trained, monkeypatch):
    model, path = trained
    before = path.read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(saving.np, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_model(model, path)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]


def test_save_into_missing_directory_or_onto_a_directory(tmp_path):
    with pytest.raises(OSError):
        save_model(make_model(), tmp_path / "missing" / "m.fastmlp")
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError):
        save_model(make_model(), tmp_path / "dir")
    assert os.listdir(tmp_path) == ["dir"] and os.listdir(tmp_path / "dir") == []


def test_overwrite_keeps_permissions(trained):
    model, path = trained
    os.chmod(path, 0o640)
    save_model(model, path)
    assert os.stat(path).st_mode & 0o777 == 0o640


# ---------------------------------------------------------------------- rejecting bad files


def test_missing_file_directory_and_not_a_zip(tmp_path):
    assert_load_error(tmp_path / "none.fastmlp", "no such file")
    assert_load_error(tmp_path, "directory")
    text = tmp_path / "text.fastmlp"
    text.write_text("a,b\n1,2\n")
    assert_load_error(text, "not a zip archive")
    empty = tmp_path / "empty.fastmlp"
    empty.write_bytes(b"")
    assert_load_error(empty, "not a zip archive")


def test_truncated_files(trained, tmp_path):
    _, path = trained
    payload = path.read_bytes()
    for size in (10, len(payload) // 3, len(payload) // 2, len(payload) - 30, len(payload) - 1):
        cut = tmp_path / f"cut{size}.fastmlp"
        cut.write_bytes(payload[:size])
        with pytest.raises(ModelFileError, match="cut"):
            load_model(cut)


def test_corrupted_member(trained, tmp_path):
    _, path = trained
    payload = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("weights/0.npy")
    # Flip a byte in the array data (past the local header and the .npy header).
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    payload[offset] ^= 0xFF
    bad = tmp_path / "bad.fastmlp"
    bad.write_bytes(bytes(payload))
    assert_load_error(bad, "corrupted")


def test_other_zip_and_format_versions(trained, tmp_path):
    _, path = trained
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert_load_error(other, "not a fastmlp model file", "config.json")
    newer = rewrite(path, tmp_path / "v2.fastmlp",
                    config=lambda c: c.update(format_version=2))
    assert_load_error(newer, "format_version 2", "newer")
    wrong = rewrite(path, tmp_path / "fmt.fastmlp", config=lambda c: c.update(format="x"))
    assert_load_error(wrong, "format 'x'")


def test_missing_unexpected_and_duplicate_members(trained, tmp_path):
    _, path = trained
    assert_load_error(rewrite(path, tmp_path / "a.fastmlp", {"weights/2.npy": None}),
                      "'weights/2.npy' is missing")
    assert_load_error(rewrite(path, tmp_path / "b.fastmlp", {"optimizer/step.npy": None}),
                      "'optimizer/step.npy' is missing")
    assert_load_error(rewrite(path, tmp_path / "c.fastmlp", {"extra.npy": npy(np.zeros(2))}),
                      "unexpected member 'extra.npy'")
    duplicate = tmp_path / "d.fastmlp"
    duplicate.write_bytes(path.read_bytes())
    with pytest.warns(UserWarning), zipfile.ZipFile(duplicate, "a") as archive:
        archive.writestr("weights/0.npy", npy(np.zeros((4, 6), np.float32)))
    assert_load_error(duplicate, "appears twice")


def test_wrong_shapes_dtypes_and_values(trained, tmp_path):
    _, path = trained
    assert_load_error(
        rewrite(path, tmp_path / "a.fastmlp", {"weights/0.npy": npy(np.zeros((4, 5), "f4"))}),
        "shape (4, 5)", "(4, 6)")
    assert_load_error(
        rewrite(path, tmp_path / "b.fastmlp", {"weights/1.npy": npy(np.zeros(6, "f8"))}),
        "dtype float64")
    assert_load_error(
        rewrite(path, tmp_path / "c.fastmlp", {"optimizer/step.npy": npy(np.int64(-3))}),
        "negative")
    assert_load_error(
        rewrite(path, tmp_path / "d.fastmlp", {"optimizer/slots.npy": npy(np.zeros((2, 75), "f4"))}),
        "optimizer/slots.npy", "shape")
    assert_load_error(
        rewrite(path, tmp_path / "e.fastmlp", {"weights/0.npy": b"not an array at all"}),
        "not a valid .npy array")


def test_pickles_are_refused(trained, tmp_path):
    _, path = trained
    assert_load_error(
        rewrite(path, tmp_path / "a.fastmlp", {"weights/0.npy": pickle.dumps({"x": 1})}),
        "pickled")
    objects = np.empty((4, 6), dtype=object)
    assert_load_error(
        rewrite(path, tmp_path / "b.fastmlp", {"weights/0.npy": npy(objects, allow_pickle=True)}),
        "pickled")


def test_oversized_members_and_zip_bombs(trained, tmp_path):
    _, path = trained
    # An array member far larger than its shape needs is refused from its declared size.
    big = npy(np.zeros((4, 6), "f4")) + b"\0" * 100_000
    assert_load_error(rewrite(path, tmp_path / "a.fastmlp", {"weights/0.npy": big}),
                      "too large")
    # Compressed arrays could expand without bound: refused.
    assert_load_error(rewrite(path, tmp_path / "b.fastmlp", compress=zipfile.ZIP_DEFLATED),
                      "compressed")
    # A deflated config.json declaring more than the limit is refused before reading.
    bomb = tmp_path / "bomb.fastmlp"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", b" " * (saving.MAX_CONFIG_BYTES + 1))
    assert bomb.stat().st_size < 100_000
    assert_load_error(bomb, "too large")
    # An architecture too large for the file is refused before anything is allocated.
    huge = rewrite(path, tmp_path / "huge.fastmlp",
                   config=lambda c: c["model"]["layers"][0]["config"].update(units=10**9))
    assert_load_error(huge, "needs", "bytes")


@pytest.mark.parametrize("edit, fragment", [
    (lambda c: c.pop("metadata"), "missing ['metadata']"),
    (lambda c: c.update(extra=1), "unexpected ['extra']"),
    (lambda c: c.update(metadata=[1]), "metadata must be an object"),
    (lambda c: c.update(optimizer_state="yes"), "optimizer_state"),
    (lambda c: c["model"].update(input_width=0), "input_width"),
    (lambda c: c["model"].update(input_width=True), "input_width"),
    (lambda c: c["model"].update(dtype="int8"), "dtype"),
    (lambda c: c["model"].update(dtype="float64"), "set_floatx"),
    (lambda c: c["model"].update(layers=[]), "model.layers"),
    (lambda c: c["model"].update(class_name="Functional"), "Sequential"),
    (lambda c: c["model"]["layers"][0].update(class_name="Conv2D"), "layers[0].class_name"),
    (lambda c: c["model"]["layers"][0]["config"].update(units="six"), "layers[0] is invalid"),
    (lambda c: c["model"]["layers"][0]["config"].update(bogus=1), "layers[0] is invalid"),
    (lambda c: c["model"]["layers"][2]["config"].pop("units"), "layers[2] is invalid"),
    (lambda c: c["model"]["layers"][1]["config"].update(activation="nope"), "layers[1]"),
    (lambda c: c["model"]["layers"][1]["config"].update(
        name=c["model"]["layers"][0]["config"]["name"]), "unique"),
    (lambda c: c["compile"]["optimizer"].update(class_name="os.system"), "optimizer"),
    (lambda c: c["compile"]["optimizer"]["config"].update(learning_rate=-1),
     "compile.optimizer is invalid"),
    (lambda c: c["compile"]["loss"].update(class_name="Loss"), "compile.loss"),
    (lambda c: c["compile"].update(metrics=["nope"]), "compile.metrics"),
    (lambda c: c["compile"].update(metrics="accuracy"), "compile.metrics"),
    (lambda c: c.update(compile=None), "compile is null"),
    (lambda c: c.update(fastmlp_version=1), "fastmlp_version"),
])
def test_invalid_config_fields(trained, tmp_path, edit, fragment):
    _, path = trained
    assert_load_error(rewrite(path, tmp_path / "bad.fastmlp", config=edit), fragment)


def test_invalid_json(trained, tmp_path):
    _, path = trained
    assert_load_error(rewrite(path, tmp_path / "a.fastmlp", {"config.json": b"{nope"}),
                      "not valid JSON")
    assert_load_error(rewrite(path, tmp_path / "b.fastmlp", {"config.json": b"[1, 2]"}),
                      "JSON object")
    assert_load_error(rewrite(path, tmp_path / "c.fastmlp", {"config.json": b"\xff\xfe"}),
                      "not valid JSON")
    with zipfile.ZipFile(path) as archive:
        text = archive.read("config.json").decode()
    nan = text.replace('"learning_rate": 0.001', '"learning_rate": NaN')
    assert nan != text
    assert_load_error(rewrite(path, tmp_path / "d.fastmlp", {"config.json": nan.encode()}),
                      "NaN")
