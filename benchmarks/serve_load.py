"""`cnnlab serve` under load, against the plain service a user would write (plain_serve.py:
FastAPI, one `model.predict` per request): requests/s and the 50th/99th percentile latency of
single-image `:predict` requests from N concurrent clients over loopback.

    .venv/bin/python benchmarks/serve_load.py [RUN] [--clients 1,8,32] [--requests 400] [--rounds 3]
    .venv/bin/python benchmarks/serve_load.py --quick     # a tiny run on made-up images, one round

RUN defaults to the newest mnist_fast run under runs/. Both servers run side by side on
127.0.0.1 (only one is loaded at a time); the sides alternate (plain, cnnlab, plain, cnnlab,
...) for each client count and the medians are printed with the spread (lowest-highest). The
load is bounded: --requests per client count and side, each request with a 60 s timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def started(command: list[str], port: int) -> subprocess.Popen:
    """A server process, once it answers /healthz."""
    import httpx

    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{command[:4]} did not start: {process.stderr.read()[-2000:]}") from None
            time.sleep(0.2)


async def load(url: str, images: np.ndarray, clients: int, requests: int) -> tuple[float, list[float]]:
    """(requests per second, each request's seconds): `clients` tasks send `requests` in all."""
    import httpx

    bodies = [{"instances": [images[i % len(images)].tolist()]} for i in range(requests)]
    latencies: list[float] = []
    queue = iter(range(requests))

    async def client(session):
        for i in queue:
            sent = time.perf_counter()
            answer = await session.post(url, json=bodies[i])
            answer.raise_for_status()
            latencies.append(time.perf_counter() - sent)

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as session:
        await session.post(url, json=bodies[0])  # a warm connection and model
        began = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        return requests / (time.perf_counter() - began), latencies


def quick_run(folder: Path) -> Path:
    """mnist_fast trained for one epoch on made-up MNIST-shaped images (benchmarks/quick.py)."""
    from quick import write_mnist_like

    data = write_mnist_like(folder / "data")
    runs = folder / "runs"
    subprocess.run(
        [sys.executable, "-m", "cnnlab", "train", "configs/mnist_fast.yaml", "--runs-dir", str(runs)]
        + ["--set", f"data.dataset={data}", "--set", "tensorboard.enabled=false"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return next(runs.glob("mnist_fast/*"))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def spread(values: list[float], digits: int = 1) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", help="a run folder [default: the newest mnist_fast under runs/]")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--requests", type=int, default=400, help="per client count, side and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="cnnlab-serve-load-"))
    if args.quick:
        run, clients, requests, rounds = quick_run(scratch), [1, 8], 40, 1
    else:
        run = Path(args.run) if args.run else sorted((REPO / "runs" / "mnist_fast").glob("2*"))[-1]
        clients, requests, rounds = [int(c) for c in args.clients.split(",")], args.requests, args.rounds
    images = np.random.default_rng(0).integers(0, 256, (64, 28, 28)).astype(float)
    ports = {"plain": free_port(), "cnnlab": free_port()}
    servers = {
        "plain": started(
            [sys.executable, str(HERE / "plain_serve.py"), str(run), "--port", str(ports["plain"])], ports["plain"]
        ),
        "cnnlab": started(
            [sys.executable, "-m", "cnnlab", "serve", str(run), "--port", str(ports["cnnlab"])], ports["cnnlab"]
        ),
    }
    try:
        print(f"run {run}; {requests} single-image requests per client count, side and round; {rounds} round(s)")
        for count in clients:
            measured = {side: {"rate": [], "p50": [], "p99": []} for side in servers}
            for _ in range(rounds):
                for side in ("plain", "cnnlab"):
                    url = f"http://127.0.0.1:{ports[side]}/v1/models/mnist_fast:predict"
                    rate, latencies = asyncio.run(load(url, images, count, requests))
                    measured[side]["rate"].append(rate)
                    measured[side]["p50"].append(percentile(latencies, 50))
                    measured[side]["p99"].append(percentile(latencies, 99))
            for side in servers:
                m = measured[side]
                print(
                    f"{count:3d} clients  {side:7s} {spread(m['rate'])} req/s   "
                    f"p50 {spread(m['p50'])} ms   p99 {spread(m['p99'])} ms"
                )
            ratio = statistics.median(measured["cnnlab"]["rate"]) / statistics.median(measured["plain"]["rate"])
            p50 = statistics.median(measured["cnnlab"]["p50"]) / statistics.median(measured["plain"]["p50"])
            print(f"{count:3d} clients  cnnlab/plain: {ratio:.2f}x the requests/s, p50 {p50:.2f}x")
    finally:
        for process in servers.values():
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
