"""Guard rails of searches and their processes (`tune --workers`, `--chief`, `--worker-of`,
`--slurm`, `--resume`): each case is one command, the message it must give, and no search or
worker folder made, nor one changed. No case trains or starts a process."""

from __future__ import annotations

import shutil

import pytest

from tests.guard_rails import TINY_CONFIG, assert_refused, snapshot

SEARCH = TINY_CONFIG + "search: {max_trials: 2, space: {train.batch_size: [8, 16]}}\n"
SLURM = ("SLURM_PROCID", "SLURM_JOB_NODELIST", "SLURM_JOB_ID")

CASES = {
    "a chief's port past 65535": (["--chief", "127.0.0.1:99999"], 2, "--chief: '127.0.0.1:99999' is not HOST:PORT"),
    "a chief's port of 0": (["--chief", "127.0.0.1:0"], 2, "with a port from 1 to 65535"),
    "a chief without a port": (["--chief", "nohost"], 2, "--chief: 'nohost' is not HOST:PORT"),
    "a worker's chief without a port": (["--worker-of", "nohost"], 2, "--worker-of: 'nohost' is not HOST:PORT"),
    "a worker's chief's port past 65535": (["--worker-of", "h:70000"], 2, "--worker-of: 'h:70000' is not HOST:PORT"),
    "workers and a chief": (
        ["--workers", "2", "--chief", "127.0.0.1:8470"],
        2,
        "give one of --workers, --chief, --worker-of and --slurm, not --workers and --chief",
    ),
    "no workers": (["--workers", "0"], 2, "Invalid value for '--workers': 0 is not in the range x>=1"),
    "a worker that confirms": (
        ["--worker-of", "127.0.0.1:8470", "--confirm", "2"],
        2,
        "--confirm and --max-trials belong to the chief, not to a worker",
    ),
    "a confirm of one": (["--confirm", "1"], 2, "Invalid value for '--confirm': 1 is not in the range x>=2"),
    "a negative wait": (["--wait", "-5"], 2, "Invalid value for '--wait': -5.0 is not in the range x>=0"),
    "slurm outside a SLURM job": (["--slurm"], 2, "--slurm: --slurm reads SLURM_PROCID"),
    "a config with data_parallel": (
        ["--set", "runtime.backend=jax", "--set", "runtime.distribute=data_parallel"],
        2,
        "a search runs each trial in one process (spread the trials instead: --workers N) — set distribute: none",
    ),
    "no trials": (["--max-trials", "0"], 2, "Invalid value for '--max-trials': 0 is not in the range x>=1"),
    "a lease of 0 s": (["--env", "CNNLAB_LEASE_SECONDS=0"], 2, "CNNLAB_LEASE_SECONDS: '0' is not a number of seconds"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_search_that_cannot_start_makes_no_folder(run_cli, write, tmp_path, monkeypatch, case):
    options, code, message = CASES[case]
    for name in SLURM:
        monkeypatch.delenv(name, raising=False)
    if options[0] == "--env":  # a setting of the environment, not an option
        monkeypatch.setenv(*options[1].split("="))
        options = []
    if "jax" in " ".join(options):
        pytest.importorskip("jax")
    config = write("s.yaml", SEARCH)
    result = run_cli("tune", config, *options, "--runs-dir", tmp_path / "runs")
    assert_refused(result, code, message)
    assert not (tmp_path / "runs").exists()


def test_a_config_without_a_search_is_refused(run_cli, write, tmp_path):
    result = run_cli("tune", write("t.yaml", TINY_CONFIG), "--runs-dir", tmp_path / "runs")
    assert_refused(result, 2, "search: this config has no search: section")
    assert not (tmp_path / "runs").exists()


def _folder(tmp_path, name: str, config: str):
    folder = tmp_path / "runs" / "tiny" / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(config)
    return folder


RESUMES = {
    "a worker's folder": (
        lambda tmp: _folder(tmp, "worker-20260101-000000", SEARCH),
        [],
        "is a worker's folder (the logs of the trials it ran), not a search",
    ),
    "a training run": (
        lambda tmp: _folder(tmp, "20260101-000000", TINY_CONFIG),
        [],
        "is a training run, not a search folder (its config has no search:)",
    ),
    "a folder that is not there": (lambda tmp: tmp / "runs" / "nowhere", [], "is not a search folder (it has no"),
    "a search given --set": (
        lambda tmp: _folder(tmp, "tune-20260101-000000", SEARCH),
        ["--set", "train.epochs=2"],
        "--set changes what the trials so far were scored on",
    ),
    "a search given a config too": (
        lambda tmp: _folder(tmp, "tune-20260101-000000", SEARCH),
        ["CONFIG"],
        "give a CONFIG to search, or --resume DIR (not both)",
    ),
}


@pytest.mark.parametrize("case", list(RESUMES), ids=list(RESUMES))
def test_a_folder_that_is_no_search_to_resume_is_refused_and_left_alone(run_cli, write, tmp_path, case):
    make, extra, message = RESUMES[case]
    folder = make(tmp_path)
    config = write("s.yaml", SEARCH)
    extra = [str(config) if word == "CONFIG" else word for word in extra]
    before = snapshot(tmp_path / "runs")
    result = run_cli("tune", *extra, "--resume", folder, "--runs-dir", tmp_path / "runs")
    assert_refused(result, 2, message)
    assert snapshot(tmp_path / "runs") == before
    shutil.rmtree(tmp_path / "runs", ignore_errors=True)
