"""Guard rails of learning rates and schedules (`train.optimizer.learning_rate`, schedules as
fractions of the run): each case is one value, the located message `cnnlab check` gives, and
no run folder from `cnnlab train`."""

from __future__ import annotations

import pytest

from tests.guard_rails import TINY_CONFIG, assert_refused

WHERE = "train.optimizer.learning_rate"
CASES = {
    "a rate of 0": ("0", f"{WHERE}: a learning rate is a number above 0, not 0"),
    "a rate below 0": ("-0.01", f"{WHERE}: a learning rate is a number above 0, not -0.01"),
    "an infinite rate": (".inf", f"{WHERE}: a learning rate is a number above 0, not inf"),
    "a peak of 0": ("{warmup_cosine: {peak: 0}}", f"{WHERE}.warmup_cosine.peak: WarmupCosine refuses this value"),
    "a peak that is no number": (
        "{warmup_cosine: {peak: abc}}",
        f"{WHERE}.warmup_cosine.peak: WarmupCosine refuses this value: peak must be a number, got 'abc'",
    ),
    "a peak that is NaN": ("{warmup_cosine: {peak: .nan}}", "peak must be above 0, got nan"),
    "no peak": ("{warmup_cosine: {}}", f"{WHERE}.warmup_cosine: WarmupCosine needs peak — give peak: VALUE"),
    "a warm-up past the run": (
        "{warmup_cosine: {peak: 1.0e-3, warmup: 1.5}}",
        "warmup is a fraction of the run's steps, from 0 up to below 1; got 1.5",
    ),
    "a negative warm-up": ("{warmup_cosine: {peak: 1.0e-3, warmup: -0.1}}", "from 0 up to below 1; got -0.1"),
    "a warm-up of the whole run": ("{warmup_cosine: {peak: 1.0e-3, warmup: 1}}", "from 0 up to below 1; got 1"),
    "an end that is no number": (
        "{warmup_cosine: {peak: 1.0e-3, end: abc}}",
        f"{WHERE}.warmup_cosine.end: WarmupCosine refuses this value: end must be a number, got 'abc'",
    ),
    "an end above the peak": (
        "{warmup_cosine: {peak: 1.0e-3, end: 0.1}}",
        "end must be from 0 up to 0.001, the highest rate; got 0.1",
    ),
    "a one-cycle start above the peak": ("{one_cycle: {peak: 1.0e-3, start: 1}}", f"{WHERE}.one_cycle.start: OneCycle"),
    "arguments that are no mapping": (
        "{warmup_cosine: 3}",
        "the arguments of warmup_cosine must be a mapping, not 3 — for example {warmup_cosine: {peak: 1.0e-3,",
    ),
    "an unknown argument": (
        "{warmup_cosine: {peak: 1.0e-3, bogus: 1}}",
        f"{WHERE}.warmup_cosine.bogus: unknown argument of WarmupCosine",
    ),
    "an unknown schedule": (
        "{warm_cosine: {peak: 1.0e-3}}",
        "unknown learning-rate schedule 'warm_cosine' — did you mean warmup_cosine?",
    ),
    "a schedule like none known": (
        "{zzz: {peak: 1.0e-3}}",
        f"{WHERE}.zzz: unknown learning-rate schedule 'zzz' — known: warmup_cosine, one_cycle, CosineDecay,",
    ),
    "two schedules": (
        "{warmup_cosine: {peak: 1.0e-3}, one_cycle: {peak: 1.0e-3}}",
        f"{WHERE}: a schedule is a name or a one-key mapping",
    ),
    "a Keras schedule of 0 steps": (
        "{CosineDecay: {initial_learning_rate: 0.01, decay_steps: 0}}",
        "CosineDecay.decay_steps: Keras refuses this value",
    ),
    "a callback that sets the rate": ("0.01", None),  # see CALLBACK below
}
CALLBACK = " callbacks: [{LearningRateScheduler: {schedule: step}}]"


# `train` refuses in the same plan as `check`, before its run folder; three cases show it.
BOTH = ("a rate below 0", "no peak", "a callback that sets the rate")


@pytest.mark.parametrize(
    "case, command",
    [(case, "check") for case in CASES] + [(case, "train") for case in BOTH],
    ids=[*CASES, *(f"{case} (train)" for case in BOTH)],
)
def test_a_learning_rate_that_cannot_work_is_refused_at_its_line(run_cli, write, tmp_path, case, command):
    rate, message = CASES[case]
    text = TINY_CONFIG.replace("learning_rate: 0.003}", f"learning_rate: {rate}}}")
    if message is None:  # cnnlab sizes schedules itself; a scheduler callback would fight it
        text = text.replace("}}\n", "}," + CALLBACK + "}\n")
        message = "LearningRateScheduler is managed by cnnlab"
    config = write("lr.yaml", text)
    result = run_cli(command, config, *(["--runs-dir", tmp_path / "runs"] if command == "train" else []))
    assert_refused(result, 2, message)
    assert f"{config.name}:1" in result.stderr  # located at its line (10 to 14)
    assert not (tmp_path / "runs").exists()
