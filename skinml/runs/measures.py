"""The measures a classifier folder carries beside its weights, written into the folder.

Each function measures a shipped (or about to be shipped) classifier folder and writes one file
its card and pages read:

- `measure_explanations`: the heatmap trust measures (`explanations.json`);
- `measure_bias`: the bias test, AUC with the lesion removed and with only the lesion (`bias.json`);
- `measure_patient_data`: a diagnosis model with and without age, sex and site (`patient_data.json`);
- `measure_example_maps`: the built-in example photos' heatmaps (`example_maps.npz`).

A recipe's `[ship]` table names which ones its model gets (`measure_folder`), so that
`python -m skinml make NAME` writes all of them; `train/measure_bias.py` and
`train/measure_patient_data.py` run one on an existing folder.
"""

from __future__ import annotations

import time
from pathlib import Path

from skinml.errors import DataError
from skinml.io import shown_path


def measure_explanations(folder: Path, data: str, masks: str | None = None, n: int = 200,
                         n_randomise: int = 30) -> Path:
    from skinml.cnn.classifier import load_classifier
    from skinml.explain.trust import evaluate_explanations, save_explanations

    report = evaluate_explanations(load_classifier(folder), data, masks or None, n=n, n_randomise=n_randomise)
    return save_explanations(report, folder)


def measure_bias(folder: Path, data: str, masks: str | None = None, trained_on=(), n: int = 1200,
                 tta: bool | None = None, n_boot: int = 1000, seed: int = 0, on_progress=None,
                 command: str = "", name: str | None = None) -> dict:
    """The bias test of the classifier in `folder` on held-out images of `data` (a HAM10000-style
    folder with masks), written as bias.json; a model that reads age, sex and site is measured
    with them and again without (`image_only`). Returns the report."""
    from skinml.cnn.classifier import load_classifier
    from skinml.explain.bias import bias_test, held_out_table, save_bias

    start = time.time()
    classifier = load_classifier(folder)
    table = held_out_table(folder, data, list(trained_on), masks, n=n or None, seed=seed)
    tta = classifier.tta if tta is None else tta
    report = bias_test(classifier, table, masks=table.attrs["masks"], tta=tta, n_boot=n_boot, seed=seed,
                       on_progress=on_progress)
    if classifier.uses_metadata:
        image_only = bias_test(classifier, table, masks=table.attrs["masks"], tta=tta, patient_data=False,
                               n_boot=n_boot, seed=seed, on_progress=on_progress)
        report["image_only"] = {key: image_only[key] for key in ("auc", "minus_photo", "patient_data")}
    report.update(model=name or shown_path(folder), model_version=classifier.version, data=str(data),
                  score="p(malignant)" + (" (sum over " + ", ".join(classifier.malignant_classes) + ")"
                                          if classifier.task == "diagnosis" else ""),
                  selection={"rule": "HAM10000 images with a mask, neither image nor lesion in the model's training "
                                     "index (train and val) by ISIC id, lesion id or pixels; one image per lesion, "
                                     f"seed {seed}, at most {n or 'all'} lesions, malignant first",
                             **{k: table.attrs[k] for k in ("held_out_lesions", "left_out_seen",
                                                            "left_out_by_pixels", "without_mask")}},
                  isic_ids=table["isic_id"].tolist(), seconds=round(time.time() - start, 1), command=command)
    save_bias(report, folder)
    return report


def patient_data_splits(classifier, predictions: Path, data: list[str]) -> dict:
    """{"val"|"test": data table with `dx`}: the rows of a diagnosis model's predictions.csv (its
    lesion-grouped validation and test split), found by ISIC id in the `data` folders."""
    import pandas as pd

    from skinml.data.policy import diagnosis_class
    from skinml.data.readers import load_datasets

    splits = pd.read_csv(predictions, usecols=["split", "isic_id", "y"])
    table = load_datasets(data).drop_duplicates("isic_id").set_index("isic_id")
    missing = sorted(set(splits["isic_id"]) - set(table.index))
    if missing:
        raise DataError(f"{len(missing)} images of {predictions} are not in {', '.join(map(str, data))} "
                        f"(e.g. {', '.join(missing[:3])}).")
    parts = {}
    for name in ("val", "test"):
        ids = splits.loc[splits["split"] == name]
        part = table.loc[ids["isic_id"]].reset_index()
        part = part.assign(dx=diagnosis_class(part))
        if not (part["dx"].map(list(classifier.classes).index).to_numpy() == ids["y"].to_numpy()).all():
            raise DataError(f"The diagnoses of the {name} images differ from {predictions}.")
        parts[name] = part
    return parts


def measure_patient_data(folder: Path, data: list[str], predictions: Path | None = None, n_boot: int = 1000,
                         on_progress=None, command: str = "", name: str | None = None) -> dict:
    """A diagnosis model that reads age, sex and site, measured on the validation and test images
    of its predictions.csv with and without them; written as patient_data.json. Returns the report."""
    from skinml.cnn.classifier import load_classifier
    from skinml.evaluation import PATIENT_DATA_FILE
    from skinml.evaluation import measure_patient_data as measure
    from skinml.io import write_json

    start = time.time()
    folder = Path(folder)
    classifier = load_classifier(folder)
    found = [p for p in (folder / "predictions.csv", folder.parent / "predictions.csv") if p.is_file()]
    if not (predictions or found):
        raise DataError(f"No predictions.csv in {folder} or beside it: the validation and test images are unknown.")
    parts = patient_data_splits(classifier, Path(predictions or found[0]), data)
    report = measure(classifier, parts["val"], parts["test"], n_boot=n_boot, on_progress=on_progress)
    report.update(model=name or shown_path(folder), model_version=classifier.version, data=[str(d) for d in data],
                  images="the validation and test images of the model's predictions.csv (lesion-grouped split)",
                  seconds=round(time.time() - start, 1), command=command)
    write_json(folder / PATIENT_DATA_FILE, report)
    return report


def measure_example_maps(folder: Path) -> Path:
    from skinml.cnn.classifier import load_classifier
    from skinml.explain.precomputed import precompute_example_maps

    return precompute_example_maps(load_classifier(folder), folder)


def measure_folder(folder: Path, settings: dict, resolve=str, command: str = "", name: str | None = None) -> None:
    """Run the measures a recipe's `[ship]` table names on the classifier folder `folder`:
    `explanations = {data, masks, n, n_randomise}`, `bias = {data, masks, trained_on, n}`,
    `patient_data = {data}`, `example_maps = true`. `resolve` turns a recipe's path into a path;
    `name` is how the reports name the model (the folder it is shipped as)."""
    if "explanations" in settings:
        s = settings["explanations"]
        measure_explanations(folder, resolve(s["data"]), resolve(s.get("masks", "")) or None,
                             n=s.get("n", 200), n_randomise=s.get("n_randomise", 30))
    if "bias" in settings:
        s = settings["bias"]
        measure_bias(folder, resolve(s["data"]), resolve(s.get("masks", "")) or None,
                     [resolve(d) for d in s.get("trained_on", [])], n=s.get("n", 1200),
                     n_boot=s.get("bootstrap", 1000), command=command, name=name)
    if "patient_data" in settings:
        s = settings["patient_data"]
        measure_patient_data(folder, [resolve(d) for d in s["data"]], n_boot=s.get("bootstrap", 1000),
                             command=command, name=name)
    if settings.get("example_maps"):
        measure_example_maps(folder)
