"""The two colour maps of the pictures Pillow draws, as matplotlib defines them, without importing
matplotlib (a sixth of a second in every process that draws a run's report): "Blues" for the
confusion matrix, "jet" for the Grad-CAM heat maps. Both are tables of 256 colours, interpolated
between the same anchors and looked up the same way as matplotlib's, so a value gets the very
colour matplotlib gives it.

    >>> blues(np.array([0.0, 1.0])).round(3).tolist()
    [[0.969, 0.984, 1.0], [0.031, 0.188, 0.42]]
"""

from __future__ import annotations

import numpy as np

N = 256

# ColorBrewer's nine blues, evenly spaced from 0 to 1
_BLUES = ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"]

# (position, value) anchors of each channel
_JET = (
    ((0.0, 0), (0.35, 0), (0.66, 1), (0.89, 1), (1.0, 0.5)),
    ((0.0, 0), (0.125, 0), (0.375, 1), (0.64, 1), (0.91, 0), (1.0, 0)),
    ((0.0, 0.5), (0.11, 1), (0.34, 1), (0.65, 0), (1.0, 0)),
)


def _table(channels) -> np.ndarray:
    """(N, 3) colours: each channel interpolated linearly between its anchors."""
    at = np.linspace(0.0, 1.0, N)
    return np.stack([np.interp(at, [p for p, _ in anchors], [v for _, v in anchors]) for anchors in channels], axis=-1)


def _from_hex(colours: list[str]):
    rgb = [[int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)] for colour in colours]
    positions = np.linspace(0.0, 1.0, len(colours))
    return [tuple(zip(positions, channel)) for channel in zip(*rgb)]


_TABLES = {"Blues": _table(_from_hex(_BLUES)), "jet": _table(_JET)}


def _look_up(name: str, values) -> np.ndarray:
    """RGB (0..1) for `values` in 0..1, any shape: the table's entry int(value * N), the last one
    for 1, as matplotlib's Colormap does."""
    index = np.clip((np.nan_to_num(np.asarray(values, dtype=float)) * N).astype(int), 0, N - 1)
    return _TABLES[name][index]


def blues(values) -> np.ndarray:
    return _look_up("Blues", values)


def jet(values) -> np.ndarray:
    return _look_up("jet", values)
