"""Run folders and atomic files: no two runs share a folder, no crash leaves half a file."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cnnlab.fileio import replacing, write_atomic
from cnnlab.storage.lookup import create_run_folder, list_runs

SAME_SECOND = dt.datetime(2026, 11, 22, 10, 15, 0)


def _create_in_process(runs_dir: str) -> str:
    return str(create_run_folder(Path(runs_dir), "net", SAME_SECOND))


def test_runs_started_in_the_same_second_get_different_folders(tmp_path):
    with ThreadPoolExecutor(max_workers=8) as pool:
        folders = list(pool.map(lambda _: create_run_folder(tmp_path, "net", SAME_SECOND), range(8)))
    assert len(set(folders)) == 8
    assert sorted(f.name for f in folders) == ["20261122-101500"] + [f"20261122-101500-{i}" for i in range(1, 8)]


def test_concurrent_processes_get_different_folders(tmp_path):
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        folders = pool.map(_create_in_process, [str(tmp_path)] * 6)
    assert len(set(folders)) == 6


def test_runs_are_ordered_by_time_then_suffix(tmp_path):
    for name in ("20261122-101500-10", "20261122-101500-2", "20261121-235959", "20261122-101500"):
        folder = tmp_path / "net" / name
        folder.mkdir(parents=True)
        (folder / "config.yaml").write_text("name: net\n")
    assert [r.name for r in list_runs(tmp_path)] == [
        "20261121-235959",
        "20261122-101500",
        "20261122-101500-2",
        "20261122-101500-10",
    ]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "report.md"
    write_atomic(target, "old")
    with pytest.raises(KeyboardInterrupt):
        with replacing(target) as temporary:
            temporary.write_text("half a repo")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]
