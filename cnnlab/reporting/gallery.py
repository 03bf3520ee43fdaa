"""The gallery of a run's mistakes (misclassified.png): the most confidently misclassified test
images, each under its caption and beside its Grad-CAM heat map, drawn with Pillow.

Why not matplotlib, as the other pictures: the gallery is tiles and captions on a white sheet,
no axes. matplotlib drew it as one image under 49 texts in about half a second a run (28x28
images), a sixth of a small training's whole cost; Pillow lays out and writes the same sheet in
under a tenth of that. The captions use matplotlib's own font (`lettering`), so the pictures of
a run still look like one family.

`layout` says where everything goes (tested as data); `draw` puts it on the sheet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.fileio import write_atomic
from cnnlab.reporting import lettering, pixels
from cnnlab.reporting.lettering import Text
from cnnlab.reporting.plots import as_rgb, blend

COLUMNS = 8
TILE = 200  # a tile's side in pixels, near enough: small images grow by a whole factor (sharp pixels)
GAP = 24  # between two tiles of a row
MIN_CELL = 150  # the width of a two-line caption of usual class names
CAPTION_PX, HEADING_PX = 12, 17  # 8 and 12 points at 110 dpi, as the other pictures' texts
LINE = CAPTION_PX + 3
MARGIN = 10


@dataclass
class Layout:
    """A sheet of `size` (width, height): the heading, then each tile's box (left, top, width,
    height) under its caption, in rows of `COLUMNS`."""

    size: tuple[int, int]
    heading: Text
    captions: list[Text] = field(default_factory=list)
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)


def layout(shapes: list[tuple[int, int]], titles: list[str], heading: str) -> Layout:
    """Where each tile of (height, width) `shapes` goes, under its two-line title.

    >>> sheet = layout([(28, 28), (28, 28)], ["a\\nb", "c\\nd"], "two")
    >>> sheet.boxes, sheet.captions[1].x
    ([(12, 81, 196, 196), (232, 81, 196, 196)], 330)
    """
    tallest, widest = (max([shape[axis] for shape in shapes] or [28]) for axis in (0, 1))
    side = max(tallest, widest)
    scale = max(1, round(TILE / side)) if side <= TILE else TILE / side
    cell_width = max(round(widest * scale), MIN_CELL)  # a narrow tile still has room for its caption
    cell_height = round(tallest * scale)
    caption_height = 2 * LINE + 4
    row_height = caption_height + cell_height + GAP // 2
    top = MARGIN + HEADING_PX + 2 * MARGIN
    rows = max(1, -(-len(shapes) // COLUMNS))
    width = COLUMNS * (cell_width + GAP)
    sheet = Layout(size=(width, top + rows * row_height), heading=Text(heading, width // 2, MARGIN, HEADING_PX))
    for n, ((tile_height, tile_width), title) in enumerate(zip(shapes, titles)):
        row, column = divmod(n, COLUMNS)
        shown = (round(tile_width * scale), round(tile_height * scale))
        left = column * (cell_width + GAP) + GAP // 2 + (cell_width - shown[0]) // 2
        tile_top = top + row * row_height + caption_height + (cell_height - shown[1]) // 2
        sheet.boxes.append((left, tile_top, *shown))
        sheet.captions.append(Text(title, left + shown[0] // 2, tile_top - caption_height, CAPTION_PX))  # right above
    return sheet


def draw(sheet: Layout, tiles: list[np.ndarray]) -> bytes:
    """The sheet as PNG bytes: each RGB tile (0..1) resized into its box, each text in black."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", sheet.size, "white")
    for tile, (left, top, width, height) in zip(tiles, sheet.boxes):
        grows = width >= tile.shape[1]
        picture.paste(
            pixels.picture(tile).resize((width, height), Image.Resampling.NEAREST if grows else Image.Resampling.BOX),
            (left, top),
        )
    pen = ImageDraw.Draw(picture)
    for text in (sheet.heading, *sheet.captions):
        pen.multiline_text(
            (text.x, text.y),
            text.text,
            fill="black",
            font=lettering.font(text.px),
            anchor="ma",
            align="center",
            spacing=3,
        )
    return pixels.png(picture)


def most_confident_mistakes(y_true: np.ndarray, y_pred: np.ndarray, probabilities: np.ndarray, count: int = 24):
    """Indices of the wrong predictions made with the most confidence, most confident first.

    >>> most_confident_mistakes(np.array([0, 0, 1]), np.array([1, 0, 0]), np.array([[.4, .6], [.9, .1], [.8, .2]]))
    array([2, 0])
    """
    wrong = np.flatnonzero(y_true != y_pred)
    return wrong[np.argsort(_confidence(probabilities)[wrong])[::-1][:count]]


def _confidence(probabilities: np.ndarray) -> np.ndarray:
    return probabilities.max(axis=1) if probabilities.shape[1] > 1 else np.abs(probabilities[:, 0] - 0.5) + 0.5


def misclassified(
    images: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    probabilities: np.ndarray,
    class_names,
    path: Path,
    chosen: np.ndarray,
    heatmaps: np.ndarray | None = None,
) -> bytes:
    """A gallery of the `chosen` wrong predictions (`most_confident_mistakes`), written to
    `path` and returned as PNG bytes. With `heatmaps` (one per chosen image, in the same order)
    each image has its Grad-CAM map for the predicted class beside it.

    >>> import tempfile
    >>> images = np.zeros((2, 4, 4, 1))
    >>> png = misclassified(images, np.array([0, 1]), np.array([1, 1]), np.full((2, 2), 0.5),
    ...                     ["a", "b"], Path(tempfile.mkdtemp()) / "m.png", np.array([0]))
    >>> png[:4]
    b'\\x89PNG'
    """
    confidence = _confidence(probabilities)
    tiles, titles = [], []
    for n, index in enumerate(chosen):
        tiles.append(as_rgb(images[index]))
        titles.append(
            f"#{index} true {class_names[y_true[index]]}\npred {class_names[y_pred[index]]} ({confidence[index]:.2f})"
        )
        if heatmaps is not None:
            tiles.append(blend(images[index], heatmaps[n]))
            titles.append(f"looks here for\n{class_names[y_pred[index]]}")
    png = draw(
        layout([tile.shape[:2] for tile in tiles], titles, _heading(len(chosen), y_true, y_pred, heatmaps)), tiles
    )
    write_atomic(path, png)
    return png


def _heading(shown: int, y_true: np.ndarray, y_pred: np.ndarray, heatmaps) -> str:
    if not shown:
        return "no misclassified test images"
    wrong = int((y_true != y_pred).sum())
    said = f"most confidently misclassified test images ({shown} of {wrong} wrong)"
    return said + (", each beside its Grad-CAM heat map for the predicted class" if heatmaps is not None else "")
