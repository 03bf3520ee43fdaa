"""The learning curves picture (curves.png): the loss and each metric per epoch, training against
validation, one panel each, drawn with Pillow.

Why not matplotlib, as the comparison's curves: every run draws this picture, most of them tiny
trainings of a few epochs, and matplotlib spent 0.15 s a run on it (laying out its axes twice
for a tight bounding box), and a third of a second more to import. Pillow lays out and draws
the same panels in a few hundredths of a second, in matplotlib's font, sizes and first two
colours, with its round tick steps (`ticks`).

`layout` says where everything goes (tested as data); `draw` puts it on the sheet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.fileio import write_atomic
from cnnlab.reporting import lettering, pixels, ticks
from cnnlab.reporting.lettering import LABEL_PX, TITLE_PX, Text

PLOT = (430, 290)  # a panel's plotting area, width and height
TICK, GAP, MARGIN, BETWEEN = 5, 8, 12, 40
SERIES = {"training": "#1f77b4", "validation": "#ff7f0e"}  # matplotlib's first two colours
GRID = "#e7e7e7"  # matplotlib's grid colour at alpha 0.3 on white
LINE, DOT = 2, 9  # a line's width and a marker's diameter, in pixels
SAMPLE = 28  # the length of a legend's line
FINE = 3  # lines and markers drawn this many times larger, then shrunk: smooth edges
SKIPPED = ("epoch", "epoch_seconds", "learning_rate")


@dataclass
class Panel:
    """One metric: its plotting area (left, top, width, height), the data ranges it spans, its
    round tick values with their labels, and each series' points (epochs, values)."""

    name: str
    area: tuple[int, int, int, int]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    series: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    legend: tuple[int, int, int, int] = (0, 0, 0, 0)

    def at(self, x: float, y: float) -> tuple[float, float]:
        """The pixel of the data point (x, y)."""
        left, top, width, height = self.area
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        return left + (x - x0) / (x1 - x0) * width, top + height - (y - y0) / (y1 - y0) * height


@dataclass
class Sheet:
    size: tuple[int, int]
    panels: list[Panel] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)


def learning_curves(history: list[dict], path: Path, title: str = "") -> bytes:
    """Loss and each metric per epoch, training against validation, written to `path`; returns
    the PNG's bytes.

    >>> import tempfile
    >>> rows = [{"epoch": 1, "loss": 0.9, "val_loss": 1.0}, {"epoch": 2, "loss": 0.5, "val_loss": 0.7}]
    >>> learning_curves(rows, Path(tempfile.mkdtemp()) / "curves.png")[:4]
    b'\\x89PNG'
    """
    png = draw(layout(history, title or "learning curves"))
    write_atomic(path, png)
    return png


def layout(history: list[dict], title: str) -> Sheet:
    """Where everything goes: the title over one panel per metric, loss first as Keras logs it.

    >>> sheet = layout([{"epoch": 1, "loss": 0.4}], "t")
    >>> [p.name for p in sheet.panels], sheet.panels[0].x_range, sheet.panels[0].series
    (['loss'], (0.5, 1.5), {'training': ([1], [0.4])})
    """
    names = [key for key in history[0] if not key.startswith("val_") and key not in SKIPPED] if history else []
    epochs = [int(row["epoch"]) for row in history]
    sheet = Sheet(size=(0, 0))
    left, top = MARGIN, MARGIN + TITLE_PX + 2 * GAP
    for name in names:
        series = {"training": _points(epochs, [row.get(name) for row in history])}
        if f"val_{name}" in history[0]:
            series["validation"] = _points(epochs, [row.get(f"val_{name}") for row in history])
        left = _panel(sheet, name, series, epochs, left, top) + BETWEEN
    width = max(left - BETWEEN + MARGIN, lettering.width(title, TITLE_PX) + 2 * MARGIN)
    sheet.size = (width, top + TITLE_PX + GAP + PLOT[1] + TICK + 3 + LABEL_PX + GAP + LABEL_PX + MARGIN + 4)
    sheet.texts.insert(0, Text(title, width // 2, MARGIN, TITLE_PX))
    return sheet


def _points(epochs: list[int], values: list) -> tuple[list[int], list[float]]:
    """The epochs with a finite value, and those values (a missing or NaN one leaves a gap)."""
    kept = [(e, float(v)) for e, v in zip(epochs, values) if v is not None and math.isfinite(float(v))]
    return [e for e, _ in kept], [v for _, v in kept]


def _panel(sheet: Sheet, name: str, series: dict, epochs: list[int], left: int, top: int) -> int:
    """Lay out one metric's panel from `left`, its title's top at `top`; returns its right edge."""
    x_range, every = ticks.whole_epochs(epochs)
    if every:
        x_ticks = [(float(e), str(e)) for e in every]
    else:  # round steps over the epochs, none in the half epoch of room at either end
        x_ticks = [(v, text) for v, text in ticks.steps(*x_range, integers=True) if min(epochs) <= v <= max(epochs)]
    y_range = _padded([v for _, values in series.values() for v in values])
    y_ticks = [(v, label) for v, label in ticks.steps(*y_range) if y_range[0] <= v <= y_range[1]]
    label = name.replace("_", " ")
    area_left = left + LABEL_PX + GAP + max(lettering.width(text, LABEL_PX) for _, text in y_ticks) + TICK + 3
    area_top = top + TITLE_PX + GAP
    panel = Panel(
        name,
        (area_left, area_top, *PLOT),
        x_range,
        y_range,
        x_ticks,
        y_ticks,
        series,
    )
    sheet.panels.append(panel)
    middle, bottom = area_left + PLOT[0] // 2, area_top + PLOT[1]
    sheet.texts += [
        Text(label, middle, top, TITLE_PX),
        Text(name, left + LABEL_PX // 2, area_top + PLOT[1] // 2, LABEL_PX, "mm", angle=90),
        Text("epoch", middle, bottom + TICK + 3 + LABEL_PX + GAP, LABEL_PX),
    ]
    sheet.texts += [Text(text, round(panel.at(v, 0)[0]), bottom + TICK + 3, LABEL_PX) for v, text in panel.x_ticks]
    sheet.texts += [Text(text, area_left - TICK - 3, round(panel.at(0, v)[1]), LABEL_PX, "rm") for v, text in y_ticks]
    panel.legend = _legend_box(panel)
    return area_left + PLOT[0] + GAP


def _padded(values: list[float]) -> tuple[float, float]:
    """The range of `values` with 5 % of room at each end, as matplotlib's margins; a range for
    one value (or none) around it."""
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    if high - low < 1e-12 * max(1.0, abs(high)):
        room = abs(low) * 0.1 or 0.1
        return low - room, high + room
    room = (high - low) * 0.05
    return low - room, high + room


def _legend_box(panel: Panel) -> tuple[int, int, int, int]:
    """The legend's box (left, top, width, height) where it covers the fewest points of the
    curves: in a corner, or else halfway along a side or in the middle, in the order of
    matplotlib's "best" (upper right first)."""
    width = 2 * GAP + SAMPLE + GAP + max(lettering.width(name, LABEL_PX) for name in panel.series)
    height = 2 * GAP + len(panel.series) * (LABEL_PX + 6) - 6
    left, top, area_width, area_height = panel.area
    pixels = [panel.at(x, y) for xs, ys in panel.series.values() for x, y in _along(xs, ys)]
    right, bottom = left + area_width - GAP - width, top + area_height - GAP - height
    centre, middle = left + (area_width - width) // 2, top + (area_height - height) // 2
    places = [(right, top + GAP), (left + GAP, top + GAP), (left + GAP, bottom), (right, bottom), (right, middle)]
    places += [(left + GAP, middle), (centre, bottom), (centre, top + GAP), (centre, middle)]
    covered = [
        sum(x - DOT <= px <= x + width + DOT and y - DOT <= py <= y + height + DOT for px, py in pixels)
        for x, y in places
    ]
    x, y = places[covered.index(min(covered))]
    return x, y, width, height


def _along(xs: list[int], ys: list[float], steps: int = 8) -> list[tuple[float, float]]:
    """The points and `steps` points along each segment between them: what a legend would hide."""
    points = list(zip(xs, ys))
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        points += [(x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps) for k in range(1, steps)]
    return points


def draw(sheet: Sheet) -> bytes:
    """The sheet as PNG bytes."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", sheet.size, "white")
    pen = ImageDraw.Draw(picture)
    for panel in sheet.panels:
        left, top, width, height = panel.area
        picture.paste(_area(panel), (left, top))
        for value, _ in panel.x_ticks:
            x = round(panel.at(value, 0)[0])
            pen.line((x, top + height, x, top + height + TICK), fill="black")
        for value, _ in panel.y_ticks:
            y = round(panel.at(0, value)[1])
            pen.line((left - TICK, y, left, y), fill="black")
        pen.rectangle((left - 1, top - 1, left + width, top + height), outline="black")
        _legend(picture, panel)
    for text in sheet.texts:
        lettering.write(picture, text)
    return pixels.png(picture)


def _area(panel: Panel):
    """The panel's plotting area: the grid, then the lines and markers over it, drawn `FINE`
    times larger and shrunk, so that the curves' edges are smooth."""
    from PIL import Image, ImageDraw

    left, top, width, height = panel.area
    area = Image.new("RGB", (width * FINE, height * FINE), "white")
    pen = ImageDraw.Draw(area)

    def fine(x: float, y: float) -> tuple[float, float]:
        x, y = panel.at(x, y)
        return (x - left) * FINE, (y - top) * FINE

    for value, _ in panel.x_ticks:
        pen.line((fine(value, 0)[0], 0, fine(value, 0)[0], height * FINE), fill=GRID, width=FINE)
    for value, _ in panel.y_ticks:
        pen.line((0, fine(0, value)[1], width * FINE, fine(0, value)[1]), fill=GRID, width=FINE)
    for name, (xs, ys) in panel.series.items():
        points = [fine(x, y) for x, y in zip(xs, ys)]
        for (x0, start), (x1, end) in zip(zip(xs, points), zip(xs[1:], points[1:])):
            if x1 - x0 == 1:  # a missing epoch between them leaves a gap
                pen.line((start, end), fill=SERIES[name], width=LINE * FINE)
        radius = DOT * FINE / 2
        for x, y in points:
            pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=SERIES[name])
    return area.reduce(FINE)  # each pixel the mean of its FINE x FINE block


def _legend(picture, panel: Panel) -> None:
    """Each series' line and marker beside its name, in a white box with a light frame."""
    from PIL import ImageDraw

    pen = ImageDraw.Draw(picture)
    left, top, width, height = panel.legend
    pen.rounded_rectangle((left, top, left + width, top + height), radius=3, fill="white", outline="#cccccc")
    for row, name in enumerate(panel.series):
        y = top + GAP + row * (LABEL_PX + 6) + LABEL_PX // 2
        x = left + GAP
        pen.line((x, y, x + SAMPLE, y), fill=SERIES[name], width=LINE)
        middle = x + SAMPLE // 2
        pen.ellipse((middle - DOT / 2, y - DOT / 2, middle + DOT / 2, y + DOT / 2), fill=SERIES[name])
        lettering.write(picture, Text(name, x + SAMPLE + GAP, y, LABEL_PX, "lm"))
