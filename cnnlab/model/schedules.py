"""Learning-rate schedules written as fractions of the run, so they fit any run length.

Keras' own schedules count steps: a `CosineDecay` sized for 60,000 images and 2 epochs stops in
its warm-up on a tenth of the data, and runs at its final rate when given more epochs. A config
can say instead "warm up for 5 % of the steps, then a cosine down to zero":

    learning_rate: {warmup_cosine: {peak: 5.0e-3, warmup: 0.05}}

and the fit loop resolves it to Keras' own `CosineDecay` once it knows how many steps the run
takes. The checkpoints hold Keras' schedule, so they load in Keras without cnnlab.

    >>> schedule = WarmupCosine(peak=1.0e-3, warmup=0.05).sized(1000)
    >>> type(schedule).__name__, schedule.warmup_steps, schedule.decay_steps
    ('CosineDecay', 50, 950)
"""

from __future__ import annotations

import keras


class RunSchedule:
    """A linear warm-up from `start` to `peak` over `warmup` (a fraction of the run's steps),
    then a cosine from `peak` down to `end` over the other steps."""

    def __init__(self, peak: float, warmup: float, start: float, end: float):
        for name, value in (("peak", peak), ("warmup", warmup), ("start", start), ("end", end)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, got {value!r}")
        if not peak > 0:
            raise ValueError(f"peak must be above 0, got {peak}")
        if not 0 <= warmup < 1:
            raise ValueError(f"warmup is a fraction of the run's steps, from 0 up to below 1; got {warmup}")
        for name, value in (("start", start), ("end", end)):
            if not 0 <= value <= peak:
                raise ValueError(f"{name} must be from 0 up to {peak:g}, the highest rate; got {value:g}")
        self.peak, self.warmup, self.start, self.end = float(peak), float(warmup), float(start), float(end)

    def sized(self, total_steps: int) -> keras.optimizers.schedules.CosineDecay:
        """Keras' schedule for a run of `total_steps` optimizer steps."""
        total = max(int(total_steps), 1)
        warmup_steps = min(round(self.warmup * total), total - 1)
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=self.start if warmup_steps else self.peak,
            decay_steps=total - warmup_steps,
            alpha=self.end / self.peak,
            warmup_target=self.peak if warmup_steps else None,
            warmup_steps=warmup_steps,
        )


class WarmupCosine(RunSchedule):
    """`{warmup_cosine: {peak: 5.0e-3, warmup: 0.05}}`: up from 0, then a cosine down to `end`."""

    def __init__(self, peak: float, warmup: float = 0.05, end: float = 0.0):
        super().__init__(peak, warmup, 0.0, end)


class OneCycle(RunSchedule):
    """`{one_cycle: {peak: 5.0e-3}}`: the one-cycle policy as fastai runs it: up from peak/25
    over 30 % of the run, then a cosine down to peak/10^5."""

    def __init__(self, peak: float, warmup: float = 0.3, start: float | None = None, end: float | None = None):
        super().__init__(peak, warmup, peak / 25 if start is None else start, peak / 1e5 if end is None else end)


# The names a config gives them, beside Keras' own schedule classes.
RUN_SCHEDULES: dict[str, type[RunSchedule]] = {"warmup_cosine": WarmupCosine, "one_cycle": OneCycle}
