"""Requests that arrive within a few milliseconds of each other go to the model as one batch,
as TensorFlow Serving's batching does; each request gets back exactly its own rows.

The model runs in a worker thread, off the event loop, so a slow batch never holds up a health
check; one batch at a time per model.

    >>> import asyncio, numpy as np
    >>> batcher = Batcher(lambda x: x * 2, max_batch=8, max_wait=0.01)
    >>> async def two():
    ...     return await asyncio.gather(batcher.submit(np.ones((1, 2))), batcher.submit(np.zeros((2, 2))))
    >>> [a.tolist() for a in asyncio.run(two())], batcher.calls
    ([[[2.0, 2.0]], [[0.0, 0.0], [0.0, 0.0]]], 1)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np


class Batcher:
    """Gathers submitted arrays (n rows each) for up to `max_wait` seconds or `max_batch` rows,
    runs `run_batch` once on them all, and hands each submitter its own rows."""

    def __init__(self, run_batch: Callable[[np.ndarray], np.ndarray], *, max_batch: int = 64, max_wait: float = 0.005):
        self.run_batch, self.max_batch, self.max_wait = run_batch, max_batch, max_wait
        self.calls = 0  # model calls so far: fewer than requests when batching works
        self._waiting: list[tuple[np.ndarray, asyncio.Future]] = []
        self._lock: asyncio.Lock | None = None
        self._ready: asyncio.Event | None = None

    async def submit(self, rows: np.ndarray) -> np.ndarray:
        """The model's output for `rows`, computed in a batch with whatever else is waiting."""
        loop = asyncio.get_running_loop()
        if self._lock is None:
            self._lock, self._ready = asyncio.Lock(), asyncio.Event()
        answer = loop.create_future()
        self._waiting.append((rows, answer))
        self._ready.set()
        async with self._lock:  # one batch at a time; whoever holds the lock runs what is waiting
            if not answer.done():
                await self._gather()
                await self._run(loop)
        return await answer

    async def _gather(self) -> None:
        """Wait up to max_wait for more rows, unless the batch is full already."""
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while sum(len(rows) for rows, _ in self._waiting) < self.max_batch:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), left)
            except asyncio.TimeoutError:
                return

    async def _run(self, loop) -> None:
        taken, count = [], 0
        while self._waiting and (not taken or count + len(self._waiting[0][0]) <= self.max_batch):
            rows, answer = self._waiting.pop(0)
            taken.append((rows, answer))
            count += len(rows)
        self.calls += 1
        try:
            output = await loop.run_in_executor(None, self.run_batch, np.concatenate([rows for rows, _ in taken]))
        except Exception as error:  # every request of the batch hears of it; the server goes on
            for _, answer in taken:
                if not answer.done():
                    answer.set_exception(error)
            return
        start = 0
        for rows, answer in taken:
            if not answer.done():
                answer.set_result(output[start : start + len(rows)])
            start += len(rows)
