"""Measures of a multi-class classifier (the seven diagnoses): ISIC 2018 Task 3's and the usual.

Conventions: `y` is int (N,) class indices; `p` is float (N, C) class probabilities (rows sum
to 1); the predicted class is the most probable one. Per-class figures are one-vs-rest.
`write_isic2018_predictions_csv` writes the CSV that ISIC 2018 Task 3's official scorer
(`isic-challenge-scoring classification`) reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn import metrics as skm

from skinml.errors import DataError
from skinml.metrics.binary import json_ready, normalise_confusion, subgroups, write_csv

# ISIC 2018 Task 3's columns, in the order of skinml.data.DIAGNOSIS_CLASSES.
ISIC2018_COLUMNS = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")


def _arrays(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(int).reshape(-1)
    p = np.asarray(p, dtype="float64")
    if p.ndim != 2 or len(p) != len(y):
        raise DataError(f"{len(y)} labels need {len(y)} rows of class probabilities, not an array of shape {p.shape}.")
    return y, p


def balanced_accuracy(y, p) -> float:
    """Mean per-class sensitivity over the classes present in `y` (ISIC 2018 Task 3's measure)."""
    y, p = _arrays(y, p)
    pred = p.argmax(axis=1)
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def confusion(y, p, n_classes: int) -> np.ndarray:
    """int (C, C) counts: rows = truth, columns = the most probable class."""
    y, p = _arrays(y, p)
    return skm.confusion_matrix(y, p.argmax(axis=1), labels=list(range(n_classes)))


def per_class(y, p, classes: list[str]) -> list[dict]:
    """One row per class: n, sensitivity, specificity, one-vs-rest AUC (None where undefined)."""
    y, p = _arrays(y, p)
    pred = p.argmax(axis=1)
    rows = []
    for c, name in enumerate(classes):
        pos, neg = y == c, y != c
        both = pos.any() and neg.any()
        rows.append({"class": name, "n": int(pos.sum()),
                     "sensitivity": float(np.mean(pred[pos] == c)) if pos.any() else None,
                     "specificity": float(np.mean(pred[neg] != c)) if neg.any() else None,
                     "auc": float(skm.roc_auc_score(pos, p[:, c])) if both else None})
    return rows


def top_label_ece(y, p, n_bins: int = 10) -> float:
    """Expected calibration error of the most probable class (confidence against accuracy)."""
    y, p = _arrays(y, p)
    conf, hit = p.max(axis=1), p.argmax(axis=1) == y
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    return float(sum(abs(conf[bins == b].mean() - hit[bins == b].mean()) * np.mean(bins == b)
                     for b in range(n_bins) if np.any(bins == b)))


def bootstrap(y, p, statistic, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> list[float]:
    """Percentile bootstrap interval of `statistic(y, p)`, resampling within each class (every
    resample keeps the split's class counts, so every class stays present)."""
    y, p = _arrays(y, p)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)]
    values = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(g, len(g)) for g in groups])
        values.append(statistic(y[idx], p[idx]))
    tail = (1 - level) / 2 * 100
    return [float(np.nanpercentile(values, tail)), float(np.nanpercentile(values, 100 - tail))]


def macro_auc(y, p) -> float:
    """Mean one-vs-rest AUC over the classes present in `y` with both positives and negatives."""
    y, p = _arrays(y, p)
    aucs = [skm.roc_auc_score(y == c, p[:, c]) for c in np.unique(y) if 0 < np.sum(y == c) < len(y)]
    return float(np.mean(aucs)) if aucs else float("nan")


# ---------------------------------------------------------------- class-balanced decisions

TAUS = tuple(np.round(np.arange(-1.0, 2.01, 0.125), 3))  # the strengths tried on validation


def logit_adjust(p, prior, tau: float) -> np.ndarray:
    """float (N, C): class probabilities with tau x log(prior) taken from their logarithms and
    renormalised (Menon et al. 2021, post-hoc logit adjustment). tau 1 divides each class by its
    training prior, which favours the rare classes as much as a balanced decision rule would;
    tau 0 changes nothing. `prior`: (C,) positive class shares (normalised here)."""
    p = np.asarray(p, dtype="float64")
    prior = np.asarray(prior, dtype="float64")
    if prior.shape != (p.shape[1],) or (prior <= 0).any():
        raise DataError(f"A prior needs one positive share per class ({p.shape[1]}), not {prior.tolist()}.")
    logits = np.log(np.clip(p, 1e-12, 1)) - tau * np.log(prior / prior.sum())
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def choose_logit_adjustment(y, p, prior, taus=TAUS) -> float:
    """The tau of `taus` whose `logit_adjust` gives the highest balanced accuracy on (y, p): pick
    it on the validation split, use it on everything else. On a tie, the tau closest to 0."""
    y, p = _arrays(y, p)
    scores = [(balanced_accuracy(y, logit_adjust(p, prior, t)), -abs(t), t) for t in taus]
    return float(max(scores)[2])


def evaluate_multiclass(y, p, classes: list[str], malignant: list[str] | None = None,
                        n_boot: int = 1000, seed: int = 0) -> dict:
    """Everything measured on one split: balanced accuracy and macro AUC with 95% intervals
    (`intervals`, left out when `n_boot` is 0),
    accuracy, per-class rows, the confusion matrix, calibration, and (when `malignant` names
    classes) the AUC of the derived p(malignant) = the sum of those classes' probabilities."""
    y, p = _arrays(y, p)
    cm = confusion(y, p, len(classes))
    out = {"n": int(len(y)), "balanced_accuracy": balanced_accuracy(y, p), "macro_auc": macro_auc(y, p),
           "accuracy": float(np.mean(p.argmax(axis=1) == y)), "ece": top_label_ece(y, p),
           "per_class": per_class(y, p, classes), "confusion": cm.tolist(),
           "confusion_normalised": normalise_confusion(cm).tolist()}
    if n_boot:  # 0: no intervals
        out["intervals"] = {"balanced_accuracy": bootstrap(y, p, balanced_accuracy, n_boot, seed),
                            "macro_auc": bootstrap(y, p, macro_auc, max(100, n_boot // 5), seed)}
    if malignant:
        cols = [classes.index(c) for c in malignant]
        truth = np.isin(y, cols)
        if truth.any() and not truth.all():
            out["malignant_auc"] = float(skm.roc_auc_score(truth, p[:, cols].sum(axis=1)))
    return json_ready(out)


def subgroup_rows(meta, y, p, malignant_columns: list[int], min_count: int = 20) -> list[dict]:
    """Figures per subgroup (sex, age band, anatomic site, Fitzpatrick type, source where known):
    [{"group", "value", "n", "balanced_accuracy", "malignant_auc"}], for groups of at least
    `min_count` images. `meta` has one row per prediction, in order, with the data table's
    columns. Balanced accuracy is over the classes present in the group; the AUC of
    p(malignant) is None where the group holds one side only."""
    y, p = _arrays(y, p)
    truth, p_malignant = np.isin(y, malignant_columns), p[:, malignant_columns].sum(axis=1)
    rows = []
    for group, value, hit in subgroups(meta, min_count):
        auc = None
        if truth[hit].any() and not truth[hit].all():
            auc = float(skm.roc_auc_score(truth[hit], p_malignant[hit]))
        rows.append({"group": group, "value": value, "n": int(hit.sum()),
                     "balanced_accuracy": balanced_accuracy(y[hit], p[hit]), "malignant_auc": auc})
    return rows


def write_isic2018_predictions_csv(ids, p, path: str | Path) -> Path:
    """The ISIC 2018 Task 3 CSV: `image,MEL,NV,BCC,AKIEC,BKL,DF,VASC`, one row per image.

    `p` is float (N, 7) in the order of DIAGNOSIS_CLASSES (mel, nv, bcc, akiec, bkl, df, vasc);
    each row is divided by its sum, so it adds up to 1. The official scorer
    (`isic-challenge-scoring classification TRUTH PREDICTIONS`) reads it against a truth CSV
    of the same shape. Written to a temporary file, then renamed.
    """
    ids = [str(i) for i in ids]
    p = np.asarray(p, dtype="float64")
    if p.ndim != 2 or p.shape[1] != len(ISIC2018_COLUMNS):
        raise DataError(f"ISIC 2018 Task 3 needs {len(ISIC2018_COLUMNS)} class probabilities per image, "
                        f"not an array of shape {p.shape}.")
    if len(ids) != len(p):
        raise DataError(f"{len(ids)} image ids but {len(p)} rows of probabilities: they must match one to one.")
    if not np.all(np.isfinite(p)) or (p < 0).any() or (p.sum(axis=1) <= 0).any():
        raise DataError("Class probabilities must be finite, non-negative and not all zero in a row.")
    p = p / p.sum(axis=1, keepdims=True)
    rows = ([i, *(f"{v:.6f}" for v in row)] for i, row in zip(ids, p))
    return write_csv(path, ["image", *ISIC2018_COLUMNS], rows)


def write_isic2018_truth_csv(ids, y, path: str | Path) -> Path:
    """A truth CSV in the ISIC 2018 Task 3 format (one-hot rows), for the official scorer."""
    y = np.asarray(y).astype(int).reshape(-1)
    if ((y < 0) | (y >= len(ISIC2018_COLUMNS))).any():
        raise DataError(f"Class indices must be between 0 and {len(ISIC2018_COLUMNS) - 1}.")
    return write_isic2018_predictions_csv(ids, np.eye(len(ISIC2018_COLUMNS))[y], path)
