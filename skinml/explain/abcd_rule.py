"""The dermatologist's ABCD rule against the CNN on the same held-out images.

Each image's lesion is outlined (the dataset's mask when it has one, else the segmenter's
prediction, flagged as such) and measured (skinml.segment.abcd). A logistic regression on
those measures, scored out of fold (five folds grouped by lesion, so no lesion is scored by a
fit that saw it), is compared with the CNN's p(malignant) by ROC AUC with 95% intervals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skinml.data.masks import load_mask
from skinml.errors import DataError
from skinml.images.decode import read_photo
from skinml.metrics.binary import auc, roc
from skinml.progress import OnProgress
from skinml.segment.abcd import measure_lesion
from skinml.segment.predict import segment_photo

# The measures the regression reads; size as the lesion's share of the photo, so photos of
# different sizes compare.
FEATURES = {"asymmetry": "asymmetry (mean of the two folds)", "compactness": "border compactness",
            "border_gradient": "border sharpness", "n_colours": "number of dermoscopic colours",
            "colour_variance": "colour variance", "lesion_share": "share of the photo covered"}


def outline_of(photo: np.ndarray, isic_id: str, mask_dirs: list[str | Path] = (), model=None
               ) -> tuple[np.ndarray | None, str]:
    """(mask, source) of one photo: the dataset's mask from the first of `mask_dirs` that has one
    ("given"), else `model`'s prediction ("predicted"), else (None, "none")."""
    for folder in mask_dirs:
        try:
            return load_mask(folder, str(isic_id)), "given"
        except DataError:
            continue
    if model is not None:
        return segment_photo(model, photo), "predicted"
    return None, "none"


def abcd_features(table: pd.DataFrame, mask_dirs: list[str | Path] = (), model=None,
                  on_progress: OnProgress | None = None) -> pd.DataFrame:
    """One row per image of `table` (isic_id, image_path): FEATURES and `mask` ("given" from one of
    `mask_dirs`, "predicted" by `model`, or "none" when neither outlines a lesion)."""
    rows = []
    for i, row in enumerate(table.itertuples()):
        photo = read_photo(row.image_path)
        mask, source = outline_of(photo, row.isic_id, mask_dirs, model)
        m = measure_lesion(photo, mask) if mask is not None and mask.shape == photo.shape[:2] else {"area_px": 0}
        if not m["area_px"]:
            rows.append({"isic_id": row.isic_id, "mask": "none"})
        else:
            rows.append({"isic_id": row.isic_id, "mask": source,
                         "asymmetry": (m["asymmetry_major"] + m["asymmetry_minor"]) / 2,
                         "compactness": m["compactness"], "border_gradient": m["border_gradient"],
                         "n_colours": len(m["colours"]), "colour_variance": m["colour_variance"],
                         "lesion_share": m["area_px"] / mask.size})
        if on_progress:
            on_progress((i + 1) / len(table), {})
    return pd.DataFrame(rows, columns=["isic_id", "mask", *FEATURES])


def out_of_fold_abcd(features: pd.DataFrame, y, groups=None, seed: int = 0) -> tuple[np.ndarray, dict]:
    """p(malignant) of a logistic regression on the ABCD measures, each image scored by a fit on
    the other folds (five, grouped); and the coefficients (per standard deviation) of a fit on all."""
    y = np.asarray(y).astype(int)
    x = features[list(FEATURES)].astype(float)
    x = x.fillna(x.median()).fillna(0.0).to_numpy()
    groups = np.asarray(groups if groups is not None else np.arange(len(y)))
    n_splits = int(min(5, np.bincount(y).min())) if len(np.unique(y)) == 2 else 0
    if n_splits < 2:
        raise DataError("Comparing with the ABCD rule needs at least two benign and two malignant images.")
    p = np.zeros(len(y))
    for train, test in StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed).split(x, y, groups):
        fit = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x[train], y[train])
        p[test] = fit.predict_proba(x[test])[:, 1]
    full = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    return p, dict(zip(FEATURES, full[-1].coef_[0].tolist()))


def auc_interval(y, p, n_boot: int = 500, seed: int = 0, level: float = 0.95) -> list[float]:
    """Percentile bootstrap interval of the ROC AUC, resampling within each class."""
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(y == c) for c in (0, 1)]
    values = [auc(y[idx], p[idx]) for idx in
              (np.concatenate([rng.choice(g, len(g)) for g in by_class]) for _ in range(n_boot))]
    tail = (1 - level) / 2 * 100
    return [float(np.nanpercentile(values, tail)), float(np.nanpercentile(values, 100 - tail))]


def compare_with_cnn(features: pd.DataFrame, y, p_cnn, groups=None, n_boot: int = 500, seed: int = 0) -> dict:
    """{"n", "abcd": {"auc", "interval", "roc"}, "cnn": {...}, "coefficients", "masks": {source: n}}:
    the ABCD regression (out of fold) and the CNN on the same images, ROC AUC with 95% intervals."""
    y = np.asarray(y).astype(int)
    p_abcd, coefficients = out_of_fold_abcd(features, y, groups, seed)
    out = {"n": int(len(y)), "coefficients": coefficients,
           "masks": features["mask"].value_counts().to_dict()}
    for name, p in (("abcd", p_abcd), ("cnn", np.asarray(p_cnn, float))):
        curve = roc(y, p)
        out[name] = {"auc": auc(y, p), "interval": auc_interval(y, p, n_boot, seed),
                     "roc": {"fpr": curve["fpr"].tolist(), "tpr": curve["tpr"].tolist()}, "p": p.tolist()}
    return out
