"""A hyperparameter search from Python: `tune` runs a config's `search:` section with Keras Tuner
(as `cnnlab tune` does) and returns the `Search`: every trial, the best, and the winning config.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, replace
from pathlib import Path

from cnnlab.api.arguments import checked
from cnnlab.api.configs import Config, Overrides, resolve
from cnnlab.api.progress import Progress, as_progress
from cnnlab.api.repeating import train_group
from cnnlab.api.views import GroupComparison, compare
from cnnlab.api.workers import LocalWorkers
from cnnlab.config import LocatedConfig, load_config
from cnnlab.errors import ConfigError, Problem, RunError
from cnnlab.hints import next_step
from cnnlab.reporting.compare_groups import verdict
from cnnlab.reporting.report import to_fragment
from cnnlab.reporting.trials import label, short, trial_config
from cnnlab.runtime.startup import start_keras
from cnnlab.search import objective_direction
from cnnlab.storage.folders import SearchFolder
from cnnlab.storage.lookup import create_run_folder


@dataclass(frozen=True)
class Search:
    """A search folder's results: one dict per trial (its values, status, score, best epoch,
    epochs, seconds), the best of them, and the winner's config as `cnnlab train` runs it."""

    folder: SearchFolder
    config: LocatedConfig  # the search as it ran
    trials: list[dict]
    best: dict | None
    maximise: bool
    confirmed: GroupComparison | None = None  # tune(confirm=T): the top trials retrained with 3 seeds each

    def ranked(self) -> list[dict]:
        """The finished trials, best first."""
        finished = [row for row in self.trials if row["status"] == "COMPLETED" and row["score"] is not None]
        return sorted(finished, key=lambda row: -row["score"] if self.maximise else row["score"])

    def __repr__(self) -> str:
        best = f", best trial {self.best['trial']} ({self.best['score']:.4f})" if self.best else ""
        return f"Search({str(self.folder.path)!r}, {len(self.trials)} trials{best})"

    @property
    def best_config(self) -> dict | None:
        """The winning trial's config (best.yaml), in the YAML's shape."""
        best = self.folder.file(SearchFolder.BEST)
        return load_config(best).model_dump(mode="json") if self.best else None

    @property
    def finished(self) -> int:
        return sum(row["status"] == "COMPLETED" and row["score"] is not None for row in self.trials)

    def _repr_html_(self) -> str:
        keys = list(self.config.search.space)
        objective = self.config.search.objective
        header = ["trial", "status", *map(label, keys), objective, "epochs", "seconds"]
        ranked = sorted(
            self.trials,
            key=lambda row: (row["score"] is None, -(row["score"] or 0) if self.maximise else row["score"] or 0),
        )
        rows = [
            [row["trial"], row["status"].lower(), *(short(row[key]) for key in keys), row["score"] or "-"]
            + [row["epochs"] or "-", row["seconds"] or "-"]
            for row in ranked
        ]
        title = f"Search {self.folder.path.name}: {self.finished} trials finished, best first"
        return to_fragment([("h2", title), ("table", (header, rows))], {})


@checked
def tune(
    config: Config | None = None,
    *,
    resume: str | os.PathLike | None = None,
    max_trials: int | None = None,
    overrides: Overrides = None,
    runs_dir: str | os.PathLike = "runs",
    confirm: int | None = None,
    workers: int | None = None,
    chief: str | None = None,
    wait: float | None = None,
    progress: bool | Progress = True,
) -> Search:
    """Search the values of a config's `search:` section with Keras Tuner; each trial trains the
    config with its values set, as `train` would, and is judged on the validation split. Or, with
    `resume` (a `tune-…` folder), continue a stopped search without running a finished trial again.

    `workers=N` runs the trials in N processes on this machine, each on its share of the cores.
    `chief="HOST:PORT"` serves the search to workers on other machines (`tune_worker`) and
    trains nothing here; it waits `wait` seconds (600) for the first. A worker that dies has its
    trial run again by another; the search fails with a message when every worker is gone.

    `confirm=T` then retrains the T best trials with 3 seeds each, as `cnnlab train` would (on
    the full training split: the search's `data.limit` is dropped), and compares the groups
    (`Search.confirmed`): whether the winner is distinguishable from the runner-up on the test
    split across seeds.

    >>> import cnnlab
    >>> search = cnnlab.tune("configs/mnist_search.yaml", max_trials=4)  # doctest: +SKIP
    >>> search.best["score"], search.best_config["model"]["layers"][0]    # doctest: +SKIP
    >>> cnnlab.tune("configs/mnist_search.yaml", workers=2).trials[0]["worker"]  # doctest: +SKIP
    'w1'
    """
    show = as_progress(progress)
    if workers is not None and chief is not None:
        raise ConfigError(Problem("give workers (this machine) or chief (other machines), not both", key="workers"))
    address = _address(chief, "chief") if chief is not None else None
    resumed = SearchFolder(resume) if resume is not None else None
    if resumed is not None and resumed.of_a_worker:
        raise ConfigError.at(
            "resume",
            f"{resumed} is a worker's folder (the logs of the trials it ran), not a search",
            hint="resume the search in its chief's folder (tune-...)",
        )
    cfg = _search_config(config, resumed, max_trials, overrides)
    _check_one_process_per_trial(cfg)
    start_keras(cfg)
    from cnnlab.engine.tuning import Chief, plan_search, run_search  # imports Keras: after start_keras

    planned = plan_search(cfg)  # every mistake is found before a folder exists
    if resumed:
        resumed.remove_temporaries()
    folder = resumed or SearchFolder(create_run_folder(Path(runs_dir), cfg.name, prefix=SearchFolder.PREFIX))
    folder.save_config(cfg.to_yaml())
    search = cfg.search
    spread = f", {workers} worker processes" if workers else f", serving workers at {chief}" if chief else ""
    show.say(
        f"{'resuming' if resumed else 'searching'} {cfg.name}: {search.algorithm}, at most {search.max_trials} "
        f"trials, {'maximising' if objective_direction(cfg) == 'max' else 'minimising'} {search.objective}{spread} "
        f"-> {folder}"
    )
    waits = {"first_worker": wait} if wait is not None else {}
    if workers:
        with LocalWorkers(folder, workers) as team:
            role = Chief("127.0.0.1:0", on_ready=team.start, ended=team.ended, gather=workers, **waits)
            try:
                found = run_search(planned, folder, notify=show.note, role=role)
            except RunError as error:
                raise RunError(f"{error} (each worker's lines: {folder.path / folder.WORKERS})") from None
    elif chief:
        found = run_search(planned, folder, notify=show.note, role=Chief(address, **waits))
    else:
        with show.training() as callbacks:
            found = run_search(planned, folder, callbacks=callbacks, notify=show.note)
    search = Search(folder, cfg, found["rows"], found["best"], found["maximise"])
    return search if confirm is None else replace(search, confirmed=_confirm(search, confirm, Path(runs_dir), show))


@checked
def tune_worker(
    config: Config | None = None,
    *,
    chief: str,
    resume: str | os.PathLike | None = None,
    name: str | None = None,
    overrides: Overrides = None,
    runs_dir: str | os.PathLike = "runs",
    wait: float | None = None,
    progress: bool | Progress = True,
) -> list[str]:
    """Run trials of the search served at `chief` (HOST:PORT, `tune(chief=...)`) until it has no
    more; the ids of the trials run here. The config must be the chief's; the trials' TensorBoard
    logs go to a folder of this machine's `runs_dir` (or to `resume`, the chief's folder on a
    shared disk). Waits `wait` seconds (120) for the chief, then fails with a message.

    >>> import cnnlab
    >>> cnnlab.tune_worker("configs/mnist_search.yaml", chief="node01:8470")  # doctest: +SKIP
    ['0', '2', '5']
    """
    show = as_progress(progress)
    address = _address(chief, "chief")
    resumed = SearchFolder(resume) if resume is not None else None
    cfg = _search_config(config, resumed, None, overrides)
    _check_one_process_per_trial(cfg)
    start_keras(cfg)
    from cnnlab.engine.search_worker import WAIT_SECONDS
    from cnnlab.engine.tuning import Worker, plan_search, run_search  # imports Keras: after start_keras

    planned = plan_search(cfg)
    # the chief's folder (resume) is written by others at the same time: nothing is cleaned or rewritten here
    folder = resumed or SearchFolder(create_run_folder(Path(runs_dir), cfg.name, prefix=SearchFolder.WORKER_PREFIX))
    if not resumed:
        folder.save_config(cfg.to_yaml())
    name = name or f"{socket.gethostname()}-{os.getpid()}"
    show.say(f"worker {name} of the search at {address} -> {folder}")
    with show.training() as callbacks:
        role = Worker(address, name, WAIT_SECONDS if wait is None else wait)
        ran = run_search(planned, folder, callbacks=callbacks, notify=show.note, role=role)["trials"]
    show.say(f"worker {name}: the chief has no more trials; this worker ran {len(ran)}: {', '.join(ran) or 'none'}")
    return ran


def _check_one_process_per_trial(cfg: LocatedConfig) -> None:
    if cfg.runtime.distribute == "data_parallel":
        raise ConfigError(
            cfg.problem(
                ("runtime", "distribute"),
                "a search runs each trial in one process "
                f"(spread the trials instead: {next_step('--workers N', 'workers=N')})",
                "set distribute: none",
            )
        )


def _address(address: str, key: str) -> str:
    """HOST:PORT, checked."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            Problem(f"{address!r} is not HOST:PORT with a port from 1 to 65535", key=key, hint="such as 127.0.0.1:8470")
        )
    return address


def _confirm(search: Search, top: int, runs_dir: Path, show: Progress) -> GroupComparison:
    """The `top` best trials, each trained with 3 seeds into a group, compared across seeds."""
    ranked = search.ranked()[:top]
    if len(ranked) < 2:
        raise ConfigError(
            Problem("--confirm compares the best trials: this search finished fewer than 2", key="confirm")
        )
    show.say(f"\nconfirming the best {len(ranked)} trials with 3 seeds each, on the full training split")
    groups = []
    for place, row in enumerate(ranked, 1):
        cfg = trial_config(search.config, row, f"{search.config.name}-trial{row['trial']}", full_data=True)
        show.say(
            f"\n[{place} of {len(ranked)}] trial {row['trial']} ({search.config.search.objective} {row['score']:.4f})"
        )
        groups.append(train_group(cfg, [cfg.seed + i for i in range(3)], runs_dir, show))
    comparison = compare(groups)
    winner, runner_up = (f"{search.config.name}-trial{row['trial']}" for row in ranked[:2])
    pair = next(p for p in comparison.pairs if {p.a, p.b} == {winner, runner_up})
    show.say(
        f"\nthe winner (trial {ranked[0]['trial']}) against the runner-up (trial {ranked[1]['trial']}): "
        + verdict(pair, "accuracy")
    )
    return comparison


def _search_config(config: Config | None, resumed: SearchFolder | None, max_trials, overrides) -> LocatedConfig:
    if (config is None) == (resumed is None):
        key = "config" if config is None else "resume"
        raise ConfigError.at(key, "give a config to search, or a search folder to resume (not both)")
    if resumed and overrides:
        raise ConfigError.at(
            "overrides", "they change what the trials so far were scored on", hint="start a new search"
        )
    more = {"search.max_trials": max_trials} if max_trials else {}
    if resumed is None:
        if isinstance(overrides, dict) or overrides is None:
            return resolve(config, {**(overrides or {}), **more})
        return resolve(config, [*overrides, *(f"{k}={v}" for k, v in more.items())])
    if not resumed.config_file.is_file():
        raise ConfigError.at("resume", f"{resumed} is not a search folder (it has no {resumed.CONFIG})")
    cfg = load_config(resumed.config_file, more)
    if cfg.search is None:
        raise ConfigError.at(
            "--resume", f"{resumed} is a training run, not a search folder (its config has no search:)"
        )
    return cfg
