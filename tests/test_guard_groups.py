"""Guard rails of groups of seeds (`train --repeat`, `--seeds`, `--resume GROUP`, `compare
GROUP`): each case is one command, the message it must give, and a disk left as it was.

Groups here are made by hand from the session's trained run (two copies, as two seeds), so no
case trains."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cnnlab.reporting.groups import group_markdown, group_summary
from cnnlab.storage.folders import GroupFolder, RunFolder
from tests.guard_rails import TINY_CONFIG, assert_refused, snapshot

SEED_CASES = {
    "negative seeds": (["--seeds", "-1,-2"], "--seeds: seed -1 is not between 0 and 4294967295"),
    "a seed past 2**32 - 1": (["--seeds", "4294967296"], "--seeds: seed 4294967296 is not between 0"),
    "no seed in --seeds": (["--seeds", ""], "--seeds: no seed given"),
    "a seed twice": (["--seeds", "1,2,1"], "--seeds: seed 1 is given twice"),
    "seeds not numbers": (["--seeds", "a,b"], "'a,b' is not a list of whole numbers such as 1,2,3"),
    "too many runs": (["--repeat", "4294967296"], "--repeat: a group has 1 to 1,000 runs, not 4,294,967,296"),
    "1,001 seeds": (["--seeds", ",".join(map(str, range(1001)))], "--seeds: 1,001 seeds: a group has at most 1,000"),
    "no runs": (["--repeat", "0"], "Invalid value for '--repeat': 0 is not in the range x>=1"),
    "repeat and seeds": (["--repeat", "2", "--seeds", "1,2"], "give --repeat N (how many runs) or --seeds"),
    "repeat past the largest seed": (
        ["--repeat", "3", "--set", "seed=4294967294"],
        "--repeat: seeds 4294967294 to 4294967296 pass the largest seed, 4294967295",
    ),
    "a negative config seed": (
        ["--repeat", "2", "--set", "seed=-1"],
        "seed: Input should be greater than or equal to 0",
    ),
}


@pytest.mark.parametrize("case", list(SEED_CASES), ids=list(SEED_CASES))
def test_seeds_are_refused_before_any_folder_exists(run_cli, write, tmp_path, case):
    options, message = SEED_CASES[case]
    config = write("tiny.yaml", TINY_CONFIG)
    result = run_cli("train", config, *options, "--runs-dir", tmp_path / "runs")
    assert_refused(result, 2, message)
    assert not (tmp_path / "runs").exists()


def test_resume_takes_no_seeds(run_cli, trained_copy, tmp_path):
    run, _ = trained_copy
    before = snapshot(tmp_path / "runs")
    assert_refused(run_cli("train", "--resume", run, "--seeds", "1,2"), 2, "--resume continues one run")
    assert snapshot(tmp_path / "runs") == before


@pytest.fixture
def group(trained, tmp_path) -> GroupFolder:
    """A completed group of two runs (seeds 42 and 43) made from copies of the trained run."""
    run, _, _ = trained
    parent = tmp_path / "runs" / "tiny"
    members, manifests = [], {}
    for seed, stamp in ((42, "20260101-000001"), (43, "20260101-000002")):
        shutil.copytree(run, parent / stamp)
        members.append({"seed": seed, "run": stamp, "status": "completed"})
        manifests[stamp] = RunFolder(parent / stamp).manifest
    folder = GroupFolder(parent / "20260101-000000-x2")
    folder.path.mkdir()
    shutil.copy(run / "config.yaml", folder.config_file)
    summary = group_summary("tiny", str(folder.config_file), members, manifests, "completed")
    folder.write(summary, group_markdown(summary, manifests))
    return folder


def _record(text: str):
    return lambda group: (group.path / "group.json").write_text(text)


def _member_gone(group: GroupFolder) -> None:
    shutil.rmtree(group.path.parent / "20260101-000001")


def _both_gone(group: GroupFolder) -> None:
    for stamp in ("20260101-000001", "20260101-000002"):
        shutil.rmtree(group.path.parent / stamp)


def _runs_field(value):
    def damage(group: GroupFolder) -> None:
        summary = json.loads((group.path / "group.json").read_text())
        (group.path / "group.json").write_text(json.dumps({**summary, "runs": value}))

    return damage


GROUP_DAMAGE = {
    "group.json emptied to {}": (_record("{}"), "group.json: not a group record as cnnlab writes it (no name,"),
    "group.json cut short": (_record('{"name": "tiny", "ru'), "group.json: not valid JSON"),
    "group.json a list": (_record("[]"), "group.json: not a group record as cnnlab writes it (a list, not an object)"),
    "group.json not UTF-8": (
        lambda group: (group.path / "group.json").write_bytes(b'{"name": "\xff"}'),
        "group.json: not valid JSON",
    ),
    "runs not a list": (_runs_field("x"), "its runs are not listed as seed, run and status"),
    "a run without its seed": (_runs_field([{"run": "a", "status": "completed"}]), "its runs are not listed as"),
    "a member run deleted": (_member_gone, "its run 20260101-000001 (seed 42) is missing from"),
    "both member runs deleted": (
        _both_gone,
        "its runs 20260101-000001 (seed 42), 20260101-000002 (seed 43) are missing from",
    ),
}


@pytest.mark.parametrize("command", ["train --resume", "compare"])
@pytest.mark.parametrize("damage", list(GROUP_DAMAGE), ids=list(GROUP_DAMAGE))
def test_a_damaged_group_is_named_and_left_as_it_was(run_cli, group, tmp_path, damage, command):
    how, message = GROUP_DAMAGE[damage]
    how(group)
    before = snapshot(tmp_path / "runs")
    argv = ["train", "--resume", group.path] if command == "train --resume" else ["compare", group.path]
    assert_refused(run_cli(*argv, "--runs-dir", tmp_path / "runs"), 1, message)
    assert snapshot(tmp_path / "runs") == before


def test_a_group_is_not_one_run(run_cli, group):
    for command in ("evaluate", "summary", "visualize"):
        assert_refused(run_cli(command, group.path), 2, "is a group of runs (train --repeat), not one run")


def test_a_group_compared_with_a_run_is_refused(run_cli, group):
    run = group.path.parent / "20260101-000001"
    assert_refused(run_cli("compare", group.path, run), 2, "is not a group of runs: compare groups with groups")


def test_the_seeds_of_a_group_and_the_runs_it_names_are_what_group_json_says(group):
    """The fixture's group reads back as cnnlab wrote it (the damage above starts from a true record)."""
    summary = group.summary
    assert summary["seeds"] == [42, 43] and [m["run"] for m in summary["runs"]] == [
        "20260101-000001",
        "20260101-000002",
    ]
    assert group.missing_runs(summary["runs"]) == [] and Path(group.config_file).is_file()
