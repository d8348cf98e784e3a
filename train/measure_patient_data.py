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
import os
import sys
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

    from skinml.errors import DataError
    from skinml.runs.measures import measure_patient_data

    progress = lambda f, logs: print(f"\r{f:.0%}", end="", file=sys.stderr, flush=True)
    try:
        report = measure_patient_data(Path(args.model), args.data, args.predictions, n_boot=args.bootstrap,
                                      on_progress=progress,
                                      command=" ".join(["python train/measure_patient_data.py",
                                                        *(argv or sys.argv[1:])]))
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"\nwritten to {Path(args.model) / 'patient_data.json'}", file=sys.stderr)
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
