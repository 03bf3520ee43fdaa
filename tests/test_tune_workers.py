"""A search spread over processes: `tune --workers N`, `--chief` with `--worker-of`, and the faults
Keras Tuner's own distributed mode does not survive (a killed worker, a killed search, a worker
before its chief, a chief whose workers all died)."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from tests.conftest import REPO
from tests.test_faults import wait_until
from tests.test_tune import SEARCH

pytestmark = pytest.mark.trains

FOUR = SEARCH.replace("max_trials: 3", "max_trials: 4")
# long enough trials that a worker can be killed in the middle of one
SLOW = FOUR.replace("train_examples: 160", "train_examples: 640").replace("epochs: 2,", "epochs: 3,")


def _rows(folder: Path) -> list[dict]:
    with open(folder / "trials.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def _folder(runs: Path) -> Path:
    (folder,) = (runs / "search").glob("tune-*")
    return folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _in_new_session(*args, log: Path) -> subprocess.Popen:
    """`cnnlab ARGS` as the leader of its own process group, so that the test can kill all of
    it, its output (unbuffered) in `log`."""
    command = [sys.executable, "-m", "cnnlab", *map(str, args)]
    with open(log, "w") as out:
        return subprocess.Popen(
            command,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def _worker_pid(name: str, folder: Path) -> int | None:
    """The process of worker `name` that `tune --workers` started for `folder`."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--worker-name" in argv and name.encode() in argv and str(folder).encode() in argv:
                return int(entry.name)
    return None


def _in_its_second_trial(folder: Path, worker: str) -> bool:
    """The worker finished a trial, and its last line is an epoch of the next other than the last."""
    log = folder / "workers" / f"{worker}.log"
    lines = log.read_text().splitlines() if log.is_file() else []
    finished = any(re.match(r"trial \d+: val_accuracy", line) for line in lines)
    return finished and re.match(r"epoch [12]/3\b", lines[-1].strip()) is not None


@pytest.mark.processes
def test_a_worker_killed_in_its_trial_leaves_it_to_the_other_and_a_search_killed_whole_resumes(
    run_cli, write, tmp_path
):
    """One search of two workers through two faults. Worker w1 is killed (SIGKILL) in its second
    trial: the chief hands that trial to w2, which runs it whole. Then, once that trial is done
    and another runs, the chief and w2 are killed together; `tune --resume` in one process
    trains what was left, each trial once, and leaves the finished rows as they were. Seven
    trials, so that some are still to run after the handed-over one (w1 starts a trial or two
    after w2, its second trial can be the fourth or fifth)."""
    runs, log = tmp_path / "runs", tmp_path / "chief.log"
    seven = SLOW.replace("max_trials: 4", "max_trials: 7")
    search = _in_new_session("tune", write("search.yaml", seven), "--workers", "2", "--runs-dir", runs, log=log)
    folder = lambda: next(runs.glob("search/tune-*"), None)  # noqa: E731
    wait_until(lambda: folder() is not None and _in_its_second_trial(folder(), "w1"), search)
    os.kill(_worker_pid("w1", folder()), signal.SIGKILL)
    handed_over = r"w1 stopped \(exit code -9\): trial (\d+) goes to the next worker that asks"
    wait_until(lambda: re.search(handed_over, log.read_text()), search)
    trial = re.search(handed_over, log.read_text()).group(1)

    def handed_over_done_and_another_running() -> bool:
        rows = {row["trial"]: row for row in _rows(folder())}
        return rows.get(trial, {}).get("status") == "COMPLETED" and "RUNNING" in {r["status"] for r in rows.values()}

    wait_until(handed_over_done_and_another_running, search)
    rows = _rows(folder())
    os.killpg(search.pid, signal.SIGKILL)  # the chief and the worker left, in the middle of a trial
    search.wait()
    done = {row["trial"]: row for row in rows if row["status"] == "COMPLETED"}
    assert done[trial]["worker"] == "w2" and done[trial]["epochs"] == "3"  # the other worker ran it again, whole
    assert {row["worker"] for row in done.values()} == {"w1", "w2"}  # both workers took trials

    result = run_cli("tune", "--resume", folder())
    assert result.exit_code == 0, result.output
    rows = _rows(folder())
    assert sorted(row["trial"] for row in rows) == [str(n) for n in range(7)]  # each trial once
    assert all(row["status"] == "COMPLETED" and row["epochs"] == "3" for row in rows)
    for number, row in done.items():  # finished rows unchanged
        assert next(r for r in rows if r["trial"] == number) == row, (row, rows)
    assert {row["worker"] for row in rows if row["trial"] not in done} == {"local"}  # resumed in one process


@pytest.mark.processes
def test_a_worker_started_before_its_chief_waits_for_it_and_both_exit_0(run_cli, write, tmp_path):
    config, address = write("search.yaml", FOUR), f"127.0.0.1:{_free_port()}"
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        command = [sys.executable, "-m", "cnnlab", "tune", config, "--worker-of", address]
        command += ["--runs-dir", tmp_path / "elsewhere"]
        environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
        worker = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=environment)
    wait_until(lambda: "of the search at" in log.read_text(), worker)  # it is waiting for a chief
    chief = run_cli("tune", config, "--chief", address, "--runs-dir", tmp_path / "runs")  # this process
    worker.wait(timeout=120)
    worker_out = log.read_text()
    assert (chief.exit_code, worker.returncode) == (0, 0), chief.output + worker_out
    rows = _rows(_folder(tmp_path / "runs"))
    assert [row["status"] for row in rows] == ["COMPLETED"] * 4
    name = {row["worker"] for row in rows}
    assert len(name) == 1 and f"worker {name.pop()}: the chief has no more trials; this worker ran 4" in worker_out
    assert rows[0]["seconds"]  # timed by the chief: the worker's own times stay on its machine


def test_a_worker_without_a_chief_gives_up_after_its_wait(run_cli, write, tmp_path):
    port = _free_port()
    started = time.monotonic()
    config, runs = write("search.yaml", FOUR), tmp_path / "runs"
    result = run_cli("tune", config, "--worker-of", f"127.0.0.1:{port}", "--wait", "1", "--runs-dir", runs)
    assert result.exit_code == 1
    assert f"no search chief answered at 127.0.0.1:{port} within 1 s — start it first" in result.stderr
    assert time.monotonic() - started < 30


def test_a_chief_whose_workers_all_go_silent_says_so_and_exits_1(run_cli, write, tmp_path, monkeypatch):
    """The bugs: the workers gone not each named; the tables not saying who ran a trial."""
    from keras_tuner.src import protos

    monkeypatch.setenv("CNNLAB_LEASE_SECONDS", "1")
    address = f"127.0.0.1:{_free_port()}"
    answers = {}

    def ghost_workers():
        """Two workers ask for a trial each, then fall silent in the middle of it, as machines
        that lost power."""
        channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(channel).result(timeout=60)
        stub = protos.get_service_grpc().OracleStub(channel)
        for ghost in ("ghost1", "ghost2"):
            request = protos.get_service().CreateTrialRequest(tuner_id=ghost)
            answers[ghost] = stub.CreateTrial(request, metadata=[("cnnlab-worker", ghost)], timeout=30).trial

    thread = threading.Thread(target=ghost_workers)
    thread.start()
    runs = tmp_path / "runs"
    result = run_cli("tune", write("search.yaml", FOUR), "--chief", address, "--runs-dir", runs)
    thread.join()
    assert result.exit_code == 1
    assert (answers["ghost1"].trial_id, answers["ghost2"].trial_id) == ("0", "1")
    assert "ghost1 stopped answering for 1 s: trial 0 goes to the next worker that asks" in result.stdout
    assert (
        "all 2 workers of the search are gone (ghost1 stopped answering for 1 s; ghost2 stopped answering for 1 s)"
    ) in " ".join(result.stderr.split())
    assert "resume with: cnnlab tune --resume" in result.stderr
    assert [(row["trial"], row["worker"]) for row in _rows(_folder(runs))] == [("0", "ghost1"), ("1", "ghost2")]


def test_one_of_workers_chief_and_worker_of_is_given(run_cli, write, tmp_path, monkeypatch):
    config, runs = write("search.yaml", FOUR), ("--runs-dir", tmp_path / "runs")
    result = run_cli("tune", config, "--workers", "2", "--chief", "127.0.0.1:1", *runs)
    assert result.exit_code == 2 and "give one of --workers, --chief, --worker-of and --slurm" in result.stderr
    result = run_cli("tune", config, "--chief", "nohost", *runs)
    assert result.exit_code == 2 and "'nohost' is not HOST:PORT" in result.stderr
    for variable in ("SLURM_PROCID", "SLURM_JOB_NODELIST", "SLURM_STEP_NODELIST", "SLURM_JOB_ID"):
        monkeypatch.delenv(variable, raising=False)
    result = run_cli("tune", config, "--slurm", *runs)
    assert result.exit_code == 2 and "it was not started by srun" in result.stderr


def test_a_trial_given_away_runs_again_once_and_the_late_result_is_dropped(run_cli, write, tmp_path, monkeypatch):
    """Two workers by hand on Keras Tuner's own messages: `a` takes the only trial and falls
    silent; `b`, told to wait (not to stop) meanwhile, gets the same trial when `a`'s lease ends;
    `a`'s result, arriving after that, is dropped, so the trial counts once."""
    from keras_tuner.src import protos
    from keras_tuner.src.engine.trial import Trial

    from cnnlab.engine import search_chief

    monkeypatch.setenv("CNNLAB_LEASE_SECONDS", "1")
    monkeypatch.setattr(search_chief, "IDLE_SECONDS", 0.05)
    address, seen = f"127.0.0.1:{_free_port()}", {}
    service = protos.get_service()
    clock = {}

    def two_workers():
        channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(channel).result(timeout=60)
        stub = protos.get_service_grpc().OracleStub(channel)

        def call(name, method, request):
            return getattr(stub, method)(request, metadata=[("cnnlab-worker", name)], timeout=30)

        def ask(name):
            return Trial.from_proto(call(name, "CreateTrial", service.CreateTrialRequest(tuner_id=name)).trial)

        taken = ask("a")
        seen["b first"] = ask("b").status
        clock["before b runs"] = time.perf_counter()
        while (again := ask("b")).status != "RUNNING":  # b keeps calling; a does not
            clock["before b runs"] = time.perf_counter()
        seen["b runs"] = again.trial_id
        late = Trial.from_proto(taken.to_proto())
        late.status = "COMPLETED"
        call("a", "EndTrial", service.EndTrialRequest(trial=late.to_proto()))  # after the hand-over
        for epoch, score in enumerate((0.4, 0.5, 0.45)):  # its best at the second epoch, step 1
            update = service.UpdateTrialRequest(trial_id=again.trial_id, metrics={"val_accuracy": score}, step=epoch)
            call("b", "UpdateTrial", update)
        again.status = "COMPLETED"
        call("b", "EndTrial", service.EndTrialRequest(trial=again.to_proto()))
        clock["b ended"] = time.perf_counter()
        seen["b last"] = ask("b").status

    thread = threading.Thread(target=two_workers)
    thread.start()
    runs = tmp_path / "runs"
    result = run_cli("tune", write("search.yaml", FOUR), "--chief", address, "--max-trials", "1", "--runs-dir", runs)
    thread.join()
    assert result.exit_code == 0, result.output
    assert seen == {"b first": "IDLE", "b runs": "0", "b last": "STOPPED"}
    assert "a stopped answering for 1 s: trial 0 goes to the next worker that asks" in result.stdout
    assert "a: its result for trial 0 was dropped: it came after the trial was given to another worker" in result.stdout
    folder = _folder(runs)
    (row,) = _rows(folder)
    assert (row["trial"], row["status"], row["worker"], row["best_epoch"]) == ("0", "COMPLETED", "b", "2")
    # the chief's own clock, from handing the trial to b to b's end: within what b's thread saw
    assert 0.0 <= float(row["seconds"]) <= clock["b ended"] - clock["before b runs"] + 0.01
    oracle = json.loads((folder / "tuner" / "oracle.json").read_text())
    assert oracle["end_order"] == ["0"]  # counted once
    assert oracle["ongoing_trials"] == {}  # saved as ended: a resume would not run it again


def test_no_trial_is_handed_out_before_the_expected_workers_have_all_asked(tmp_path, monkeypatch):
    """With `--workers N`, the first worker up must not take every trial of a short search."""
    import keras_tuner
    from keras_tuner.src import protos
    from keras_tuner.src.engine.trial import Trial

    from cnnlab.engine import search_chief

    monkeypatch.setattr(search_chief, "IDLE_SECONDS", 0.0)
    oracle = keras_tuner.oracles.RandomSearchOracle(objective="val_accuracy", max_trials=4, seed=1)
    oracle._set_project_dir(str(tmp_path), "search")
    oracle.hyperparameters.Int("units", 1, 64)
    servicer = search_chief._Servicer(oracle, search_chief.Workers(), lambda *event: None, gather=2)

    def ask(name):
        answer = Trial.from_proto(
            servicer.CreateTrial(protos.get_service().CreateTrialRequest(tuner_id=name), None).trial
        )
        return answer.trial_id if answer.status == "RUNNING" else answer.status

    assert (ask("w1"), ask("w1")) == ("IDLE", "IDLE")  # w2 has not asked yet
    assert (ask("w2"), ask("w1")) == ("0", "1")  # both in: one trial each


def test_a_worker_beats_named_while_its_chief_answers_and_stops_its_training_once_it_is_gone(monkeypatch):
    """The chief tells a slow trial from a dead worker by the heartbeat; a worker whose chief is
    gone for the lease stops training for nobody (a KeyboardInterrupt in its main thread). The
    bugs: no beat (the loop's test turned), a beat without the worker's name, a lost chief
    not noticed."""
    import types
    from concurrent import futures

    from keras_tuner.src import protos

    from cnnlab.engine.search_worker import Connection

    monkeypatch.setenv("CNNLAB_LEASE_SECONDS", "0.3")  # a beat every 0.1 s
    heard = []

    class Chief(protos.get_service_grpc().OracleServicer):
        def GetSpace(self, request, context):
            heard.append(dict(context.invocation_metadata()).get("cnnlab-worker"))
            return protos.get_service().GetSpaceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    protos.get_service_grpc().add_OracleServicer_to_server(Chief(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    tuner = types.SimpleNamespace(oracle=None, tuner_id=None)
    connection = Connection(tuner, f"127.0.0.1:{port}", "w1", wait=10)

    def sleep_until(condition, seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)

    # a worker process has Python's own Ctrl-C handler; this test's process (an xdist worker,
    # mutmut's runner) may have another, which `interrupt_main` would call instead
    handler_before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt), connection:
            assert tuner.tuner_id == "w1" and tuner.oracle.tuner_id == "w1"
            sleep_until(lambda: len(heard) >= 3)
            assert heard[:3] == ["w1"] * 3
            server.stop(0)
            sleep_until(lambda: False)  # the interrupt ends the wait
    finally:
        signal.signal(signal.SIGINT, handler_before)
        server.stop(0)
    assert connection.lost


def test_a_worker_in_this_process_trains_its_chiefs_trial_and_says_its_score(run_cli, write, tmp_path):
    """A worker's copy of the oracle knows neither the other trials nor the chief's limit. The
    bugs: its trial line claiming a place among them; its score line reading the mean of its
    trainings under another key."""
    import cnnlab.api

    address, chief = f"127.0.0.1:{_free_port()}", {}
    config = write("search.yaml", FOUR.replace("max_trials: 4", "max_trials: 1"))

    def serve():
        chief["search"] = cnnlab.api.tune(config, chief=address, runs_dir=tmp_path / "runs", progress=False)

    thread = threading.Thread(target=serve)
    thread.start()
    # Serving, the chief has made its tuner, whose quiet start swaps sys.stdout for the whole
    # process: overlapping the command's own capture, it would take the worker's lines.
    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=60)
    channel.close()
    result = run_cli("tune", config, "--worker-of", address, "--runs-dir", tmp_path / "elsewhere")
    thread.join(timeout=120)
    assert result.exit_code == 0, result.output
    (row,) = chief["search"].trials
    lines = [line for line in result.stdout.splitlines() if line.startswith("trial 0")]
    assert lines[0].startswith("trial 0: model.layers.3.Dense.units=")  # no "(1 of at most 1)"
    said = re.fullmatch(r"trial 0: val_accuracy (\S+) in (\S+) s", lines[-1])
    assert said and said[1] == f"{row['score']:.4f}", lines  # one training: its score is the mean
    assert 0.0 < float(said[2]) <= row["seconds"] + 0.01  # its own clock, within the chief's (each rounded)


def test_a_worker_given_another_config_than_its_chiefs_is_refused(run_cli, write, tmp_path, monkeypatch):
    import cnnlab.api
    from cnnlab.errors import RunError

    monkeypatch.setenv("CNNLAB_LEASE_SECONDS", "1")
    address, chief_said = f"127.0.0.1:{_free_port()}", []
    config = write("search.yaml", FOUR)

    def chief():
        try:
            cnnlab.api.tune(config, chief=address, runs_dir=tmp_path / "runs", progress=False)
        except RunError as error:
            chief_said.append(str(error))

    thread = threading.Thread(target=chief)
    thread.start()
    other = write(
        "other.yaml", FOUR.replace("    train.optimizer.learning_rate: {log_uniform: [1.0e-3, 3.0e-2]}\n", "")
    )
    result = run_cli("tune", other, "--worker-of", address, "--runs-dir", tmp_path / "elsewhere")
    thread.join(timeout=120)
    assert result.exit_code == 1
    assert (
        f"error: the search at {address} varies model.layers.0.Conv2D.filters, model.layers.3.Dense.units, "
        "train.optimizer.learning_rate, but this worker's config varies model.layers.0.Conv2D.filters, "
        "model.layers.3.Dense.units — give every worker the chief's config"
    ) in " ".join(result.stderr.split())
    assert chief_said and "all 1 workers of the search are gone" in chief_said[0]


@pytest.mark.processes
@pytest.mark.stand_in
@pytest.mark.parametrize("cores", ["all", "the last only", "not known"])
def test_local_workers_start_one_logged_process_per_worker_on_its_own_cores(tmp_path, monkeypatch, cores):
    """`tune --workers N` starts each worker as `python -m cnnlab tune --resume SEARCH
    --worker-of 127.0.0.1:PORT --worker-name wK`, unbuffered, its output in workers/wK.log,
    pinned to its share of the cores; `ended` reports each exit code once. The interpreter is a
    stand-in here that prints what it was given, so the test sees the command without training.
    The shares come from the cores this process may use (`taskset`: the last only), not from
    another process's; where the system cannot tell (no sched_getaffinity) nobody is pinned."""
    from cnnlab.api.workers import LocalWorkers, core_shares
    from cnnlab.storage.folders import SearchFolder

    stand_in = tmp_path / "python"
    stand_in.write_text(
        "#!/bin/sh\n"
        'echo "args: $*"\n'
        'echo "unbuffered: $PYTHONUNBUFFERED"\n'
        "sleep 0.5\n"  # the affinity is set just after the start
        'grep Cpus_allowed_list /proc/self/status | tr -d "\\t"\n'
        "exit 3\n"
    )
    stand_in.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(stand_in))
    search = SearchFolder(tmp_path / "runs" / "tiny" / "tune-20261205-170000")
    search.path.mkdir(parents=True)
    allowed = sorted(os.sched_getaffinity(0))
    shares = {"all": core_shares(allowed, 2), "the last only": [allowed[-1:]] * 2, "not known": [allowed] * 2}[cores]
    if cores == "not known":
        monkeypatch.delattr(os, "sched_getaffinity")
    try:
        if cores == "the last only":
            os.sched_setaffinity(0, allowed[-1:])
        with LocalWorkers(search, 2) as workers:
            workers.start(41234)
            for process in workers.processes.values():
                process.wait(timeout=30)
            assert workers.ended() == {"w1": 3, "w2": 3} and workers.ended() == {}  # each once
    finally:
        os.sched_setaffinity(0, allowed)
    for number, share in enumerate(shares, 1):
        *said, cores = (search.path / "workers" / f"w{number}.log").read_text().splitlines()
        assert said == [
            f"args: -m cnnlab tune --resume {search.path} --worker-of 127.0.0.1:41234 --worker-name w{number}",
            "unbuffered: 1",
        ]
        assert _cpu_list(cores.removeprefix("Cpus_allowed_list:")) == share


def _cpu_list(text: str) -> list[int]:
    """The kernel's "0-3,6" as [0, 1, 2, 3, 6]."""
    cores = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        cores += range(int(first), int(last or first) + 1)
    return cores
