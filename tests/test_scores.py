"""Scores computed by hand on small cases."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.scores import analyse, confusion_matrix, mcnemar_exact, most_confused, per_class_scores, top_k_accuracy

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
