"""The chief of a search spread over processes and machines: Keras Tuner's oracle served over
gRPC, as in Keras Tuner's own distributed mode, with what that mode lacks when a worker dies.

Keras Tuner's chief (`keras_tuner.src.distribute.oracle_chief`) ends only when no trial is
running and every worker has been told to stop. A worker killed during a trial leaves that trial
running for ever, so the chief never ends (keras-team/keras-tuner#344), and nobody runs the trial
again. Here, on the same oracle and the same messages:

- every call a worker makes carries its name (gRPC metadata), and a worker calls at least every
  `BEAT_SECONDS`. A worker silent for the lease (`clocks`, 30 s), or whose process ended (`--workers N`),
  has its trial put back in the oracle's retry queue: the next worker to ask runs it again, under
  the same trial id;
- with `gather` workers expected (`--workers N`), no trial is handed out until they have all
  asked (or the gathering wait passed): the first to start up does not take every trial of a short
  search (keras-team/keras-tuner#596, an uneven spread);
- a worker that asks when no new trial is left, while other workers' trials still run, is told
  to wait (Keras Tuner's IDLE) instead of to stop, so someone is left to take a trial that comes back;
- a result from a worker whose trial was given to another is dropped: no trial counts twice;
- the chief ends when every trial has ended, and fails with a message when every worker it had
  is gone, or when none came in time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from keras_tuner.src import protos
from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief
from keras_tuner.src.engine import trial as trial_module
from keras_tuner.src.engine.oracle import synchronized

from cnnlab import clocks
from cnnlab.errors import RunError

WORKER_KEY = "cnnlab-worker"  # the gRPC metadata that names the calling worker
BEAT_SECONDS = 2.0  # a worker calls at least this often (a third of a shorter lease), training or not
IDLE_SECONDS = 1.0  # a worker told to wait asks again after this
# The lease, the gathering and the wait for a first worker are settings: cnnlab/clocks.py.

# (what happened, worker, trial or None, why): "started", "ended", "gone", "dropped"
Event = Callable[[str, str, object, str], None]


@dataclass
class Workers:
    """When each worker last called, and which are gone (and why)."""

    seen: dict[str, float] = field(default_factory=dict)
    gone: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, name: str) -> None:
        with self.lock:
            self.seen[name] = time.monotonic()

    def back(self, name: str) -> None:
        """A worker that asks for a trial is in, even one given up before (a network that came back)."""
        with self.lock:
            self.gone.pop(name, None)
            self.seen[name] = time.monotonic()

    def silent(self, lease: float) -> list[str]:
        now = time.monotonic()
        with self.lock:
            return [name for name, last in self.seen.items() if name not in self.gone and now - last > lease]

    def give_up(self, name: str, why: str) -> None:
        with self.lock:
            self.gone[name] = why

    @property
    def live(self) -> list[str]:
        with self.lock:
            return [name for name in self.seen if name not in self.gone]


class _Caller(grpc.ServerInterceptor):
    """Notes the calling worker's name on every call, heartbeats included."""

    def __init__(self, workers: Workers):
        self.workers = workers

    def intercept_service(self, continuation, handler_call_details):
        name = dict(handler_call_details.invocation_metadata or ()).get(WORKER_KEY)
        if name:
            self.workers.saw(name)
        return continuation(handler_call_details)


class _Servicer(OracleServicer):
    """Keras Tuner's servicer, with the waits, hand-overs and dropped results described above."""

    def __init__(self, oracle, workers: Workers, event: Event, gather: int = 0):
        super().__init__(oracle)
        self.workers, self.event = workers, event
        self.gather, self.started = gather, time.monotonic()
        self.gathering_seconds = clocks.seconds("gather")

    def CreateTrial(self, request, context):
        name = request.tuner_id
        self.workers.back(name)
        gathering = len(self.workers.seen) < self.gather and time.monotonic() - self.started < self.gathering_seconds
        if gathering or _must_wait(self.oracle, name):
            time.sleep(IDLE_SECONDS)  # Keras Tuner's worker asks again at once
            trial = trial_module.Trial(self.oracle.get_space(), status=trial_module.TrialStatus.IDLE)
        else:
            trial, failure = _guarded(self.oracle, self.oracle.create_trial, name)
            if failure:
                context.abort(grpc.StatusCode.INTERNAL, failure)
        if trial.status == trial_module.TrialStatus.STOPPED:
            self.stop_triggered = True
        elif trial.status == trial_module.TrialStatus.RUNNING:
            self.event("started", name, trial, "")
        return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    def UpdateTrial(self, request, context):
        if _owns(self.oracle, _caller(context), request.trial_id):
            metrics = dict(request.metrics)
            _, failure = _guarded(self.oracle, self.oracle.update_trial, request.trial_id, metrics, request.step)
            if failure:
                context.abort(grpc.StatusCode.INTERNAL, failure)
        trial = self.oracle.get_trial(request.trial_id)
        return protos.get_service().UpdateTrialResponse(trial=trial.to_proto())

    def EndTrial(self, request, context):
        trial, name = trial_module.Trial.from_proto(request.trial), _caller(context)
        ended = _end_if_owner(self.oracle, name, trial)
        if ended is True:
            self.event("ended", name, self.oracle.get_trial(trial.trial_id), "")
        else:
            self.event("dropped", name, trial, ended or "it came after the trial was given to another worker")
        return protos.get_service().EndTrialResponse()


def serve(
    oracle,
    address: str,
    *,
    event: Event,
    on_ready: Callable[[int], None] = lambda port: None,
    ended: Callable[[], dict[str, int]] = dict,
    gather: int = 0,
    first_worker: float | None = None,
    lease: float | None = None,
) -> None:
    """Serve `oracle` at `address` (HOST:PORT; port 0 picks a free one, passed to `on_ready`)
    until every trial of the search has ended. `ended()` gives the exit codes of worker
    processes that ended since the last call (a chief that started them); a non-zero one is a
    worker gone at once, without waiting out its lease. `gather`: workers to wait for before
    the first trial."""
    lease = clocks.seconds("lease") if lease is None else lease
    first_worker = clocks.seconds("first_worker") if first_worker is None else first_worker
    workers = Workers()
    servicer = _Servicer(oracle, workers, event, gather)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), interceptors=[_Caller(workers)])
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if not port:
        raise RunError(f"the search's chief could not listen on {address}: is the port in use? — pick another port")
    server.start()
    on_ready(port)
    started = time.monotonic()
    try:
        while not (servicer.stop_triggered and exit_chief(oracle)):
            time.sleep(0.2)
            gone = [(name, f"stopped (exit code {code})") for name, code in ended().items() if code != 0]
            gone += [(name, f"stopped answering for {lease:.0f} s") for name in workers.silent(lease)]
            for name, why in gone:
                workers.give_up(name, why)
                event("gone", name, _release(oracle, name), why)
            if workers.seen and not workers.live:
                raise RunError(
                    f"all {len(workers.seen)} workers of the search are gone ("
                    + "; ".join(f"{name} {why}" for name, why in workers.gone.items())
                    + ")"
                )
            if not workers.seen and time.monotonic() - started > first_worker:
                raise RunError(f"no worker came to the search's chief at {address} within {first_worker:.0f} s")
    finally:
        server.stop(grace=1)


def _caller(context) -> str:
    return dict(context.invocation_metadata()).get(WORKER_KEY, "")


@synchronized
def _must_wait(oracle, name: str) -> bool:
    """No new trial is left, nothing waits for a retry, yet another worker's trial still runs."""
    if oracle._retry_queue or name in oracle.ongoing_trials:
        return False
    full = bool(oracle.max_trials) and len(oracle.trials) >= oracle.max_trials
    return full and any(worker != name for worker in oracle.ongoing_trials)


@synchronized
def _owns(oracle, name: str, trial_id: str) -> bool:
    running = oracle.ongoing_trials.get(name)
    return running is not None and running.trial_id == trial_id


# Keras Tuner's oracle lock (`synchronized`) is taken and released without try/finally: an
# exception inside an oracle method would keep it, and the chief would hang at its next call.
# The helpers below are `synchronized` themselves and catch inside, so their own release runs;
# a worker's call is aborted only after that.


@synchronized
def _guarded(oracle, method, *args) -> tuple[object, str]:
    """(`method(*args)`, "") under the oracle's lock, or (None, what went wrong)."""
    try:
        return method(*args), ""
    except Exception as error:  # noqa: BLE001 - whatever Keras Tuner raised goes back to the worker
        return None, f"the search's chief could not do that: {type(error).__name__}: {error}"


@synchronized
def _end_if_owner(oracle, name: str, trial) -> bool | str:
    """True when the trial ended; else why its result was dropped."""
    if not _owns(oracle, name, trial.trial_id):
        return False
    try:
        oracle.end_trial(trial)
    except Exception as error:  # noqa: BLE001 - a result the oracle cannot take: the trial runs again
        _release(oracle, name)
        return f"the oracle could not take it ({type(error).__name__}: {error}); the trial runs again"
    # Keras Tuner saves the oracle before it takes the trial off the running ones: a chief killed
    # after that would run the finished trial again on resume
    oracle.save()
    return True


@synchronized
def _release(oracle, name: str) -> str | None:
    """Take a gone worker's trial back into the retry queue (Keras Tuner's own, which the next
    `create_trial` serves first); the trial's id, or None when it held none."""
    trial = oracle.ongoing_trials.pop(name, None)
    oracle.tuner_ids.discard(name)
    if trial is None:
        return None
    oracle._retry_queue.append(trial.trial_id)
    oracle.save()
    return trial.trial_id
