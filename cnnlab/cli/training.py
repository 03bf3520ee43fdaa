"""`cnnlab train` and `cnnlab data`: making runs, and the data they need.

cnnlab's own modules are imported inside the commands (see `cli/__init__.py`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from cnnlab.cli.app import OVERRIDES_FROM, cli, console, progress, runs_dir_option, set_option, show_error
from cnnlab.errors import Interrupted

# The options this command applies as overrides: a refused value is shown at its option.
FLAG_OF = {
    "name": "--name",
    "train.epochs": "--epochs",
    "runtime.device": "--device",
    "runtime.coordinator": "--coordinator",
    "runtime.num_processes": "--num-processes",
    "runtime.process_id": "--process-id",
}


@cli.command(short_help="Build, train and evaluate configs into run folders.")
@click.argument("config_paths", metavar="[CONFIG]...", nargs=-1, type=click.Path(path_type=Path))
@set_option
@click.option("--name", help="Run name (folder under --runs-dir); default: the config's name.")
@runs_dir_option
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), help="Override runtime.device.")
@click.option(
    "--resume",
    metavar="RUN",
    help="Continue an interrupted run (its folder or its name) from its last completed epoch, or a group.",
)
@click.option(
    "--epochs",
    type=click.IntRange(1),
    help="Override train.epochs; with --resume, continue a completed run up to N epochs.",
)
@click.option(
    "--repeat",
    type=click.IntRange(1),
    metavar="N",
    help="Train N runs with seeds seed, seed+1, ...; a group folder summarises them (mean, sd, 95 % interval).",
)
@click.option("--seeds", callback=lambda _c, _p, v: _seed_list(v), help="As --repeat, with these seeds: 1,2,3.")
@click.option("--coordinator", metavar="HOST:PORT", help="data_parallel: process 0's address (runtime.coordinator).")
@click.option("--num-processes", type=click.IntRange(1), help="data_parallel: how many processes train together.")
@click.option("--process-id", type=click.IntRange(0), help="data_parallel: this process's number; 0 writes the run.")
def train(
    config_paths: tuple[Path, ...],
    overrides: tuple[str, ...],
    name: str | None,
    runs_dir: Path,
    device: str | None,
    resume: str | None,
    epochs: int | None,
    repeat: int | None,
    seeds: list[int] | None,
    coordinator: str | None,
    num_processes: int | None,
    process_id: int | None,
) -> None:
    """Build, train and evaluate each CONFIG; write a run folder with checkpoints, logs and a
    report.

    Several configs train one after another. All are checked first, so a mistake in any of
    them stops the command before anything trains; a run that fails does not stop the ones
    after it; Ctrl-C stops them all (each started run stays resumable). A table of the runs
    ends the command, which exits 0 only if every run completed.

    \b
    Examples:
      cnnlab train configs/mnist_baseline.yaml
      cnnlab train configs/mnist_baseline.yaml --set train.epochs=1 --set data.limit=2000
      cnnlab train configs/mnist_*.yaml --set train.epochs=2
      cnnlab train configs/mnist_fast.yaml --repeat 3   # seeds 42, 43, 44: mean, sd, interval
      cnnlab train --resume mnist_baseline          # after Ctrl-C
      cnnlab train --resume mnist_fast --epochs 4   # a finished run, trained on to 4 epochs

    \b
    On two machines (runtime.distribute: data_parallel), one process on each:
      cnnlab train CONFIG --coordinator HOST0:8476 --num-processes 2 --process-id 0   # on HOST0
      cnnlab train CONFIG --coordinator HOST0:8476 --num-processes 2 --process-id 1   # on the other
    """
    if not config_paths and resume is None:
        raise click.UsageError("give a CONFIG to train, or --resume RUN")
    if len(config_paths) > 1 and (resume or name):
        option = "--resume" if resume else "--name"
        raise click.UsageError(f"{option} takes one run: give one CONFIG with it")
    if resume and (repeat is not None or seeds is not None):
        raise click.UsageError("--resume continues one run; --repeat and --seeds train new ones")
    if repeat is not None and seeds is not None:
        raise click.UsageError("give --repeat N (how many runs) or --seeds (which seeds), not both")
    flags = {"name": name, "train.epochs": epochs, "runtime.device": device, "runtime.coordinator": coordinator}
    flags |= {"runtime.num_processes": num_processes, "runtime.process_id": process_id}
    given = {key: value for key, value in flags.items() if value is not None}
    overrides = [*overrides, *(f"{key}={value}" for key, value in given.items())]
    click.get_current_context().meta[OVERRIDES_FROM] = {key: FLAG_OF[key] for key in given}
    import cnnlab.api as api

    group = {"repeat": repeat, "seeds": seeds}
    if len(config_paths) > 1:
        _train_several(api, config_paths, overrides, runs_dir, group)
        return
    config_path = config_paths[0] if config_paths else None
    with _leaving_when_a_peer_is_lost():
        if resume:
            resumed = api.resume(resume, config_path, overrides=overrides, runs_dir=runs_dir, progress=progress())
            if isinstance(resumed, api.Group):
                _group_ended(resumed)
        elif repeat is not None or seeds is not None:
            _train_group(api, config_path, overrides, runs_dir, group)
        else:
            api.train(config_path, overrides=overrides, runs_dir=runs_dir, progress=progress())


def _seed_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list of whole numbers such as 1,2,3") from None


def _train_group(api, path: Path, overrides: list[str], runs_dir: Path, group: dict) -> None:
    """One config with several seeds: the group folder, and exit 0 only if every run completed."""
    _group_ended(api.train(path, overrides=overrides, runs_dir=runs_dir, progress=progress(), **group))


def _group_ended(group) -> None:
    console().print(f"group: {group.path / 'group.json'}", markup=False, soft_wrap=True)
    if group.status != "completed":
        sys.exit(1)


@contextlib.contextmanager
def _leaving_when_a_peer_is_lost():
    """A data_parallel process whose peer died says so and leaves at once: JAX's own exit
    would wait out the dead peer's heartbeat, then abort. The run's files are complete."""
    from cnnlab.runtime.processes import PeerLost

    try:
        yield
    except PeerLost as error:
        show_error(error)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(error.exit_code)


def _train_several(api, paths: tuple[Path, ...], overrides: list[str], runs_dir: Path, group: dict) -> None:
    """Train every config in turn, all checked first; a table of how each ended."""
    interrupted = False
    try:
        runs = api.train(list(paths), overrides=overrides, runs_dir=runs_dir, progress=progress(), **group)
    except api.ChecksFailed as error:  # each failure was shown under its config
        console(stderr=True).print(error.problems[-1].message, markup=False)
        sys.exit(error.exit_code)
    except Interrupted as error:  # shown under its run
        runs, interrupted = error.runs, True
    statuses = [run.status if run else "failed" for run in runs]
    statuses += ["not started"] * (len(paths) - len(runs))
    console().print(runs_table(list(zip(paths, runs + [None] * len(paths), statuses))))
    if interrupted:
        sys.exit(130)
    if any(status != "completed" for status in statuses):
        sys.exit(1)


def runs_table(outcomes: list[tuple[Path, object, str]]):
    """One row per config of a several-config `train`: its run (or group), how it ended and its
    scores."""
    from rich.table import Table

    from cnnlab.api.groups import Group

    table = Table(title="runs", title_justify="left")
    for column in ("config", "run", "status", "test accuracy", "test loss", "epochs", "train s"):
        numeric = column in ("test accuracy", "test loss", "epochs", "train s")
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")  # paths whole
    for path, run, status in outcomes:
        if status != "completed":
            table.add_row(str(path), str(run.path if run else "-"), status, "-", "-", "-", "-")
            continue
        if isinstance(run, Group):  # --repeat: mean ± sd over its runs
            summary = run.summary
            accuracy, loss = summary["test"].get("accuracy"), summary["test"].get("loss")
            table.add_row(
                str(path),
                str(run.path),
                f"{status} ({summary['completed']} runs)",
                _spread(accuracy, 4),
                _spread(loss, 4),
                "-",
                _spread(summary["train_seconds"], 1),
            )
            continue
        manifest = run.manifest
        test, timing = manifest.get("test", {}), manifest.get("timing", {})
        table.add_row(
            str(path),
            str(run.path),
            status,
            _number(test.get("accuracy"), 4),
            _number(test.get("loss"), 4),
            str(manifest.get("epochs_completed", "-")),
            _number(timing.get("train_seconds"), 1),
        )
    return table


def _spread(score: dict | None, digits: int) -> str:
    if not score or score["mean"] is None:
        return "-"
    sd = "" if score["sd"] is None else f" ± {score['sd']:.{digits}f}"
    return f"{score['mean']:.{digits}f}{sd}"


def _number(value, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"


@cli.group(short_help="List the built-in data sets (data list), or fetch one (data fetch).")
def data() -> None:
    """List the built-in data sets, or fetch and verify one ahead of training."""


@data.command("list")
def data_list() -> None:
    """Name, shape, classes, and where each data set would come from.

    \b
    Example:
      cnnlab data list
    """
    from rich.table import Table

    import cnnlab.api as api

    table = Table(title_justify="left")
    for column in ("Name", "Shape", "Classes", "Source", "Cached"):
        table.add_column(column)
    for row in api.datasets():
        table.add_row(row["name"], row["shape"], row["classes"], row["source"], row["cached"])
    console().print(table)


@data.command("fetch", short_help="Find or download a data set, verify its SHA-256, keep it in the cache.")
@click.argument("name", type=click.Choice(["mnist", "fashion_mnist", "cifar10", "cifar100"]))
@click.option("--path", "data_path", help="A folder or file holding the data set's files.")
def data_fetch(name: str, data_path: str | None) -> None:
    """Find or download NAME, verify every file's SHA-256, and keep it in Keras' cache.

    \b
    Examples:
      cnnlab data fetch mnist
      cnnlab data fetch fashion_mnist --path ~/Downloads/fashion   # files you downloaded
    """
    import cnnlab.api as api

    arrays = api.fetch(name, data_path, progress=progress())
    console().print(
        f"{name}: {len(arrays.x_train):,} training and {len(arrays.x_test):,} test images "
        f"{'x'.join(map(str, arrays.x_train.shape[1:]))}, verified ({arrays.origin})",
        markup=False,
    )
