"""Run the app with uvicorn: in the foreground until Ctrl-C or SIGTERM (requests in flight are
answered first, then exit 0), or in a background thread for a notebook.

    >>> check_address("0.0.0.0", None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cnnlab.errors.ConfigError: host: 0.0.0.0 opens the models, ... to the network — give --token TOKEN ...
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import ConfigError, Problem
from cnnlab.serving.app import LOOPBACK, Limits, application
from cnnlab.serving.models import evaluated_runs, exported, load, split_targets


def check_address(host: str, token: str | None) -> None:
    """Another host than a loopback one only with a token."""
    if host.strip("[]") not in LOOPBACK and not token:
        raise ConfigError(
            Problem(
                f"{host} opens the models, and what they reveal of their data, to the network",
                key="host",
                hint="give --token TOKEN (every request then needs it), or leave --host at 127.0.0.1",
            )
        )


@dataclass
class Serving:
    """A server running in the background: its address, its models, and how to stop it."""

    url: str
    served: dict  # name -> Served: each model's batcher counts its model calls
    _server: object
    _thread: threading.Thread

    def stop(self, timeout: float = 10) -> None:
        """Stop taking requests, answer those in flight, and wait for the thread to end."""
        self._server.should_exit = True
        self._thread.join(timeout)


def prepared(
    targets,
    *,
    runs_dir: Path,
    host: str,
    port: int,
    token: str | None,
    max_batch: int,
    max_wait: float,
    cors: str | None = None,
):
    """(uvicorn server, the models by name, its listening socket) for the targets, every input
    checked and the port taken before anything loads."""
    check_address(host, token)
    if not 0 <= port <= 65535:
        raise ConfigError(Problem(f"port {port} is not a port number (0-65535)", key="port"))
    sock = listening_socket(host, port)
    try:
        server, models = _loaded_server(targets, runs_dir, host, token, max_batch, max_wait, cors)
    except BaseException:
        sock.close()
        raise
    return server, models, sock


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound now: a port another program holds is a mistake named before
    any model loads, and the real port of `--port 0` is known before the server starts."""
    name = host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in name else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((name, port))
    except OSError as error:
        sock.close()
        raise ConfigError(
            Problem(
                f"cannot listen on {host}:{port}: {error.strerror or error}",
                key="port",
                hint="another program holds that port: give another --port, or --port 0 for a free one",
            )
        ) from None
    return sock


def _loaded_server(targets, runs_dir: Path, host, token, max_batch: int, max_wait: float, cors):
    """The models of the targets loaded and warmed up, and the uvicorn server of their app."""
    import uvicorn

    run_targets, exports = split_targets(targets)
    # The whole folder (no targets): its pages show runs still training, so none evaluated yet is
    # no mistake; each is served once evaluated. A target named with nothing to serve is one.
    everything = not run_targets and not exports
    runs = evaluated_runs(run_targets, Path(runs_dir), none_yet=everything) if run_targets or everything else []
    models = {
        **load(runs, max_batch=max_batch, max_wait=max_wait),
        **exported(exports, max_batch=max_batch, max_wait=max_wait),
    }

    def discover(loaded: dict) -> dict:
        """The runs of the same targets evaluated since, and each config's newest again."""
        try:
            found = evaluated_runs(run_targets, Path(runs_dir))
        except ConfigError:
            return {}
        return load(found, max_batch=max_batch, max_wait=max_wait, loaded=loaded)

    searching = discover if runs or everything else None
    app = application(
        models, host=host, token=token, limits=Limits(), cors=cors, discover=searching, runs_dir=Path(runs_dir)
    )
    config = uvicorn.Config(app, host=host, log_level="warning", timeout_graceful_shutdown=5, lifespan="off")
    return uvicorn.Server(config), models


def serve_forever(server, sock: socket.socket) -> None:
    """Until Ctrl-C or SIGTERM: uvicorn answers the requests in flight, then returns. uvicorn
    raises the signal again once it has stopped; the handlers set here take it quietly, so a
    stop asked for is a clean end (exit 0), not an interruption."""
    import signal

    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def in_background(server, models: dict, sock: socket.socket) -> Serving:
    """Start `server` in a thread (uvicorn sets signal handlers only in the main thread: the
    notebook's kernel keeps its own); returns once it listens."""
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="cnnlab-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ConfigError(f"the server did not start on {url(server.config.host, sock.getsockname()[1])}")
        time.sleep(0.02)
    return Serving(url(server.config.host, sock.getsockname()[1]), models, server, thread)


def url(host: str, port: int) -> str:
    """http://HOST:PORT, an IPv6 address in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(
    runs=(),
    *,
    runs_dir: str | Path = "runs",
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    max_batch: int = 64,
    max_wait_ms: float = 5.0,
    cors: str | None = None,
    background: bool = False,
    announce: Callable[[str, list[str]], None] | None = None,
):
    """Serve evaluated runs as `cnnlab serve` does: until Ctrl-C (blocking), or, with
    `background=True`, from a thread, returning a `Serving` with `.url`, `.served` and `.stop()`.
    `announce(url, names)` hears where it listens and what it serves, before it starts.

        >>> serving = cnnlab.serve(["runs/mnist_fast"], port=0, background=True)  # doctest: +SKIP
        >>> answer = httpx.get(f"{serving.url}/v1/models/mnist_fast/metadata")  # doctest: +SKIP
        >>> answer.json()["metadata"]["class_names"]  # doctest: +SKIP
        ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
        >>> serving.stop()  # doctest: +SKIP
    """
    if isinstance(runs, (str, Path)):
        runs = [runs]
    server, models, sock = prepared(
        runs,
        runs_dir=Path(runs_dir),
        host=host,
        port=port,
        token=token,
        max_batch=max_batch,
        max_wait=max_wait_ms / 1000,
        cors=cors,
    )
    if announce is not None:
        announce(url(host, sock.getsockname()[1]), sorted(models))
    if background:
        return in_background(server, models, sock)
    serve_forever(server, sock)
    return None
