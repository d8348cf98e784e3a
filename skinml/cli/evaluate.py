"""`python -m skinml evaluate`: a classifier's figures on a dataset folder, as text or JSON."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="measure a classifier on a dataset folder (AUC, sensitivity, ...)",
        description="Measure a classifier at its saved threshold. On the folder it was trained on, "
                    "its held-out test split is used; any other folder is evaluated whole.")
    parser.add_argument("--data", help="dataset folder (default: $SKINML_DATA, ../shared/data/isic-sample "
                                       "or the synthetic demo)")
    parser.add_argument("--model", help="classifier folder, run directory or .keras file (default: shipped)")
    parser.add_argument("--split", choices=["auto", "test", "val", "all"], default="auto",
                        help="auto: the test split of the training data, else all images")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--predictions-csv", metavar="FILE", help="also write the ISIC challenge CSV")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                        help="average the eight flips and quarter turns (default: as the model's "
                             "threshold was fitted)")
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                        help="bootstrap resamples for the 95%% intervals (0: none)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from skinml.cnn.classifier import SHIPPED_DIR, load_classifier
    from skinml.data.readers import default_data_dir
    from skinml.errors import ModelError
    from skinml.evaluation import evaluate_classifier
    from skinml.metrics.binary import write_isic_predictions_csv
    from skinml.progress import tqdm_progress

    if not args.model and not (SHIPPED_DIR / "model.keras").exists():
        raise ModelError("No shipped model is installed yet: pass --model with a classifier folder "
                         "or a run directory (train one with train/train_classifier.py).")
    classifier = load_classifier(args.model)
    on_progress, close = tqdm_progress(desc="predicting")
    try:
        report, table = evaluate_classifier(classifier, args.data or default_data_dir(), args.split,
                                            tta=classifier.tta if args.tta is None else args.tta, n_boot=args.bootstrap, on_progress=on_progress)
    finally:
        close()
    if args.predictions_csv:
        report["predictions_csv"] = str(write_isic_predictions_csv(table["isic_id"], table["p"],
                                                                   args.predictions_csv))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['model']} on {report['data']} ({report['split']}: {report['n']} images, "
          f"{report['n_malignant']} malignant), threshold {report['threshold']:.3f}")
    intervals = report.get("intervals", {})
    for key in ("auc", "accuracy", "sensitivity", "specificity", "balanced_accuracy", "precision",
                "partial_auc_80", "sensitivity_at_specificity_70", "average_precision", "ece"):
        value = report.get(key)
        shown = "n/a" if value is None else f"{value:.3f}"
        if key in intervals and value is not None:
            shown += f"  (95% {intervals[key][0]:.3f} to {intervals[key][1]:.3f})"
        print(f"  {key:<32}{shown}")
    (tn, fp), (fn, tp) = report["confusion"]
    print(f"  confusion (rows truth benign/malignant): [[{tn}, {fp}], [{fn}, {tp}]]")
    if args.predictions_csv:
        print(f"  predictions written to {report['predictions_csv']}", file=sys.stderr)
    return 0
