"""A worker of a search spread over processes: its Keras Tuner tuner asks the chief's oracle for
trials over gRPC (Keras Tuner's own `OracleClient`), names itself on every call, and calls at
least every `BEAT_SECONDS` while it trains, so the chief can tell a slow trial from a dead worker
(see `engine.search_chief`).
"""

from __future__ import annotations

import _thread
import collections
import threading
import time

import grpc
from keras_tuner.src import protos
from keras_tuner.src.distribute.oracle_client import OracleClient

from cnnlab import clocks
from cnnlab.engine.search_chief import BEAT_SECONDS, WORKER_KEY
from cnnlab.errors import RunError

WAIT_SECONDS = 120.0  # how long a worker waits for its chief, at the start and on each call


_FIELDS = ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")


class _Details(collections.namedtuple("_Details", _FIELDS), grpc.ClientCallDetails):
    pass


class _Named(grpc.UnaryUnaryClientInterceptor):
    """Adds the worker's name to every call, and bounds how long a call waits for the chief
    (Keras Tuner's client waits up to an hour)."""

    def __init__(self, name: str, timeout: float):
        self.name, self.timeout = name, timeout

    def intercept_unary_unary(self, continuation, details, request):
        timeout = min(details.timeout or self.timeout, self.timeout)
        metadata = [*(details.metadata or ()), (WORKER_KEY, self.name)]
        named = _Details(
            details.method, timeout, metadata, details.credentials, details.wait_for_ready, details.compression
        )
        return continuation(named, request)


class Connection:
    """The tuner's oracle replaced by a client of the chief at `address`, and the heartbeat.

    >>> with Connection(tuner, "127.0.0.1:8470", "w1"):  # doctest: +SKIP
    ...     tuner.search()
    """

    def __init__(self, tuner, address: str, name: str, wait: float = WAIT_SECONDS):
        self.tuner, self.address, self.name, self.wait = tuner, address, name, wait
        self._stop = threading.Event()
        self._channel = None
        self.lost = False  # the chief stopped answering the heartbeat for the lease
        self.lease = clocks.seconds("lease")

    def __enter__(self) -> Connection:
        channel = grpc.insecure_channel(self.address)
        try:
            grpc.channel_ready_future(channel).result(timeout=self.wait)
        except grpc.FutureTimeoutError:
            channel.close()
            raise RunError(
                f"no search chief answered at {self.address} within {self.wait:.0f} s — start it first "
                f"(cnnlab tune CONFIG --chief {self.address}), or check the address and the firewall"
            ) from None
        self._channel = channel
        stub = protos.get_service_grpc().OracleStub(grpc.intercept_channel(channel, _Named(self.name, self.wait)))
        client = OracleClient.__new__(OracleClient)  # its __init__ reads the address from environment variables
        client._oracle, client.stub, client.tuner_id = self.tuner.oracle, stub, self.name
        client.multi_worker, client.should_report = False, True
        self.tuner.oracle, self.tuner.tuner_id = client, self.name
        threading.Thread(target=self._beat, args=(stub,), name=f"{self.name}-heartbeat", daemon=True).start()
        return self

    def _beat(self, stub) -> None:
        answered, beat = time.monotonic(), min(BEAT_SECONDS, self.lease / 3)
        while not self._stop.wait(beat):
            try:
                stub.GetSpace(protos.get_service().GetSpaceRequest(), timeout=beat * 2)
                answered = time.monotonic()
            except grpc.RpcError:
                if time.monotonic() - answered > self.lease:  # the chief is gone: stop training for nobody
                    self.lost = True
                    _thread.interrupt_main()
                    return

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._channel is not None:
            self._channel.close()


def lost_chief(error: grpc.RpcError, address: str) -> RunError:
    """A call to the chief failed: it is gone or silent, or it said why it could not answer."""
    if error.code() == grpc.StatusCode.INTERNAL:
        return RunError(f"{error.details()} (the chief at {address}; see its output)")
    return RunError(
        f"lost the search's chief at {address} ({error.code().name.lower()}) — the trials finished so far "
        "are kept in its folder: resume the search there (cnnlab tune --resume DIR) and start the workers again"
    )
