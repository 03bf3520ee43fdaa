"""The `cnnlab` command: the only package that prints, and where errors become exit codes.

Heavy imports (TensorFlow, Keras, pydantic) happen inside the commands that need them, so
`cnnlab --help` answers at once. `app.py` holds the group and the shared options; each other
module registers one family of commands on it.
"""

import os
import sys

from cnnlab.cli import configs, results, sharing, training, tuning  # noqa: F401,E402  (they register the commands)
from cnnlab.cli.app import cli

__all__ = ["cli", "main"]

# `make train` sets it to 0: make stops on the same Ctrl-C as cnnlab, and a status of 130 from
# its recipe would add "make: *** [train] Error 130" under cnnlab's own message.
INTERRUPTED_EXIT_CODE = "CNNLAB_INTERRUPTED_EXIT_CODE"


def main() -> None:
    try:
        cli(prog_name="cnnlab")
    except SystemExit as done:
        wanted = os.environ.get(INTERRUPTED_EXIT_CODE, "")
        if done.code == 130 and wanted.isdigit() and int(wanted) <= 255:  # an exit status is one byte
            sys.exit(int(wanted))
        raise
