"""`cnnlab train` and `cnnlab data`: making runs, and the data they need."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.cli.app import cli, console, runs_dir_option, set_option, start_keras


@cli.command(short_help="Build, train and evaluate a config into a run folder.")
@click.argument("config_path", metavar="[CONFIG]", required=False, type=click.Path(path_type=Path))
@set_option
@click.option("--name", help="Run name (folder under --runs-dir); default: the config's name.")
@runs_dir_option
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), help="Override runtime.device.")
@click.option(
    "--resume",
    metavar="RUN",
    help="Continue an interrupted run (its folder or its name) from its last completed epoch.",
)
def train(
    config_path: Path | None,
    overrides: tuple[str, ...],
    name: str | None,
    runs_dir: Path,
    device: str | None,
    resume: str | None,
) -> None:
    """Build, train and evaluate CONFIG; write a run folder with checkpoints, logs and a report.

    \b
    Examples:
      cnnlab train configs/mnist_baseline.yaml
      cnnlab train configs/mnist_baseline.yaml --set train.epochs=1 --set data.limit=2000
      cnnlab train --resume mnist_baseline          # after Ctrl-C
    """
    if config_path is None and resume is None:
        raise click.UsageError("give a CONFIG to train, or --resume RUN")
    overrides = (*overrides, *([f"name={name}"] if name else []), *([f"runtime.device={device}"] if device else []))
    start_keras()
    from cnnlab.config import load_config
    from cnnlab.runs import create_run_folder, save_config
    from cnnlab.train import plan

    if resume:
        run, cfg = _resumable(resume, config_path, list(overrides), runs_dir)
    else:
        cfg = load_config(config_path, list(overrides))
    planned = plan(cfg)  # config mistakes stop here, before a run folder exists
    if not resume:
        run = create_run_folder(runs_dir, cfg.name)
    save_config(run, cfg.to_yaml())
    out = console()
    out.print(f"{'resuming' if resume else 'training'} {cfg.name} -> {run}", markup=False)
    manifest = _fit_with_progress(planned, run, bool(resume), out)
    _print_outcome(out, run, manifest)


def _resumable(target: str, config_path: Path | None, overrides: list[str], runs_dir: Path):
    """The run folder and its config for --resume; the model, the data and the seed must not change."""
    import difflib

    import yaml

    from cnnlab.config import load_config
    from cnnlab.errors import ConfigError, Problem
    from cnnlab.runs import RUN_CONFIG, Manifest, ensure_not_running, find_run

    run = find_run(target, runs_dir)
    ensure_not_running(run)
    if Manifest(run).data.get("status") == "completed":
        raise ConfigError(f"{run}: this run already completed all its epochs — nothing to resume")
    saved = load_config(run / RUN_CONFIG)
    cfg = load_config(config_path or run / RUN_CONFIG, overrides)
    # The model and everything that decides which examples go where (the seed draws the
    # validation split and the shuffles) must stay as the finished epochs had them.
    for section in ("model", "data", "seed"):
        before = yaml.safe_dump(saved.model_dump(mode="json")[section], sort_keys=False).splitlines()
        after = yaml.safe_dump(cfg.model_dump(mode="json")[section], sort_keys=False).splitlines()
        if before != after:
            diff = "\n".join(
                difflib.unified_diff(before, after, f"{run / RUN_CONFIG}", str(config_path or "--set"), lineterm="")
            )
            raise ConfigError(
                Problem(
                    f"cannot resume: the {section} {'value' if section == 'seed' else 'section'} "
                    f"differs from the run's\n{diff}",
                    hint="train a new run instead, without --resume",
                )
            )
    return run, cfg


def _fit_with_progress(planned, run: Path, resume: bool, out) -> dict:
    import signal

    from cnnlab.cli.display import progress_callback
    from cnnlab.train import train as train_run

    def stop(signum, frame):  # SIGTERM stops like Ctrl-C: cleanly, resumable
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    progress = progress_callback(out)
    try:
        return train_run(
            planned,
            run,
            resume=resume,
            callbacks=[progress],
            notify=lambda text: out.print(text, style="dim", markup=False),
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
        if hasattr(progress, "progress"):
            progress.progress.stop()


def _print_outcome(out, run: Path, manifest: dict) -> None:
    test, timing = manifest.get("test", {}), manifest.get("timing", {})
    scores = "  ".join(f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, float) and k not in ("best_epoch",))
    out.print(
        f"test ({test.get('checkpoint')} from epoch {test.get('best_epoch')}, "
        f"{test.get('examples')} examples): {scores}",
        markup=False,
    )
    out.print(
        f"trained {manifest.get('epochs_completed')} epochs in {timing.get('train_seconds')} s "
        f"({timing.get('images_per_second')} images/s); report: {run / 'report.md'}",
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
    start_keras()  # its download is one of the sources
    from cnnlab.data.builtin import load_builtin

    out = console()
    arrays = load_builtin(name, data_path, notify=lambda text: out.print(text, markup=False))
    out.print(
        f"{name}: {len(arrays.x_train):,} training and {len(arrays.x_test):,} test images "
        f"{'x'.join(map(str, arrays.x_train.shape[1:]))}, verified ({arrays.origin})",
        markup=False,
    )
