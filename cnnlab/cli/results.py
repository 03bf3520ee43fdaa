"""`cnnlab evaluate`, `compare`, `predict` and `visualize`: looking at finished runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cnnlab.cli.app import cli, console, progress, runs_dir_option


@cli.command(short_help="Evaluate a run and rewrite its report.")
@click.argument("run", required=False)
@runs_dir_option
@click.option(
    "--checkpoint",
    type=click.Choice(["best", "last"]),
    default="best",
    show_default=True,
    help="Which checkpoint to evaluate.",
)
@click.option(
    "--data",
    "data",
    default="test",
    show_default=True,
    metavar="SPLIT|PATH",
    help="test, val or train split of the run's data, or another data set's path (its test split).",
)
def evaluate(run: str | None, runs_dir: Path, checkpoint: str, data: str) -> None:
    """Evaluate a run (default: the newest) and rewrite its metrics, predictions and report.

    RUN is a run folder, or a config name for its newest run.

    \b
    Examples:
      cnnlab evaluate mnist_baseline
      cnnlab evaluate mnist_baseline --checkpoint last --data val
      cnnlab evaluate mnist_baseline --data ~/data/my_digits    # another data set's test split
    """
    import cnnlab.api as api
    from cnnlab.storage.folders import RunFolder

    target = api.load_run(run, runs_dir, checkpoint=checkpoint)
    metrics = target.evaluate(data, checkpoint=checkpoint, progress=progress())
    folder, out = RunFolder(target.path), console()
    out.print(evaluation_table(metrics, title=f"{folder}  ({metrics['checkpoint']}, {metrics['split']} split)"))
    if metrics.get("caveat"):
        out.print(f"note: {metrics['caveat']}", style="yellow", markup=False, soft_wrap=True)
    if metrics["split"] == "test":
        out.print(f"report: {folder.report} and {folder.REPORT_HTML}", markup=False)
    else:
        split = metrics["split"]
        out.print(f"wrote {folder.metrics_file(split)} and {folder.predictions_file(split).name}", markup=False)


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
        table.add_row(
            "most confused",
            ", ".join(f"{p['true']}->{p['predicted']} ({p['count']})" for p in metrics["most_confused"][:3]),
        )
    return table


@cli.command(short_help="Compare runs (McNemar per pair) or groups of runs (Welch across seeds).")
@click.argument("runs", nargs=-1, required=True)
@runs_dir_option
@click.option("--metric", default="accuracy", show_default=True, help="Test metric to sort by.")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path), help="Save the table as CSV.")
@click.option(
    "--markdown",
    "markdown_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the table and the tests as Markdown.",
)
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the runs' validation curves of --metric on one plot (PNG).",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write DIR/compare.md and a self-contained DIR/compare.html: the table, accuracy against "
    "parameters and time, validation curves, and every pair's McNemar test in words.",
)
@click.option("--fail-below", type=float, metavar="VALUE", help="Exit 1 if the best run's metric is below VALUE.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows and the pairs' tests as JSON, for scripts.")
def compare(
    runs: tuple[str, ...],
    runs_dir: Path,
    metric: str,
    csv_file,
    markdown_file,
    plot_file,
    report_dir: Path | None,
    fail_below: float | None,
    as_json: bool,
) -> None:
    """Compare runs side by side, with McNemar's exact test for each pair on a shared test set;
    or groups of runs (from train --repeat), with Welch's t-test across seeds.

    RUNS are run folders, config names (their newest runs), or folders holding runs (every
    evaluated run in them). A small p (say < 0.05) means the two models' accuracies differ by
    more than chance on this test set. Given group folders instead, each pair gets Welch's
    t-test on the per-seed scores (does the difference hold across seeds?), the difference of
    the means with its 95 % interval, and McNemar for each seed's pair of runs.

    \b
    Examples:
      cnnlab compare mnist_baseline mnist_dropout
      cnnlab compare runs --report runs/compare   # then open runs/compare/compare.html
      cnnlab compare runs/mnist_baseline/*-x3 runs/mnist_dropout/*-x3 --json
    """
    import json

    import cnnlab.api as api
    from cnnlab.fileio import write_atomic
    from cnnlab.reporting.report import cell

    comparison = api.compare(runs, runs_dir=runs_dir, metric=metric)
    out = console(stderr=as_json)  # --json keeps stdout for the JSON alone
    for line in getattr(comparison, "skipped", ()):
        console(stderr=True).print(f"warning: {line}", style="yellow", markup=False, soft_wrap=True)
    groups = isinstance(comparison, api.GroupComparison)
    if groups and plot_file:
        raise click.UsageError("--plot draws single runs' curves; for groups, --report draws each seed's score")
    if as_json:
        click.echo(json.dumps(comparison.to_dict(), indent=2))
    elif groups:
        show_groups(out, comparison, metric)
    else:
        _show_runs(out, comparison, metric)
    if plot_file:
        comparison.plot(plot_file)
    if csv_file:
        write_atomic(csv_file, comparison.csv())
    if markdown_file:
        write_atomic(markdown_file, comparison.markdown())
    if report_dir:
        markdown, page = comparison.write(report_dir)
        out.print(f"report: {markdown} and {page}", markup=False)
    best = comparison.best_score()
    if fail_below is not None and (best is None or best < fail_below):
        out.print(f"best {metric} {cell(best)} is below {fail_below}", style="red", markup=False)
        sys.exit(1)


def _show_runs(out, comparison, metric: str) -> None:
    """The runs table, and each pair's McNemar test."""
    from rich.table import Table

    from cnnlab.reporting.compare import COLUMNS
    from cnnlab.reporting.report import cell, seconds

    table = Table(title=f"runs by test {metric}", title_justify="left")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "run" else "right")
    for row in comparison.rows:
        table.add_row(*[seconds(v) if column == "train s" else cell(v) for column, v in zip(COLUMNS, row.values())])
    out.print(table)
    if comparison.pairs:
        _show_pairs(out, comparison.pairs, [row.label for row in comparison.rows])


def _show_pairs(out, tests, order: list[str]) -> None:
    """Each pair's McNemar test; beyond a screenful of pairs, one line per run with whom it
    beats (smallest p first) and a count of the ties, as the report page has them."""
    from rich.table import Table

    from cnnlab.reporting.compare_report import PAIRS_UP_TO, SIGNIFICANCE, readings

    if len(tests) > PAIRS_UP_TO:
        out.print(f"McNemar's exact test, {len(tests)} pairs: whom each run beats (p < {SIGNIFICANCE})", markup=False)
        for kind, payload in readings(tests, order):
            if kind == "list":
                for line in payload:
                    out.print(f"  {line}", markup=False, soft_wrap=True)
            else:
                out.print(f"{payload[0]}; each pair with b, c and p: --json or --report DIR", markup=False)
        return
    pairs = Table(title="McNemar's exact test (b: only A right, c: only B right)", title_justify="left")
    for column in ("A", "B", "b", "c", "p"):
        pairs.add_column(column, justify="left" if column in "AB" else "right")
    for pair in tests:
        pairs.add_row(pair.a, pair.b, str(pair.only_a), str(pair.only_b), f"{pair.p_value:.4g}")
    out.print(pairs)


def show_groups(out, comparison, metric: str) -> None:
    """The groups table, each pair's tests, and each pair's verdict in words."""
    from rich.table import Table

    from cnnlab.reporting.compare_groups import header
    from cnnlab.reporting.report import cell

    table = Table(title=f"groups by mean test {metric}", title_justify="left")
    for column in header(metric):
        table.add_column(column, justify="left" if column == "group" else "right")
    for row in comparison.rows:
        table.add_row(*[cell(v) for v in row.values(metric)])
    out.print(table)
    if comparison.pairs:
        pairs = Table(title="across seeds: Welch's t-test; per seed pair: McNemar", title_justify="left")
        for column in ("A", "B", "difference", "95 % interval", "Welch p", "McNemar p"):
            pairs.add_column(column, justify="left" if column in "AB" else "right")
        for pair in comparison.pairs:
            test = pair.welch
            pairs.add_row(
                pair.a,
                pair.b,
                f"{test['difference']:+.4f}",
                "-" if test["low"] is None else f"{test['low']:+.4f} to {test['high']:+.4f}",
                "-" if test["p"] is None else f"{test['p']:.3g}",
                ", ".join(f"{m['p']:.3g}" for m in pair.mcnemar) or "-",
            )
        out.print(pairs)
        for line in comparison.verdicts():
            out.print(line, markup=False, soft_wrap=True)


@cli.command(short_help="Classify images with a run's model.")
@click.argument("run")
@click.argument("images", nargs=-1, required=True)
@runs_dir_option
@click.option(
    "--top", default=3, show_default=True, type=click.IntRange(min=1), help="How many classes to show per image."
)
@click.option("--invert", is_flag=True, help="Invert the pixels (dark digits on light paper -> MNIST style).")
@click.option("--convert", is_flag=True, help="Resize and convert images that do not match the model's input.")
@click.option("--json", "as_json", is_flag=True, help="Print the predictions as JSON.")
def predict(
    run: str, images: tuple[str, ...], runs_dir: Path, top: int, invert: bool, convert: bool, as_json: bool
) -> None:
    """Classify IMAGES (PNG/JPEG files or folders) with a run's best checkpoint, or with a model
    written by cnnlab export (a SavedModel folder, a .tflite or an .onnx file).

    \b
    Examples:
      cnnlab predict mnist_baseline digit.png
      cnnlab predict mnist_baseline photos/ --convert --invert   # dark ink on light paper
      cnnlab predict runs/mnist_baseline/export/model.tflite digit.png --json
    """
    import cnnlab.api as api

    results = api.predict(run, images, top=top, convert=convert, invert=invert, runs_dir=runs_dir)
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    out = console()
    for result in results:
        ranked = "  ".join(f"{t['class']} {t['probability']:.3f}" for t in result["top"])
        out.print(f"{result['file']}: {result['predicted']}   ({ranked})", markup=False)


@cli.command(short_help="Draw what a run learned: filters, feature maps, Grad-CAM, patterns.")
@click.argument("run", required=False)
@runs_dir_option
@click.option("--image", type=click.Path(dir_okay=False, path_type=Path), help="An image file to look at.")
@click.option("--index", type=int, help="A test example to look at (default 0).")
@click.option("--invert", is_flag=True, help="Invert the image's pixels first.")
@click.option("--convert", is_flag=True, help="Resize and convert an image that does not match the input.")
@click.option(
    "--gradcam",
    is_flag=True,
    help="Where the last conv layer finds the evidence for a class: a heat map over the input (gradcam.png).",
)
@click.option(
    "--class", "target", metavar="CLASS", help="Class for --gradcam, by name or index [default: the predicted one]."
)
@click.option(
    "--patterns",
    is_flag=True,
    help="The input pattern that most excites each filter of --layer, found by "
    "gradient ascent from grey (patterns.png).",
)
@click.option("--layer", metavar="NAME", help="Conv layer for --patterns [default: the last one], e.g. conv2d.")
def visualize(
    run: str | None,
    runs_dir: Path,
    image: Path | None,
    index: int | None,
    invert: bool,
    convert: bool,
    gradcam: bool,
    target: str | None,
    patterns: bool,
    layer: str | None,
) -> None:
    """Draw what a run's network learned, into its folder: by default the first conv layer's
    filters and the feature maps of one input (filters.png, feature_maps.png).

    \b
    Examples:
      cnnlab visualize mnist_baseline --index 7                   # filters and feature maps
      cnnlab visualize mnist_baseline --gradcam --index 7         # where it looks (gradcam.png)
      cnnlab visualize mnist_baseline --gradcam --image 3.png --class 8
      cnnlab visualize mnist_baseline --patterns --layer conv2d   # what each filter responds to
    """
    if image is not None and index is not None:
        raise click.UsageError("give --image or --index, not both")
    if target is not None and not gradcam:
        raise click.UsageError("--class goes with --gradcam")
    if layer is not None and not patterns:
        raise click.UsageError("--layer goes with --patterns")
    import cnnlab.api as api

    written = api.load_run(run, runs_dir, checkpoint="best").visualize(
        image=image,
        index=index,
        convert=convert,
        invert=invert,
        gradcam=gradcam,
        target=target,
        patterns=patterns,
        layer=layer,
    )
    for path in written:
        console().print(f"wrote {path}", markup=False)
