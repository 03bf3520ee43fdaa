"""`tune(workers=N)`: N worker processes on this machine for the chief in this process, each on
its own share of the cores, so that N workers do not run N times the threads on the same cores.

TensorFlow sizes its thread pools by the CPU affinity it starts with, so each worker is pinned
to its share before it imports TensorFlow. Each worker writes its lines to
`<search folder>/workers/<name>.log`; the chief shows what each does.

    >>> core_shares([0, 1, 2, 3], 2)
    [[0, 1], [2, 3]]
    >>> core_shares([0, 1], 3)  # more workers than cores: they share
    [[0], [1], [0]]
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

from cnnlab.storage.folders import SearchFolder


def core_shares(cores: list[int], workers: int) -> list[list[int]]:
    """Split `cores` into `workers` equal runs of whole cores (leftover cores go unused, so
    that every worker trains at the same speed); with fewer cores than workers, one core each."""
    if workers > len(cores):
        return [[cores[i % len(cores)]] for i in range(workers)]
    size = len(cores) // workers
    return [cores[i * size : (i + 1) * size] for i in range(workers)]


class LocalWorkers:
    """The worker processes of one search on this machine.

    >>> with LocalWorkers(folder, 2) as workers:   # doctest: +SKIP
    ...     workers.start(port)                      # once the chief listens
    ...     workers.ended()                          # {name: exit code} of those that ended since
    """

    def __init__(self, folder: SearchFolder, count: int):
        self.folder, self.count = folder, count
        self.processes: dict[str, subprocess.Popen] = {}
        self._reported: set[str] = set()

    def start(self, port: int) -> None:
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        shares = core_shares(cores, self.count) if cores else [[] for _ in range(self.count)]
        for number, share in enumerate(shares, 1):
            name = f"w{number}"
            log = self.folder.worker_log(name)
            log.parent.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, "-m", "cnnlab", "tune", "--resume", str(self.folder.path)]
            command += ["--worker-of", f"127.0.0.1:{port}", "--worker-name", name]
            environment = {**os.environ, "PYTHONUNBUFFERED": "1"}  # its log shows each line as it comes
            with open(log, "ab") as out:
                process = subprocess.Popen(
                    command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environment
                )
            if share:
                with contextlib.suppress(OSError):  # it may have ended already
                    os.sched_setaffinity(process.pid, share)  # before it imports TensorFlow (seconds later)
            self.processes[name] = process

    def ended(self) -> dict[str, int]:
        """The exit codes of the workers that ended since the last call."""
        codes = {}
        for name, process in self.processes.items():
            if name not in self._reported and process.poll() is not None:
                self._reported.add(name)
                codes[name] = process.returncode
        return codes

    def __enter__(self) -> LocalWorkers:
        return self

    def __exit__(self, *exc) -> None:
        running = [process for process in self.processes.values() if process.poll() is None]
        for process in running:
            process.terminate()  # a clean stop: the trial it was running goes back on resume
        for process in running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
