"""Round values for an axis or a colour bar: steps of 1, 2, 2.5 or 5 times a power of ten, about
five of them, as a plotting library would choose (matplotlib's MaxNLocator has the same steps).

    >>> steps(0.0, 0.95)
    [(0.0, '0.0'), (0.2, '0.2'), (0.4, '0.4'), (0.6, '0.6'), (0.8, '0.8')]
    >>> steps(0, 917, integers=True)
    [(0.0, '0'), (200.0, '200'), (400.0, '400'), (600.0, '600'), (800.0, '800')]
"""

from __future__ import annotations

import math


def steps(low: float, high: float, *, integers: bool = False, count: int = 5) -> list[tuple[float, str]]:
    """Round values from `low` to `high` (both included if round), each with its label, written
    with as many decimals as the step needs: 0.25 with two, 0.5 with one.

    >>> steps(0.31, 0.42)
    [(0.325, '0.325'), (0.35, '0.350'), (0.375, '0.375'), (0.4, '0.400')]
    """
    if not high > low:
        return [(float(low), _label(low, 0 if integers else 2))]
    rough = (high - low) / count
    power = 10 ** math.floor(math.log10(rough))
    step = next(f * power for f in (1, 2, 2.5, 5, 10) if f * power >= rough * 0.999)
    if integers:
        step = max(1, round(step))
    decimals = 0 if integers else max(0, -math.floor(math.log10(step) + 1e-9)) + (1 if step / power == 2.5 else 0)
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    return [(float(round(k * step, 10)), _label(k * step, decimals)) for k in range(first, last + 1)]


def _label(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return "0" + text[2:] if text.startswith("-0") and not text.strip("-0.") else text  # never "-0.0"


def whole_epochs(epochs: list[int]) -> tuple[tuple[float, float], list[int] | None]:
    """An epoch axis: half an epoch of room at each end (one epoch is a dot above "1", not a dot
    on an axis from 0.96 to 1.04), and every epoch as a tick while they are fewer than 13; None
    beyond, for round steps.

    >>> whole_epochs([1, 2, 3])
    ((0.5, 3.5), [1, 2, 3])
    >>> whole_epochs(list(range(1, 31)))[1] is None
    True
    """
    first, last = min(epochs, default=1), max(epochs, default=1)
    return (first - 0.5, last + 0.5), list(range(first, last + 1)) if last - first < 12 else None
