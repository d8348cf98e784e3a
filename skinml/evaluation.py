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
        out[start:start + len(chunk)] = classifier.predict_proba(images.astype("float32") / 255.0, tta=tta,
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


# ---------------------------------------------------------------- with and without patient data

PATIENT_DATA_FILE = "patient_data.json"


def without_patient_data(table: pd.DataFrame) -> pd.DataFrame:
    """The rows with age, sex and site blank: what a model reads when a user gives none of them."""
    return table.assign(age_approx=np.nan, sex="", anatom_site_general="")


def measure_patient_data(classifier, val: pd.DataFrame, test: pd.DataFrame, n_boot: int = 1000,
                         on_progress=None) -> dict:
    """A diagnosis model that reads age, sex and site, measured on its validation and test rows
    (data tables with `dx`) twice: with their patient data and with none. For each case, the
    class-balanced decision (`logit_adjust` with the training prior, its strength tau chosen on
    validation for that case) is measured on the test rows too. JSON-ready:
    {"with_patient_data"|"without_patient_data": {"val", "test", "tau", "test_adjusted"}, "prior", ...}."""
    from skinml.metrics.multiclass import choose_logit_adjustment, evaluate_multiclass, logit_adjust

    if classifier.task != "diagnosis" or not classifier.uses_metadata:
        raise DataError("Only a diagnosis model that reads age, sex and site can be measured with and without them.")
    classes, malignant = list(classifier.classes), list(classifier.malignant_classes)
    counts = (classifier.info.get("data") or {}).get("counts", {}).get("train", {})
    prior = np.array([max(1, int(counts.get(c, 0))) for c in classes], dtype="float64")
    prior /= prior.sum()
    y = {name: part["dx"].map(classes.index).to_numpy().astype(int) for name, part in (("val", val), ("test", test))}
    report = {"classes": classes, "prior": prior.round(4).tolist(), "n_val": int(len(val)), "n_test": int(len(test)),
              "tta": bool(classifier.tta),
              "decision": "most probable class; 'adjusted': after dividing by the training prior to the power tau, "
                          "tau chosen on validation for the case (Menon et al. 2021 logit adjustment)"}
    for case, hide in (("with_patient_data", False), ("without_patient_data", True)):
        p = {name: predict_table_classes(classifier, without_patient_data(part) if hide else part,
                                         tta=classifier.tta, on_progress=on_progress)
             for name, part in (("val", val), ("test", test))}
        tau = choose_logit_adjustment(y["val"], p["val"], prior)
        report[case] = {
            "val": evaluate_multiclass(y["val"], p["val"], classes, malignant, n_boot=n_boot),
            "test": evaluate_multiclass(y["test"], p["test"], classes, malignant, n_boot=n_boot),
            "tau": tau,
            "val_adjusted": evaluate_multiclass(y["val"], logit_adjust(p["val"], prior, tau), classes, malignant,
                                                n_boot=0),
            "test_adjusted": evaluate_multiclass(y["test"], logit_adjust(p["test"], prior, tau), classes, malignant,
                                                 n_boot=n_boot)}
    return report


def load_patient_data(classifier) -> dict | None:
    """The measured figures with and without patient data of a classifier folder (a `Classifier`
    or a path; `patient_data.json`), or None when it has none."""
    import json
    from pathlib import Path

    folder = getattr(classifier, "path", classifier)
    path = Path(folder) / PATIENT_DATA_FILE if folder else None
    return json.loads(path.read_text()) if path and path.is_file() else None


def patient_data_sentence(report: dict | None, patient: pd.DataFrame | None) -> str | None:
    """For the clinician's page: which case applies to this photo (the patient's age, sex and site
    given, some, or none: `patient` is the one-row table of `skinml.data.tabular.patient_table`,
    None when nothing was given) and what it costs, from a model's `patient_data.json` figures
    (balanced accuracy and macro AUC on its held-out test images). None without figures."""
    if not report:
        return None
    shown = lambda case, key: _figure(report[case]["test"], key)
    given = [] if patient is None else [name for name, column in (("age", "age_approx"), ("sex", "sex"),
                                                                  ("site", "anatom_site_general"))
                                        if pd.notna(patient[column].iloc[0]) and str(patient[column].iloc[0]) != ""]
    cost = (f"On {report['n_test']} held-out test images its balanced accuracy over the "
            f"{len(report.get('classes', [])) or 'seven'} diagnoses is "
            f"{shown('with_patient_data', 'balanced_accuracy')} with the patient's age, sex and site and "
            f"{shown('without_patient_data', 'balanced_accuracy')} without them (macro AUC "
            f"{shown('with_patient_data', 'macro_auc')} and {shown('without_patient_data', 'macro_auc')}).")
    if len(given) == 3:
        return f"Age, sex and site given: the figures with patient data apply. {cost}"
    if not given:
        return (f"No patient data given: this model reads age, sex and site and answers now from the image alone, "
                f"with every one of them unknown. {cost} Give them above for its better figures.")
    missing = [f for f in ("age", "sex", "site") if f not in given]
    return (f"Only {' and '.join(given)} given ({' and '.join(missing)} unknown): expect figures between the two "
            f"cases. {cost}")


def _figure(figures: dict, key: str) -> str:
    """'0.60 (95% 0.54 to 0.67)' from an evaluate_multiclass report."""
    interval = (figures.get("intervals") or {}).get(key)
    return f"{figures[key]:.2f}" + (f" (95% {interval[0]:.2f} to {interval[1]:.2f})" if interval else "")
