"""The `cnnlab` command: the only package that prints, and where errors become exit codes.

Heavy imports (TensorFlow, Keras, pydantic) happen inside the commands that need them, so
`cnnlab --help` answers at once. `app.py` holds the group and the shared options; each other
module registers one family of commands on it.
"""

import os
import sys

from cnnlab.cli import configs, listing, results, serving, sharing, training, tuning  # noqa: F401,E402  (they register the commands)
from cnnlab.cli.app import cli
from cnnlab.runtime import backend

__all__ = ["cli", "main"]

# `make train` sets it to 0: make stops on the same Ctrl-C as cnnlab, and a status of 130 from
# its recipe would add "make: *** [train] Error 130" under cnnlab's own message.
INTERRUPTED_EXIT_CODE = "CNNLAB_INTERRUPTED_EXIT_CODE"


def main() -> None:
    backend.for_one_command()  # this process is ours: Keras may start without what we never use
    try:
        cli(prog_name="cnnlab")
    except SystemExit as done:
        if done.code != 130:
            raise
        wanted = os.environ.get(INTERRUPTED_EXIT_CODE, "")
        code = int(wanted) if wanted.isdigit() and int(wanted) <= 255 else 130  # an exit status is one byte
        _leave_at_once(code)


def _leave_at_once(code: int) -> None:
    """After Ctrl-C, once cnnlab has said so: every file is written (through os.replace) and the
    TensorBoard writers closed, so the process ends here instead of waiting 1.4-1.8 s for
    TensorFlow's teardown (benchmarks/ctrl_c.py). Only on TensorFlow: a JAX process's exit also
    leaves a multi-process run's coordination service, and without Keras there is no teardown."""
    keras = sys.modules.get("keras")
    if keras is None or keras.backend.backend() != "tensorflow":
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
