"""Shared helpers: write small configs into a temporary folder and run the CLI in-process."""

from __future__ import annotations

import atexit
import collections
import fcntl
import gc
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from cnnlab.cli import cli

REPO = Path(__file__).resolve().parents[1]


def _one_thread_per_worker() -> None:
    """Under `make test` (pytest-xdist), each worker and the processes it starts run
    TensorFlow's thread pools one thread wide: two workers each running pools as wide as the
    machine spend their time taking the cores from each other."""
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
        os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


_one_thread_per_worker()  # before anything here imports TensorFlow


def _one_jax_compilation_cache_per_test_run() -> None:
    """The JAX processes the tests start (about a dozen: data_parallel pairs, a JAX run) compile
    the same tiny steps; XLA's persistent cache, in a folder of this test run's own (made by the
    first pytest process, inherited by the workers and their children, removed at the end),
    compiles each once: about 3 s less per process here."""
    if "PYTEST_XDIST_WORKER" not in os.environ and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="cnnlab-tests-jax-")
        os.environ["JAX_COMPILATION_CACHE_DIR"] = folder
        os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # the steps compile in under 1 s
        atexit.register(shutil.rmtree, folder, ignore_errors=True)


_one_jax_compilation_cache_per_test_run()
# A library imported on a test's first training asks platform.processor(), which runs `uname -p`
# once per process: asked here, so that the marks check below does not blame whichever test
# happens to come first (under mutmut, a different one for each mutant).
platform.processor()

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))

TINY_MODEL = """
model:
  layers:
    - Conv2D: {filters: 4, kernel_size: 3, activation: relu}
    - MaxPooling2D: {pool_size: 2}
    - Flatten
    - Dense: {units: 3, activation: softmax}
"""
TINY_DATA = """
data:
  dataset: synthetic
  synthetic: {input_shape: [8, 8, 1], num_classes: 3, train_examples: 192, test_examples: 48}
"""


TINY = (
    "name: tiny\n"
    + TINY_MODEL
    + TINY_DATA
    + "train: {epochs: 3, batch_size: 8, optimizer: {name: adam, learning_rate: 0.003}}\n"
)


def markdown_tables(text: str) -> dict[str, list[list[str]]]:
    """Each pipe table under a `## heading`: its rows (header first), cells stripped."""
    tables, heading = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
        elif line.startswith("|") and not re.fullmatch(r"\|(---\|)+", line):
            tables.setdefault(heading, []).append([cell.strip() for cell in line.strip("|").split("|")])
    return tables


class _Tables(HTMLParser):
    """The cells of every <table> of a page, in order: [[header cells], [row cells], ...]."""

    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def html_tables(text: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(text)
    return parser.tables


def mcnemar_by_scipy(right_a, right_b) -> tuple[int, int, float]:
    """McNemar's exact test worked out without cnnlab: (examples only A gets right, only B gets
    right, SciPy's two-sided binomial p of that split at 1/2; 1 when no example splits them)."""
    from scipy import stats

    only_a, only_b = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    return only_a, only_b, stats.binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0


def mcnemar_splits(runs_a, runs_b) -> list[tuple[int, int, float]]:
    """`mcnemar_by_scipy` of each seed's pair of runs (run folders, in seed order), from their
    predictions.npz."""
    import numpy as np

    found = []
    for run_a, run_b in zip(runs_a, runs_b, strict=True):
        pa, pb = (np.load(Path(run) / "predictions.npz") for run in (run_a, run_b))
        found.append(mcnemar_by_scipy(pa["y_pred"] == pa["y_true"], pb["y_pred"] == pb["y_true"]))
    return found


def mcnemar_per_seed(runs_a, runs_b) -> list[float]:
    """`mcnemar_splits`' p of each seed's pair of runs."""
    return [p for *_, p in mcnemar_splits(runs_a, runs_b)]


def build_shipped(path: Path):
    """A shipped config's model as check builds it: without its photo folder or its ImageNet
    weights (neither is here), the same layers and shapes."""
    from cnnlab.config import load_config
    from cnnlab.data import dataset_info
    from cnnlab.model.build import build_model

    cfg = load_config(path)
    return build_model(cfg, dataset_info(cfg, missing_ok=True), pretrained=False)


class _WhatFixturesReach:
    """For mutmut's stats run (`make mutation`): the code a shared fixture's setup reaches (a
    session's trained run, a module's edge run) counts as reached by every test that uses the
    fixture, not only by the first one, which sets it up. Without it, a mutant in the report code
    that only the shared run calls would be tested by that first test alone."""

    def __init__(self):
        from mutmut.state import state  # only loaded under mutmut

        self.state, self.reached = state, collections.defaultdict(set)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        before = set(self.state()._stats)
        yield
        self.reached[fixturedef.argname] |= self.state()._stats - before

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item, nextitem):
        for name in item.fixturenames:
            self.state()._stats |= self.reached.get(name, set())


def pytest_configure(config):
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        config.pluginmanager.register(_WhatFixturesReach(), "what-fixtures-reach")


@pytest.hookimpl(wrapper=True)
def pytest_collection(session):
    """No garbage collection while the tests are collected; afterwards one, and what is alive
    (TensorFlow, Keras, the test modules) is frozen out of the collector's sight. Collecting
    imports TensorFlow and Keras, then parses and rewrites every test file's asserts (no cached
    bytecode: PYTHONDONTWRITEBYTECODE is set here and in CI), and the collector would walk that
    growing heap about 2,500 times: measured, 2.6-3.3 s of a worker's 8-11 s of collection,
    against 0.6 s this way, at the same peak memory."""
    gc.disable()
    try:
        return (yield)
    finally:
        gc.enable()
        gc.collect()
        gc.freeze()


def pytest_collection_modifyitems(items):
    """The long tests first, then those that start processes, then those that train, then the
    rest. Under `make test` the first worker gets the first half of this list and the second the
    other half; an idle worker then takes the end of the other's list (worksteal). So the list
    should end in short tests: a long one there runs last, with the other worker idle (the
    README's page, 61 s, did, before it was marked `long`). Under mutmut (`make mutation`), the
    other way round: a mutant is caught by its first failing test (`-x`), so the cheap tests go
    first."""
    cost = {"long": -1, "processes": 0, "trains": 1, None: 2}
    mutating = os.environ.get("MUTANT_UNDER_TEST") not in (None, "", "stats", "list_all_tests")
    items.sort(
        key=lambda item: (
            (-1 if mutating else 1)
            * cost[next((mark for mark in ("long", "processes", "trains") if item.get_closest_marker(mark)), None)]
        )
    )


_seconds_by_file: collections.Counter = collections.Counter()


def pytest_runtest_logreport(report):
    _seconds_by_file[report.nodeid.split("::")[0]] += report.duration


def pytest_terminal_summary(terminalreporter, config):
    """With --durations (make test-durations): the seconds of each file, setup and teardown
    included, the slowest first (with -n 2, the two workers' seconds added up)."""
    if config.getoption("durations") is None or not _seconds_by_file:
        return
    terminalreporter.section("seconds by file")
    for file, seconds in _seconds_by_file.most_common():
        terminalreporter.write_line(f"{seconds:8.1f} s  {file}")
    terminalreporter.write_line(f"{sum(_seconds_by_file.values()):8.1f} s  in all")


# Where tests may write in the checkout: caches and the virtual environment.
_NOT_WATCHED = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "mutants", "build", "dist"}


def _checkout_files() -> set[str]:
    found = set()
    for folder, subfolders, files in os.walk(REPO):
        subfolders[:] = [d for d in subfolders if d not in _NOT_WATCHED and not d.endswith(".egg-info")]
        found.update(str((Path(folder) / name).relative_to(REPO)) for name in files)
    return found


@pytest.fixture(scope="session", autouse=True)
def tests_leave_the_checkout_as_they_found_it():
    """A test that writes a file inside the repository (a command without --runs-dir writes
    runs/ in the working folder) fails the suite, naming what it wrote. Only new files count:
    editing a tracked file while the suite runs is the developer's doing, not a test's."""
    before = _checkout_files()
    yield
    written = sorted(_checkout_files() - before)
    assert not written, f"tests wrote inside the checkout: {written[:10]} — give each command a folder under tmp_path"


def stop_after_epoch(epoch: int):
    """A Keras callback that presses Ctrl-C at the end of epoch `epoch`, once the run's own
    callbacks have recorded it."""
    import keras  # not at import time: conftest loads before the workers pin their threads

    class _Stop(keras.callbacks.Callback):
        def on_epoch_end(self, done, logs=None):
            if done + 1 == epoch:
                raise KeyboardInterrupt

    return _Stop()


@pytest.fixture(scope="module", autouse=True)
def a_heap_the_collector_does_not_walk_again():
    """After each test file, what is still alive (TensorFlow's and Keras' modules, the session's
    shared runs) moves out of the garbage collector's sight (`gc.freeze`). Keras' clear_session
    and Keras Tuner call gc.collect() for every training, and a full collection walks the whole
    heap: measured, a worker spent 93 s of a 5-minute suite walking it, and 2.5-13 s when
    frozen (maxrss the same, 3.9 GB): the suite 308 -> 256 s. What a test frees later in a
    cycle stays allocated; no test here needs that memory back."""
    yield
    gc.collect()
    gc.freeze()


def once_per_run(tmp_path_factory, name: str, make: Callable[[Path], dict]) -> dict:
    """`make(folder)` once for the whole test run, whichever worker of `make test` asks first;
    the others wait for it and read the same folder (a trained run costs seconds: one training,
    many readers). Returns what `make` returned (JSON: it crosses processes)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the base folder the workers of one run share
    folder, done = root / name, root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, even by a dead worker
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)  # what a worker that died in `make` left
            folder.mkdir()
            done.write_text(json.dumps(make(folder)))
    return json.loads(done.read_text())


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One real training of the tiny model (3 epochs, standardize), shared by many tests:
    (run folder, config path, what the command printed). Tests must not change the run folder."""

    def train(folder: Path) -> dict:
        from cnnlab.storage.lookup import list_runs

        config = folder / "tiny.yaml"
        config.write_text(TINY.replace("dataset: synthetic", "dataset: synthetic\n  preprocess: standardize"))
        result = CliRunner().invoke(cli, ["train", str(config), "--runs-dir", str(folder / "runs")])
        assert result.exit_code == 0, result.output
        (run,) = list_runs(folder / "runs")
        return {"run": str(run), "config": str(config), "output": result.output}

    made = once_per_run(tmp_path_factory, "trained", train)
    return Path(made["run"]), Path(made["config"]), SimpleNamespace(output=made["output"])


@pytest.fixture
def trained_copy(trained, tmp_path):
    """A private copy of the trained run (in its own runs folder), free to change."""
    import shutil

    run, config, _ = trained
    copy = tmp_path / "runs" / run.parent.name / run.name
    shutil.copytree(run, copy)
    return copy, config


@pytest.fixture
def write(tmp_path):
    """write("name.yaml", yaml_text) -> Path, with the text dedented."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def run_cli():
    """run_cli("check", "x.yaml") -> click Result with .exit_code, .stdout and .stderr."""

    def _run(*args: str):
        return CliRunner().invoke(cli, [str(a) for a in args])

    return _run


@pytest.fixture(autouse=True)
def marks_say_what_a_test_costs(request, monkeypatch):
    """`make test-fast` leaves out the tests marked `trains` (a `model.fit` in the test itself)
    and `processes` (any child process: cnnlab, a kernel, a probe). A test that does either
    without its mark would slow that loop unseen, so it fails here, naming the mark it lacks.
    A session fixture's training (`trained`) is paid once and needs no mark."""
    marks = {mark.name for mark in request.node.iter_markers()}
    done: list[str] = []

    def noting(owner, name: str, what: str) -> None:
        real = getattr(owner, name)

        def noted(*args, **kwargs):
            done.append(what)
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, noted)

    if "trains" not in marks:
        import keras

        noting(keras.Model, "fit", "trains")
    if "processes" not in marks:
        noting(subprocess.Popen, "__init__", "processes")
    yield
    lacking = sorted(set(done))
    if lacking:
        said = {"trains": "trains a model", "processes": "starts a process"}
        pytest.fail(
            f"this test {' and '.join(said[m] for m in lacking)} but is not marked "
            + " and ".join(f"@pytest.mark.{m}" for m in lacking)
            + " (make test-fast leaves such tests out; tests/README.md)"
        )


def _group_folder(result, runs: Path) -> Path:
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("group: "))
    path = Path(line.removeprefix("group: "))
    assert path.name == "group.json" and path.parent.parent == runs / "tiny"
    return path.parent


@pytest.fixture(scope="session")
def groups(tmp_path_factory):
    """Two groups of the tiny config on seeds 42, 43, 44: the config's own learning rate
    (--repeat 3), and a higher one (--seeds 42,43,44), which is better on every seed. Trained
    once per test run; tests must not change them."""

    def train_both(folder: Path) -> dict:
        config = folder / "tiny.yaml"
        config.write_text(TINY)
        runs = folder / "runs"
        invoke = CliRunner().invoke
        a = _group_folder(invoke(cli, ["train", str(config), "--repeat", "3", "--runs-dir", str(runs)]), runs)
        faster = ["--set", "train.optimizer.learning_rate=0.02", "--seeds", "42,43,44"]
        b = _group_folder(invoke(cli, ["train", str(config), *faster, "--runs-dir", str(runs)]), runs)
        return {"a": str(a), "b": str(b)}

    made = once_per_run(tmp_path_factory, "groups", train_both)
    return Path(made["a"]), Path(made["b"])
