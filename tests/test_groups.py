"""Answers that hold across seeds: `cnnlab train --repeat N` (a group of runs, one per seed) and
`cnnlab compare GROUP_A GROUP_B` (Welch's t-test across seeds, McNemar per seed pair)."""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tests.conftest import TINY, markdown_tables, mcnemar_per_seed, mcnemar_splits

pytestmark = pytest.mark.trains


def _runs(group: Path) -> list[Path]:
    return [group.parent / member["run"] for member in json.loads((group / "group.json").read_text())["runs"]]


def test_repeat_trains_one_evaluated_run_per_seed_and_the_group_summarises_their_metrics(groups):
    group, _ = groups
    summary = json.loads((group / "group.json").read_text())
    runs = _runs(group)
    assert summary["status"] == "completed" and summary["seeds"] == [42, 43, 44] and len(set(runs)) == 3
    manifests = [json.loads((run / "manifest.json").read_text()) for run in runs]
    assert [m["seed"] for m in manifests] == [42, 43, 44] and {m["status"] for m in manifests} == {"completed"}
    for metric in ("accuracy", "loss"):
        values = [json.loads((run / "metrics.json").read_text())[metric] for run in runs]
        score = summary["test"][metric]
        assert score["values"] == values
        assert score["mean"] == pytest.approx(statistics.mean(values), abs=1e-12)
        assert score["sd"] == pytest.approx(statistics.stdev(values), abs=1e-12)
        half = stats.t.ppf(0.975, 2) * statistics.stdev(values) / np.sqrt(3)
        low, high = statistics.mean(values) - half, statistics.mean(values) + half
        top = 1.0 if metric == "accuracy" else np.inf  # an accuracy's interval stops at 1, a loss's at 0
        assert (score["low"], score["high"]) == pytest.approx((max(low, 0.0), min(high, top)))
        assert score["clipped"] == [end for end, cut in (("low", low < 0), ("high", high > top)) if cut]
    seconds = [m["timing"]["train_seconds"] for m in manifests]
    assert summary["train_seconds"]["mean"] == pytest.approx(statistics.mean(seconds))
    assert "| mean ± sd |" in (group / "group.md").read_text()


def test_compare_groups_json_gives_welch_p_and_mcnemar_per_seed(run_cli, groups):
    a, b = groups
    result = run_cli("compare", a, b, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (pair,) = report["pairs"]
    by_label = {g["group"]: g["test"]["accuracy"]["values"] for g in report["groups"]}
    first, second = by_label[pair["a"]], by_label[pair["b"]]
    expected = stats.ttest_ind(first, second, equal_var=False)
    assert pair["p_welch"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert pair["difference"] == pytest.approx(np.mean(first) - np.mean(second))
    low, high = expected.confidence_interval(0.95)
    assert (pair["difference_low"], pair["difference_high"]) == pytest.approx((low, high))
    # McNemar per seed: the runs of one seed, A's against B's, on their shared test set
    groups_by_label = {g["group"]: g for g in report["groups"]}
    runs_a, runs_b = groups_by_label[pair["a"]]["runs"], groups_by_label[pair["b"]]["runs"]
    expected_mcnemar = mcnemar_per_seed(runs_a, runs_b)
    assert pair["p_mcnemar"] == pytest.approx(expected_mcnemar) and len(expected_mcnemar) == 3
    assert [m["seeds"] for m in pair["mcnemar"]] == [[42, 42], [43, 43], [44, 44]]
    splits = [(only_a, only_b) for only_a, only_b, _ in mcnemar_splits(runs_a, runs_b)]
    assert [(m["only_a"], m["only_b"]) for m in pair["mcnemar"]] == splits  # what only A, only B got right


def test_compare_groups_says_in_words_whether_the_verdict_holds_and_draws_each_seed(run_cli, groups, tmp_path):
    a, b = groups
    result = run_cli("compare", a, b, "--report", tmp_path / "report")
    assert result.exit_code == 0, result.output
    assert "across seeds" in result.stdout and "Welch p" in result.stdout
    page = (tmp_path / "report" / "compare.md").read_text()
    assert "Does the difference hold across seeds?" in page and "seeds.png" in page
    # what sd, the interval and the two tests are, said in full (the bug: a paragraph lost or garbled)
    paragraphs = [part.strip() for part in page.split("\n\n") if part.strip()[:1] not in ("#", "|", "!", "-", "")]
    assert paragraphs == [
        "Each group is one config trained with several seeds. Sorted by mean test accuracy, best first; "
        "sd is the standard deviation over the seeds, the interval the mean's (Student's t).",
        "Welch's t-test on the per-seed test scores asks whether another seed would change the answer; "
        "below 0.05 the config with the better mean is called better. McNemar's exact test on each seed's "
        "pair of runs asks only whether those two trained models differ on this test set.",
    ]
    html = (tmp_path / "report" / "compare.html").read_text()
    assert re.findall(r"<title>(.*?)</title>", html) == ["cnnlab comparison of groups"]
    assert all(paragraph.replace("'", "&#x27;") in html for paragraph in paragraphs)
    assert (tmp_path / "report" / "seeds.png").stat().st_size > 5000


def _t_interval(values: list[float], top: float, digits: int) -> str:
    """The mean's 95 % Student t interval, its ends cut to the score's range [0, top] and named."""
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / np.sqrt(len(values))
    low, high = statistics.mean(values) - half, statistics.mean(values) + half
    text = f"{max(low, 0.0):.{digits}f} to {min(high, top):.{digits}f}"
    cut = [f"{end:g}" for end, beyond in ((0, low < 0), (top, high > top)) if beyond]
    if cut:
        text += f" (clipped at {' and '.join(cut)}: the t interval passes {'it' if len(cut) == 1 else 'them'})"
    return text


GROUP_COLUMNS = [
    "group",
    "runs",
    "parameters",
    "test accuracy mean",
    "test accuracy sd",
    "95 % interval",
    "train s (mean)",
]  # of compare --csv and compare.md for groups, as a reader sees them
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def same_figures(shown: list[list[str]], expected: list[list[str]]) -> bool:
    """Cell by cell, the same words and the same numbers, each number to one unit of its last
    shown decimal: a mean computed in another order (NumPy against `statistics`) may round a
    ...5 the other way (CI saw 1.3 for 1.35). A wrong column or figure still differs by more.

    >>> same_figures([["mean", "1.3 ± 0.5"]], [["mean", "1.4 ± 0.5"]]), same_figures([["151"]], [["152"]])
    (True, False)
    >>> same_figures([["0.12345"]], [["0.1235"]])  # shown to another number of decimals
    False
    """
    if len(shown) != len(expected) or any(len(a) != len(b) for a, b in zip(shown, expected)):
        return False
    for got, want in zip((c for row in shown for c in row), (c for row in expected for c in row)):
        if NUMBER.sub("#", got) != NUMBER.sub("#", want):
            return False
        for a, b in zip(NUMBER.findall(got), NUMBER.findall(want)):
            decimals = len(b.partition(".")[2])
            if len(a.partition(".")[2]) != decimals:
                return False
            if a != b and (not decimals or abs(float(a) - float(b)) > 10.0**-decimals * 1.0001):
                return False  # a whole number (a count, a seed, a stamp) must be the same
    return True


def test_group_md_and_the_groups_compare_md_cell_by_cell_against_each_runs_records_and_scipy(run_cli, groups, tmp_path):
    """group.md: each seed's row from its run's metrics.json and manifest, then the mean ± sd
    (`statistics`) and the t interval (SciPy) of each column. compare.md of two groups: the same
    means, Welch's test (SciPy's ttest_ind) and McNemar per seed (SciPy's binomtest)."""
    records, seconds_of = {}, {}
    for group in groups:
        runs = _runs(group)
        metrics = [json.loads((run / "metrics.json").read_text()) for run in runs]
        seconds = [json.loads((run / "manifest.json").read_text())["timing"]["train_seconds"] for run in runs]
        accuracy, loss = [m["accuracy"] for m in metrics], [m["loss"] for m in metrics]
        records[group], seconds_of[group] = accuracy, seconds
        page = (group / "group.md").read_text()
        table = markdown_tables(page)[None]
        summary = json.loads((group / "group.json").read_text())
        (said,) = [line for line in page.splitlines() if line.startswith(f"`{summary['config']}`")]
        assert same_figures(
            [[said]],
            [
                [
                    f"`{summary['config']}`, completed: test accuracy {statistics.mean(accuracy):.4f} ± "
                    f"{statistics.stdev(accuracy):.4f} (95 % interval {_t_interval(accuracy, 1.0, 4)}; "
                    "3 of 3 seeds: 42, 43, 44)"
                ]
            ],
        ), said
        assert table[:4] == [
            ["seed", "run", "status", "test accuracy", "test loss", "train s"],
            *(
                [str(seed), run.name, "completed", f"{a:.4f}", f"{lo:.4f}", f"{s:.1f}"]
                for seed, run, a, lo, s in zip((42, 43, 44), runs, accuracy, loss, seconds)
            ),
        ]
        assert same_figures(
            table,
            [
                ["seed", "run", "status", "test accuracy", "test loss", "train s"],
                *(
                    [str(seed), run.name, "completed", f"{a:.4f}", f"{lo:.4f}", f"{s:.1f}"]
                    for seed, run, a, lo, s in zip((42, 43, 44), runs, accuracy, loss, seconds)
                ),
                ["mean ± sd", "", ""]
                + [
                    f"{statistics.mean(v):.{d}f} ± {statistics.stdev(v):.{d}f}"
                    for v, d in ((accuracy, 4), (loss, 4), (seconds, 1))
                ],
                ["95 % interval", "", ""]
                + [_t_interval(accuracy, 1.0, 4), _t_interval(loss, np.inf, 4), _t_interval(seconds, np.inf, 1)],
            ],
        ), table

    result = run_cli("compare", *groups, "--report", tmp_path / "report")
    assert result.exit_code == 0, result.output
    tables = markdown_tables((tmp_path / "report" / "compare.md").read_text())
    best, other = sorted(groups, key=lambda group: -statistics.mean(records[group]))
    label = {group: f"{group.parent.name}/{group.name}" for group in groups}
    assert same_figures(
        tables[None],
        [
            GROUP_COLUMNS,
            *(
                [
                    label[g],
                    "3",
                    "151",  # by hand: conv 3*3*1*4 + 4 = 40; pooled 3*3*4 = 36 values, dense 36*3 + 3 = 111
                    f"{statistics.mean(records[g]):.4f}",
                    f"{statistics.stdev(records[g]):.4f}",
                    _t_interval(records[g], 1.0, 4),
                    f"{statistics.mean(seconds_of[g]):.2f}",
                ]
                for g in (best, other)
            ),
        ],
    ), tables[None]
    welch = stats.ttest_ind(records[best], records[other], equal_var=False)
    low, high = welch.confidence_interval(0.95)
    mcnemar = mcnemar_per_seed(_runs(best), _runs(other))
    assert tables["Does the difference hold across seeds?"] == [
        ["A", "B", "difference (A - B)", "95 % interval", "Welch p", "McNemar p per seed pair"],
        [
            label[best],
            label[other],
            f"{statistics.mean(records[best]) - statistics.mean(records[other]):.4f}",
            f"{low:.4f} to {high:.4f}",
            f"{welch.pvalue:.4f}",
            ", ".join(f"{p:.3g}" for p in mcnemar),
        ],
    ]


def test_compare_refuses_a_group_beside_a_single_run(run_cli, groups):
    a, _ = groups
    result = run_cli("compare", a, _runs(a)[0])
    assert result.exit_code == 2 and "is not a group of runs: compare groups with groups" in result.stderr


@pytest.mark.parametrize("command", ["evaluate", "visualize", "export"])
def test_a_command_of_one_run_given_a_group_names_its_runs(run_cli, groups, command):
    a, _ = groups
    result = run_cli(command, a)
    assert result.exit_code == 2 and "is a group of runs (train --repeat), not one run" in result.stderr
    assert "give one of its runs: " in result.stderr and str(_runs(a)[0]) in result.stderr


def test_a_group_from_python_is_the_same_as_from_the_command(groups):
    import cnnlab

    a, _ = groups
    group = cnnlab.Group(a)
    assert group.seeds == [42, 43, 44] and group.status == "completed"
    assert [run.manifest["seed"] for run in group.runs] == [42, 43, 44]
    assert group.score("accuracy")["values"] == [run.metrics["accuracy"] for run in group.runs]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ["--seeds", "1,1,2"],
            "--seeds: seed 1 is given twice — give distinct seeds from 0 to 4294967295, such as 1,2,3",
        ),
        (["--seeds", "1,x"], "is not a list of whole numbers"),
        (["--repeat", "2", "--seeds", "1,2"], "not both"),
        (["--repeat", "2", "--resume", "tiny"], "--resume continues one run"),
    ],
)
def test_bad_seeds_are_refused_before_anything_trains(run_cli, write, tmp_path, arguments, message):
    config = write("t.yaml", TINY)
    result = run_cli("train", config, *arguments, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_group_stopped_in_its_second_run_resumes_to_three_completed_runs(tmp_path):
    """Ctrl-C (the kernel's stop button) during seed 43: group.json says interrupted and names
    the stopped run; resuming the group resumes that run where it stopped, keeps seed 42's run
    as it was, and trains seed 44."""
    import os
    import signal
    import threading
    import time

    import cnnlab

    runs = tmp_path / "runs"
    config = tmp_path / "slow.yaml"
    config.write_text(TINY.replace("epochs: 3", "epochs: 8").replace("train_examples: 192", "train_examples: 960"))

    def stop_in_the_second_run():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            histories = sorted(runs.glob("tiny/*/history.csv"))
            if len(histories) == 2 and histories[1].read_text().count("\n") >= 2:
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.02)

    threading.Thread(target=stop_in_the_second_run, daemon=True).start()
    with pytest.raises(cnnlab.Interrupted, match=r"resume the group with: cnnlab.resume\('") as caught:
        cnnlab.train(config, repeat=3, runs_dir=runs, progress=False)
    (group,) = caught.value.runs
    done = len(group.runs[1].history)
    assert str(caught.value) == (
        f"interrupted after {done} of 8 epochs (seed 43) — resume the group with: cnnlab.resume({str(group.path)!r})"
    )
    summary = group.summary
    assert summary["status"] == "interrupted"
    assert [m["status"] for m in summary["runs"]] == ["completed", "interrupted", "not started"]
    first, stopped = group.runs
    first_history = (first.path / "history.csv").read_bytes()
    done = len(stopped.history)
    assert 1 <= done < 8

    resumed = group.resume(progress=False)
    assert resumed == group and resumed.status == "completed" and resumed.seeds == [42, 43, 44]
    assert [run.manifest["status"] for run in resumed.runs] == ["completed"] * 3
    assert resumed.runs[:2] == [first, stopped] and (first.path / "history.csv").read_bytes() == first_history
    assert stopped.manifest["resumed"] and [row["epoch"] for row in stopped.history] == list(range(1, 9))
    assert resumed.score("accuracy")["values"] == [run.metrics["accuracy"] for run in resumed.runs]


def test_compare_groups_as_csv_and_markdown_from_the_command_and_from_python(run_cli, groups, tmp_path):
    """`--csv` holds each group's numbers as group.json has them (full precision); `--markdown`
    is what `GroupComparison.markdown()` gives from Python. Catches a CSV column out of place or
    a Python view that drifts from the command."""
    import cnnlab

    result = run_cli("compare", *groups, "--csv", tmp_path / "g.csv", "--markdown", tmp_path / "g.md")
    assert result.exit_code == 0, result.output
    header, *rows = csv.reader(io.StringIO((tmp_path / "g.csv").read_text()))
    assert header == GROUP_COLUMNS
    summaries = {f"{g.parent.name}/{g.name}": json.loads((g / "group.json").read_text()) for g in groups}
    assert sorted(row[0] for row in rows) == sorted(summaries)
    for label, runs, parameters, mean, sd, interval, seconds in rows:
        accuracy = summaries[label]["test"]["accuracy"]
        assert (runs, parameters) == ("3", "151")
        assert (float(mean), float(sd), float(seconds)) == (
            accuracy["mean"],
            accuracy["sd"],
            summaries[label]["train_seconds"]["mean"],
        )
        assert interval.startswith(f"{accuracy['low']:.4f} to {accuracy['high']:.4f}")
    compared = cnnlab.compare(list(groups))
    assert repr(compared) == "GroupComparison(2 groups, 1 pairs)"
    assert compared.best_score() == max(summary["test"]["accuracy"]["mean"] for summary in summaries.values())
    assert compared.markdown() == (tmp_path / "g.md").read_text()


def test_a_group_of_one_completed_run_has_no_interval_and_a_group_missing_a_run_is_refused(run_cli, groups, tmp_path):
    """One score has no spread: its row leaves the interval empty rather than inventing one.
    A group whose run folder was deleted is refused, saying how to go on."""
    import shutil

    from cnnlab.reporting.compare_groups import GroupRow

    one = {"mean": 0.9, "sd": None, "low": None, "high": None, "n": 1, "values": [0.9]}
    row = GroupRow(None, "tiny/x1", "tiny", [42], [None], {"accuracy": one}, {"mean": 1.5}, 151)
    assert row.values("accuracy") == ["tiny/x1", 1, 151, 0.9, None, "", 1.5]

    copy = tmp_path / "runs" / "tiny"
    shutil.copytree(groups[0].parent, copy)
    a, b = (copy / group.name for group in groups)
    shutil.rmtree(copy / json.loads((a / "group.json").read_text())["runs"][1]["run"])
    result = run_cli("compare", a, b)
    assert result.exit_code != 0 and "put it back, or compare the runs that are left as single runs" in result.stderr


def test_a_group_whose_stopped_run_was_resumed_on_its_own_resumes_to_completed_without_training(
    run_cli, groups, tmp_path
):
    """Seed 43's run was stopped with its group, then resumed to the end on its own (`--resume
    RUN`): resuming the group counts it completed and trains nothing. The bug: the run's status
    misread, so the group tries to resume a completed run and is refused. A group missing a
    run's folder is refused with the command that trains it anew, seeds and all."""
    import shutil

    import cnnlab
    from tests.guard_rails import snapshot

    copy = tmp_path / "runs" / "tiny"
    shutil.copytree(groups[0].parent, copy)
    group = copy / groups[0].name
    summary = json.loads((group / "group.json").read_text())
    summary["status"], summary["runs"][1]["status"] = "interrupted", "interrupted"
    (group / "group.json").write_text(json.dumps(summary))
    runs = [copy / member["run"] for member in summary["runs"]]
    before = [snapshot(run) for run in runs]
    resumed = cnnlab.resume(group, runs_dir=tmp_path / "runs", progress=False)
    assert resumed.status == "completed" and [m["status"] for m in resumed.summary["runs"]] == ["completed"] * 3
    assert [snapshot(run) for run in runs] == before

    shutil.rmtree(runs[2])
    result = run_cli("train", "--resume", group, "--runs-dir", tmp_path / "runs")
    assert result.exit_code != 0
    assert result.stderr.strip().endswith(
        f"(seed 44) is missing from {copy} — put it back, or train the group anew: "
        f"cnnlab train {group / 'group.yaml'} --seeds 42,43,44"
    )


@pytest.mark.trains
def test_a_group_whose_runs_fail_records_each_as_failed_and_itself_incomplete(run_cli, write, tmp_path):
    """A learning rate of 1e30 makes every seed's loss NaN: each run fails, the next seed
    still trains, and group.json says so run by run; the command exits 1."""
    config = write("nan.yaml", TINY.replace("name: adam, learning_rate: 0.003", "name: sgd, learning_rate: 1.0e+30"))
    result = run_cli("train", config, "--repeat", "2", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 1, result.output
    (summary,) = (json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/*-x2/group.json"))
    assert [(m["seed"], m["status"]) for m in summary["runs"]] == [(42, "failed"), (43, "failed")]
    assert summary["status"] == "incomplete" and all(m["run"] for m in summary["runs"])


def test_groups_that_share_no_seed_pair_their_runs_for_mcnemar_in_seed_order(run_cli, groups, tmp_path):
    """Groups trained on other seeds (here B's record says 7, 8, 9) have no run of the same seed
    to pair: McNemar pairs them in seed order, 42 with 7, 43 with 8, 44 with 9. The bugs: that
    pairing crashing, or pairing A's runs with themselves."""
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(groups[0].parent.parent, runs)
    a, b = (runs / group.parent.name / group.name for group in groups)
    record = json.loads((b / "group.json").read_text())
    record["seeds"] = [7, 8, 9]
    for member, seed in zip(record["runs"], record["seeds"]):
        member["seed"] = seed
    (b / "group.json").write_text(json.dumps(record))
    result = run_cli("compare", a, b, "--json")
    assert result.exit_code == 0, result.output
    (pair,) = json.loads(result.stdout)["pairs"]
    first, second = (a, b) if pair["a"] == f"{a.parent.name}/{a.name}" else (b, a)
    seeds = {a: [42, 43, 44], b: [7, 8, 9]}
    assert [m["seeds"] for m in pair["mcnemar"]] == [list(s) for s in zip(seeds[first], seeds[second])]
    assert pair["p_mcnemar"] == pytest.approx(mcnemar_per_seed(_runs(first), _runs(second)))


def test_a_group_without_the_compared_metric_gets_no_welch_test(groups):
    """The bug: a group whose runs did not log the metric crashing the comparison instead of
    being judged as having no scores for it."""
    from dataclasses import replace

    from cnnlab.reporting.compare_groups import group_pairs, group_row, verdict
    from cnnlab.storage.folders import GroupFolder

    with_it, without = (group_row(GroupFolder(group)) for group in groups)
    (pair,) = group_pairs([with_it, replace(without, scores={})], "accuracy")
    assert (pair.welch["p"], pair.welch["difference"]) == (None, None)
    assert "too few seeds for Welch's test" in verdict(pair, "accuracy")


def test_a_welch_p_of_exactly_the_threshold_is_no_evidence_and_just_below_it_is():
    """p < 0.05 claims a difference; p = 0.05 does not (the bug: <=), for Welch's p and for
    the count of seed pairs whose McNemar p is below it."""
    from cnnlab.reporting.compare_groups import GroupPair, verdict

    def said(p: float, mcnemar: list[float] = ()) -> str:
        welch = {"p": p, "difference": 0.01, "low": 0.001, "high": 0.02, "df": 4.0}
        return verdict(GroupPair("a", "b", welch, [{"p": m} for m in mcnemar]), "accuracy")

    assert said(0.05).startswith("a and b: no evidence of a difference across seeds")
    assert said(0.0499).startswith("a beats b across seeds")
    assert said(0.5, [0.05, 0.0499, 0.2]).endswith(
        "Welch p = 0.5); McNemar p < 0.05 in 1 of 3 seed pairs — a single seed's verdict would not hold across seeds"
    )


def test_the_largest_seed_is_a_seed_and_one_past_it_is_not():
    """Seeds run from 0 to 2**32 - 1, both ends included; the bug: the largest refused."""
    from cnnlab.api.repeating import seeds_of
    from cnnlab.config import LocatedConfig
    from cnnlab.errors import ConfigError
    from cnnlab.schema import LARGEST_SEED

    cfg = LocatedConfig.model_validate({"name": "x", "model": {"layers": ["Flatten"]}})
    assert LARGEST_SEED == 2**32 - 1 and seeds_of(cfg, [0, LARGEST_SEED]) == [0, 4294967295]
    with pytest.raises(ConfigError) as refused:
        seeds_of(cfg, [LARGEST_SEED + 1])
    assert str(refused.value) == (
        "seeds: seed 4294967296 is not between 0 and 4294967295 — "
        "give distinct seeds from 0 to 4294967295, such as 1,2,3"
    )
