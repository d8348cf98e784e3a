"""Find and read an ISIC folder, normalise its metadata, filter, balance and split it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from skinml.errors import DataError

# The normalised table's columns, in order (see docs/ARCHITECTURE.md).
COLUMNS = [
    "isic_id", "image_path", "benign_malignant", "diagnosis", "age_approx", "sex",
    "anatom_site_general", "lesion_id", "patient_id", "image_type", "attribution",
    "copyright_license", "fitzpatrick_skin_type",
]
LABELS = ("benign", "malignant")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DataPolicy:
    """Which images are usable, the same rules in the UI and the CLI.

    `include_labels`: benign_malignant values kept (the classifier uses benign and malignant;
    the GAN also keeps indeterminate and unknown). `dermoscopic_only`: drop images whose
    image_type is known and not dermoscopic. `exclude`: (column, value) pairs to drop, for
    example `(("attribution", "SONIC"),)` for a source whose stickers let a model cheat.
    """

    include_labels: tuple[str, ...] = LABELS
    dermoscopic_only: bool = True
    exclude: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @classmethod
    def for_gan(cls, **kw) -> "DataPolicy":
        return cls(include_labels=("benign", "malignant", "indeterminate", "unknown"), **kw)


def apply_policy(df: pd.DataFrame, policy: DataPolicy = DataPolicy()) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rows the policy keeps, and how many were left out for each reason (first reason wins)."""
    left_out: dict[str, int] = {}
    keep = pd.Series(True, index=df.index)

    def drop(mask: pd.Series, reason: str) -> None:
        nonlocal keep
        hit = mask & keep
        if hit.any():
            left_out[reason] = left_out.get(reason, 0) + int(hit.sum())
        keep &= ~mask

    drop(df["image_path"].eq(""), "image missing or unreadable")
    for label in sorted(set(df["benign_malignant"]) - set(policy.include_labels)):
        drop(df["benign_malignant"].eq(label), f"label {label}")
    if policy.dermoscopic_only:
        kind = df["image_type"].str.lower()
        drop(kind.ne("") & ~kind.str.startswith("dermoscopic"), "not dermoscopic")
    for column, value in policy.exclude:
        if column not in df.columns:
            raise DataError(f"Cannot exclude by '{column}': the table has no such column.")
        drop(df[column].astype(str).str.lower().eq(str(value).lower()), f"{column} = {value}")
    return df[keep].copy(), left_out


def group_key(df: pd.DataFrame) -> pd.Series:
    """Patient id, else lesion id, else image id: images sharing a key never cross splits."""
    key = "image:" + df["isic_id"].astype(str)
    key = key.where(df["lesion_id"].eq(""), "lesion:" + df["lesion_id"])
    return key.where(df["patient_id"].eq(""), "patient:" + df["patient_id"])


def balance(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """All images of the rarer label and an equal seeded random draw of each other label."""
    counts = df["benign_malignant"].value_counts()
    if len(counts) < 2:
        return df.copy()
    n = int(counts.min())
    parts = [g.sample(n=n, random_state=seed) if len(g) > n else g
             for _, g in df.groupby("benign_malignant", sort=True)]
    return pd.concat(parts).sort_index()


def split_grouped(df: pd.DataFrame, fractions: tuple[float, float, float] = (0.7, 0.2, 0.1),
                  seed: int = 0) -> pd.DataFrame:
    """Add a `split` column (train/val/test) in the given fractions.

    Stratified by benign_malignant and grouped by `group_key`, so that no patient or lesion
    is in two splits. Deterministic for a seed. Fractions are rounded to tenths of the data
    (ten folds of `StratifiedGroupKFold`), which 70/20/10 is exactly.
    """
    if not np.isclose(sum(fractions), 1.0):
        raise DataError(f"Split fractions must add up to 1, not {sum(fractions):.3f}.")
    out = df.copy()
    if len(out) == 0:
        out["split"] = pd.Series(dtype=str)
        return out
    folds = np.round(np.asarray(fractions) * 10).astype(int)
    folds[0] = 10 - folds[1:].sum()
    groups = group_key(out).to_numpy()
    n_splits = min(10, len(set(groups)))
    if n_splits < 10:  # too few groups for ten folds: give each group its own fold
        fold_of = pd.Series(pd.factorize(groups)[0] % 10, index=out.index)
    else:
        cv = StratifiedGroupKFold(n_splits=10, shuffle=True, random_state=seed)
        fold_of = pd.Series(0, index=out.index)
        for k, (_, test_idx) in enumerate(cv.split(out, out["benign_malignant"], groups)):
            fold_of.iloc[test_idx] = k
    out["split"] = fold_of.map(dict(enumerate(np.repeat(np.array(SPLITS), folds))))
    return out
