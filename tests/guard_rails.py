"""What the guard-rail catalogues share (test_guard_*.py): one case is one line of input and
the message expected, and a refusal must leave the disk as it was, byte for byte."""

from __future__ import annotations

import hashlib
from pathlib import Path

GOOD = """\
name: t
data:
  dataset: synthetic
  synthetic: {input_shape: [8, 8, 1], num_classes: 3, train_examples: 60, test_examples: 12}
model:
  layers:
    - Conv2D: {filters: 2, kernel_size: 3, activation: relu}
    - Flatten
    - Dense: {units: 3, activation: softmax}
train: {epochs: 1, batch_size: 8}
"""
# The same, named, with a learning rate to break and no TensorBoard logs (eleven lines).
TINY_CONFIG = (
    GOOD.replace("name: t\n", "name: tiny\n").replace(
        "batch_size: 8}", "batch_size: 8, optimizer: {name: adam, learning_rate: 0.003}}"
    )
    + "tensorboard: {enabled: false}\n"
)


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file and folder under `roots`: a folder by its name, a file by its bytes' hash."""
    seen = {}
    for root in roots:
        for path in sorted(Path(root).rglob("*")) if Path(root).exists() else ():
            seen[str(path)] = "folder" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return seen


def assert_refused(result, code: int, message: str) -> None:
    """A CLI refusal: exit `code`, `message` on standard error, no traceback."""
    text = result.stderr + result.stdout
    assert "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == code, text
    assert message in result.stderr, f"{message!r} not in:\n{result.stderr}"
