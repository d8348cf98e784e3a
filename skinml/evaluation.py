"""Evaluate a classifier on a dataset folder: replay the split it was trained on, or use all images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from skinml.data.policy import labels_of, split_fingerprint
from skinml.errors import DataError
from skinml.metrics.binary import evaluate_predictions


def predict_table(classifier, df: pd.DataFrame, tta: bool = False, batch_size: int = 64,
                  on_progress=None) -> np.ndarray:
    """p(malignant), float (N,), for every row of a data table (its `image_path` column).

    Images are read with `skinml.images.decode.load_image` at the classifier's size and resize
    mode, a batch at a time, so memory stays small on large splits.
    """
    from skinml.images.decode import load_image

    paths = df["image_path"].tolist()
    out = np.zeros(len(paths))
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        images = np.stack([load_image(path, classifier.image_size, classifier.resize) for path in chunk])
        out[start:start + len(chunk)] = classifier.predict_proba(images.astype("float32") / 255.0, tta=tta)
        if on_progress:
            on_progress(min(1.0, (start + len(chunk)) / len(paths)), {"images": start + len(chunk)})
    return out


# ---------------------------------------------------------------- a classifier on a folder

def evaluation_table(classifier, root: str | Path, split: str = "auto") -> tuple[pd.DataFrame, str]:
    """The rows of `root` to evaluate `classifier` on, and the split actually used.

    "auto": when `root` is the data the classifier was trained on (its training split's
    ids match the fingerprint saved in model.json), its held-out test split (same seed and
    policy); otherwise every labelled usable image ("all"). "test"/"val": that split of the
    grouped split made with the model's seed (or 0). "all": every labelled usable image.
    """
    from skinml.data.policy import DataPolicy, apply_policy, prepare, split_grouped
    from skinml.data.readers import load_dataset

    if split not in ("auto", "test", "val", "all"):
        raise DataError(f"Unknown split '{split}': use auto, test, val or all.")
    data = classifier.info.get("data", {}) if classifier else {}
    exclude = tuple(tuple(rule.split("=", 1)) if isinstance(rule, str) else tuple(rule)
                    for rule in data.get("exclude", ()))
    policy = DataPolicy(exclude=exclude, dermoscopic_only=bool(data.get("dermoscopic_only", True)))
    seed = int(data.get("seed", 0))
    if split in ("auto", "test", "val"):
        config = data and classifier.info.get("config")
        if config and config.get("max_images"):  # the run subsampled: replay it exactly
            from skinml.cnn.config import TrainConfig
            from skinml.cnn.splits import load_splits

            table = load_splits(TrainConfig.from_dict({**config, "data": str(root)}))
        else:
            table = prepare(root, policy, balance=bool(data.get("balanced", True)), seed=seed)
        same = bool(data.get("train_ids_sha1")) and split_fingerprint(table, "train") == data["train_ids_sha1"]
        if split == "auto":
            split = "test" if same else "all"
        if split != "all":
            return table[table["split"] == split].reset_index(drop=True), split
    df, _ = apply_policy(load_dataset(root), policy)
    if df.empty:
        raise DataError(f"{root} has no labelled (benign or malignant) images to evaluate on.")
    return split_grouped(df, seed=seed).reset_index(drop=True), "all"


def evaluate_classifier(classifier, root: str | Path, split: str = "auto", tta: bool = False,
                        n_boot: int = 1000, on_progress=None) -> tuple[dict, pd.DataFrame]:
    """Predict `root` (see evaluation_table) and measure at the classifier's saved threshold.

    Returns (report, table): the report of `evaluate_predictions` plus `split`, `n`,
    `model`, `data`; the table is the evaluated rows with `y` and `p` columns added.
    """
    table, used = evaluation_table(classifier, root, split)
    y = labels_of(table)
    p = predict_table(classifier, table, tta=tta, on_progress=on_progress)
    report = evaluate_predictions(y, p, classifier.threshold, meta=table, n_boot=n_boot)
    report.update(split=used, model=str(classifier.path), data=str(root))
    return report, table.assign(y=y, p=p)
