"""Text on the pictures Pillow draws (the curves, the confusion matrix, the gallery), in
matplotlib's own font (DejaVu Sans) and sizes, so that they look like the pictures matplotlib
draws.

    >>> font(12).size
    12
"""

from __future__ import annotations

import functools
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

# matplotlib's default sizes at the pictures' 110 dpi: 10 points for labels, 12 for titles
LABEL_PX, TITLE_PX = 15, 18


@dataclass(frozen=True)
class Text:
    """A text at (x, y). A level text (`angle` 0) is placed by its Pillow `anchor` ("ma": the
    middle of its top, "rm": the middle of its right end, ...); a turned text by its turned box:
    "rt" its right top corner (a label at 45 degrees, ending under its tick), "mt" the middle of
    its top, "mm" its centre."""

    text: str
    x: int
    y: int
    px: int
    anchor: str = "ma"
    angle: int = 0
    fill: str = "black"


@functools.cache
def font(px: int):
    """DejaVu Sans at `px` pixels, read from the file matplotlib ships (found without importing
    matplotlib, which costs a third of a second)."""
    from PIL import ImageFont

    (package,) = importlib.util.find_spec("matplotlib").submodule_search_locations
    return ImageFont.truetype(str(Path(package) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"), px)


def width(text: str, px: int) -> int:
    """How wide `text` is at `px` pixels, in whole pixels.

    >>> width("", 12), width("0.5", 12) < width("0.55", 12)
    (0, True)
    """
    return math.ceil(font(px).getlength(text))


def turned_height(text: str, px: int, angle: int) -> int:
    """How far `text`, turned by `angle` (45 or 90 degrees), reaches below its top."""
    return width(text, px) if angle == 90 else math.ceil((width(text, px) + px) * math.sqrt(0.5))


def write(picture, text: Text) -> None:
    """Draw `text` on the Pillow `picture`."""
    from PIL import ImageDraw

    if not text.angle:
        ImageDraw.Draw(picture).text(
            (text.x, text.y), text.text, fill=text.fill, font=font(text.px), anchor=text.anchor
        )
        return
    _turned(picture, text)


def _turned(picture, text: Text) -> None:
    """`text` turned counter-clockwise by its angle, its turned box placed by its anchor."""
    from PIL import Image, ImageDraw

    left, top, right, bottom = font(text.px).getbbox(text.text)
    stamp = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(stamp).text((1 - left, 1 - top), text.text, fill=255, font=font(text.px))
    stamp = stamp.rotate(text.angle, resample=Image.Resampling.BICUBIC, expand=True)
    stamp_width, stamp_height = stamp.size
    x = {"r": text.x - stamp_width, "m": text.x - stamp_width // 2}[text.anchor[0]]
    y = {"t": text.y, "m": text.y - stamp_height // 2}[text.anchor[1]]
    picture.paste(text.fill, (x, y), stamp)
