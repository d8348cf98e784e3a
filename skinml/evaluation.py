"""Evaluate a classifier on a dataset folder: replay the split it was trained on, or use all images.

Both tasks: a binary model is measured at its saved threshold (`evaluate_predictions`), a
diagnosis model on the images whose diagnosis is one of its classes (`evaluate_multiclass`:
balanced accuracy, per-class figures, the confusion matrix, p(malignant) AUC).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from skinml.data.policy import diagnosis_class, folders_of, labels_of, split_fingerprint
from skinml.errors import DataError
from skinml.metrics.binary import evaluate_predictions


def predict_table_classes(classifier, df: pd.DataFrame, tta: bool = False, batch_size: int = 64,
                          on_progress=None) -> np.ndarray:
    """Class probabilities, float (N, C) in the order of `classifier.classes`, for every row of
    a data table (its `image_path` column; its age, sex and site for a model that reads them).

    Images are read with `skinml.images.decode.load_image` at the classifier's size and resize
    mode, a batch at a time, so memory stays small on large splits.
    """
    from skinml.images.decode import load_image

    paths = df["image_path"].tolist()
    out = np.zeros((len(paths), len(classifier.classes)))
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        images = np.stack([load_image(path, classifier.image_size, classifier.resize) for path in chunk])
        rows = df.iloc[start:start + len(chunk)] if classifier.uses_metadata else None
        out[start:start + len(chunk)] = classifier.predict_classes(images.astype("float32") / 255.0, tta=tta,
                                                                   metadata=rows)
        if on_progress:
            on_progress(min(1.0, (start + len(chunk)) / len(paths)), {"images": start + len(chunk)})
    return out


def predict_table(classifier, df: pd.DataFrame, tta: bool = False, batch_size: int = 64,
                  on_progress=None) -> np.ndarray:
    """p(malignant), float (N,), for every row of a data table (see predict_table_classes)."""
    return classifier.p_malignant(predict_table_classes(classifier, df, tta, batch_size, on_progress))


# ---------------------------------------------------------------- a classifier on a folder

def evaluation_table(classifier, root, split: str = "auto") -> tuple[pd.DataFrame, str]:
    """The rows of `root` (a folder, or a list of folders read as one) to evaluate
    `classifier` on, and the split actually used.

    "auto": when `root` is the data the classifier was trained on (its training split's
    ids match the fingerprint saved in model.json), its held-out test split (same seed and
    policy); otherwise every labelled usable image ("all"). "test"/"val": that split of the
    grouped split made with the model's seed (or 0). "all": every labelled usable image.
    For a diagnosis model, only images whose diagnosis is one of its classes, split as the
    diagnosis task splits (every image, stratified by diagnosis); `attrs["left_out"]` counts
    the usable images of other or no diagnosis.
    """
    from skinml.data.policy import DataPolicy, apply_policy, prepare, split_grouped
    from skinml.data.readers import load_dataset, load_datasets

    if split not in ("auto", "test", "val", "all"):
        raise DataError(f"Unknown split '{split}': use auto, test, val or all.")
    diagnosis = classifier is not None and classifier.task == "diagnosis"
    data = classifier.info.get("data", {}) if classifier else {}
    exclude = tuple(tuple(rule.split("=", 1)) if isinstance(rule, str) else tuple(rule)
                    for rule in data.get("exclude", ()))
    policy = DataPolicy(exclude=exclude, dermoscopic_only=bool(data.get("dermoscopic_only", True)))
    seed = int(data.get("seed", 0))
    stratify = "dx" if diagnosis else "benign_malignant"
    roots = folders_of(root)

    def with_class(table: pd.DataFrame) -> pd.DataFrame:
        if not diagnosis:
            return table
        dx = diagnosis_class(table)
        kept = table[dx.isin(classifier.classes)].assign(dx=dx)
        kept.attrs["left_out"] = {"diagnosis not one of the classes": int((~dx.isin(classifier.classes)).sum())}
        return kept

    if split in ("auto", "test", "val"):
        config = data and classifier.info.get("config")
        if config and config.get("max_images"):  # the run subsampled: replay it exactly
            from skinml.cnn.config import TrainConfig
            from skinml.cnn.splits import load_splits

            table = load_splits(TrainConfig.from_dict({**config, "data": os.pathsep.join(map(str, roots)),
                                                       "pack": ""}))
        else:
            table = with_class(prepare(roots, policy, balance=bool(data.get("balanced", True)) and not diagnosis,
                                       seed=seed, stratify=stratify))
        same = bool(data.get("train_ids_sha1")) and split_fingerprint(table, "train") == data["train_ids_sha1"]
        if split == "auto":
            split = "test" if same else "all"
        if split != "all":
            part = table[table["split"] == split].reset_index(drop=True)
            part.attrs["left_out"] = table.attrs.get("left_out", {})
            return part, split
    df = load_datasets(roots) if len(roots) > 1 else load_dataset(roots[0])
    df = with_class(apply_policy(df, policy)[0])
    if df.empty:
        what = "images of a diagnosis the model knows" if diagnosis else "labelled (benign or malignant) images"
        raise DataError(f"{', '.join(map(str, roots))} has no {what} to evaluate on.")
    out = split_grouped(df, seed=seed, stratify=stratify).reset_index(drop=True)
    out.attrs["left_out"] = df.attrs.get("left_out", {})
    return out, "all"


def evaluate_classifier(classifier, root, split: str = "auto", tta: bool = False,
                        n_boot: int = 1000, on_progress=None, bias: bool = False,
                        masks=None) -> tuple[dict, pd.DataFrame]:
    """Predict `root` (see evaluation_table) and measure.

    With `bias`, the report also holds the bias test (`bias_figures`): `lesion_removed_auc` and
    `lesion_only_auc` with their intervals, and the whole test as `bias_test`; `masks` is a
    folder of outlines or a function image -> mask (default: the folder beside `root`).

    Binary: the report of `evaluate_predictions` at the saved threshold; the table gains
    `y` and `p` columns. Diagnosis: the report of `evaluate_multiclass` (classes, balanced
    accuracy, macro AUC, per_class, confusion and confusion_normalised, malignant_auc, ...)
    plus `left_out`; the table gains `y` (class index), `p` (p(malignant)) and one `p_<class>`
    column per class. Both reports have `task`, `split`, `n`, `model` and `data`.
    """
    if bias:  # before the long part: a missing masks folder is said at once
        from skinml.explain.bias import find_masks

        masks = find_masks(masks, folders_of(root))
    table, used = evaluation_table(classifier, root, split)
    where = {"task": classifier.task, "split": used, "model": str(classifier.path),
             "data": ", ".join(map(str, folders_of(root)))}
    if classifier.task != "diagnosis":
        y = labels_of(table)
        p = predict_table(classifier, table, tta=tta, on_progress=on_progress)
        report = evaluate_predictions(y, p, classifier.threshold, meta=table, n_boot=n_boot)
        report.update(where)
        if bias:
            add_bias_figures(report, bias_figures(classifier, table, root, masks, tta, n_boot))
        return report, table.assign(y=y, p=p)
    from skinml.metrics.multiclass import evaluate_multiclass

    classes = list(classifier.classes)
    y = table["dx"].map(classes.index).to_numpy().astype(int)
    probabilities = predict_table_classes(classifier, table, tta=tta, on_progress=on_progress)
    report = evaluate_multiclass(y, probabilities, classes, list(classifier.malignant_classes), n_boot=n_boot)
    report.update(where, classes=classes, malignant_classes=list(classifier.malignant_classes),
                  left_out=table.attrs.get("left_out", {}))
    if bias:
        add_bias_figures(report, bias_figures(classifier, table, root, masks, tta, n_boot))
    columns = {f"p_{c}": probabilities[:, i] for i, c in enumerate(classes)}
    return report, table.assign(y=y, p=classifier.p_malignant(probabilities), **columns)


# ---------------------------------------------------------------- does it look at the lesion?

def bias_figures(classifier, table: pd.DataFrame, root, masks=None, tta: bool = False, n_boot: int = 1000,
                 on_progress=None) -> dict:
    """The bias test (`skinml.explain.bias.bias_test`) on the labelled rows of an evaluation table
    that have a lesion mask and whose photo and lesion the classifier never learned from or was
    tuned on (its training index, by ISIC id, lesion and pixels; `skinml.cnn.seen.unseen`)."""
    from skinml.cnn.seen import unseen
    from skinml.explain.bias import bias_test, mask_source

    with_mask, source = mask_source(table, masks, folders_of(root))
    held = unseen(with_mask, classifier.path, lesions=table, by_pixels=True)
    if held.empty:
        raise DataError(f"All {len(with_mask)} images with a lesion mask are images the model learned from: "
                        "the bias test needs held-out ones.")
    report = bias_test(classifier, held, masks=source, tta=tta, n_boot=n_boot, on_progress=on_progress)
    report.update(left_out_seen=held.attrs["left_out_seen"], without_mask=int(len(table) - len(with_mask)))
    return report


def add_bias_figures(report: dict, bias: dict) -> None:
    """Put the bias test's headline figures (lesion_removed_auc, lesion_only_auc and their
    intervals) into an evaluation report beside its own, and the whole test under `bias_test`."""
    from skinml.explain.bias import flat_figures

    flat = flat_figures(bias)
    report.setdefault("intervals", {}).update(flat.pop("intervals"))
    report.update(flat, bias_test=bias)
