"""`cnnlab export`: a run's model out of cnnlab, checked against itself."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.cli.app import cli, console, runs_dir_option


@cli.command(short_help="Export a run's model (SavedModel, TFLite, ONNX), checked.")
@click.argument("run", required=False)
@runs_dir_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["saved_model", "tflite", "onnx"]),
    default="saved_model",
    show_default=True,
    help="saved_model (TensorFlow Serving), tflite (LiteRT, phones), onnx "
    "(onnxruntime; needs pip install 'cnnlab[export]').",
)
@click.option(
    "--out", type=click.Path(path_type=Path), help="Where to write it [default: RUN/export/model[.tflite|.onnx]]."
)
@click.option(
    "--examples",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Test images the exported model is checked on.",
)
def export(run: str | None, runs_dir: Path, fmt: str, out: Path | None, examples: int) -> None:
    """Export a run's best model with its preprocessing built in: raw 0-255 pixels (float32) in,
    class probabilities out, class names in labels.txt beside it.

    The export checks itself: it runs the exported file with its own runtime on test images and
    compares it with the run's own evaluation of them (predictions.npz); below 99.9 % agreement,
    or when the runtime cannot run it, it fails (exit 1) and writes nothing.

    \b
    Examples:
      cnnlab export mnist_baseline --format tflite
      cnnlab predict runs/mnist_baseline/<run>/export/model.tflite digit.png
    """
    import cnnlab.api as api

    result = api.load_run(run, runs_dir, checkpoint="best").export(fmt, out, examples=examples)
    parity = result.parity
    show = console()
    show.print(f"wrote {result.path} and {result.labels}", markup=False)
    show.print(
        f"checked against {parity.reference} on {parity.examples:,} test images: same class {parity.agreement:.2%}, "
        f"largest probability difference {parity.max_abs_difference:.2e}",
        markup=False,
    )
