"""`cnnlab train` and `cnnlab data`: making runs, and the data they need.

cnnlab's own modules are imported inside the commands (see `cli/__init__.py`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from cnnlab.cli.app import cli, console, runs_dir_option, set_option, show_error
from cnnlab.cli.configs import check_configs
from cnnlab.errors import CnnlabError, ConfigError, Interrupted


@cli.command(short_help="Build, train and evaluate configs into run folders.")
@click.argument("config_paths", metavar="[CONFIG]...", nargs=-1, type=click.Path(path_type=Path))
@set_option
@click.option("--name", help="Run name (folder under --runs-dir); default: the config's name.")
@runs_dir_option
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), help="Override runtime.device.")
@click.option(
    "--resume",
    metavar="RUN",
    help="Continue an interrupted run (its folder or its name) from its last completed epoch.",
)
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
      cnnlab train --resume mnist_baseline          # after Ctrl-C

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
    flags = {"name": name, "runtime.device": device, "runtime.coordinator": coordinator}
    flags |= {"runtime.num_processes": num_processes, "runtime.process_id": process_id}
    overrides = (*overrides, *(f"{key}={value}" for key, value in flags.items() if value is not None))
    if len(config_paths) > 1:
        _train_several(config_paths, list(overrides), runs_dir)
        return
    from cnnlab.config import load_config
    from cnnlab.engine.resume import resumable
    from cnnlab.runs.folder import RunFolder
    from cnnlab.runs.lookup import create_run_folder
    from cnnlab.runtime.startup import start_keras

    config_path = config_paths[0] if config_paths else None
    if resume:
        run, cfg = resumable(resume, config_path, list(overrides), runs_dir)
    else:
        run, cfg = None, load_config(config_path, list(overrides))
    start_keras(cfg)
    from cnnlab.engine.plan import plan  # imports Keras: only once start_keras chose its backend

    planned = plan(cfg)  # config mistakes stop here, before a run folder exists
    out = console()
    with _leaving_when_a_peer_is_lost():
        if planned.strategy.process > 0:
            _follow(out, planned, run)
        run = run or RunFolder(create_run_folder(runs_dir, cfg.name))
        _print_outcome(out, run, _train_with_progress(out, planned, run, bool(resume)))


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


def _follow(out, planned, resumed) -> None:
    """A data_parallel process other than process 0: train in step with it, write nothing,
    and exit with process 0's status once it has evaluated the run and written the report."""
    from cnnlab.engine.training import follow

    strategy = planned.strategy
    out.print(f"process {strategy.process} of {strategy.processes}: training with process 0, which writes the run")
    followed = follow(planned, resumed, notify=lambda text: out.print(text, style="dim", markup=False))
    out.print(f"trained; weights sha256 {followed.weights_sha256} (process 0's manifest: the same)", markup=False)
    out.print(f"process 0 finished with exit status {followed.status}", markup=False)
    sys.exit(followed.status)


def _train_with_progress(out, planned, run, resume: bool) -> dict:
    """Train a planned config into `run` with the progress display and Ctrl-C handling."""
    from cnnlab.cli.display import training_callbacks
    from cnnlab.engine.training import train

    out.print(f"{'resuming' if resume else 'training'} {planned.cfg.name} -> {run}", markup=False)
    with training_callbacks(out) as callbacks:
        return train(
            planned,
            run,
            resume=resume,
            callbacks=callbacks,
            notify=lambda text: out.print(text, style="dim", markup=False),
        )


def _train_several(paths: tuple[Path, ...], overrides: list[str], runs_dir: Path) -> None:
    """Check every config, then train them in turn; a table of the outcomes at the end."""
    from cnnlab.config import load_config
    from cnnlab.runs.folder import RunFolder
    from cnnlab.runs.lookup import create_run_folder
    from cnnlab.runtime.startup import start_keras

    out, errors = console(), console(stderr=True)
    debug = (click.get_current_context().obj or {}).get("debug")
    start_keras(*_readable(paths, overrides))
    import keras  # started above, on the configs' backend

    from cnnlab.engine.plan import plan

    if check_configs(paths, overrides):  # every config is checked before the first epoch of any
        errors.print("nothing was trained", markup=False)
        sys.exit(2)
    outcomes: list[tuple[Path, object, dict | str]] = []
    for index, path in enumerate(paths):
        out.print(f"\n[{index + 1}/{len(paths)}] {path}", markup=False)
        run = None
        try:
            # Planned again right before training: the seed and the device are set for this
            # config alone, so a run trains exactly as it would by itself.
            planned = plan(load_config(path, overrides))
            run = RunFolder(create_run_folder(runs_dir, planned.cfg.name))
            manifest = _train_with_progress(out, planned, run, False)
            _print_outcome(out, run, manifest)
            outcomes.append((path, run, manifest))
        except Interrupted as error:
            show_error(error, errors)
            outcomes.append((path, run, "interrupted"))
            outcomes += [(rest, None, "not started") for rest in paths[index + 1 :]]
            break
        except Exception as error:  # one run's failure, even a bug, must not stop the rest
            if debug:
                raise
            show_error(
                error if isinstance(error, CnnlabError) else CnnlabError(f"{type(error).__name__}: {error}"), errors
            )
            outcomes.append((path, run, "failed"))
        finally:
            keras.backend.clear_session()  # the next run starts with a fresh Keras state
    out.print(runs_table(outcomes))
    statuses = [manifest if isinstance(manifest, str) else "completed" for _, _, manifest in outcomes]
    if "interrupted" in statuses:
        sys.exit(130)
    if any(status != "completed" for status in statuses):
        sys.exit(1)


def _readable(paths: tuple[Path, ...], overrides: list[str]) -> list:
    """The configs that load (check_configs reports the others, all together); several
    configs train in one process, so data_parallel (one set of processes per run) is refused."""
    from cnnlab.config import load_config

    configs = []
    for path in paths:
        try:
            configs.append(load_config(path, overrides))
        except CnnlabError:
            continue
        if configs[-1].runtime.distribute == "data_parallel":
            raise ConfigError(
                configs[-1].problem(
                    ("runtime", "distribute"),
                    "data_parallel trains one config per command",
                    "train this config in a command of its own",
                )
            )
    return configs


def runs_table(outcomes: list[tuple[Path, object, dict | str]]):
    """One row per config of a several-config `train`: its run, how it ended and its scores."""
    from rich.table import Table

    table = Table(title="runs", title_justify="left")
    for column in ("config", "run", "status", "test accuracy", "test loss", "epochs", "train s"):
        numeric = column in ("test accuracy", "test loss", "epochs", "train s")
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")  # paths whole
    for path, run, manifest in outcomes:
        if isinstance(manifest, str):
            table.add_row(str(path), str(run or "-"), manifest, "-", "-", "-", "-")
            continue
        test, timing = manifest.get("test", {}), manifest.get("timing", {})
        table.add_row(
            str(path),
            str(run),
            manifest.get("status", "?"),
            _number(test.get("accuracy"), 4),
            _number(test.get("loss"), 4),
            str(manifest.get("epochs_completed", "-")),
            _number(timing.get("train_seconds"), 1),
        )
    return table


def _number(value, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"


def _print_outcome(out, run, manifest: dict) -> None:
    test, timing = manifest.get("test", {}), manifest.get("timing", {})
    scores = "  ".join(f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, float) and k not in ("best_epoch",))
    out.print(
        f"test ({test.get('checkpoint')} from epoch {test.get('best_epoch')}, "
        f"{test.get('examples')} examples): {scores}",
        markup=False,
    )
    out.print(
        f"trained {manifest.get('epochs_completed')} epochs in {timing.get('train_seconds')} s "
        f"({timing.get('images_per_second')} images/s); report: {run.report}",
        markup=False,
    )


@cli.group(short_help="List or fetch the built-in data sets.")
def data() -> None:
    """List the built-in data sets, or fetch and verify one ahead of training."""


@data.command("list")
def data_list() -> None:
    """Name, shape, classes, and where each data set would come from."""
    from rich.table import Table

    from cnnlab.data.builtin import PINNED, fetch_plan, keras_cache, locate
    from cnnlab.data.registry import BUILTIN

    table = Table(title_justify="left")
    for column in ("Name", "Shape", "Classes", "Source", "Cached"):
        table.add_column(column)
    cache = keras_cache()
    for name, info in BUILTIN.items():
        found = locate(name) if name in PINNED else None
        source = f"{found[0]}: {found[1]}" if found else f"not here; would try {fetch_plan(name)}"
        cached = "yes" if found and found[1].is_relative_to(cache) else "no"
        table.add_row(name, "x".join(map(str, info.input_shape)), str(info.num_classes), source, cached)
    table.add_row("synthetic", "any (data.synthetic)", "any", "generated from the seed", "-")
    table.add_row("image_folder", "data.image_size", "sub-folders", "data.path", "-")
    console().print(table)


@data.command("fetch")
@click.argument("name", type=click.Choice(["mnist", "fashion_mnist", "cifar10", "cifar100"]))
@click.option("--path", "data_path", help="A folder or file holding the data set's files.")
def data_fetch(name: str, data_path: str | None) -> None:
    """Find or download NAME, verify every file's SHA-256, and keep it in Keras' cache."""
    from cnnlab.runtime.startup import start_keras

    start_keras()  # its download is one of the sources
    from cnnlab.data.builtin import load_builtin

    out = console()
    arrays = load_builtin(name, data_path, notify=lambda text: out.print(text, markup=False))
    out.print(
        f"{name}: {len(arrays.x_train):,} training and {len(arrays.x_test):,} test images "
        f"{'x'.join(map(str, arrays.x_train.shape[1:]))}, verified ({arrays.origin})",
        markup=False,
    )
