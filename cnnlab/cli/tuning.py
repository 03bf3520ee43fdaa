"""`cnnlab tune`: a Keras Tuner search over a config's `search:` section."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.cli.app import cli, console, progress, runs_dir_option, set_option

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
def tune(
    config_path: Path | None,
    overrides: tuple[str, ...],
    max_trials: int | None,
    runs_dir: Path,
    resume: Path | None,
    confirm: int | None,
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

    \b
    Examples:
      cnnlab tune configs/mnist_search.yaml --set data.limit=5000 --set train.epochs=2
      cnnlab tune --resume runs/mnist_search/tune-20261122-101500
      cnnlab tune configs/mnist_search.yaml --confirm 2   # then the best 2, 3 seeds each
      cnnlab train runs/mnist_search/tune-20261122-101500/best.yaml
    """
    if (config_path is None) == (resume is None):
        raise click.UsageError("give a CONFIG to search, or --resume DIR (not both)")
    if resume and overrides:
        raise click.UsageError("--set changes what the trials so far were scored on: start a new search instead")
    import cnnlab.api as api

    search = api.tune(
        config_path,
        resume=resume,
        max_trials=max_trials,
        overrides=list(overrides),
        runs_dir=runs_dir,
        confirm=confirm,
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
    for column in ("trial", *map(label, keys), *scored, "epochs", "seconds"):
        table.add_column(column, justify="left" if column == "trial" else "right", overflow="fold")
    for row in rows[:_SHOWN]:
        values = [f"{row[k]:.4g}" if isinstance(row[k], float) else str(row[k]) for k in keys]
        scores = [
            f"{row['score']:.4f}",
            *([f"{row['sd']:.4f}" if row["sd"] is not None else "-"] if repeats > 1 else []),
        ]
        table.add_row(row["trial"], *values, *scores, str(row["epochs"]), str(row["seconds"]))
    out.print(table)
    failed = len(search.trials) - search.finished
    folder, best = search.folder, search.best
    if failed:
        out.print(f"{failed} trial(s) did not complete: see {folder.file(folder.TRIALS_MD)}", markup=False)
    spread = f" ± {best['sd']:.4f} over {repeats} seeds" if best.get("sd") is not None else ""
    out.print(f"best: trial {best['trial']}, {cfg.search.objective} {best['score']:.4f}{spread}", markup=False)
    out.print(f"trials: {folder.file(folder.TRIALS_MD)}", markup=False)
    out.print(f"TensorBoard: tensorboard --logdir {folder.tensorboard}", markup=False)
    out.print(f"train the winner: cnnlab train {folder.file(folder.BEST)}", markup=False)
