"""The confusion matrix picture (confusion_matrix.png): the counts, and each count's share of its
true class, side by side, each with its colour bar, drawn with Pillow.

Why not matplotlib, as the comparisons: every run draws this picture, and it is two grids of
coloured cells, their numbers and their labels, nothing a plotting library has to work out.
matplotlib took 0.3-0.4 s a run for it (its layout engine, then a hundred texts), the largest
single cost of a tiny training's report; Pillow lays out and draws the same sheet in a few
hundredths of a second. The texts are in matplotlib's own font and sizes (`lettering`), the
cells in its "Blues" colours (`colours`), so the pictures of a run still look like one family.

`layout` says where everything goes (tested as data); `draw` puts it on the sheet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.fileio import write_atomic
from cnnlab.reporting import colours, lettering, pixels, ticks
from cnnlab.reporting.lettering import LABEL_PX, TITLE_PX, Text

SPAN = 640  # a panel's side, near enough: cells of SPAN // n pixels ...
MIN_CELL, MAX_CELL = 18, 120  # ... but never so small that two labels touch, nor so large for 2 classes
NUMBERED_UP_TO = 20  # classes; beyond, a cell is too small for its number
NUMBER_PX = 12  # 8 points at 110 dpi, as matplotlib's small texts
TICK = 5  # a tick mark's length
BAR = 20  # a colour bar's width
GAP, MARGIN, BETWEEN = 8, 12, 48  # around the texts, around the sheet, between the two panels


@dataclass
class Panel:
    """One grid: its `values`, the box of its cells (left, top, side, side) and of its colour bar,
    and the values at the bar's bottom and top."""

    values: np.ndarray
    cells: tuple[int, int, int, int]
    bar: tuple[int, int, int, int]
    low: float
    high: float


@dataclass
class Sheet:
    size: tuple[int, int]
    panels: list[Panel] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    marks: list[tuple[int, int, int, int]] = field(default_factory=list)  # tick marks: (x0, y0, x1, y1)


def confusion_matrix(matrix: np.ndarray, class_names, path: Path, title: str = "") -> bytes:
    """Counts and row-normalised (recall per true class) side by side, written to `path`;
    returns the PNG's bytes.

    >>> import tempfile
    >>> png = confusion_matrix(np.array([[3, 1], [0, 4]]), ["a", "b"], Path(tempfile.mkdtemp()) / "cm.png")
    >>> png[:4]
    b'\\x89PNG'
    """
    png = draw(layout(np.asarray(matrix), [str(name) for name in class_names], title or "confusion matrix (test set)"))
    write_atomic(path, png)
    return png


def shares(matrix: np.ndarray) -> np.ndarray:
    """Each count over its row's (true class's) total; 0 for a class never seen.

    >>> shares(np.array([[3, 1], [0, 0]])).tolist()
    [[0.75, 0.25], [0.0, 0.0]]
    """
    rows = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)


def layout(matrix: np.ndarray, names: list[str], title: str) -> Sheet:
    """Where everything of the picture goes: the title over two panels, counts then shares.

    >>> sheet = layout(np.array([[3, 1], [0, 4]]), ["a", "b"], "t")
    >>> [panel.cells[2] for panel in sheet.panels], sheet.texts[0].text
    ([240, 240], 't')
    """
    n = len(names)
    cell = max(MIN_CELL, min(MAX_CELL, SPAN // max(n, 1)))
    top = MARGIN + TITLE_PX + 2 * GAP  # the panels' titles
    sheet = Sheet(size=(0, 0))
    left = MARGIN
    for values, label, fmt in ((matrix, "counts", "d"), (shares(matrix), "share of the true class", ".2f")):
        left = _panel(sheet, values, label, fmt, names, cell, left, top) + BETWEEN
    width = max(left - BETWEEN + MARGIN, lettering.width(title, TITLE_PX) + 2 * MARGIN)
    height = max(text.y for text in sheet.texts) + LABEL_PX + MARGIN  # the lowest text is an axis label
    sheet.size = (width, height)
    sheet.texts.insert(0, Text(title, width // 2, MARGIN, TITLE_PX))
    return sheet


def _panel(sheet: Sheet, values: np.ndarray, label: str, fmt: str, names: list[str], cell: int, left, top) -> int:
    """Lay out one panel from `left`, its title's top at `top`; returns its right edge."""
    n = len(names)
    side = n * cell
    cells_left = left + LABEL_PX + GAP + max(lettering.width(name, LABEL_PX) for name in names) + TICK + 3
    cells_top = top + TITLE_PX + GAP
    centres = [cell * i + cell // 2 for i in range(n)]
    bar_left = cells_left + side + 3 * GAP
    low, high = float(values.min()), float(values.max())
    high = high if high > low else low + 1  # one shade for all: the bar still needs a range
    sheet.panels.append(Panel(values, (cells_left, cells_top, side, side), (bar_left, cells_top, BAR, side), low, high))
    middle, bottom = cells_left + side // 2, cells_top + side
    sheet.texts += [
        Text(label, middle, top, TITLE_PX),
        Text("true class", left + LABEL_PX // 2, cells_top + side // 2, LABEL_PX, "mm", angle=90),
    ]
    turned = 90 if n > 10 else 45
    for name, centre in zip(names, centres):
        sheet.texts.append(Text(name, cells_left - TICK - 3, cells_top + centre, LABEL_PX, "rm"))
        sheet.texts.append(Text(name, cells_left + centre, bottom + TICK + 3, LABEL_PX, _turned_anchor(turned), turned))
        sheet.marks.append((cells_left - TICK, cells_top + centre, cells_left, cells_top + centre))
        sheet.marks.append((cells_left + centre, bottom, cells_left + centre, bottom + TICK))
    below = max(lettering.turned_height(name, LABEL_PX, turned) for name in names)
    sheet.texts.append(Text("predicted class", middle, bottom + TICK + 3 + below + GAP, LABEL_PX))
    if n <= NUMBERED_UP_TO:
        threshold = values.max() / 2 if values.max() else 1
        for (row, column), value in np.ndenumerate(values):
            colour = "white" if value > threshold else "black"  # readable on the dark cells
            x, y = cells_left + centres[column], cells_top + centres[row]
            sheet.texts.append(Text(format(value, fmt), x, y, NUMBER_PX, "mm", fill=colour))
    right = bar_left + BAR + TICK + 3
    widest = 0
    for value, text in ticks.steps(low, high, integers=fmt == "d"):
        y = round(cells_top + side - (value - low) / (high - low) * side)
        sheet.marks.append((bar_left + BAR, y, bar_left + BAR + TICK, y))
        sheet.texts.append(Text(text, right, y, LABEL_PX, "lm"))
        widest = max(widest, lettering.width(text, LABEL_PX))
    return right + widest


def _turned_anchor(angle: int) -> str:
    return "rt" if angle == 45 else "mt"


def draw(sheet: Sheet) -> bytes:
    """The sheet as PNG bytes."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", sheet.size, "white")
    pen = ImageDraw.Draw(picture)
    for panel in sheet.panels:
        left, top, side, _ = panel.cells
        shades = colours.blues((panel.values - panel.low) / (panel.high - panel.low))
        picture.paste(pixels.picture(shades).resize((side, side), Image.Resampling.NEAREST), (left, top))
        bar_left, bar_top, width, height = panel.bar
        ramp = colours.blues(np.linspace(1.0, 0.0, height))[:, None, :].repeat(width, axis=1)
        picture.paste(pixels.picture(ramp), (bar_left, bar_top))
        for box in (panel.cells, panel.bar):
            pen.rectangle((box[0] - 1, box[1] - 1, box[0] + box[2], box[1] + box[3]), outline="black")
    for line in sheet.marks:
        pen.line(line, fill="black")
    for text in sheet.texts:
        lettering.write(picture, text)
    return pixels.png(picture)
