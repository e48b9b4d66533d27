"""Detection scores from true-positive, false-positive and false-negative counts."""

from __future__ import annotations

__all__ = ["detection_scores", "safe_ratio"]


def safe_ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or 0.0 when the denominator is 0 (nothing to find or nothing found)."""
    return float(numerator) / denominator if denominator > 0 else 0.0


def detection_scores(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision TP/(TP+FP), recall TP/(TP+FN), F1 2TP/(2TP+FP+FN) and accuracy TP/(TP+FP+FN).

    Ratios with a zero denominator are 0.0, so that an empty prediction scores zeros.
    """
    return {
        "precision": safe_ratio(tp, tp + fp),
        "recall": safe_ratio(tp, tp + fn),
        "f1": safe_ratio(2 * tp, 2 * tp + fp + fn),
        "accuracy": safe_ratio(tp, tp + fp + fn),
    }
