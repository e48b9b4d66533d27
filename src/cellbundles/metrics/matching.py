"""Instance matching of label images: P/R/F1, accuracy, panoptic quality, DSB2018 score, object overlap.

A ground-truth and a predicted object form a candidate pair when their overlap score reaches the
threshold; the pairs are then assigned one-to-one, maximising first the number of matches and then
their summed score (Hungarian algorithm on the sparse candidate graph). For IoU thresholds above
0.5 a candidate pair is unique for both of its objects, so the assignment is trivial there; below
0.5 it is solved exactly.

References:
    - Caicedo et al., "Nucleus segmentation across imaging experiments: the 2018 Data Science
      Bowl", Nature Methods 16, 2019 (the DSB2018 score).
    - Kirillov et al., "Panoptic Segmentation", CVPR 2019 (panoptic quality).
    - Seed 001 (Recycle-GAN nuclei): object-based P/R/F1 with 50 % overlap, objects under 50 voxels removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from cellbundles.metrics.assignment import max_cardinality_assignment
from cellbundles.metrics.contingency import LabelOverlap, label_overlap
from cellbundles.metrics.counts import detection_scores, safe_ratio

__all__ = [
    "DSB_THRESHOLDS",
    "MatchingResult",
    "dsb_score",
    "match_instances",
    "match_instances_dataset",
    "object_overlap_prf",
]

#: IoU thresholds of the Kaggle Data Science Bowl 2018 score: 0.50, 0.55, ..., 0.95.
DSB_THRESHOLDS = np.linspace(0.5, 0.95, 10)

_RATIO_FIELDS = (
    "precision",
    "recall",
    "f1",
    "accuracy",
    "mean_matched_score",
    "mean_true_score",
    "panoptic_quality",
)


@dataclass(frozen=True)
class MatchingResult:
    """Scores of a one-to-one matching of ground-truth and predicted objects.

    Attributes:
        criterion: overlap score used, ``"iou"`` or ``"iot"`` (intersection over the true object).
        thresh: score a pair must reach to be matched.
        tp: matched pairs; fp: unmatched predictions; fn: unmatched ground-truth objects.
        precision: TP / (TP + FP); recall: TP / (TP + FN); f1: 2TP / (2TP + FP + FN).
        accuracy: TP / (TP + FP + FN).
        mean_matched_score: mean score of the matched pairs.
        mean_true_score: summed score of the matched pairs over the number of true objects.
        panoptic_quality: summed score of the matched pairs / (TP + FP/2 + FN/2).
        n_true: ground-truth objects; n_pred: predicted objects.

    Ratios with a zero denominator are 0. For a dataset averaged image by image, the counts are
    summed and every ratio is the mean of the per-image ratios.
    """

    criterion: str
    thresh: float
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    accuracy: float
    mean_matched_score: float
    mean_true_score: float
    panoptic_quality: float
    n_true: int
    n_pred: int

    @classmethod
    def from_counts(
        cls, criterion: str, thresh: float, tp: int, n_true: int, n_pred: int, matched_score_sum: float
    ) -> MatchingResult:
        """Result of a matching with ``tp`` pairs whose scores sum to ``matched_score_sum``."""
        fp, fn = n_pred - tp, n_true - tp
        return cls(
            criterion=criterion,
            thresh=float(thresh),
            tp=int(tp),
            fp=int(fp),
            fn=int(fn),
            **detection_scores(tp, fp, fn),
            mean_matched_score=safe_ratio(matched_score_sum, tp),
            mean_true_score=safe_ratio(matched_score_sum, n_true),
            panoptic_quality=safe_ratio(matched_score_sum, tp + fp / 2 + fn / 2),
            n_true=int(n_true),
            n_pred=int(n_pred),
        )

    def to_dict(self) -> dict[str, float | int | str]:
        """All fields as a plain dictionary (e.g. for JSON)."""
        return asdict(self)


def _check_arguments(thresh: float, criterion: str = "iou") -> float:
    """Validate a matching threshold and criterion before any counting; returns the threshold as float."""
    if not 0.0 <= thresh <= 1.0:
        raise ValueError(f"the matching threshold must lie in [0, 1], got {thresh}.")
    if criterion not in ("iou", "iot"):
        raise ValueError(f"unknown matching criterion {criterion!r}, expected 'iou' or 'iot'.")
    return float(thresh)


def _match_counts(overlap: LabelOverlap, thresh: float, criterion: str, strict: bool) -> tuple[int, float]:
    """Number of matched pairs and the sum of their scores.

    A pair is a candidate when its objects overlap and its score is ``>= thresh`` (``> thresh``
    when ``strict``).
    """
    score = overlap.score(criterion)
    candidate = (score > thresh) if strict else (score >= thresh)
    candidate &= score > 0
    chosen = max_cardinality_assignment(
        overlap.true_index[candidate], overlap.pred_index[candidate], score[candidate]
    )
    return int(chosen.size), float(score[candidate][chosen].sum())


def _match_overlap(overlap: LabelOverlap, thresh: float, criterion: str) -> MatchingResult:
    tp, score_sum = _match_counts(overlap, thresh, criterion, strict=False)
    return MatchingResult.from_counts(criterion, thresh, tp, overlap.n_true, overlap.n_pred, score_sum)


def match_instances(
    y_true: np.ndarray, y_pred: np.ndarray, thresh: float = 0.5, criterion: str = "iou"
) -> MatchingResult:
    """Match the objects of two label images one-to-one and score the matching.

    Args:
        y_true: ground-truth label image, shape ``([D,] H, W)``; 0 is background, ids need not be consecutive.
        y_pred: predicted label image of the same shape.
        thresh: a pair counts when its score is ``>= thresh`` (and its objects overlap).
        criterion: ``"iou"`` (intersection over union) or ``"iot"`` (intersection over the true
            object's size, the 50 % overlap rule of seed 001).

    Returns:
        a :class:`MatchingResult`.

    Raises:
        ValueError: on a shape mismatch, non-integer or negative labels, an unknown criterion or a
            threshold outside ``[0, 1]``.

    Example: a 10 x 10 square and the same square shifted by 5 px share 50 of 150 pixels
    (IoU 1/3), so they do not match at 0.5 (tp = 0, fp = fn = 1).
    """
    thresh = _check_arguments(thresh, criterion)
    return _match_overlap(label_overlap(y_true, y_pred), thresh, criterion)


def match_instances_dataset(
    list_true: Sequence[np.ndarray],
    list_pred: Sequence[np.ndarray],
    thresh: float = 0.5,
    by_image: bool = False,
    criterion: str = "iou",
) -> MatchingResult:
    """Match the objects of every image pair of a dataset and summarise.

    Args:
        list_true: ground-truth label images, each ``([D,] H, W)``.
        list_pred: predicted label images, paired with ``list_true``.
        thresh: matching threshold (see :func:`match_instances`).
        by_image: False: micro-average (scores from the counts summed over images, every object
            weighs the same); True: mean of the per-image scores (every image weighs the same).
        criterion: ``"iou"`` or ``"iot"``.

    Returns:
        a :class:`MatchingResult` whose counts are summed over the images.
    """
    if len(list_true) != len(list_pred):
        raise ValueError(f"got {len(list_true)} ground-truth images but {len(list_pred)} predictions.")
    if len(list_true) == 0:
        raise ValueError("the dataset holds no images.")
    thresh = _check_arguments(thresh, criterion)
    per_image = []
    for y_true, y_pred in zip(list_true, list_pred):
        overlap = label_overlap(y_true, y_pred)
        tp, score_sum = _match_counts(overlap, thresh, criterion, strict=False)
        per_image.append(dict(tp=tp, n_true=overlap.n_true, n_pred=overlap.n_pred, matched_score_sum=score_sum))
    total = MatchingResult.from_counts(criterion, thresh, **{k: sum(c[k] for c in per_image) for k in per_image[0]})
    if not by_image:
        return total
    results = [MatchingResult.from_counts(criterion, thresh, **c) for c in per_image]
    return replace(total, **{name: float(np.mean([getattr(r, name) for r in results])) for name in _RATIO_FIELDS})


def dsb_score(y_true: np.ndarray, y_pred: np.ndarray, thresholds: Sequence[float] = DSB_THRESHOLDS) -> float:
    """Kaggle Data Science Bowl 2018 score of one image.

    Mean over the IoU thresholds ``t`` of TP / (TP + FP + FN), where a pair is matched when its
    IoU is strictly greater than ``t``. The dataset score is the mean over images.

    Args:
        y_true: ground-truth label image, shape ``([D,] H, W)``.
        y_pred: predicted label image of the same shape.
        thresholds: IoU thresholds, by default 0.50, 0.55, ..., 0.95.

    Returns:
        the score in ``[0, 1]`` (0 when both images are empty).
    """
    thresholds = [_check_arguments(t) for t in thresholds]
    overlap = label_overlap(y_true, y_pred)
    scores = []
    for t in thresholds:
        tp, _ = _match_counts(overlap, t, "iou", strict=True)
        scores.append(safe_ratio(tp, overlap.n_true + overlap.n_pred - tp))
    return float(np.mean(scores))


def object_overlap_prf(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    min_overlap: float = 0.5,
    min_size: int = 50,
    remove_small_true: bool = False,
) -> MatchingResult:
    """Object-based precision, recall and F1 of seed 001 (Recycle-GAN nuclei segmentation).

    Predicted objects smaller than ``min_size`` voxels are removed first (the paper's small-object
    removal). A predicted nucleus is a true positive when it covers at least ``min_overlap`` of its
    matched ground-truth nucleus (intersection over the true object), matched one-to-one; other
    predictions are false positives and unmatched ground-truth nuclei false negatives.

    Args:
        y_true: ground-truth label image, shape ``([D,] H, W)``.
        y_pred: predicted label image of the same shape.
        min_overlap: fraction of the true object that the prediction must cover.
        min_size: objects with fewer voxels are discarded before matching.
        remove_small_true: also discard ground-truth objects under ``min_size`` voxels (e.g.
            nuclei cut by the border of an annotated sub-volume).

    Returns:
        a :class:`MatchingResult` with criterion ``"iot"``.
    """
    min_overlap = _check_arguments(min_overlap, "iot")
    overlap = label_overlap(y_true, y_pred)
    keep_true = overlap.true_sizes >= (min_size if remove_small_true else 0)
    overlap = overlap.select(keep_true, overlap.pred_sizes >= min_size)
    return _match_overlap(overlap, min_overlap, "iot")
