"""Atomic file writes: a crash or Ctrl-C leaves the old file or the new one, never half of one.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_atomic(folder / "a.txt", "hello")
>>> (folder / "a.txt").read_text(), sorted(p.name for p in folder.iterdir())
('hello', ['a.txt'])
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cnnlab.errors import RunError

TEMPORARY_PREFIX = "."


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix, for writers that check it, like
    Keras' `.keras`); when the block succeeds it replaces `path`, otherwise it is removed and
    `path` keeps its old content. Its folder is made if needed; a write the system refuses (disk
    full, a file where a folder should be, no permission) becomes a `RunError` naming the file."""
    path = Path(path)
    temporary = path.with_name(f"{TEMPORARY_PREFIX}{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        if temporary.is_file():
            with open(temporary, "rb+") as stream:
                os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if isinstance(error, OSError):
            raise RunError(
                f"{path}: cannot write ({error.strerror or error}); the previous version, if any, is kept"
            ) from None
        raise


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while a block writes files that another library writes in place
    (Keras' backups): a stop that arrives meanwhile is delivered, to whoever would have had it,
    once the block ends, so it never leaves half a file. Off the main thread, where Python takes
    no signals, nothing is held.

    The handlers are swapped rather than the signals masked: a process with threads (TensorFlow
    has many) takes a masked signal on another thread, and Python still raises it here at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda signum, frame: arrived.append(signum)) for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in arrived:
            signal.raise_signal(signum)


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete what a killed writer left in `folder` (a SIGKILL gives `replacing` no chance to
    clean up); return what was removed."""
    stale = [p for p in Path(folder).glob(f"{TEMPORARY_PREFIX}*.tmp*") if p.is_file()]
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return stale


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write text (UTF-8) or bytes to `path` atomically."""
    with replacing(Path(path)) as temporary:
        temporary.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=2, default=str) + "\n")


def read_json(path: Path, hint: str = "") -> Any:
    """A JSON file's content, or a `RunError` that names the file (missing, unreadable, or
    not JSON, as a file cut short by a full disk or an editor would be)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path.parent}: {path.name} is missing" + (f" — {hint}" if hint else "")) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunError(f"{path}: not valid JSON ({error})" + (f" — {hint}" if hint else "")) from None


def exchange(first: Path, second: Path) -> None:
    """Swap two folders' contents by their names, at once: a process killed at any moment leaves
    each name holding one whole folder. Linux does it in one call (renameat2 with
    RENAME_EXCHANGE); elsewhere, or on a file system that refuses it, it takes three renames,
    and a kill between them leaves `first` missing with its old folder at `first`.old."""
    if _exchange_in_one_call(Path(first), Path(second)):
        return
    parked = Path(f"{first}.old")
    os.replace(first, parked)
    os.replace(second, first)
    os.replace(parked, second)


def _exchange_in_one_call(first: Path, second: Path) -> bool:
    import ctypes
    import errno
    import sys

    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)  # glibc 2.28 and later
    if renameat2 is None:
        return False
    at_current_folder, rename_exchange = -100, 2
    if renameat2(at_current_folder, os.fsencode(first), at_current_folder, os.fsencode(second), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.EXDEV):  # not offered here: rename instead
        return False
    raise OSError(code, os.strerror(code), str(first))
