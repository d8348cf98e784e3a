"""Lesion masks against the dermatologist's: ISIC 2018 Task 1's per-image measures and their means.

A mask is bool (H, W), True = lesion. Per image, from the pixel counts TP, FP, FN, TN:
Jaccard = TP / (TP + FP + FN), Dice = 2 TP / (2 TP + FP + FN), both 1 when neither mask has a
lesion pixel (as the ISIC scorer `isic-challenge-scoring` does), and the thresholded Jaccard,
ISIC 2018's ranking figure: the Jaccard, or 0 when it is under 0.65. Means come with a 95%
percentile bootstrap interval that resamples lesions (all images of a lesion together), since
images of one lesion are not independent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skinml.errors import DataError

THRESHOLD = 0.65  # ISIC 2018 Task 1: an image whose Jaccard is under this scores 0
MEASURES = ("jaccard", "threshold_jaccard", "dice", "sensitivity", "specificity", "accuracy")
HEADLINE = ("jaccard", "threshold_jaccard", "dice")


def image_scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """The measures of one image: {name: float} for each of MEASURES (masks bool (H, W), same shape)."""
    truth, pred = np.asarray(truth, bool), np.asarray(pred, bool)
    if truth.shape != pred.shape:
        raise DataError(f"A predicted mask of {pred.shape[1]}x{pred.shape[0]} px cannot be scored against "
                        f"a true mask of {truth.shape[1]}x{truth.shape[0]} px: they must be the same size.")
    tp = int(np.sum(truth & pred))
    fp = int(np.sum(~truth & pred))
    fn = int(np.sum(truth & ~pred))
    tn = truth.size - tp - fp - fn
    wrong = tp + fp + fn
    jaccard = tp / wrong if wrong else 1.0
    return {"jaccard": jaccard, "threshold_jaccard": jaccard if jaccard >= THRESHOLD else 0.0,
            "dice": 2 * tp / (tp + wrong) if wrong else 1.0,
            "sensitivity": tp / (tp + fn) if tp + fn else 1.0,
            "specificity": tn / (tn + fp) if tn + fp else 1.0,
            "accuracy": (tp + tn) / truth.size}


def score_masks(truths, preds, ids=None) -> pd.DataFrame:
    """One row of `image_scores` per pair of masks (index: `ids` when given)."""
    rows = [image_scores(t, p) for t, p in zip(truths, preds, strict=True)]
    return pd.DataFrame(rows, columns=list(MEASURES), index=ids)


def bootstrap_mean(values, groups=None, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> list[float]:
    """Percentile bootstrap interval [low, high] of the mean of `values` (float (N,)), resampling
    whole `groups` (one label per value, e.g. the lesion) with replacement; each value its own
    group when None."""
    values = np.asarray(values, dtype="float64")
    if len(values) == 0:
        return [float("nan"), float("nan")]
    codes = pd.factorize(pd.Series(groups if groups is not None else np.arange(len(values))))[0]
    sums, counts = np.bincount(codes, weights=values), np.bincount(codes).astype("float64")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(sums), size=(n_boot, len(sums)))
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    tail = (1 - level) / 2 * 100
    return [float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))]


def summarise(scores: pd.DataFrame, groups=None, n_boot: int = 1000, seed: int = 0) -> dict:
    """{"n": images, name: {"mean", "low", "high"}} for the HEADLINE measures (interval over `groups`),
    and the plain means of the others."""
    out: dict = {"n": int(len(scores))}
    for name in MEASURES:
        mean = float(scores[name].mean()) if len(scores) else float("nan")
        if name in HEADLINE and n_boot:
            low, high = bootstrap_mean(scores[name], groups, n_boot, seed)
            out[name] = {"mean": mean, "low": low, "high": high}
        else:
            out[name] = {"mean": mean}
    return out


def segmentation_report(scores: pd.DataFrame, meta: pd.DataFrame | None = None,
                        by: tuple[str, ...] = ("attribution", "dx"), group: str = "lesion_id",
                        n_boot: int = 1000, seed: int = 0) -> dict:
    """The overall summary and one per value of each column in `by` (rows of `meta` line up with
    `scores`): {"overall": summary, "by": {column: {value: summary}}}. Intervals resample
    `group` (the lesion) when `meta` has it and it is filled in."""
    def groups_of(rows: pd.DataFrame | None):
        if rows is None or group not in rows:
            return None
        labels = rows[group].astype(str).to_numpy()
        return np.where(labels == "", [f"image {i}" for i in range(len(labels))], labels)

    out = {"overall": summarise(scores, groups_of(meta), n_boot, seed), "by": {}}
    if meta is None:
        return out
    meta = meta.reset_index(drop=True)
    scores = scores.reset_index(drop=True)
    for column in by:
        if column not in meta:
            continue
        out["by"][column] = {str(value): summarise(scores.loc[rows.index], groups_of(rows), n_boot, seed)
                             for value, rows in meta.groupby(column, sort=True) if str(value) != ""}
    return out
