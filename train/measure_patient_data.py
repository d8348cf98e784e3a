"""Measure a diagnosis model that reads age, sex and site with and without them, on its own
validation and test images, and write `patient_data.json` into its folder (the page reads it).

    python train/measure_patient_data.py skinml/assets/diagnosis \
        --data ../shared/data/isic-sample ../shared/data/ham10000

The images are those of the model's `predictions.csv` (written when the run was finished: its
validation and test split, lesion-disjoint from training), found by ISIC id in the --data folders
(their age, sex and site as the data tables give them). For each case the class-balanced
decision (a logit adjustment of the training prior, its strength chosen on validation) is
measured too. Inference only; runs niced.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="diagnosis classifier folder with predictions.csv")
    parser.add_argument("--data", nargs="+", required=True, help="the folders the model's images come from")
    parser.add_argument("--predictions", type=Path, help="the split's predictions.csv (default: the model folder's, "
                                                         "else its run directory's)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args(argv)
    os.nice(10)

    import pandas as pd

    from skinml.cnn.classifier import load_classifier
    from skinml.data.policy import diagnosis_class
    from skinml.data.readers import load_datasets
    from skinml.evaluation import PATIENT_DATA_FILE, measure_patient_data
    from skinml.runs import write_atomic

    start = time.time()
    classifier = load_classifier(args.model)
    folder = Path(args.model)
    found = [p for p in (folder / "predictions.csv", folder.parent / "predictions.csv") if p.is_file()]
    if not (args.predictions or found):
        print(f"error: no predictions.csv in {folder} or its run directory: pass --predictions", file=sys.stderr)
        return 2
    splits = pd.read_csv(args.predictions or found[0], usecols=["split", "isic_id", "y"])
    table = load_datasets(args.data).drop_duplicates("isic_id").set_index("isic_id")
    missing = sorted(set(splits["isic_id"]) - set(table.index))
    if missing:
        print(f"error: {len(missing)} images of predictions.csv are not in {args.data} (e.g. {missing[:3]})",
              file=sys.stderr)
        return 2
    parts = {}
    for name in ("val", "test"):
        ids = splits.loc[splits["split"] == name]
        part = table.loc[ids["isic_id"]].reset_index()
        part = part.assign(dx=diagnosis_class(part))
        if not (part["dx"].map(list(classifier.classes).index).to_numpy() == ids["y"].to_numpy()).all():
            print(f"error: the diagnoses of the {name} images differ from predictions.csv", file=sys.stderr)
            return 2
        parts[name] = part
    progress = lambda f, logs: print(f"\r{f:.0%}", end="", file=sys.stderr, flush=True)
    report = measure_patient_data(classifier, parts["val"], parts["test"], n_boot=args.bootstrap, on_progress=progress)
    report.update(model=str(args.model), model_version=classifier.version, data=[str(d) for d in args.data],
                  images="the validation and test images of the model's predictions.csv (lesion-grouped split)",
                  seconds=round(time.time() - start, 1),
                  command=" ".join(["python train/measure_patient_data.py", *(argv or sys.argv[1:])]))
    write_atomic(Path(args.model) / PATIENT_DATA_FILE, json.dumps(report, indent=1))
    print(f"\nwritten to {Path(args.model) / PATIENT_DATA_FILE}", file=sys.stderr)
    for case in ("with_patient_data", "without_patient_data"):
        r = report[case]
        for part in ("val", "test", "test_adjusted"):
            f = r[part]
            ci = f.get("intervals", {}).get("balanced_accuracy")
            print(f"{case:<22}{part:<15}balanced accuracy {f['balanced_accuracy']:.3f}"
                  + (f" ({ci[0]:.3f}-{ci[1]:.3f})" if ci else "") + f"  macro AUC {f['macro_auc']:.3f}"
                  + f"  p(malignant) AUC {f.get('malignant_auc', float('nan')):.3f}")
        print(f"{case:<22}tau {r['tau']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
