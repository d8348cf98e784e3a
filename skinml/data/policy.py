"""Which images are usable, balanced and split: the same rules in the dashboard and the CLI.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from skinml.data.diagnoses import DIAGNOSIS_CLASSES, MALIGNANT_DIAGNOSES, class_of  # noqa: F401 (re-exported)
from skinml.data.readers import ALL_LABELS, COLUMN_ALIASES, LABELS, SPLITS, load_dataset, load_datasets
from skinml.errors import DataError
from skinml.progress import OnProgress

# ---------------------------------------------------------------- rules: policy, balance, split

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
    def for_gan(cls, **kw) -> DataPolicy:
        return cls(include_labels=ALL_LABELS, **kw)


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
        column = COLUMN_ALIASES.get(column, column)
        if column not in df.columns:
            raise DataError(f"Cannot exclude by '{column}': the table has no such column.")
        drop(df[column].astype(str).str.lower().eq(str(value).lower()), f"{column} = {value}")
    return df[keep].copy(), left_out


def diagnosis_class(df: pd.DataFrame) -> pd.Series:
    """The HAM10000 class code (`DIAGNOSIS_CLASSES`) of each row, "" where none applies
    (`skinml.data.diagnoses` maps the names of every vocabulary)."""
    return df["diagnosis"].astype(str).map(class_of)


def group_key(df: pd.DataFrame) -> pd.Series:
    """One key per group of images that must stay in one split: images that share a patient id
    or a lesion id, directly or through other images, form a group (a lesion photographed once
    with its patient's id and once without, as happens when folders are joined, stays whole).

    The key names the group's first patient id ("patient:P"), else its first lesion id
    ("lesion:L"); an image with neither is a group of its own ("image:<isic_id>").
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(df)
    if n == 0:
        return pd.Series([], index=df.index, dtype=object)
    # A graph whose nodes are the images (0..n-1) and the ids (n...): an edge per image and id.
    links = pd.concat([pd.DataFrame({"row": np.flatnonzero(df[column].ne("")),
                                     "id": prefix + df.loc[df[column].ne(""), column].astype(str).to_numpy()})
                       for column, prefix in (("patient_id", "patient:"), ("lesion_id", "lesion:"))],
                      ignore_index=True)
    codes, ids = pd.factorize(links["id"])
    nodes = n + len(ids)
    graph = coo_matrix((np.ones(len(links)), (links["row"].to_numpy(), n + codes)), shape=(nodes, nodes))
    _, component = connected_components(graph, directed=False)
    names = pd.DataFrame({"component": component[n:], "id": ids,
                          "kind": [0 if i.startswith("patient:") else 1 for i in ids]})
    name_of = names.sort_values(["kind", "id"]).drop_duplicates("component").set_index("component")["id"]
    key = pd.Series(component[:n], index=df.index).map(name_of).astype(object)
    return key.where(key.notna(), "image:" + df["isic_id"].astype(str))


def balance(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """All images of the rarer label and an equal seeded random draw of each other label."""
    counts = df["benign_malignant"].value_counts()
    if len(counts) < 2:
        return df.copy()
    n = int(counts.min())
    parts = [g.sample(n=n, random_state=seed) if len(g) > n else g
             for _, g in df.groupby("benign_malignant", sort=True)]
    return pd.concat(parts).sort_index()


_balance = balance  # `prepare` and `scan_dataset` take a `balance` flag of the same name


def split_grouped(df: pd.DataFrame, fractions: tuple[float, float, float] = (0.7, 0.2, 0.1),
                  seed: int = 0, stratify: str = "benign_malignant") -> pd.DataFrame:
    """Add a `split` column (train/val/test) in the given fractions.

    Stratified by the column `stratify` and grouped by `group_key`, so that no patient or lesion
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
    first = pd.DataFrame({"group": groups, "label": out[stratify].to_numpy()}
                         ).drop_duplicates("group")
    if first["label"].value_counts().min() < 10:
        # too few groups of a label for ten stratified folds: spread each label's shuffled
        # groups evenly over the ten folds (7 groups go 5 / 1 / 1)
        fold_of_group = {}
        for _, part in first.sample(frac=1, random_state=seed).groupby("label"):
            position = (np.arange(len(part)) + 0.5) * 10 / len(part)
            fold_of_group.update(zip(part["group"], position.astype(int)))
        fold_of = pd.Series(groups, index=out.index).map(fold_of_group)
    else:
        cv = StratifiedGroupKFold(n_splits=10, shuffle=True, random_state=seed)
        fold_of = pd.Series(0, index=out.index)
        for k, (_, test_idx) in enumerate(cv.split(out, out[stratify], groups)):
            fold_of.iloc[test_idx] = k
    out["split"] = fold_of.map(dict(enumerate(np.repeat(np.array(SPLITS), folds))))
    return out


def split_counts(df: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Images per split and label: `{"train": {"benign": n, ...}, "val": ..., "test": ...}`."""
    labels = sorted(set(df["benign_malignant"]))
    table = pd.crosstab(df["split"], df["benign_malignant"]).reindex(
        index=list(SPLITS), columns=labels, fill_value=0)
    return {s: {label: int(table.loc[s, label]) for label in labels} for s in SPLITS}


def group_overlap(df: pd.DataFrame) -> int:
    """How many patients / lesions / images appear in more than one split (should be 0)."""
    if len(df) == 0:
        return 0
    return int((df.assign(_group=group_key(df)).groupby("_group")["split"].nunique() > 1).sum())


def split_fingerprint(df: pd.DataFrame, split: str) -> str:
    """SHA-1 of the sorted `isic_id`s of one split, one per line: the same images give the same text.

    A finished run saves its train split's fingerprint in model.json (`data.train_ids_sha1`),
    so that an evaluation can tell whether a folder is the data the model was trained on.
    """
    import hashlib

    ids = sorted(map(str, df.loc[df["split"] == split, "isic_id"]))
    return hashlib.sha1("\n".join(ids).encode()).hexdigest()


def folders_of(root) -> list:
    """One folder, or several (a list, or one string of folders joined by os.pathsep)."""
    if isinstance(root, str):
        return root.split(os.pathsep)
    return [root] if isinstance(root, Path) else list(root)


def prepare(root, policy: DataPolicy = DataPolicy(), balance: bool = True,
            seed: int = 0, on_progress: OnProgress | None = None, stratify: str = "benign_malignant") -> pd.DataFrame:
    """load_dataset(s) -> apply_policy -> balance (optional) -> split_grouped, in one call.

    `root` is one folder or several (a list, or one string of folders joined by os.pathsep,
    as in PATH): several are joined on the ISIC id (`load_datasets`). The returned table has
    a `split` column, stratified by the column `stratify`; `attrs` also holds `left_out`.
    """
    roots = folders_of(root)
    df = load_datasets(roots, on_progress) if len(roots) > 1 else load_dataset(roots[0], on_progress)
    kept, left_out = apply_policy(df, policy)
    if balance:
        kept = _balance(kept, seed)
    if stratify == "dx" and "dx" not in kept.columns:
        kept = kept.assign(dx=diagnosis_class(kept))
    out = split_grouped(kept, seed=seed, stratify=stratify)
    out.attrs.update(df.attrs, left_out=left_out)
    return out


def diagnosis_summary(df: pd.DataFrame) -> tuple[dict[str, int], dict[str, int]]:
    """(images per diagnosis class, images per diagnosis name left out of the diagnosis task).

    The second dict holds every name that is none of the seven classes (squamous cell
    carcinoma, unknown names, ...) and "(none given)" for rows without a diagnosis.
    """
    dx = diagnosis_class(df)
    classes = {c: int((dx == c).sum()) for c in DIAGNOSIS_CLASSES}
    names = df.loc[dx.eq(""), "diagnosis"].astype(str).replace("", "(none given)")
    return classes, {name: int(n) for name, n in names.value_counts().items()}


def diagnosis_split(kept: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The diagnosis task's split of the usable rows `kept`, as a run makes it (`prepare(...,
    balance=False, stratify="dx")`, then only the rows of one of the seven classes): every row
    split, grouped, stratified by its class (rows of no class form a stratum of their own), then
    the rows of no class dropped. Adds `dx` and `split` columns."""
    out = split_grouped(kept.assign(dx=diagnosis_class(kept)), seed=seed, stratify="dx")
    return out[out["dx"].isin(DIAGNOSIS_CLASSES)]


def scan_dataset(root, policy: DataPolicy = DataPolicy(),
                 on_progress: OnProgress | None = None, balance: bool = True,
                 seed: int = 0) -> dict:
    """Everything `data scan` reports about a folder, or several read as one, as a JSON-ready dict.

    Keys: root, layout, n_files, n_images (metadata rows), labels (usable images per label
    under the policy), left_out (reason -> n), problems (list of dicts), problem_counts
    (reason -> n), policy, balanced, splits (split -> label -> n), group_overlap, seconds;
    folders (per folder: root, layout, n_images, n_kept) and merged (rows found in more than
    one folder and kept once: the row with the most metadata); diagnoses (usable images
    per diagnosis class), diagnoses_left_out (diagnosis name -> usable images that are none
    of the seven), diagnosis_splits (split -> class -> n: the diagnosis task's split,
    `diagnosis_split`: the images a diagnosis run trains, validates and tests on) and
    diagnosis_group_overlap.
    """
    start = time.perf_counter()
    roots = folders_of(root)
    df = load_datasets(roots, on_progress) if len(roots) > 1 else load_dataset(roots[0], on_progress)
    kept, left_out = apply_policy(df, policy)
    split = split_grouped(_balance(kept, seed) if balance else kept, seed=seed)
    problems = df.attrs["problems"]
    classes, others = diagnosis_summary(kept)
    dx_split = diagnosis_split(kept, seed)
    dx_table = pd.crosstab(dx_split["split"], dx_split["dx"]).reindex(
        index=list(SPLITS), columns=list(DIAGNOSIS_CLASSES), fill_value=0)
    folders = df.attrs.get("folders") or [{"root": df.attrs["root"], "layout": df.attrs["layout"],
                                            "n_images": len(df), "n_kept": len(df)}]
    return {
        "root": df.attrs["root"], "layout": df.attrs["layout"],
        "n_files": df.attrs["n_files"], "n_images": len(df),
        "folders": folders, "merged": int(df.attrs.get("merged", 0)),
        "labels": {label: int((kept["benign_malignant"] == label).sum())
                   for label in policy.include_labels},
        "left_out": left_out, "problems": problems,
        "problem_counts": dict(Counter(p["reason"] for p in problems).most_common()),
        "policy": asdict(policy), "balanced": balance, "seed": seed,
        "splits": split_counts(split), "group_overlap": group_overlap(split),
        "diagnoses": classes, "diagnoses_left_out": others,
        "diagnosis_splits": {s: {c: int(dx_table.loc[s, c]) for c in DIAGNOSIS_CLASSES} for s in SPLITS},
        "diagnosis_group_overlap": group_overlap(dx_split),
        "seconds": round(time.perf_counter() - start, 2),
    }


# ---------------------------------------------------------------- predictions

def labels_of(df: pd.DataFrame) -> np.ndarray:
    """int (N,) 1 for malignant, 0 for benign, from the table's `benign_malignant` column."""
    bad = ~df["benign_malignant"].isin(LABELS)
    if bad.any():
        raise DataError(f"{int(bad.sum())} images are neither benign nor malignant; "
                        "evaluate only labelled images.")
    return df["benign_malignant"].eq("malignant").to_numpy().astype(int)
