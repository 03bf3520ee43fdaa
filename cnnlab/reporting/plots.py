"""The pictures drawn with matplotlib (Agg backend): first-layer filters, feature maps, filter
patterns, Grad-CAM, and the comparisons' curves, trade-offs and seed spreads. Pillow draws the
pictures every run has: the learning curves (curves.py), the confusion matrix (confusion.py) and
the mistakes (gallery.py).

Each function takes data and a path, writes one PNG atomically, and returns its bytes (a page
that embeds the picture takes them from there, not back from the disk).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from cnnlab.fileio import write_atomic
from cnnlab.reporting import colours, pixels, ticks

DPI = 110


def _pyplot():
    import matplotlib  # half a second to import: only when a picture is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> bytes:
    """Write `figure` as a PNG (atomically) and return its bytes."""
    plt = _pyplot()
    buffer = io.BytesIO()
    # A figure with a layout engine fits itself; "tight" would draw it a second time to measure it.
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches=None if figure.get_layout_engine() else "tight")
    png = buffer.getvalue()
    plt.close(figure)
    write_atomic(path, png)
    return png


def _as_picture(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """(H, W, C) array -> something imshow draws as the data looked: grey or colour, 0..1."""
    image = np.asarray(image, dtype=np.float32)
    low, high = float(image.min()), float(image.max())
    image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    if image.shape[-1] == 1:
        return image[..., 0], "gray"
    return image[..., :3], None


def _epoch_axis(axis, epochs: list[int]) -> None:
    """Whole epochs (`ticks.whole_epochs`); beyond twelve, matplotlib's locator, kept to integers."""
    x_range, every = ticks.whole_epochs(epochs)
    axis.set_xlim(*x_range)
    if every:
        axis.set_xticks(every)  # every epoch (a locator would add 0.6, 0.8, ...)
    else:
        axis.xaxis.get_major_locator().set_params(integer=True)


def as_rgb(image: np.ndarray) -> np.ndarray:
    picture, _ = _as_picture(image)
    return np.repeat(picture[..., None], 3, axis=-1) if picture.ndim == 2 else picture


def blend(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The image in grey with a heat map over it (red: where the evidence is), as one RGB picture."""
    picture, _ = _as_picture(image)
    grey = picture if picture.ndim == 2 else picture.mean(axis=-1)
    if heat.shape != grey.shape:  # a model that resizes its input: the map is at the model's size
        heat = heat[np.ix_(_nearest(heat.shape[0], grey.shape[0]), _nearest(heat.shape[1], grey.shape[1]))]
    return np.clip((1 - HEAT_ALPHA) * grey[..., None] + HEAT_ALPHA * colours.jet(np.clip(heat, 0.0, 1.0)), 0.0, 1.0)


def gradcam_png(image: np.ndarray, heat: np.ndarray) -> bytes:
    """One image with its Grad-CAM map over it, as PNG bytes at the image's own size (for a page
    or an HTTP answer; nothing is written)."""
    from PIL import Image

    return pixels.png(Image.fromarray((blend(image, heat) * 255).astype(np.uint8), mode="RGB"))


def _nearest(source: int, target: int) -> np.ndarray:
    """The source index nearest each target pixel's centre. The last centre, (target - 0.5) *
    source / target, is below `source`, so its whole part is at most source - 1: always in range."""
    return ((np.arange(target) + 0.5) * source / target).astype(int)


HEAT_ALPHA = 0.45  # how much of an overlay is the heat map


def _overlay(axis, image: np.ndarray, heat: np.ndarray) -> None:
    axis.imshow(blend(image, heat))


def gradcam(image: np.ndarray, heat: np.ndarray, path: Path, title: str) -> bytes:
    """One input, its Grad-CAM heat map, and the two overlaid."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(9, 3.4))
    picture, cmap = _as_picture(image)
    axes[0].imshow(picture, cmap=cmap)
    axes[0].set_title("input", fontsize=9)
    shown = axes[1].imshow(heat, cmap="jet", vmin=0.0, vmax=1.0)
    axes[1].set_title("Grad-CAM heat map", fontsize=9)
    figure.colorbar(shown, ax=axes[1], fraction=0.046)
    _overlay(axes[2], image, heat)
    axes[2].set_title("overlay", fontsize=9)
    for axis in axes:
        axis.axis("off")
    figure.suptitle(title)
    return _save(figure, path)


def _numbered_tiles(count: int, inches: float):
    """(figure, the first `count` axes): a grid of up to 8 tiles a row, every axis blank."""
    plt = _pyplot()
    columns = min(8, count)
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(inches * columns, inches * rows + 0.6), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    return figure, axes.ravel()[:count]


def patterns(images: np.ndarray, path: Path, layer_name: str) -> bytes:
    """The input pattern that most excites each filter of a layer, one tile per filter."""
    count = len(images)
    figure, tiles = _numbered_tiles(count, inches=1.5)
    for index, axis in enumerate(tiles):
        picture, cmap = _as_picture(images[index])
        axis.imshow(picture, cmap=cmap)
        axis.set_title(str(index), fontsize=7)
    figure.suptitle(f"{layer_name}: the input pattern that most excites each of its {count} filters")
    return _save(figure, path)


def filters(kernel: np.ndarray, path: Path, layer_name: str) -> bytes:
    """A first conv layer's kernels (kh, kw, in, out): one tile per filter (RGB if 3 inputs)."""
    count = kernel.shape[-1]
    figure, tiles = _numbered_tiles(count, inches=1.3)
    for index, axis in enumerate(tiles):
        tile = kernel[..., index]
        tile = tile if tile.shape[-1] == 3 else tile.mean(axis=-1, keepdims=True)
        picture, cmap = _as_picture(tile)
        axis.imshow(picture, cmap=cmap, interpolation="nearest")
        axis.set_title(str(index), fontsize=7)
    figure.suptitle(
        f"{layer_name}: {count} learned {kernel.shape[0]}x{kernel.shape[1]} filters (bright = positive weight)"
    )
    return _save(figure, path)


def feature_maps(
    image: np.ndarray, activations: list[tuple[str, np.ndarray]], path: Path, title: str, channels: int = 8
) -> bytes:
    """The input, then the first `channels` activation maps of each layer, one row per layer."""
    plt = _pyplot()
    rows = len(activations) + 1
    figure, axes = plt.subplots(rows, channels, figsize=(1.6 * channels, 1.7 * rows), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    picture, cmap = _as_picture(image)
    axes[0][0].imshow(picture, cmap=cmap)
    axes[0][0].set_title("input", fontsize=8)
    for row, (name, maps) in enumerate(activations, start=1):
        for column in range(min(channels, maps.shape[-1])):
            axes[row][column].imshow(maps[..., column], cmap="viridis")
            axes[row][column].set_title(f"{name}[{column}]" if column == 0 else str(column), fontsize=7)
    figure.suptitle(title)
    return _save(figure, path)


MARKERS = "os^Dv"  # with ten colours: fifty series that differ in colour or marker


def compared_curves(histories: dict[str, list[dict]], metric: str, path: Path) -> bytes:
    """Validation `metric` per epoch for several runs on one axis; beyond six runs the legend
    stands beside the plot, and beyond ten the markers change with each round of colours."""
    plt = _pyplot()
    many = len(histories) > 6
    figure, axis = plt.subplots(figsize=(10.5 if many else 7, max(4.2, 0.22 * len(histories))))
    for index, (label, history) in enumerate(histories.items()):
        validated = bool(history) and f"val_{metric}" in history[0]
        key = f"val_{metric}" if validated else metric
        shown = label if validated else f"{label} (training: no validation data)"  # say what the line is
        axis.plot(
            [int(r["epoch"]) for r in history],
            [r.get(key) for r in history],
            "-" if validated else "--",
            color=f"C{index % 10}",
            marker=MARKERS[index // 10 % len(MARKERS)],
            label=shown,
        )
    axis.set(title=f"validation {metric} per epoch", xlabel="epoch", ylabel=metric)
    _epoch_axis(axis, [int(r["epoch"]) for history in histories.values() for r in history])
    axis.grid(alpha=0.3)
    if many:
        axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        figure.tight_layout()
    else:
        axis.legend(fontsize=8)
    return _save(figure, path)


NAMED_UP_TO = 8  # points named beside them; beyond, numbered (their rank) with a key beside the plot


def tradeoff(
    points: dict[str, tuple[float, float]],
    front: set[str],
    path: Path,
    *,
    xlabel: str,
    ylabel: str,
    intervals: dict[str, tuple[float, float]] | None = None,
) -> bytes:
    """Score against a cost (parameters, seconds) for several runs, best first: each point
    labelled (by its number beyond eight points, with a key beside the plot) with its score's
    95 % interval as a bar, so that two runs a few images apart do not look far apart; the
    cost log-scaled when it spans decades; the Pareto front (nothing both cheaper and better)
    joined by a line."""
    plt = _pyplot()
    numbered = len(points) > NAMED_UP_TO
    figure, axis = plt.subplots(figsize=(10.5 if numbered else 7, max(4.2, 0.2 * len(points))))
    for number, (label, (cost, score)) in enumerate(points.items(), start=1):
        on_front = label in front
        color = "tab:red" if on_front else "tab:gray"
        axis.scatter(cost, score, s=60 if on_front else 30, color=color, zorder=3)
        if intervals and label in intervals:
            low, high = intervals[label]
            axis.plot(
                [cost, cost], [low, high], color=color, alpha=0.5, linewidth=1.5, zorder=2, label=f"_95 % of {label}"
            )
        shown = str(number) if numbered else label
        axis.annotate(shown, (cost, score), textcoords="offset points", xytext=(5, 4), fontsize=8)
    if numbered:
        key = "\n".join(f"{number}  {label}" for number, label in enumerate(points, start=1))
        axis.text(1.02, 1.0, key, transform=axis.transAxes, fontsize=7, va="top", family="monospace")
    line = sorted(points[label] for label in front)
    if len(line) > 1:
        axis.plot(*zip(*line), color="tab:red", alpha=0.6, label="Pareto front")
        axis.legend(fontsize=8, loc="best")
    axis.margins(0.12)  # room for the labels of the points at the edges
    costs = [cost for cost, _ in points.values()]
    if min(costs) > 0 and max(costs) / min(costs) > 10:  # parameters span decades; seconds often not
        axis.set_xscale("log")
    bars = " (bars: 95 % intervals)" if intervals else ""
    axis.set(title=f"{ylabel} against {xlabel}{bars}", xlabel=xlabel, ylabel=ylabel)
    axis.grid(alpha=0.3)
    _labels_inside(axis)
    if numbered:
        figure.tight_layout()
    return _save(figure, path)


def _labels_inside(axis) -> None:
    """A point's label in the right third of the plot goes on its left, where it does not
    run over the frame."""
    to_axes = axis.transData + axis.transAxes.inverted()
    for text in axis.texts:
        if hasattr(text, "xy") and to_axes.transform(text.xy)[0] > 0.66:
            text.set_horizontalalignment("right")
            text.set_position((-5, 4))


def seed_spread(groups: dict[str, dict], path: Path, label: str) -> bytes:
    """One row per group of runs: each seed's score as a dot, the mean as a bar and its 95 %
    interval as a line, so the overlap between groups shows at a glance."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 1.2 + 0.5 * len(groups)))
    for row, score in enumerate(reversed(list(groups.values()))):
        axis.scatter(score["values"], [row] * len(score["values"]), color="tab:gray", s=22, zorder=3)
        if score["low"] is not None:
            axis.plot([score["low"], score["high"]], [row, row], color="tab:blue", linewidth=2)
        axis.plot([score["mean"]] * 2, [row - 0.25, row + 0.25], color="tab:blue", linewidth=2)
    axis.set_yticks(range(len(groups)), list(reversed(list(groups))), fontsize=8)
    axis.set_ylim(-0.6, len(groups) - 0.4)
    axis.set(title=f"{label}: each seed (dots), mean and 95 % interval (blue)", xlabel=label)
    axis.grid(alpha=0.3, axis="x")
    return _save(figure, path)
