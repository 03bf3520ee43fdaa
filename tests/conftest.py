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
  synthetic: {input_shape: [8, 8, 1], num_classes: 3, train_examples: 96, test_examples: 48}
"""


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
