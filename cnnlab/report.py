"""Human-readable run reports: `report.md` and its plots (matplotlib, Agg backend).

    >>> summary_markdown_row("conv2d", "Conv2D", (None, 28, 28, 32), 320, 225792)
    '| conv2d | Conv2D | 28x28x32 | 320 | 225,792 |'
"""

from __future__ import annotations

import io
from pathlib import Path

from cnnlab.fileio import write_atomic


def plot_curves(history: list[dict], path: Path, title: str = "") -> bool:
    """`curves.png`: loss and each metric per epoch, training vs validation. False if no epochs."""
    if not history:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in history[0] if not k.startswith("val_")
             and k not in ("epoch", "epoch_seconds", "learning_rate")]
    epochs = [int(row["epoch"]) for row in history]
    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.8), squeeze=False)
    for axis, name in zip(axes[0], names):
        axis.plot(epochs, [row.get(name) for row in history], marker="o", label="training")
        if f"val_{name}" in history[0]:
            axis.plot(epochs, [row.get(f"val_{name}") for row in history], marker="o", label="validation")
        axis.set_title(name.replace("_", " "))
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
        axis.legend()
        axis.xaxis.get_major_locator().set_params(integer=True)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    write_atomic(path, buffer.getvalue())
    return True


def summary_markdown_row(name, class_name, shape, params, macs) -> str:
    shape_text = "x".join(str(d) for d in shape[1:])
    return f"| {name} | {class_name} | {shape_text} | {params:,} | {macs:,} |"


def write_report(run: Path, *, config_yaml: str, manifest: dict, summary, metrics: dict,
                 history: list[dict]) -> None:
    """`report.md` (and `curves.png`) in the run folder."""
    run = Path(run)
    has_curves = plot_curves(history, run / "curves.png", title=manifest.get("name", ""))
    timing = manifest.get("timing", {})
    data = manifest.get("data", {})
    lines = [
        f"# {manifest.get('name', run.parent.name)} — {run.name}",
        "",
        manifest.get("description", "") or "",
        "",
        f"Status: **{manifest.get('status', '?')}**, {manifest.get('epochs_completed', '?')} epochs, "
        f"device {manifest.get('device', {}).get('device', '?')}, seed {manifest.get('seed', '?')}.",
        "",
        "## Test results",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {k} | {_number(v)} |" for k, v in metrics.items()],
        "",
        f"Evaluated checkpoint: `{metrics.get('checkpoint', 'best.keras')}` on "
        f"{metrics.get('examples', '?')} test examples.",
        "",
        "## Training",
        "",
        f"- data: {data.get('dataset', '?')} from {data.get('origin', '?')}; "
        f"{data.get('train_examples', '?')} training, {data.get('validation_examples', 0)} validation, "
        f"{data.get('test_examples', '?')} test examples",
        f"- training time: {_number(timing.get('train_seconds'))} s, "
        f"{_number(timing.get('images_per_second'))} images/s",
        "",
    ]
    if has_curves:
        lines += ["![learning curves](curves.png)", ""]
    lines += ["## Model", "", "| layer | type | output | params | MACs |", "|---|---|---|---|---|"]
    lines += [summary_markdown_row(r.name, r.class_name, r.output_shape, r.params, r.macs)
              for r in summary.rows]
    lines += [f"| **total** | | | **{summary.total_params:,}** | **{summary.total_macs:,}** |", "",
              "## Config", "", "```yaml", config_yaml.rstrip(), "```", ""]
    write_atomic(run / "report.md", "\n".join(lines))


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 100 else f"{value:,.1f}"
    return "?" if value is None else str(value)
