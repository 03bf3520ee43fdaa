"""The `cnnlab` command: the only module that prints, and where errors become exit codes.

Heavy imports (TensorFlow, Keras, pydantic) happen inside the commands that need them, so
`cnnlab --help` answers at once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cnnlab import __version__
from cnnlab.errors import CnnlabError

SET_HELP = "Override a config key, e.g. --set train.epochs=2 --set model.layers.4.Dense.units=256."
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
runs_dir_option = click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path),
                               default=Path("runs"), show_default=True,
                               help="Folder that holds the run folders.")


def console(stderr: bool = False):
    from rich.console import Console

    out = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not out.is_terminal:
        out.width = max(out.width, 120)  # tables in logs and files need not wrap at 80
    return out


def start_keras() -> None:
    from cnnlab.backend import start

    start()


class CnnlabGroup(click.Group):
    """Turns a `CnnlabError` into its located message and exit code (no traceback)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CnnlabError as error:
            if (ctx.obj or {}).get("debug"):
                raise
            show_error(error)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            console(stderr=True).print("interrupted", style="yellow")
            ctx.exit(130)


def show_error(error: CnnlabError, out=None) -> None:
    out = out or console(stderr=True)
    for problem in error.problems:
        out.print(f"error: {problem}", style="red", markup=False, soft_wrap=True)


@click.group(cls=CnnlabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cnnlab")
@click.option("--debug", is_flag=True, help="Show Python tracebacks instead of short messages.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Turn a YAML file into a trained, evaluated and explained Keras CNN.

    \b
    Start here:
      cnnlab train configs/mnist_baseline.yaml     build, train, evaluate, report
      cnnlab summary configs/mnist_baseline.yaml   layers, shapes, parameters
      cnnlab check configs/*.yaml                  validate configs without training
    """
    ctx.obj = {"debug": debug}


@cli.command()
@click.argument("config_path", metavar="[CONFIG]", required=False, type=click.Path(path_type=Path))
@set_option
@click.option("--name", help="Run name (folder under --runs-dir); default: the config's name.")
@runs_dir_option
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), help="Override runtime.device.")
@click.option("--resume", metavar="RUN", help="Continue an interrupted run (its folder or its name) "
              "from its last completed epoch.")
def train(config_path: Path | None, overrides: tuple[str, ...], name: str | None, runs_dir: Path,
          device: str | None, resume: str | None) -> None:
    """Build, train and evaluate CONFIG; write a run folder with checkpoints, logs and a report.

    \b
    Examples:
      cnnlab train configs/mnist_baseline.yaml
      cnnlab train configs/mnist_baseline.yaml --set train.epochs=1 --set data.limit=2000
      cnnlab train --resume mnist_baseline          # after Ctrl-C
    """
    if config_path is None and resume is None:
        raise click.UsageError("give a CONFIG to train, or --resume RUN")
    overrides = (*overrides, *([f"name={name}"] if name else []),
                 *([f"runtime.device={device}"] if device else []))
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
    """The run folder and its config for --resume; the architecture and data must not change."""
    import difflib

    import yaml

    from cnnlab.config import load_config
    from cnnlab.errors import ConfigError, Problem
    from cnnlab.runs import RUN_CONFIG, Manifest, find_run

    run = find_run(target, runs_dir)
    if Manifest(run).data.get("status") == "completed":
        raise ConfigError(f"{run}: this run already completed all its epochs — nothing to resume")
    saved = load_config(run / RUN_CONFIG)
    cfg = load_config(config_path or run / RUN_CONFIG, overrides)
    for section in ("model", "data"):
        before = yaml.safe_dump(saved.model_dump(mode="json")[section], sort_keys=False).splitlines()
        after = yaml.safe_dump(cfg.model_dump(mode="json")[section], sort_keys=False).splitlines()
        if before != after:
            diff = "\n".join(difflib.unified_diff(before, after, f"{run / RUN_CONFIG}",
                                                   str(config_path or "--set"), lineterm=""))
            raise ConfigError(Problem(f"cannot resume: the {section} section differs from the run's\n{diff}",
                                      hint="train a new run instead, without --resume"))
    return run, cfg


def _fit_with_progress(planned, run: Path, resume: bool, out) -> dict:
    import signal

    from cnnlab.display import progress_callback
    from cnnlab.train import train as train_run

    def stop(signum, frame):  # SIGTERM stops like Ctrl-C: cleanly, resumable
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    progress = progress_callback(out)
    try:
        return train_run(planned, run, resume=resume, callbacks=[progress],
                         notify=lambda text: out.print(text, style="dim", markup=False))
    finally:
        signal.signal(signal.SIGTERM, previous)
        if hasattr(progress, "progress"):
            progress.progress.stop()


def _print_outcome(out, run: Path, manifest: dict) -> None:
    test, timing = manifest.get("test", {}), manifest.get("timing", {})
    scores = "  ".join(f"{k} {v:.4f}" for k, v in test.items()
                       if isinstance(v, float) and k not in ("best_epoch",))
    out.print(f"test ({test.get('checkpoint')} from epoch {test.get('best_epoch')}, "
              f"{test.get('examples')} examples): {scores}", markup=False)
    out.print(f"trained {manifest.get('epochs_completed')} epochs in {timing.get('train_seconds')} s "
              f"({timing.get('images_per_second')} images/s); report: {run / 'report.md'}", markup=False)


@cli.command()
@click.argument("run", required=False)
@runs_dir_option
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Which checkpoint to evaluate.")
@click.option("--data", "data", default="test", show_default=True, metavar="SPLIT|PATH",
              help="test, val or train split of the run's data, or another data set's path "
                   "(its test split).")
def evaluate(run: str | None, runs_dir: Path, checkpoint: str, data: str) -> None:
    """Evaluate a run (default: the newest) and rewrite its metrics, predictions and report.

    RUN is a run folder, or a config name for its newest run.
    """
    from cnnlab.runs import find_run

    folder = find_run(run, runs_dir)
    start_keras()
    from cnnlab.evaluate import evaluate_run

    out = console()
    metrics = evaluate_run(folder, checkpoint=checkpoint, data=data,
                           notify=lambda text: out.print(text, style="dim", markup=False))
    out.print(evaluation_table(metrics, title=f"{folder}  ({metrics['checkpoint']}, {metrics['split']} split)"))
    if metrics["split"] == "test":
        out.print(f"report: {folder / 'report.md'} and report.html", markup=False)
    else:
        suffix = Path(metrics["split"]).stem
        out.print(f"wrote {folder / f'metrics_{suffix}.json'} and predictions_{suffix}.npz", markup=False)


def evaluation_table(metrics: dict, title: str):
    """A compact rich summary: Keras metrics, top-k, worst classes, most confused pairs."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for key in ("loss", "accuracy"):
        if key in metrics:
            table.add_row(key, f"{metrics[key]:.4f}")
    for key, value in metrics.items():
        if isinstance(value, float) and key not in ("loss", "accuracy"):
            table.add_row(key, f"{value:.4f}")
    for key, value in metrics.get("top_k_accuracy", {}).items():
        table.add_row(key.replace("_", "-") + " accuracy", f"{value:.4f}")
    table.add_row("correct", f"{metrics['correct']:,} of {metrics['examples']:,}")
    worst = sorted(metrics.get("per_class", []), key=lambda c: c["f1"])[:3]
    if worst:
        table.add_row("lowest F1", ", ".join(f"{c['class']} {c['f1']:.3f}" for c in worst))
    if metrics.get("most_confused"):
        table.add_row("most confused", ", ".join(f"{p['true']}->{p['predicted']} ({p['count']})"
                                                 for p in metrics["most_confused"][:3]))
    return table


@cli.command()
@click.argument("runs", nargs=-1, required=True)
@runs_dir_option
@click.option("--metric", default="accuracy", show_default=True, help="Test metric to sort by.")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path), help="Save the table as CSV.")
@click.option("--markdown", "markdown_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Save the table and the tests as Markdown.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Save the runs' validation curves of --metric on one plot (PNG).")
@click.option("--fail-below", type=float, metavar="VALUE", help="Exit 1 if the best run's metric is below VALUE.")
def compare(runs: tuple[str, ...], runs_dir: Path, metric: str, csv_file, markdown_file, plot_file,
            fail_below: float | None) -> None:
    """Compare runs side by side, with McNemar's exact test for each pair on a shared test set.

    RUNS are run folders or config names (their newest runs). A small p (say < 0.05) means the
    two models' accuracies differ by more than chance on this test set.
    """
    from rich.table import Table

    from cnnlab import compare as comparing
    from cnnlab.runs import read_history
    from cnnlab.fileio import write_atomic
    from cnnlab.report import cell
    from cnnlab.runs import find_run

    rows = comparing.sort_rows([comparing.run_row(find_run(r, runs_dir)) for r in runs], metric)
    tests = comparing.pair_tests(rows)
    out = console()
    table = Table(title=f"runs by test {metric}", title_justify="left")
    for column in comparing.COLUMNS:
        table.add_column(column, justify="left" if column == "run" else "right")
    for row in rows:
        table.add_row(*[cell(v) for v in row.values()])
    out.print(table)
    if tests:
        pairs = Table(title="McNemar's exact test (b: only A right, c: only B right)", title_justify="left")
        for column in ("A", "B", "b", "c", "p"):
            pairs.add_column(column, justify="left" if column in "AB" else "right")
        for test in tests:
            pairs.add_row(test.a, test.b, str(test.only_a_right), str(test.only_b_right), f"{test.p_value:.4g}")
        out.print(pairs)
    if csv_file:
        write_atomic(csv_file, comparing.as_csv(rows))
    if markdown_file:
        write_atomic(markdown_file, comparing.as_markdown(rows, tests))
    if plot_file:
        from cnnlab import plots

        plots.compared_curves({r.label: read_history(r.run / "history.csv") for r in rows}, metric, plot_file)
    best = rows[0].metrics.get(metric)
    if fail_below is not None and (not isinstance(best, (int, float)) or best < fail_below):
        out.print(f"best {metric} {cell(best)} is below {fail_below}", style="red", markup=False)
        sys.exit(1)


@cli.command()
@click.argument("run")
@click.argument("images", nargs=-1, required=True)
@runs_dir_option
@click.option("--top", default=3, show_default=True, help="How many classes to show per image.")
@click.option("--invert", is_flag=True, help="Invert the pixels (dark digits on light paper -> MNIST style).")
@click.option("--convert", is_flag=True, help="Resize and convert images that do not match the model's input.")
@click.option("--json", "as_json", is_flag=True, help="Print the predictions as JSON.")
def predict(run: str, images: tuple[str, ...], runs_dir: Path, top: int, invert: bool, convert: bool,
            as_json: bool) -> None:
    """Classify IMAGES (PNG/JPEG files or folders) with a run's best checkpoint."""
    from cnnlab.runs import find_run

    folder = find_run(run, runs_dir)
    start_keras()
    from cnnlab.predict import predict_images

    results = predict_images(folder, list(images), top=top, convert=convert, invert=invert)
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    out = console()
    for result in results:
        ranked = "  ".join(f"{t['class']} {t['probability']:.3f}" for t in result["top"])
        out.print(f"{result['file']}: {result['predicted']}   ({ranked})", markup=False)


@cli.command()
@click.argument("run", required=False)
@runs_dir_option
@click.option("--image", type=click.Path(dir_okay=False, path_type=Path), help="An image file to look at.")
@click.option("--index", type=int, help="A test example to look at (default 0).")
@click.option("--invert", is_flag=True, help="Invert the image's pixels first.")
@click.option("--convert", is_flag=True, help="Resize and convert an image that does not match the input.")
def visualize(run: str | None, runs_dir: Path, image: Path | None, index: int | None, invert: bool,
              convert: bool) -> None:
    """Draw the first conv layer's filters and the feature maps of one input (filters.png,
    feature_maps.png in the run folder)."""
    if image is not None and index is not None:
        raise click.UsageError("give --image or --index, not both")
    from cnnlab.runs import find_run

    folder = find_run(run, runs_dir)
    start_keras()
    from cnnlab.visualize import visualize as draw

    for path in draw(folder, image=image, index=index, convert=convert, invert=invert):
        console().print(f"wrote {path}", markup=False)


@cli.command()
@click.argument("target", required=False)
@set_option
@runs_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def summary(target: str | None, overrides: tuple[str, ...], runs_dir: Path, as_json: bool) -> None:
    """Per-layer output shapes, parameters, MACs and receptive fields.

    TARGET is a config file or a run folder (or a config name: its newest run); without it,
    the newest run in --runs-dir.
    """
    config_path = _config_of(target, runs_dir)
    start_keras()
    from cnnlab.config import load_config
    from cnnlab.model import build_model
    from cnnlab.summary import summarize

    cfg = load_config(config_path, list(overrides))
    result = summarize(build_model(cfg))
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        console().print(summary_table(result, title=f"{cfg.name}  ({config_path})"))


def _config_of(target: str | None, runs_dir: Path) -> Path:
    if target and Path(target).suffix in (".yaml", ".yml"):
        return Path(target)
    from cnnlab.runs import RUN_CONFIG, find_run

    return find_run(target, runs_dir) / RUN_CONFIG


def summary_table(result, title: str = ""):
    """The rich table for a `ModelSummary`, totals in the footer."""
    from rich.table import Table

    table = Table(title=title, show_footer=True, title_justify="left")
    table.add_column("Layer", footer="Total")
    table.add_column("Type")
    table.add_column("Output shape", footer=f"in {_shape(result.input_shape)}")
    table.add_column("Params", justify="right", footer=f"{result.total_params:,}")
    table.add_column("Trainable", justify="right", footer=f"{result.trainable_params:,}")
    table.add_column("Non-trainable", justify="right", footer=f"{result.non_trainable_params:,}")
    table.add_column("MACs", justify="right", footer=f"{result.total_macs:,}")
    table.add_column("Receptive field", justify="right")
    for row in result.rows:
        field = "x".join(map(str, row.receptive_field)) if row.receptive_field else "-"
        table.add_row(row.name, row.class_name, _shape(row.output_shape[1:]), f"{row.params:,}",
                      f"{row.trainable_params:,}", f"{row.non_trainable_params:,}",
                      f"{row.macs:,}", field)
    table.caption = (f"Total params: {result.total_params:,}   "
                     f"MACs per example: {result.total_macs:,}")
    return table


def _shape(shape) -> str:
    return "x".join(str(d) for d in shape)


@cli.command()
@click.argument("configs", nargs=-1, required=True, type=click.Path(path_type=Path))
@set_option
def check(configs: tuple[Path, ...], overrides: tuple[str, ...]) -> None:
    """Validate configs (schema and model build; no data, no training).

    Exits 0 only if every CONFIG passes.
    """
    start_keras()
    from cnnlab.config import load_config
    from cnnlab.model import build_model

    out, failed = console(), 0
    for path in configs:
        try:
            model = build_model(load_config(path, list(overrides)))
        except CnnlabError as error:
            failed += 1
            out.print(f"FAIL {path}", style="red", markup=False)
            show_error(error, out)
        else:
            out.print(f"OK   {path}  ({model.count_params():,} parameters)", markup=False)
    if len(configs) > 1:
        out.print(f"{len(configs) - failed} of {len(configs)} configs OK")
    if failed:
        sys.exit(2)


@cli.group()
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
    out.print(f"{name}: {len(arrays.x_train):,} training and {len(arrays.x_test):,} test images "
              f"{'x'.join(map(str, arrays.x_train.shape[1:]))}, verified ({arrays.origin})", markup=False)


@cli.group()
def config() -> None:
    """Look at configs after inheritance and overrides."""


@config.command("show")
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@set_option
def config_show(config_path: Path, overrides: tuple[str, ...]) -> None:
    """Print the fully resolved YAML (base: merged, --set applied, defaults filled in)."""
    from cnnlab.config import load_config

    click.echo(load_config(config_path, list(overrides)).to_yaml(), nl=False)


def main() -> None:
    cli(prog_name="cnnlab")
