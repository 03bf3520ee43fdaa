"""Shared helpers: write small configs into a temporary folder and run the CLI in-process."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnnlab.cli import cli

REPO = Path(__file__).resolve().parents[1]
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


def build_shipped(path: Path):
    """A shipped config's model as check builds it: without its photo folder or its ImageNet
    weights (neither is here), the same layers and shapes."""
    from cnnlab.config import load_config
    from cnnlab.data import dataset_info
    from cnnlab.model.build import build_model

    cfg = load_config(path)
    return build_model(cfg, dataset_info(cfg, missing_ok=True), pretrained=False)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One real training of the tiny model (3 epochs, standardize), shared by many tests:
    (run folder, config path, click result). Tests must not change the run folder."""
    from cnnlab.storage.lookup import list_runs

    folder = tmp_path_factory.mktemp("trained")
    config = folder / "tiny.yaml"
    config.write_text(TINY.replace("dataset: synthetic", "dataset: synthetic\n  preprocess: standardize"))
    result = CliRunner().invoke(cli, ["train", str(config), "--runs-dir", str(folder / "runs")])
    assert result.exit_code == 0, result.output
    (run,) = list_runs(folder / "runs")
    return run, config, result


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
