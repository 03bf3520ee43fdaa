"""Learning rates written as fractions of the run: sized to the steps each run takes, so a quick
look, a longer run or a search trial gets a whole schedule."""

from __future__ import annotations

import keras
import pytest

from cnnlab.config import load_config
from cnnlab.errors import ConfigError
from cnnlab.model.compiling import build_optimizer, sized_schedule
from cnnlab.storage.folders import RunFolder
from cnnlab.storage.lookup import list_runs
from tests.conftest import TINY


def _config(write, learning_rate: str, epochs: int = 3):
    """The tiny config with another learning rate; its train: line is line 13."""
    train = TINY.replace("learning_rate: 0.003", f"learning_rate: {learning_rate}")
    return write("c.yaml", train.replace("epochs: 3,", f"epochs: {epochs},"))


def test_a_warmup_fraction_becomes_steps_of_each_run_length(write):
    cfg = load_config(_config(write, "{warmup_cosine: {peak: 0.01, warmup: 0.1}}"))
    short, long = sized_schedule(cfg, 200), sized_schedule(cfg, 1000)
    assert (short.warmup_steps, short.decay_steps) == (20, 180)  # 10 % of 200, then the rest
    assert (long.warmup_steps, long.decay_steps) == (100, 900)
    for schedule, total in ((short, 200), (long, 1000)):
        assert float(schedule(0)) == 0.0  # from 0 ...
        assert float(schedule(total // 10)) == pytest.approx(0.01)  # ... up to the peak at the warm-up's end
        assert float(schedule(total // 10 + (total - total // 10) // 2)) == pytest.approx(0.005)  # cosine half-way
        assert float(schedule(total)) == pytest.approx(0.0, abs=1e-9)  # and down to 0 at the run's end


def test_one_cycle_rises_from_a_25th_of_its_peak_and_ends_near_zero(write):
    cfg = load_config(_config(write, "{one_cycle: {peak: 0.01}}"))
    schedule = sized_schedule(cfg, 1000)
    assert (schedule.warmup_steps, schedule.decay_steps) == (300, 700)  # 30 % warm-up
    assert float(schedule(0)) == pytest.approx(0.01 / 25)
    assert float(schedule(300)) == pytest.approx(0.01)
    assert float(schedule(1000)) == pytest.approx(0.01 / 1e5)


def test_a_run_too_short_to_warm_up_starts_at_its_peak(write):
    cfg = load_config(_config(write, "{warmup_cosine: {peak: 0.01, warmup: 0.05}}"))
    schedule = sized_schedule(cfg, 8)  # 5 % of 8 steps rounds to none
    assert (schedule.warmup_steps, schedule.decay_steps, float(schedule(0))) == (0, 8, pytest.approx(0.01))


def test_a_rate_not_written_as_fractions_is_left_to_keras(write):
    assert sized_schedule(load_config(_config(write, "0.003")), 100) is None
    step_sized = "{CosineDecay: {initial_learning_rate: 0.01, decay_steps: 10}}"
    assert sized_schedule(load_config(_config(write, step_sized)), 100) is None


@pytest.mark.parametrize(
    ("config", "steps", "warmup", "decay", "peak"),
    [
        ("mnist_fast", 938, 47, 891, 1.0e-2),  # 60,000 / 64 = 938 steps x 1 epoch
        ("mnist_search", 1688, 100, 1588, 5.0e-3),  # 54,000 / 64 = 844 x 2
        ("mnist_best", 7035, 300, 6735, 3.0e-3),  # 60,000 / 128 = 469 x 15
        ("fashion_mnist_best", 9380, 300, 9080, 3.0e-3),  # 469 x 20
    ],
)
def test_each_shipped_config_at_full_length_is_the_schedule_its_accuracy_was_measured_with(
    config, steps, warmup, decay, peak
):
    # The headers' accuracies were measured with these step-sized CosineDecays; the fractions
    # must resolve to exactly them, or the headers no longer describe the configs.
    schedule = sized_schedule(load_config(f"configs/{config}.yaml"), steps)
    assert (schedule.warmup_steps, schedule.decay_steps) == (warmup, decay)
    assert (schedule.initial_learning_rate, schedule.warmup_target, schedule.alpha) == (0.0, peak, 0.0)


@pytest.mark.trains
def test_a_run_sizes_its_schedule_to_its_own_epochs(run_cli, write, tmp_path):
    """A 3-epoch and a 6-epoch run each get a whole schedule; so does a completed 3-epoch run
    trained further (`--resume RUN --epochs 6`): it ends where the 6-epoch run's cosine ends."""
    config = _config(write, "{warmup_cosine: {peak: 0.01, warmup: 0.25}}")
    sized = {}

    def schedule(run):
        # The checkpoint holds Keras' own schedule, sized: plain Keras loads it without cnnlab.
        optimizer = keras.saving.load_model(RunFolder(run).checkpoint("last")).optimizer
        saved = optimizer.get_config()["learning_rate"]
        assert saved["class_name"] == "CosineDecay"
        return saved["config"]["warmup_steps"], saved["config"]["decay_steps"], int(optimizer.iterations)

    for epochs in (3, 6):
        runs = tmp_path / f"runs{epochs}"
        result = run_cli("train", config, "--runs-dir", runs, "--set", f"train.epochs={epochs}")
        assert result.exit_code == 0, result.output  # evaluated too: best.keras loaded back
        (run,) = list_runs(runs)
        sized[epochs] = schedule(run)
    (run,) = list_runs(tmp_path / "runs3")
    result = run_cli("train", "--resume", run, "--epochs", "6", "--runs-dir", tmp_path / "runs3")
    assert result.exit_code == 0, result.output
    sized["3, then 6"] = schedule(run)
    # 192 images less the 10 % validation split, at batch 8: 22 steps an epoch. 3 epochs: 66
    # steps, a quarter (16.5, rounded to even) of warm-up; 6 epochs: 132 steps, 33 of warm-up.
    # Each run ends where its cosine does; one trained further ends where a 6-epoch run's does.
    assert sized == {3: (16, 50, 66), 6: (33, 99, 132), "3, then 6": (33, 99, 132)}


@pytest.mark.parametrize(
    ("learning_rate", "key", "message", "hint"),
    [
        (
            "{warmup_cosine: {peak: 0.01, warmup: 1.5}}",
            "train.optimizer.learning_rate.warmup_cosine.warmup",
            "WarmupCosine refuses this value: warmup is a fraction of the run's steps, from 0 up to below 1; got 1.5",
            "",
        ),
        (
            "{warmup_cosine: {peek: 0.01}}",
            "train.optimizer.learning_rate.warmup_cosine.peek",
            "unknown argument of WarmupCosine",
            "did you mean peak?",
        ),
        (
            "{warmup_cosin: {peak: 0.01}}",
            "train.optimizer.learning_rate.warmup_cosin",
            "unknown learning-rate schedule 'warmup_cosin'",
            "did you mean warmup_cosine?",
        ),
        (
            "{one_cycle: {peak: 0.01, end: 0.1}}",
            "train.optimizer.learning_rate.one_cycle.end",
            "OneCycle refuses this value: end must be from 0 up to 0.01, the highest rate; got 0.1",
            "",
        ),
    ],
    ids=["warmup past the end", "misspelt argument", "misspelt name", "end above peak"],
)
def test_a_mistake_in_a_fraction_schedule_is_located_at_its_argument(write, learning_rate, key, message, hint):
    path = _config(write, learning_rate)
    with pytest.raises(ConfigError) as caught:
        build_optimizer(load_config(path))
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.key) == (str(path), 13, key)  # the train: line
    assert (problem.message, problem.hint) == (message, hint)
