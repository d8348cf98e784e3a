"""How far a heatmap can be trusted, in numbers: localisation, faithfulness, and intervals.

- Localisation against a dermatologist's lesion mask: the pointing game (is the heatmap's
  peak inside the lesion?) and the share of positive attribution inside it. Lesions sit
  near the middle of most dermoscopy images, so every figure stands beside that of a
  centred Gaussian (`centre_gaussian`), a "heatmap" that knows nothing about the image.
- Faithfulness: deletion and insertion curves (Petsiuk et al. 2018). Pixels are moved from
  the image to a blurred copy of it (deletion) or back (insertion), most salient first,
  and the class probability is tracked; a faithful map makes it fall fast (small deletion
  area) and rise fast (large insertion area), more so than a random order.
- Sanity: the rank correlation of a map with the map of a randomised model (`rank_correlation`).
Every measure is per image; `summarise` gives the mean with a 95% bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def pointing_game(heat: np.ndarray, mask: np.ndarray) -> float:
    """1.0 when the heatmap's peak falls inside the mask, else 0.0 (also for a map with no
    positive value: it points nowhere). On ties, the first peak in reading order counts."""
    heat = np.asarray(heat, dtype="float64")
    if heat.max() <= 0:
        return 0.0
    return float(np.asarray(mask, bool).flat[int(np.argmax(heat))])


def share_inside(heat: np.ndarray, mask: np.ndarray) -> float:
    """The share of the heatmap's positive mass that lies inside the mask (0 for a map with none)."""
    positive = np.maximum(np.asarray(heat, dtype="float64"), 0)
    total = positive.sum()
    return float(positive[np.asarray(mask, bool)].sum() / total) if total > 0 else 0.0


def centre_gaussian(shape: tuple[int, int], sigma: float = 0.25) -> np.ndarray:
    """The centre baseline: float32 (H, W), a Gaussian on the image's centre, peak 1, with a
    standard deviation of `sigma` times the height (rows) and the width (columns)."""
    rows, cols = shape
    y = (np.arange(rows) - (rows - 1) / 2) / (sigma * rows)
    x = (np.arange(cols) - (cols - 1) / 2) / (sigma * cols)
    return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2)).astype("float32")


# ---------------------------------------------------------------- deletion and insertion

def blurred(image: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """float32 (H, W, 3) blurred copy of a float image (Gaussian, `sigma` default side / 16):
    what a pixel becomes when deleted. Colour stays, shape and texture go."""
    from scipy.ndimage import gaussian_filter

    image = np.asarray(image, dtype="float32")
    sigma = sigma or image.shape[0] / 16
    return gaussian_filter(image, sigma=(sigma, sigma, 0), mode="nearest")


def salience_order(heat: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Flat pixel indices, most salient first; equal values (the zeros of a sparse map) in a
    random order, so that no map gains from reading order."""
    heat = np.asarray(heat, dtype="float64").ravel()
    tie_break = (rng or np.random.default_rng(0)).random(heat.size)
    return np.lexsort((tie_break, -heat))


def perturbation_curve(predict: Callable[[np.ndarray], np.ndarray], start: np.ndarray, end: np.ndarray,
                       order: np.ndarray, steps: int = 16) -> np.ndarray:
    """float (steps + 1,): `predict` (float (N, H, W, 3) -> (N,)) of `start` with the first
    k/steps of the pixels in `order` taken from `end`, k = 0..steps.

    Deletion: start = the image, end = its blurred copy. Insertion: the other way round.
    """
    start, end = np.asarray(start, dtype="float32"), np.asarray(end, dtype="float32")
    height, width = start.shape[:2]
    cuts = np.round(np.linspace(0, height * width, steps + 1)).astype(int)
    batch = np.repeat(start[None], steps + 1, axis=0).reshape(steps + 1, height * width, -1)
    flat_end = end.reshape(height * width, -1)
    for k, cut in enumerate(cuts):
        batch[k, order[:cut]] = flat_end[order[:cut]]
    return np.asarray(predict(batch.reshape(steps + 1, *start.shape)), dtype="float64")


def curve_area(curve: np.ndarray) -> float:
    """Area under a curve sampled at equal steps from 0 to 1 of the pixels (trapezoids)."""
    curve = np.asarray(curve, dtype="float64")
    return float(((curve[1:] + curve[:-1]) / 2).sum() / (len(curve) - 1))


# ---------------------------------------------------------------- sanity and intervals

def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps; 0 when either is constant (no ranking to share)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype="float64").ravel(), np.asarray(b, dtype="float64").ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b)[0])


def summarise(values, n_boot: int = 1000, seed: int = 0) -> dict:
    """{"mean", "low", "high", "n"}: the mean with its 95% percentile bootstrap interval over images."""
    from scipy.stats import bootstrap

    values = np.asarray(values, dtype="float64")
    mean = float(values.mean()) if len(values) else float("nan")
    if len(values) < 2 or np.ptp(values) == 0 or n_boot == 0:
        low = high = mean
    else:
        ci = bootstrap((values,), np.mean, n_resamples=n_boot, confidence_level=0.95, method="percentile",
                       rng=np.random.default_rng(seed)).confidence_interval
        low, high = float(ci.low), float(ci.high)
    return {"mean": round(mean, 4), "low": round(low, 4), "high": round(high, 4), "n": int(len(values))}
