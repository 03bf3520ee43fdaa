"""Scores from predictions, in plain NumPy: predicted classes, confusion matrix, per-class
precision/recall/F1, the most confused pairs, top-k accuracy, and McNemar's exact test between
two classifiers; across seeds, with SciPy's Student t: a score's spread over repeated runs and
Welch's test between two groups of them.

    >>> predicted_classes(np.array([[0.1, 0.9], [0.8, 0.2]])).tolist()
    [1, 0]
    >>> cm = confusion_matrix(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2)
    >>> cm.tolist()
    [[1, 1], [0, 2]]
    >>> mcnemar_exact(np.array([1, 1, 0, 1], bool), np.array([1, 0, 0, 1], bool))
    (1, 0, 1.0)
    >>> [round(v, 4) for v in accuracy_interval(90, 100)]
    [0.8256, 0.9448]
    >>> {k: round(v, 4) for k, v in spread([0.99, 0.98, 1.0]).items() if k in ("mean", "sd", "low")}
    {'mean': 0.99, 'sd': 0.01, 'low': 0.9652}
"""

from __future__ import annotations

from math import comb, inf, sqrt

import numpy as np


def predicted_classes(probabilities: np.ndarray) -> np.ndarray:
    """Class indices from model outputs (a single sigmoid column means two classes)."""
    if probabilities.ndim == 2 and probabilities.shape[1] == 1:
        return (probabilities[:, 0] > 0.5).astype(np.int64)
    return probabilities.argmax(axis=-1).astype(np.int64)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def per_class_scores(matrix: np.ndarray, class_names) -> list[dict]:
    """Precision, recall, F1 and support of each class (0 where a score is undefined)."""
    true_positive = np.diag(matrix)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    # Where a denominator is 0 so is the numerator (nothing predicted, nothing found): 0 / 1 = 0.
    precision = true_positive / np.maximum(predicted, 1)
    recall = true_positive / np.maximum(support, 1)
    f1 = 2 * true_positive / np.maximum(predicted + support, 1)  # = 2PR / (P + R), without 0 / 0
    return [
        {"class": str(name), "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(class_names, precision, recall, f1, support)
    ]


def most_confused(matrix: np.ndarray, class_names, top: int = 5) -> list[dict]:
    """The off-diagonal cells with the most examples: which class is mistaken for which."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None)[::-1][:top]
    pairs = []
    for flat in order:
        true, predicted = np.unravel_index(flat, off.shape)
        if off[true, predicted] == 0:
            break
        pairs.append(
            {
                "true": str(class_names[true]),
                "predicted": str(class_names[predicted]),
                "count": int(off[true, predicted]),
            }
        )
    return pairs


def top_k_accuracy(y_true: np.ndarray, probabilities: np.ndarray, k: int) -> float:
    """Share of examples whose true class is among the k most probable."""
    if probabilities.shape[1] < k:
        return 1.0
    top = np.argsort(probabilities, axis=1)[:, -k:]
    return float((top == y_true[:, None]).any(axis=1).mean())


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int, float]:
    """(b, c, p): b examples only A gets right, c only B gets right, and the two-sided exact
    p-value of "A and B are equally accurate" (binomial test of b against b + c at 1/2)."""
    b = int(np.sum(correct_a & ~correct_b))
    c = int(np.sum(~correct_a & correct_b))
    n = b + c  # n = 0 (no disagreement) gives tail 1 and p 1, as it should
    tail = sum(comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return b, c, float(min(1.0, 2 * tail))


def accuracy_interval(correct: int, examples: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's 95 % interval for an accuracy of `correct` out of `examples`: unlike the
    normal approximation it stays inside [0, 1] and is honest near 100 %, where good MNIST
    models live."""
    if examples <= 0:
        return 0.0, 1.0
    share = correct / examples
    middle = (share + z * z / (2 * examples)) / (1 + z * z / examples)
    half = z * sqrt(share * (1 - share) / examples + z * z / (4 * examples * examples)) / (1 + z * z / examples)
    return max(0.0, middle - half), min(1.0, middle + half)


def analyse(y_true: np.ndarray, y_pred: np.ndarray, probabilities: np.ndarray, class_names) -> dict:
    """Everything `metrics.json` says beyond Keras' own loss and metrics."""
    matrix = confusion_matrix(y_true, y_pred, len(class_names))
    result = {
        "class_names": [str(n) for n in class_names],
        "confusion_matrix": matrix.tolist(),
        "per_class": per_class_scores(matrix, class_names),
        "most_confused": most_confused(matrix, class_names),
    }
    if probabilities.shape[1] > 1:
        result["top_k_accuracy"] = {
            f"top_{k}": top_k_accuracy(y_true, probabilities, k) for k in (3, 5) if k < probabilities.shape[1]
        }
    return result


def spread(values, bounds: tuple[float, float] = (-inf, inf)) -> dict:
    """A score over repeated runs (one per seed): mean, standard deviation (n - 1), the 95 %
    interval of the mean (Student's t with n - 1 degrees of freedom), n and the values. With one
    value there is no spread: sd and the interval are None.

    Student's t knows nothing of a score's range: with few seeds the interval of an accuracy can
    pass 1. It is cut to `bounds` (what the score can be), and `clipped` names the ends cut.

    >>> score = spread([0.9, 1.0], bounds=(0.0, 1.0))
    >>> round(score["low"], 3), score["high"], score["clipped"]
    (0.315, 1.0, ['high'])
    """
    values = [float(v) for v in values]
    n = len(values)
    mean = float(np.mean(values)) if n else None
    if n < 2:
        return {"mean": mean, "sd": None, "low": None, "high": None, "n": n, "values": values, "clipped": []}
    from scipy import stats  # slow to import, needed only for groups of runs

    sd = float(np.std(values, ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / sqrt(n)
    low, high = mean - half, mean + half
    clipped = [end for end, cut in (("low", low < bounds[0]), ("high", high > bounds[1])) if cut]
    low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"mean": mean, "sd": sd, "low": low, "high": high, "n": n, "values": values, "clipped": clipped}


def interval_text(score: dict, digits: int = 4) -> str:
    """An interval as people read it, "0.9810 to 0.9940" (a hyphen after a negative bound reads as
    a minus), with the ends `spread` clipped to the score's range named.

    >>> interval_text({"low": -0.1, "high": 0.5}), interval_text({"low": 0.2, "high": 1.0, "clipped": ["high"]})
    ('-0.1000 to 0.5000', '0.2000 to 1.0000 (clipped at 1: the t interval passes it)')
    """
    if score.get("low") is None:
        return "-"
    text = f"{score['low']:.{digits}f} to {score['high']:.{digits}f}"
    ends = [f"{score[end]:g}" for end in score.get("clipped") or ()]
    if ends:
        text += f" (clipped at {' and '.join(ends)}: the t interval passes {'it' if len(ends) == 1 else 'them'})"
    return text


def welch(a, b) -> dict:
    """Welch's t-test of "groups A and B have the same mean score" (no equal variances assumed):
    the two-sided p, the difference of the means (A - B) with its 95 % interval, and the
    Welch-Satterthwaite degrees of freedom. A p of None where either group has fewer than 2
    values or neither varies (the test has nothing to judge).

    >>> result = welch([0.991, 0.9912, 0.9909], [0.989, 0.9895, 0.9901])
    >>> round(result["p"], 4), round(result["difference"], 5)
    (0.0343, 0.0015)
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    difference = float(a.mean() - b.mean()) if len(a) and len(b) else None
    if len(a) < 2 or len(b) < 2 or (a.std() == 0 and b.std() == 0):
        return {"p": None, "difference": difference, "low": None, "high": None, "df": None}
    from scipy import stats  # slow to import, needed only for groups of runs

    result = stats.ttest_ind(a, b, equal_var=False)
    interval = result.confidence_interval(0.95)
    return {
        "p": float(result.pvalue),
        "difference": difference,
        "low": float(interval.low),
        "high": float(interval.high),
        "df": float(result.df),
    }


FAR_BELOW = 0.10  # test accuracy this far under the last epoch's training accuracy is no noise
NEAR_CHANCE = 0.15  # share of the way from chance to 1 below which a model has not learned yet


def caveat(test_accuracy: float, training_accuracy: float | None, num_classes: int) -> str:
    """What a test accuracy that cannot be the model's real worth needs said next to it, or "".

    >>> caveat(0.16, 0.85, 10)[:59]
    "test accuracy 0.1600 is far below the last epoch's training"
    >>> caveat(0.12, 0.11, 10)[:48]
    'test accuracy 0.1200 is barely above chance (0.1'
    >>> caveat(0.99, 0.98, 10)
    ''
    """
    chance = 1 / max(num_classes, 2)  # one sigmoid unit: two classes
    if training_accuracy is not None and test_accuracy < training_accuracy - FAR_BELOW:
        return (
            f"test accuracy {test_accuracy:.4f} is far below the last epoch's training accuracy "
            f"{training_accuracy:.4f}: it overfits (more images, augmentation or dropout help), or its "
            "weights moved too fast for a run this short (more epochs, or a lower learning rate)"
        )
    if test_accuracy < chance + NEAR_CHANCE * (1 - chance):
        return (
            f"test accuracy {test_accuracy:.4f} is barely above chance ({chance:.2f} for {num_classes} classes): "
            "the model has not learned yet; train longer (train.epochs) or on more images (data.limit)"
        )
    return ""
