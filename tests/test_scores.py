"""Scores computed by hand on small cases."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.scores import (
    accuracy_interval,
    analyse,
    confusion_matrix,
    mcnemar_exact,
    most_confused,
    per_class_scores,
    predicted_classes,
    top_k_accuracy,
)

Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
Y_PRED = np.array([0, 0, 1, 1, 2, 2, 2, 0, 0])


def test_confusion_matrix_rows_are_true_classes():
    assert confusion_matrix(Y_TRUE, Y_PRED, 3).tolist() == [[2, 1, 0], [0, 1, 1], [2, 0, 2]]


def test_per_class_scores_by_hand():
    scores = per_class_scores(confusion_matrix(Y_TRUE, Y_PRED, 3), ["a", "b", "c"])
    # class a: predicted 4 times, 2 right -> precision 0.5; 3 true, 2 found -> recall 2/3
    assert scores[0]["precision"] == pytest.approx(0.5) and scores[0]["recall"] == pytest.approx(2 / 3)
    assert scores[0]["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert [s["support"] for s in scores] == [3, 2, 4]


def test_a_class_never_predicted_scores_zero_not_nan():
    scores = per_class_scores(confusion_matrix(np.array([0, 1]), np.array([0, 0]), 2), ["a", "b"])
    assert scores[1] == {"class": "b", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_most_confused_lists_the_largest_off_diagonal_cells():
    pairs = most_confused(confusion_matrix(Y_TRUE, Y_PRED, 3), ["a", "b", "c"])
    assert pairs[0] == {"true": "c", "predicted": "a", "count": 2}
    assert {(p["true"], p["predicted"]) for p in pairs} == {("c", "a"), ("a", "b"), ("b", "c")}


def test_top_k_accuracy():
    probabilities = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.4, 0.35, 0.25]])
    y_true = np.array([1, 2, 2])
    assert top_k_accuracy(y_true, probabilities, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(y_true, probabilities, 2) == pytest.approx(2 / 3)


def test_mcnemar_exact_against_a_hand_computed_case():
    # 8 examples only A gets right, 2 only B: p = 2 * (C(10,0)+C(10,1)+C(10,2)) / 2^10 = 112/1024
    a = np.array([True] * 8 + [False] * 2 + [True] * 30 + [False] * 5)
    b = np.array([False] * 8 + [True] * 2 + [True] * 30 + [False] * 5)
    assert mcnemar_exact(a, b) == (8, 2, pytest.approx(112 / 1024))
    assert mcnemar_exact(b, a) == (2, 8, pytest.approx(112 / 1024))


def test_mcnemar_of_identical_or_balanced_classifiers_is_one():
    same = np.array([True, False, True])
    assert mcnemar_exact(same, same) == (0, 0, 1.0)
    a = np.array([True] * 5 + [False] * 5)
    assert mcnemar_exact(a, ~a)[2] == 1.0


def test_analyse_confusion_sums_and_diagonal_match_accuracy():
    probabilities = np.eye(3)[Y_PRED]
    result = analyse(Y_TRUE, Y_PRED, probabilities, ["a", "b", "c"])
    matrix = np.array(result["confusion_matrix"])
    assert matrix.sum() == len(Y_TRUE) and np.trace(matrix) == int((Y_TRUE == Y_PRED).sum())


def test_a_single_sigmoid_column_is_two_classes_split_at_one_half():
    sigmoid = np.array([[0.2], [0.5], [0.51], [0.9]])
    assert predicted_classes(sigmoid).tolist() == [0, 0, 1, 1]  # exactly 0.5 is class 0
    assert predicted_classes(sigmoid).dtype == np.int64


def test_two_softmax_columns_and_a_flat_batch_take_the_largest():
    assert predicted_classes(np.array([[0.6, 0.4], [0.3, 0.7]])).tolist() == [0, 1]
    assert predicted_classes(np.array([0.1, 0.7, 0.2])).tolist() == 1  # one example, no batch axis
    batch = np.array([[[0.9, 0.1], [0.2, 0.8]]])  # a batch of per-position outputs
    assert predicted_classes(batch).tolist() == [[0, 1]]
    one_position = np.array([[[0.1, 0.2, 0.7]], [[0.8, 0.1, 0.1]]])  # shape (2, 1, 3): not a sigmoid column
    assert predicted_classes(one_position).tolist() == [[2], [0]]
    assert predicted_classes(np.array([[0.2, 0.8]])).dtype == np.int64


def test_a_class_predicted_but_never_true_has_precision_zero_and_recall_zero_not_nan():
    # b is predicted once (wrongly) and never true: precision 0/1, recall undefined -> 0.
    scores = per_class_scores(confusion_matrix(np.array([0, 0]), np.array([0, 1]), 2), ["a", "b"])
    assert scores[1] == {"class": "b", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert scores[0] == {"class": "a", "precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}


def test_a_class_found_once_scores_one_not_zero():
    # Counts of exactly 1 must still divide: precision 1/1, recall 1/1.
    scores = per_class_scores(confusion_matrix(np.array([0, 1]), np.array([0, 1]), 2), ["a", "b"])
    assert [(s["precision"], s["recall"], s["f1"]) for s in scores] == [(1.0, 1.0, 1.0)] * 2
    assert all(type(s["precision"]) is float for s in scores)


def test_most_confused_keeps_five_pairs_unless_told():
    matrix = np.ones((4, 4), dtype=np.int64) + np.diag([9] * 4)  # 12 off-diagonal cells of 1
    assert len(most_confused(matrix, "abcd")) == 5
    assert len(most_confused(matrix, "abcd", top=2)) == 2


def test_top_k_with_k_at_least_the_class_count_is_one():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])
    y_true = np.array([2, 0])
    assert top_k_accuracy(y_true, probabilities, 3) == 1.0  # every class is in the top 3
    assert top_k_accuracy(y_true, probabilities, 4) == 1.0
    assert top_k_accuracy(y_true, probabilities, 2) == 0.0  # each true class is the least likely


def test_mcnemar_with_one_discordant_example_is_one():
    a, b = np.array([True, True]), np.array([True, False])
    assert mcnemar_exact(a, b) == (1, 0, 1.0)  # min(1, 2 * 1/2)


def test_wilson_interval_by_hand_and_at_the_edges():
    assert accuracy_interval(0, 0) == (0.0, 1.0)  # nothing measured: anything is possible
    low, high = accuracy_interval(1, 1)
    assert (round(low, 4), high) == (0.2065, 1.0)  # Wilson at 1 of 1: [z^2/(1+z^2), 1]
    low, high = accuracy_interval(0, 1)
    assert (low, round(high, 4)) == (0.0, 0.7935)
    low, high = accuracy_interval(10, 10)
    assert high == 1.0 and round(low, 4) == 0.7225
    # At 5 of 5 (and 0 of 5) the formula rounds to just past the edge: the clamp keeps it in [0, 1].
    assert accuracy_interval(5, 5)[1] == 1.0 and accuracy_interval(0, 5)[0] == 0.0


def test_analyse_names_the_classes_and_scores_each():
    probabilities = np.eye(3)[Y_PRED]
    result = analyse(Y_TRUE, Y_PRED, probabilities, [7, 8, 9])
    assert result["class_names"] == ["7", "8", "9"]
    assert result["per_class"] == per_class_scores(confusion_matrix(Y_TRUE, Y_PRED, 3), [7, 8, 9])
    assert result["most_confused"][0] == {"true": "9", "predicted": "7", "count": 2}
    assert result["top_k_accuracy"] == {}  # top-3 of 3 classes says nothing


def test_analyse_reports_top_3_and_top_5_only_below_the_class_count():
    rng = np.random.default_rng(0)
    y_true = np.arange(12) % 6
    probabilities = rng.random((12, 6))
    y_pred = predicted_classes(probabilities)
    result = analyse(y_true, y_pred, probabilities, list("abcdef"))
    assert result["top_k_accuracy"] == {
        "top_3": top_k_accuracy(y_true, probabilities, 3),
        "top_5": top_k_accuracy(y_true, probabilities, 5),
    }
    assert 0 < result["top_k_accuracy"]["top_3"] < result["top_k_accuracy"]["top_5"] <= 1
    four = analyse(y_true % 4, y_pred % 4, probabilities[:, :4], list("abcd"))
    assert list(four["top_k_accuracy"]) == ["top_3"]


def test_analyse_of_a_sigmoid_output_has_no_top_k():
    probabilities = np.array([[0.2], [0.9]])
    result = analyse(np.array([0, 1]), predicted_classes(probabilities), probabilities, ["no", "yes"])
    assert "top_k_accuracy" not in result and result["confusion_matrix"] == [[1, 0], [0, 1]]


def test_confusion_counts_are_whole_numbers():
    matrix = confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert matrix.dtype == np.int64  # counts print as 2, not 2.0, in metrics.json and the report
    assert predicted_classes(np.array([[0.2, 0.8]])).dtype == np.int64


def test_f1_is_the_harmonic_mean_where_precision_equals_recall():
    # class a: predicted twice, right once (precision 1/2); true twice, found once (recall 1/2)
    scores = per_class_scores(confusion_matrix(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), 2), "ab")
    assert [(s["precision"], s["recall"], s["f1"]) for s in scores] == [(0.5, 0.5, 0.5), (0.5, 0.5, 0.5)]


def test_wilson_interval_in_the_middle_by_hand():
    # 90 of 100: centre (0.9 + 1.96^2/200) / (1 + 1.96^2/100) = 0.8852, half-width 0.0596
    low, high = accuracy_interval(90, 100)
    assert (round(low, 4), round(high, 4)) == (0.8256, 0.9448)
    low, high = accuracy_interval(90, 100, z=1.0)
    assert (round(low, 4), round(high, 4)) == (0.8659, 0.9262)


def test_analyse_of_two_softmax_columns_has_an_empty_top_k():
    probabilities = np.array([[0.8, 0.2], [0.3, 0.7]])
    result = analyse(np.array([0, 1]), predicted_classes(probabilities), probabilities, ["no", "yes"])
    assert result["top_k_accuracy"] == {}  # top-3 of two classes is always right: not worth a line
