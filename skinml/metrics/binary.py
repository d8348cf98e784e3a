"""Predictions on a split and everything measured from them: confusion, ROC, thresholds, reports.

Conventions: `y` is int (N,) with 1 = malignant, 0 = benign; `p` is float (N,) p(malignant)
in [0, 1]; a lesion is called malignant when `p >= threshold`. Confusion matrices have rows
= truth (benign, malignant) and columns = prediction (benign, malignant), as in the thesis.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from skinml.data.readers import LABELS
from skinml.errors import DataError

HEADLINE = ("auc", "accuracy", "sensitivity", "specificity", "balanced_accuracy")


def _arrays(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(int).reshape(-1)
    p = np.asarray(p, dtype="float64").reshape(-1)
    if len(y) != len(p):
        raise DataError(f"{len(y)} labels but {len(p)} predictions: they must match one to one.")
    return y, p


def _both_classes(y: np.ndarray) -> bool:
    return 0 < y.sum() < len(y)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


# ---------------------------------------------------------------- at one threshold

def confusion(y, p, threshold: float = 0.5) -> np.ndarray:
    """Counts, int (2, 2): rows truth benign/malignant, columns predicted benign/malignant."""
    y, p = _arrays(y, p)
    return skm.confusion_matrix(y, (p >= threshold).astype(int), labels=[0, 1])


def normalise_confusion(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its total (the share of each true class): float (2, 2) in [0, 1]."""
    cm = np.asarray(cm, dtype="float64")
    rows = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)


def threshold_metrics(y, p, threshold: float = 0.5) -> dict:
    """Accuracy, error rate, precision, sensitivity, specificity, balanced accuracy, NPV, F1.

    Plus `confusion` (counts, nested lists) and `confusion_normalised` (rows sum to 1).
    A ratio with a zero denominator (no malignant lesions, say) is NaN, never a guess.
    """
    cm = confusion(y, p, threshold)
    (tn, fp), (fn, tp) = cm.tolist()
    n = tn + fp + fn + tp
    sens, spec = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
    prec = _ratio(tp, tp + fp)
    return {
        "threshold": float(threshold), "n": int(n), "n_malignant": int(tp + fn),
        "accuracy": _ratio(tp + tn, n), "error_rate": _ratio(fp + fn, n),
        "precision": prec, "sensitivity": sens, "specificity": spec,
        "balanced_accuracy": (sens + spec) / 2, "npv": _ratio(tn, tn + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "confusion": cm.tolist(), "confusion_normalised": normalise_confusion(cm).round(4).tolist(),
    }


# ---------------------------------------------------------------- over all thresholds

def roc(y, p) -> dict:
    """ROC curve: `fpr`, `tpr`, `thresholds` float arrays (thresholds capped at 1), and `auc`."""
    y, p = _arrays(y, p)
    if not _both_classes(y):
        return {"fpr": np.array([0.0, 1.0]), "tpr": np.array([0.0, 1.0]),
                "thresholds": np.array([1.0, 0.0]), "auc": float("nan")}
    fpr, tpr, thr = skm.roc_curve(y, p, drop_intermediate=False)
    return {"fpr": fpr, "tpr": tpr, "thresholds": np.minimum(thr, 1.0), "auc": float(skm.roc_auc_score(y, p))}


def auc(y, p) -> float:
    """Area under the ROC curve, float in [0, 1]; NaN when only one class is present."""
    y, p = _arrays(y, p)
    return float(skm.roc_auc_score(y, p)) if _both_classes(y) else float("nan")


def partial_auc(y, p, min_tpr: float = 0.8) -> float:
    """Partial AUC above `min_tpr` sensitivity, the ISIC 2024 metric: raw range 0 to 1 - min_tpr.

    The area between the ROC curve and the horizontal line tpr = min_tpr (0.2 for a perfect
    model). Computed as the ISIC 2024 challenge does: flip labels and scores, take sklearn's
    McClish-standardised AUC up to fpr = 1 - min_tpr, and undo the standardisation.
    (`isic-challenge-scoring`'s `auc_sens_80` is a different quantity: the whole area under
    the curve's segment above tpr = 0.8, range 0 to 1; `isic_auc_sens_80` converts.)
    """
    y, p = _arrays(y, p)
    if not _both_classes(y):
        return float("nan")
    max_fpr = 1 - min_tpr
    scaled = skm.roc_auc_score(1 - y, -p, max_fpr=max_fpr)
    return float(0.5 * max_fpr**2 + (max_fpr - 0.5 * max_fpr**2) / 0.5 * (scaled - 0.5))


def sensitivity_at_specificity(y, p, specificity: float = 0.7) -> float:
    """Highest sensitivity reachable with specificity >= `specificity` (float in [0, 1])."""
    r = roc(y, p)
    ok = (1 - r["fpr"]) >= specificity - 1e-12
    return float(r["tpr"][ok].max()) if ok.any() else 0.0


def specificity_at_sensitivity(y, p, sensitivity: float = 0.9) -> float:
    """Highest specificity reachable with sensitivity >= `sensitivity` (float in [0, 1])."""
    r = roc(y, p)
    ok = r["tpr"] >= sensitivity - 1e-12
    return float((1 - r["fpr"][ok]).max()) if ok.any() else 0.0


def pr_curve(y, p) -> dict:
    """Precision-recall curve: `precision`, `recall`, `thresholds` arrays and `average_precision`."""
    y, p = _arrays(y, p)
    if not y.any():
        return {"precision": np.array([1.0]), "recall": np.array([0.0]), "thresholds": np.array([]),
                "average_precision": float("nan")}
    prec, rec, thr = skm.precision_recall_curve(y, p)
    return {"precision": prec, "recall": rec, "thresholds": thr,
            "average_precision": float(skm.average_precision_score(y, p))}


def choose_threshold(y, p, target_sensitivity: float = 0.9) -> float:
    """The highest threshold whose sensitivity on (y, p) is at least `target_sensitivity`.

    Meant for the validation split: the most specific operating point that still finds the
    wanted share of malignant lesions. `target_sensitivity` 0 (or None) gives 0.5.
    """
    if not target_sensitivity:
        return 0.5
    y, p = _arrays(y, p)
    if not y.any():
        raise DataError("Cannot choose a threshold for a sensitivity: the split has no malignant lesion.")
    r = roc(y, p)
    i = int(np.argmax(r["tpr"] >= target_sensitivity - 1e-12))
    return float(np.clip(r["thresholds"][i], 0.0, 1.0))


def calibration(y, p, n_bins: int = 10) -> pd.DataFrame:
    """Reliability bins of equal width: bin_low, bin_high, count, mean_p, fraction_malignant."""
    y, p = _arrays(y, p)
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        hit = which == b
        rows.append({"bin_low": edges[b], "bin_high": edges[b + 1], "count": int(hit.sum()),
                     "mean_p": float(p[hit].mean()) if hit.any() else float("nan"),
                     "fraction_malignant": float(y[hit].mean()) if hit.any() else float("nan")})
    return pd.DataFrame(rows)


def expected_calibration_error(y, p, n_bins: int = 10) -> float:
    """ECE: count-weighted mean |mean p - fraction malignant| over the bins, float in [0, 1]."""
    bins = calibration(y, p, n_bins)
    used = bins[bins["count"] > 0]
    if used.empty:
        return float("nan")
    gap = (used["mean_p"] - used["fraction_malignant"]).abs()
    return float((gap * used["count"]).sum() / used["count"].sum())


# ---------------------------------------------------------------- intervals and subgroups

def headline(y, p, threshold: float = 0.5) -> dict:
    """AUC plus the threshold metrics in HEADLINE: a flat dict of floats."""
    m = threshold_metrics(y, p, threshold)
    return {"auc": auc(y, p), **{k: m[k] for k in HEADLINE if k != "auc"}}


def bootstrap_intervals(y, p, threshold: float = 0.5, n_boot: int = 1000, seed: int = 0,
                        level: float = 0.95) -> dict[str, list[float]]:
    """Percentile bootstrap intervals of the HEADLINE figures: {name: [low, high]}.

    Resamples images with replacement, stratified by class (every resample keeps the split's
    numbers of benign and malignant lesions, so AUC is always defined).
    """
    y, p = _arrays(y, p)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if len(pos) == 0 or len(neg) == 0:
        return {k: [float("nan"), float("nan")] for k in HEADLINE}
    # Vectorised over resamples: AUC from ranks (Mann-Whitney), the rest from counts.
    from scipy.stats import rankdata

    p_pos = p[rng.choice(pos, (n_boot, len(pos)))]
    p_neg = p[rng.choice(neg, (n_boot, len(neg)))]
    ranks = rankdata(np.concatenate([p_pos, p_neg], axis=1), axis=1)
    n_pos, n_neg = len(pos), len(neg)
    tp, tn = (p_pos >= threshold).sum(1), (p_neg < threshold).sum(1)
    sens, spec = tp / n_pos, tn / n_neg
    samples = {"auc": (ranks[:, :n_pos].sum(1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg),
               "accuracy": (tp + tn) / (n_pos + n_neg), "sensitivity": sens, "specificity": spec,
               "balanced_accuracy": (sens + spec) / 2}
    tail = (1 - level) / 2 * 100
    return {k: [float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))]
            for k, v in samples.items()}


SMALL_CLASS = 30  # fewer images than this of either class: the figures are too uncertain to compare models


def small_sample_warning(n_malignant: int, n_benign: int, auc_value: float | None = None,
                         interval: list[float] | tuple[float, float] | None = None) -> str:
    """A sentence when figures rest on fewer than SMALL_CLASS images of a class ("" otherwise),
    with the AUC's bootstrap interval when given."""
    if min(n_malignant, n_benign) >= SMALL_CLASS:
        return ""
    text = f"Only {n_malignant + n_benign} test images ({n_malignant} malignant, {n_benign} benign)"
    if auc_value is not None and interval and None not in interval and not np.isnan(interval).any():
        text += (f": the AUC of {auc_value:.2f} could lie anywhere from {interval[0]:.2f} to {interval[1]:.2f} "
                 "(95% bootstrap interval)")
    return text + f". With fewer than {SMALL_CLASS} images of a class, such figures cannot tell models apart."


def age_band(age) -> pd.Series:
    """Age in bands of 20 years ("0-19", ..., "80+"); "" when unknown."""
    age = pd.to_numeric(pd.Series(age), errors="coerce")
    bands = pd.cut(age, [0, 20, 40, 60, 80, 200], right=False,
                   labels=["0-19", "20-39", "40-59", "60-79", "80+"])
    return bands.astype(str).where(age.notna(), "")


SUBGROUPS = {"sex": "sex", "age band": "age_approx", "anatomic site": "anatom_site_general",
             "Fitzpatrick type": "fitzpatrick_skin_type", "source": "attribution"}


def subgroups(meta: pd.DataFrame, min_count: int = 1):
    """(group, value, boolean mask over the rows of `meta`) for each known value of each SUBGROUPS
    column with at least `min_count` rows; ages in bands, unknown values left out, a column with
    one known value skipped."""
    for group, column in SUBGROUPS.items():
        if column not in meta.columns:
            continue
        values = age_band(meta[column]) if column == "age_approx" else meta[column].fillna("").astype(str)
        values = values.to_numpy()
        known = sorted(set(values) - {"", "nan", "unknown"})
        if len(known) < 2:
            continue
        for value in known:
            hit = values == value
            if hit.sum() >= min_count:
                yield group, value, hit


def subgroup_table(meta: pd.DataFrame, y, p, threshold: float = 0.5, min_count: int = 1) -> pd.DataFrame:
    """Figures per subgroup (sex, age band, anatomic site, Fitzpatrick type, source where known).

    `meta` has one row per prediction, in order, with the data table's columns. Returns
    columns: group, value, n, n_malignant, auc, accuracy, sensitivity, specificity,
    balanced_accuracy. Unknown values are left out; a group with one value is skipped.
    """
    y, p = _arrays(y, p)
    rows = [{"group": group, "value": value, "n": int(hit.sum()), "n_malignant": int(y[hit].sum()),
             **headline(y[hit], p[hit], threshold)} for group, value, hit in subgroups(meta, min_count)]
    columns = ["group", "value", "n", "n_malignant", *HEADLINE]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------- the whole report

def json_ready(value):
    """JSON-safe: NaN becomes None, NumPy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def evaluate_predictions(y, p, threshold: float = 0.5, meta: pd.DataFrame | None = None,
                         n_boot: int = 1000, seed: int = 0) -> dict:
    """Every figure for one split, JSON-ready (NaN as None).

    Keys: the threshold metrics, auc, partial_auc_80 (ISIC 2024, 0..0.2), average_precision,
    sensitivity_at_specificity_70/80/90, specificity_at_sensitivity_80/90/95, ece, intervals
    ({name: [low, high]}, 95% bootstrap), subgroups (list of rows) when `meta` is given.
    """
    y, p = _arrays(y, p)
    out = threshold_metrics(y, p, threshold)
    out.update(auc=auc(y, p), partial_auc_80=partial_auc(y, p, 0.8),
               average_precision=pr_curve(y, p)["average_precision"],
               ece=expected_calibration_error(y, p))
    for s in (0.7, 0.8, 0.9):
        out[f"sensitivity_at_specificity_{round(s * 100)}"] = sensitivity_at_specificity(y, p, s)
    for s in (0.8, 0.9, 0.95):
        out[f"specificity_at_sensitivity_{round(s * 100)}"] = specificity_at_sensitivity(y, p, s)
    if n_boot:
        out["intervals"] = bootstrap_intervals(y, p, threshold, n_boot, seed)
    if meta is not None:
        out["subgroups"] = subgroup_table(meta, y, p, threshold).to_dict(orient="records")
    return json_ready(out)


def write_isic_predictions_csv(ids, p, path: str | Path) -> Path:
    """The ISIC challenge CSV: `image`, `benign`, `malignant` columns, values in [0, 1].

    `benign` = 1 - p, `malignant` = p; the official scorer (`isic-challenge-scoring`) reads it
    against a truth CSV of the same shape. Written to a temporary file, then renamed.
    """
    ids = [str(i) for i in ids]
    p = np.clip(np.asarray(p, dtype="float64").reshape(-1), 0.0, 1.0)
    if len(ids) != len(p):
        raise DataError(f"{len(ids)} image ids but {len(p)} predictions: they must match one to one.")
    return write_csv(path, ["image", *LABELS], ([i, f"{1 - v:.6f}", f"{v:.6f}"] for i, v in zip(ids, p)))


def write_csv(path: str | Path, header: list[str], rows) -> Path:
    """A CSV file written whole or not at all (`skinml.io.write_atomic`); returns its path."""
    from skinml.io import write_atomic

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, buffer.getvalue())
    return path


def write_isic_truth_csv(ids, y, path: str | Path) -> Path:
    """A truth CSV in the ISIC format (one-hot `benign`, `malignant`), for the official scorer."""
    y = np.asarray(y).astype(int).reshape(-1)
    return write_isic_predictions_csv(ids, y.astype(float), path)


def isic_auc_sens_80(y, p) -> float:
    """`isic-challenge-scoring`'s `auc_sens_80`, from our partial AUC and the ROC curve.

    That package integrates tpr over the ROC segment above tpr = 0.8 (range 0..1); the ISIC
    2024 figure integrates tpr - 0.8, so the two differ by 0.8 x the segment's fpr width.
    """
    r = roc(y, p)
    # tpr repeats, so interpolate on the two points around the first one reaching 0.8
    i = int(np.searchsorted(r["tpr"], 0.8, side="left"))
    fpr_at = float(np.interp(0.8, r["tpr"][i - 1:i + 1], r["fpr"][i - 1:i + 1]))
    return partial_auc(y, p, 0.8) + 0.8 * (1 - fpr_at)
