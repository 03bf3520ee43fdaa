"""The `cnnlab` command: the only package that prints, and where errors become exit codes.

Heavy imports (TensorFlow, Keras, pydantic) happen inside the commands that need them, so
`cnnlab --help` answers at once. `app.py` holds the group and the shared options; each other
module registers one family of commands on it.
"""

from cnnlab.cli import configs, results, sharing, training, tuning  # noqa: F401,E402  (they register the commands)
from cnnlab.cli.app import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="cnnlab")
