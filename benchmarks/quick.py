"""`--quick`, shared by every benchmark: a few hundred made-up MNIST-shaped images (the four IDX
files, which both cnnlab, as `data.dataset=FOLDER`, and `plain_mnist.py` read) and one round, so
that CI runs each script end to end in seconds and a refactor that breaks one fails CI. Its
figures mean nothing; the real ones need MNIST (`cnnlab data fetch mnist`).

    python benchmarks/train_throughput.py --quick
    python benchmarks/quick.py      # every script with --quick, two at a time (make bench-quick)
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

TRAIN, TEST = 640, 160


def _idx(path: Path, array: np.ndarray) -> None:
    """Write `array` (uint8) as an IDX file: magic 0x08 (unsigned byte), its rank, then its sizes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(size.to_bytes(4, "big") for size in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_mnist_like(folder: Path, train: int = TRAIN, test: int = TEST, seed: int = 0) -> Path:
    """The four files of MNIST's layout in `folder`: digit k is a bright 7x7 square at a place of
    its own on faint noise, so a small network learns them in an epoch."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", train), ("t10k", test)):
        labels = rng.integers(0, 10, count).astype(np.uint8)
        images = rng.integers(0, 40, (count, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            row, column = 3 + 7 * (label // 4), 3 + 7 * (label % 4)
            images[i, row : row + 7, column : column + 7] = 255
        _idx(folder / f"{split}-images-idx3-ubyte", images)
        _idx(folder / f"{split}-labels-idx1-ubyte", labels)
    return folder


def overrides(folder: Path) -> list[str]:
    """What turns an MNIST config to the made-up files in `folder`."""
    return [f"data.dataset={folder}"]


def made_up_mnist() -> Path:
    """`write_mnist_like` in a temporary folder, removed when the script ends."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="cnnlab-quick-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return write_mnist_like(folder)


SCRIPTS = ("whole_command", "search_workers", "train_throughput", "precision", "time_to_accuracy", "serve_load")


def _run(script: str) -> tuple[str, int, str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name(f"{script}.py")), "--quick"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    return script, done.returncode, done.stdout + done.stderr, time.perf_counter() - started


def main() -> int:
    """Every benchmark with --quick, two at a time (each is mostly a process start on one
    core); prints each one's output and fails if any failed. The longest start first."""
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(_run, SCRIPTS))
    for script, status, output, seconds in results:
        print(f"== benchmarks/{script}.py --quick: exit {status} in {seconds:.1f} s\n{output}", flush=True)
    failed = [script for script, status, *_ in results if status != 0]
    print(
        f"{len(SCRIPTS) - len(failed)} of {len(SCRIPTS)} benchmarks ran"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
