"""`cnnlab compare`: one row per run from its manifest and metrics, best first, and McNemar's
exact test for each pair of runs tested on the same examples (the report page: test_compare_report.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnlab.errors import RunError
from cnnlab.reporting.compare import as_csv, as_markdown, pair_tests, rows_of, run_row, sort_rows
from cnnlab.storage.folders import RunFolder


@pytest.mark.trains
def test_compare_a_run_with_itself_gives_p_one(run_cli, trained, tmp_path):
    run, _, _ = trained
    result = run_cli(
        "compare",
        str(run),
        str(run),
        "--markdown",
        tmp_path / "c.md",
        "--csv",
        tmp_path / "c.csv",
        "--plot",
        tmp_path / "c.png",
    )
    assert result.exit_code == 0, result.output
    assert "│ 0 │ 0 │ 1 │" in result.stdout
    assert (tmp_path / "c.csv").read_text().startswith("run,parameters,MACs,epochs")
    assert "| 0 | 0 | 1.0000 |" in (tmp_path / "c.md").read_text()
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def fake_run(root, name, correct: np.ndarray, loss: float):
    run = root / name / "20261122-101500"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"name: {name}\n")
    (run / "manifest.json").write_text(json.dumps({"parameters": 10, "epochs_completed": 1}))
    accuracy = float(correct.mean())
    (run / "metrics.json").write_text(json.dumps({"accuracy": accuracy, "loss": loss}))
    y_true = np.arange(len(correct)) % 3
    np.savez(run / "predictions.npz", y_true=y_true, y_pred=np.where(correct, y_true, (y_true + 1) % 3))
    return run


def test_compare_sorts_by_metric_runs_mcnemar_and_fails_below(run_cli, tmp_path):
    a = np.array([True] * 30 + [True] * 8 + [False] * 2)  # 38 of 40
    b = np.array([True] * 30 + [False] * 8 + [True] * 2)  # 32 of 40
    # Their loss order is the reverse of their accuracy order, so each --metric sorts differently.
    fake_run(tmp_path, "worse", b, loss=0.2)
    fake_run(tmp_path, "better", a, loss=0.5)
    result = run_cli("compare", "worse", "better", "--runs-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.index("better/") < result.stdout.index("worse/")
    assert "0.1094" in result.stdout  # p = 112/1024, b = 8, c = 2
    failing = run_cli("compare", "worse", "better", "--runs-dir", tmp_path, "--fail-below", "0.99")
    assert failing.exit_code == 1 and "best accuracy 0.9500 is below 0.99" in failing.stdout
    passing = run_cli("compare", "worse", "better", "--runs-dir", tmp_path, "--fail-below", "0.95")
    assert passing.exit_code == 0 and "below" not in passing.stdout  # the best is 38/40: not below
    import cnnlab

    assert cnnlab.compare([tmp_path / "worse", tmp_path / "better"]).best_score() == 38 / 40
    assert cnnlab.compare([tmp_path / "better"], metric="loss").best_score() == 0.5
    assert cnnlab.Comparison([], [], "accuracy").best_score() is None
    by_loss = run_cli("compare", "better", "worse", "--runs-dir", tmp_path, "--metric", "loss")
    assert by_loss.stdout.index("worse/") < by_loss.stdout.index("better/")


def test_compare_pairs_only_runs_tested_on_the_same_examples(run_cli, tmp_path):
    """Two test sets of the same size are not the same test set: McNemar pairs examples."""
    correct = np.array([True] * 30 + [False] * 10)
    fake_run(tmp_path, "one", correct, loss=0.3)
    other = fake_run(tmp_path, "two", correct, loss=0.3)
    y_true = (np.arange(40) + 1) % 3  # the same size, other labels: another test set
    np.savez(other / "predictions.npz", y_true=y_true, y_pred=np.where(correct, y_true, (y_true + 1) % 3))
    result = run_cli("compare", "one", "two", "--runs-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert "McNemar" not in result.stdout


def test_compare_of_a_run_without_metrics_says_what_to_do(run_cli, tmp_path):
    run = tmp_path / "net" / "20261122-101500"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: net\n")
    (run / "manifest.json").write_text("{}")
    result = run_cli("compare", "net", "--runs-dir", tmp_path)
    assert result.exit_code == 1 and "metrics.json is missing" in result.stderr


# --- the rows and pairs themselves ---------------------------------------------------------


def full_run(root, name: str, *, accuracy: float | None = 0.9, loss: float = 0.3, **manifest) -> RunFolder:
    """A run folder as `cnnlab train` leaves it, with a manifest saying everything compare shows."""
    run = RunFolder(root / name / "20261122-101500")
    run.path.mkdir(parents=True)
    run.save_config(f"name: {name}\n")
    run.update(
        **{
            "parameters": 1200,
            "macs": 34000,
            "epochs_completed": 4,
            "timing": {"train_seconds": 12.5, "images_per_second": 800.0},
            **manifest,
        }
    )
    if accuracy is not None:
        run.write_metrics({"accuracy": accuracy, "loss": loss})
    return RunFolder(run.path)


def test_a_row_holds_what_the_manifest_and_the_test_metrics_say(tmp_path):
    row = run_row(full_run(tmp_path, "net", accuracy=0.875, loss=0.25))
    assert row.label == "net/20261122-101500"
    assert row.values() == ["net/20261122-101500", 1200, 34000, 4, 12.5, 800.0, 0.25, 0.875]


def test_a_run_without_timing_still_has_a_row(tmp_path):
    run = RunFolder(tmp_path / "old" / "20261122-101500")
    run.path.mkdir(parents=True)
    run.update(parameters=5)
    run.write_metrics({"accuracy": 0.5, "loss": 1.0})
    assert run_row(RunFolder(run.path)).values() == ["old/20261122-101500", 5, None, None, None, None, 1.0, 0.5]


def test_a_failed_run_is_refused_with_its_failure_and_an_unevaluated_one_with_a_hint(tmp_path):
    failed = full_run(tmp_path, "failed", accuracy=None, status="failed", failure="out of memory")
    with pytest.raises(RunError) as caught:
        run_row(failed)
    assert str(caught.value) == f"{failed}: the run failed, so it has no test results to compare (out of memory)"
    unevaluated = full_run(tmp_path, "fresh", accuracy=None, status="finished")
    with pytest.raises(RunError) as caught:
        run_row(unevaluated)
    assert str(caught.value) == (
        f"{unevaluated}: metrics.json is missing — was this run evaluated? "
        f"try: cnnlab.load_run({str(unevaluated.path)!r}).evaluate()"  # from Python, the Python call
    )
    no_manifest = RunFolder(tmp_path / "empty")
    no_manifest.path.mkdir()
    with pytest.raises(RunError, match=r"manifest.json is missing — was this run evaluated\? try: cnnlab.load_run\("):
        run_row(no_manifest)


def test_a_failed_run_that_was_evaluated_before_it_failed_is_compared(tmp_path):
    # A fine-tuning phase can fail after the first phase's model was evaluated.
    run = full_run(tmp_path, "half", accuracy=0.5, status="failed", failure="fine-tuning diverged")
    assert run_row(run).metrics["accuracy"] == 0.5


def test_rows_sort_best_first_by_the_metric_and_runs_without_it_go_last(tmp_path):
    rows = [
        run_row(full_run(tmp_path, "a", accuracy=0.8, loss=0.2)),
        run_row(full_run(tmp_path, "b", accuracy=0.9, loss=0.4)),
        run_row(full_run(tmp_path, "c", accuracy=0.7, loss=0.1)),
    ]
    names = lambda rows: [row.label.split("/")[0] for row in rows]  # noqa: E731
    assert names(sort_rows(rows, "accuracy")) == ["b", "a", "c"]
    assert names(sort_rows(rows, "loss")) == ["c", "a", "b"]
    assert names(sort_rows(rows, "val_loss")) == ["a", "b", "c"]  # none has it: the order given
    rows[0].metrics["auc"], rows[2].metrics["auc"] = 0.5, -0.5
    assert names(sort_rows(rows, "auc")) == ["a", "c", "b"]  # b has no auc: last, even below a negative score
    rows[1].metrics["top_k"] = "n/a"
    rows[2].metrics["top_k"] = 1.0
    assert names(sort_rows(rows, "top_k"))[0] == "c"


def _with_predictions(run: RunFolder, y_true, correct) -> RunFolder:
    y_true = np.asarray(y_true)
    run.write_predictions({"y_true": y_true, "y_pred": np.where(correct, y_true, (y_true + 1) % 3)})
    return run


def test_every_pair_on_the_same_examples_gets_mcnemar_and_others_are_skipped(tmp_path):
    same = np.arange(12) % 3
    a = _with_predictions(full_run(tmp_path, "a"), same, [True] * 12)
    other = _with_predictions(full_run(tmp_path, "other"), (same + 1) % 3, [True] * 12)  # another test set
    b = _with_predictions(full_run(tmp_path, "b"), same, [True] * 6 + [False] * 6)
    shorter = _with_predictions(full_run(tmp_path, "short"), same[:6], [True] * 6)
    c = _with_predictions(full_run(tmp_path, "c"), same, [False] * 2 + [True] * 10)
    unpredicted = full_run(tmp_path, "none")
    rows = [run_row(run) for run in (a, other, b, shorter, unpredicted, c)]
    tests = pair_tests(rows)
    assert [(t.a.split("/")[0], t.b.split("/")[0], t.only_a, t.only_b) for t in tests] == [
        ("a", "b", 6, 0),
        ("a", "c", 2, 0),
        ("b", "c", 2, 6),
    ]
    assert tests[0].p_value == pytest.approx(2 / 2**6) and tests[1].p_value == pytest.approx(0.5)


def test_the_table_as_csv_and_markdown(tmp_path):
    rows = [run_row(full_run(tmp_path, "net", accuracy=0.875, loss=0.25))]
    assert as_csv(rows) == (
        "run,parameters,MACs,epochs,train s,images/s,test loss,test accuracy\n"
        "net/20261122-101500,1200,34000,4,12.5,800.0,0.25,0.875\n"
    )
    markdown = as_markdown(rows, [])
    assert "| run | parameters | MACs |" in markdown and "McNemar" not in markdown
    from cnnlab.reporting.compare import PairTest

    with_test = as_markdown(rows, [PairTest("x", "y", 3, 1, 0.625)])
    assert "McNemar's exact test on the shared test set (b: only A right, c: only B right):" in with_test.splitlines()
    assert "| A | B | b | c | p |" in with_test and "| x | y | 3 | 1 | 0.6250 |" in with_test
    assert with_test.startswith(markdown.rstrip("\n"))  # the tests follow the run table, not replace it


def test_targets_resolve_to_runs_by_folder_by_name_and_by_a_folder_of_runs(tmp_path):
    runs = tmp_path / "runs"
    one = full_run(runs, "one")
    two = full_run(runs, "two")
    unevaluated = full_run(runs, "three", accuracy=None)

    def resolved(targets):
        rows, skipped = rows_of(targets, runs)
        assert skipped == []
        return [row.run.path for row in rows]

    assert resolved([str(one)]) == [one.path]
    assert resolved(["two"]) == [two.path]
    assert sorted(resolved([str(runs)])) == sorted([one.path, two.path])
    assert unevaluated.path not in resolved([str(runs)])


def test_a_damaged_run_in_a_folder_is_skipped_but_one_named_is_refused(tmp_path):
    """A folder of runs is compared with the damaged ones skipped (and said); a run the user
    named is refused, since skipping it would compare fewer runs than asked for."""
    from cnnlab.reporting.compare import rows_of

    full_run(tmp_path / "runs", "good")
    broken = full_run(tmp_path / "runs", "broken")
    (broken.path / "manifest.json").write_text("{")
    rows, skipped = rows_of([str(tmp_path / "runs")], tmp_path / "runs")
    assert [row.label for row in rows] == ["good/20261122-101500"]
    assert len(skipped) == 1 and skipped[0].startswith(f"skipped {broken}: ")
    with pytest.raises(RunError, match="manifest.json"):
        rows_of([str(broken.path), str(tmp_path / "runs" / "good" / "20261122-101500")], tmp_path / "runs")
