"""`cnnlab tune`: a Keras Tuner search over a config's `search:` section."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.cli.app import cli, console, progress, runs_dir_option, set_option
from cnnlab.errors import ConfigError
from cnnlab.hints import program

_SHOWN = 10  # trials in the closing table


@cli.command(short_help="Search a config's hyperparameters with Keras Tuner.")
@click.argument("config_path", metavar="[CONFIG]", required=False, type=click.Path(path_type=Path))
@set_option
@click.option("--max-trials", type=click.IntRange(min=1), help="Override search.max_trials.")
@runs_dir_option
@click.option(
    "--resume",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Continue a stopped search (its tune-... folder); finished trials are not run again.",
)
@click.option(
    "--confirm",
    type=click.IntRange(min=2),
    metavar="T",
    help="Then retrain the T best trials with 3 seeds each (full training split) and say whether "
    "the winner beats the runner-up across seeds.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    metavar="N",
    help="Run the trials in N processes on this machine, each on its share of the cores.",
)
@click.option(
    "--chief",
    metavar="HOST:PORT",
    help="Serve this search to workers on other machines (--worker-of) at HOST:PORT; train nothing here.",
)
@click.option(
    "--worker-of",
    metavar="HOST:PORT",
    help="Run trials for the search served at HOST:PORT (by --chief) until it has no more.",
)
@click.option("--slurm", is_flag=True, help="In a SLURM job (srun): task 0 is the chief, every other task a worker.")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="How long a worker waits for its chief (120), or a chief for its first worker (600).",
)
@click.option(
    "--worker-name", hidden=True, help="The name a worker gives itself (tune --workers names them w1, w2...)."
)
def tune(
    config_path: Path | None,
    overrides: tuple[str, ...],
    max_trials: int | None,
    runs_dir: Path,
    resume: Path | None,
    confirm: int | None,
    workers: int | None,
    chief: str | None,
    worker_of: str | None,
    slurm: bool,
    wait: float | None,
    worker_name: str | None,
) -> None:
    """Search the values in CONFIG's search: section with Keras Tuner; each trial trains the
    config with its values set, as cnnlab train would, and is judged on the validation split.

    \b
    search:
      algorithm: random          # random | hyperband | bayesian
      max_trials: 8
      objective: val_accuracy    # any logged metric; losses and errors are minimised
      space:                     # dotted config keys, as --set takes them
        model.layers.4.Dense.units: [64, 128, 256]
        model.layers.3.Dropout.rate: {uniform: [0.0, 0.5]}
        model.layers.0.Conv2D.filters: {int: [16, 64], step: 16}
        train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}

    Writes runs/<name>/tune-<stamp>/: trials.csv and trials.md (one row per trial), a
    TensorBoard folder per trial with its HParams, and best.yaml, the winning config, which
    cnnlab train runs as it is. Ctrl-C stops the search; --resume continues it.

    Spread over processes, the trials share one Keras Tuner oracle: --workers N on this machine,
    or --chief HOST:PORT here and --worker-of HOST:PORT (same CONFIG) on other machines. A worker
    that dies has its trial run again by another; trials.csv says which worker ran each.

    \b
    Examples:
      cnnlab tune configs/mnist_search.yaml --set data.limit=5000 --set train.epochs=2
      cnnlab tune --resume runs/mnist_search/tune-20261122-101500
      cnnlab tune configs/mnist_search.yaml --confirm 2   # then the best 2, 3 seeds each
      cnnlab tune configs/mnist_search.yaml --workers 2
      cnnlab tune configs/mnist_search.yaml --chief 0.0.0.0:8470        # on node01
      cnnlab tune configs/mnist_search.yaml --worker-of node01:8470     # on each other node
      cnnlab train runs/mnist_search/tune-20261122-101500/best.yaml
    """
    if (config_path is None) == (resume is None):
        raise click.UsageError("give a CONFIG to search, or --resume DIR (not both)")
    if resume and overrides:
        raise click.UsageError("--set changes what the trials so far were scored on: start a new search instead")
    spread = [flag for flag, given in (("--workers", workers), ("--chief", chief), ("--worker-of", worker_of)) if given]
    if len(spread) + slurm > 1:
        raise click.UsageError(f"give one of --workers, --chief, --worker-of and --slurm, not {' and '.join(spread)}")
    if slurm:
        from cnnlab.runtime.slurm import search_role

        role, address, worker_name = search_role()
        chief, worker_of = (address, None) if role == "chief" else (None, address)
    if worker_of and (confirm or max_trials):
        raise click.UsageError("--confirm and --max-trials belong to the chief, not to a worker")
    import cnnlab.api as api

    if worker_of:
        try:
            api.tune_worker(
                config_path,
                chief=worker_of,
                resume=resume,
                name=worker_name,
                overrides=list(overrides),
                runs_dir=runs_dir,
                wait=wait,
                progress=progress(),
            )
        except ConfigError as error:  # the API's chief= is this command's --worker-of
            raise error.keyed("chief", "--worker-of") from None
        return
    search = api.tune(
        config_path,
        resume=resume,
        max_trials=max_trials,
        overrides=list(overrides),
        runs_dir=runs_dir,
        confirm=confirm,
        workers=workers,
        chief=chief,
        wait=wait,
        progress=progress(),
    )
    _print_summary(console(), search)
    if search.confirmed is not None:
        from cnnlab.cli.results import show_groups

        show_groups(console(), search.confirmed, "accuracy")


def _print_summary(out, search) -> None:
    """The best trials in one table, then where the results are and what to run next."""
    from rich.table import Table

    from cnnlab.reporting.trials import label

    cfg = search.config
    rows = [row for row in search.trials if row["score"] is not None]
    rows.sort(key=lambda row: -row["score"] if search.maximise else row["score"])
    keys = list(cfg.search.space)
    table = Table(title=f"best trials of {len(search.trials)} ({cfg.search.objective})", title_justify="left")
    repeats = cfg.search.repeats
    scored = [f"{cfg.search.objective} (mean of {repeats})", "sd"] if repeats > 1 else [cfg.search.objective]
    workers = any(row.get("worker") for row in rows)
    for column in ("trial", *map(label, keys), *scored, "epochs", "seconds", *(["worker"] if workers else [])):
        table.add_column(column, justify="left" if column == "trial" else "right", overflow="fold")
    for row in rows[:_SHOWN]:
        values = [f"{row[k]:.4g}" if isinstance(row[k], float) else str(row[k]) for k in keys]
        scores = [
            f"{row['score']:.4f}",
            *([f"{row['sd']:.4f}" if row["sd"] is not None else "-"] if repeats > 1 else []),
        ]
        more = [str(row.get("worker") or "-")] if workers else []
        table.add_row(row["trial"], *values, *scores, str(row["epochs"] or "-"), str(row["seconds"] or "-"), *more)
    out.print(table)
    failed = len(search.trials) - search.finished
    folder, best = search.folder, search.best
    if failed:
        out.print(f"{failed} trial(s) did not complete: see {folder.file(folder.TRIALS_MD)}", markup=False)
    spread = f" ± {best['sd']:.4f} over {repeats} seeds" if best.get("sd") is not None else ""
    out.print(f"best: trial {best['trial']}, {cfg.search.objective} {best['score']:.4f}{spread}", markup=False)
    out.print(f"trials: {folder.file(folder.TRIALS_MD)}", markup=False)
    out.print(f"TensorBoard: tensorboard --logdir {folder.tensorboard}", markup=False)
    out.print(f"train the winner: {program()} train {folder.file(folder.BEST)}", markup=False)
