"""One `RunFolder` per command: what a command writes it keeps in memory, so it never reads its own
files back, and what an earlier command wrote it reads once."""

from __future__ import annotations

import builtins
import io
from collections import Counter
from pathlib import Path

import pytest

from cnnlab.storage.folders import RunFolder
from cnnlab.storage.lookup import list_runs
from tests.conftest import TINY

RECORDS = (RunFolder.CONFIG, RunFolder.MANIFEST, RunFolder.HISTORY, "metrics.json", "predictions.npz")


@pytest.fixture
def reads(monkeypatch, tmp_path):
    """Counts, by file name, the files below tmp_path that Python opens for reading."""
    counted: Counter = Counter()
    real_open = io.open

    def counting_open(file, mode="r", *args, **kwargs):
        path = Path(file) if isinstance(file, (str, Path)) else None
        if path is not None and "r" in mode and "+" not in mode and path.is_relative_to(tmp_path):
            counted[path.name] += 1
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(io, "open", counting_open)
    return counted


def test_training_never_reads_back_the_records_it_writes(run_cli, write, tmp_path, reads):
    # A second phase (fine-tuning) starts a second fit: its callbacks must not re-read the history.
    fine_tuned = TINY.replace("epochs: 3,", "epochs: 2, fine_tune: {epochs: 1, learning_rate: 0.001},")
    config = write("t.yaml", fine_tuned.replace("model:\n  layers:", "model:\n  freeze: [0]\n  layers:"))
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    read_back = {name: reads[name] for name in RECORDS if reads[name]}
    assert result.exit_code == 0, result.output
    (run,) = list_runs(tmp_path / "runs")
    assert [line.split(",")[0] for line in (run / RunFolder.HISTORY).read_text().splitlines()[1:]] == ["1", "2", "3"]
    assert read_back == {}


def test_evaluate_reads_each_record_of_the_run_once(run_cli, trained_copy, reads):
    run, _ = trained_copy
    result = run_cli("evaluate", run)
    assert result.exit_code == 0, result.output
    for name in (RunFolder.CONFIG, RunFolder.MANIFEST, RunFolder.HISTORY):
        assert reads[name] == 1, (name, reads)
    assert reads["metrics.json"] == 0 and reads["predictions.npz"] == 0  # written, never read back
