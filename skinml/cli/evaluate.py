"""`python -m skinml evaluate`: a classifier's figures on a dataset folder, as text or JSON."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="measure a classifier on a dataset folder (AUC, sensitivity, balanced accuracy, ...)",
        description="Measure a classifier: a binary model at its saved threshold, a diagnosis model on the "
                    "images of its seven diagnoses. On the folder(s) it was trained on, its held-out test "
                    "split is used; any other folder is evaluated whole.")
    parser.add_argument("--data", nargs="+", metavar="DIR",
                        help="dataset folder(s), several read as one (default: $SKINML_DATA, "
                             "../shared/data/isic-sample or the synthetic demo)")
    parser.add_argument("--model", help="classifier folder, run directory or .keras file "
                                        "(default: the shipped model of --task)")
    parser.add_argument("--task", choices=["binary", "diagnosis", "segmentation"], default=None,
                        help="binary or diagnosis (default: binary, or --model's task); segmentation: the "
                             "lesion segmenter on the folder's images that have a mask (ISIC 2018 Task 1 figures)")
    parser.add_argument("--masks", metavar="DIR", help="folder of <isic_id>_segmentation.png, for segmentation and "
                                                       "--bias-test (default: <data>-segmentations beside the data, "
                                                       "or masks/ inside it)")
    parser.add_argument("--split", choices=["auto", "test", "val", "all"], default="auto",
                        help="auto: the test split of the training data, else all images")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--predictions-csv", metavar="FILE",
                        help="also write the ISIC challenge CSV (binary: image,benign,malignant; "
                             "diagnosis: ISIC 2018 Task 3's image,MEL,NV,BCC,AKIEC,BKL,DF,VASC)")
    parser.add_argument("--truth-csv", metavar="FILE",
                        help="also write the matching ground-truth CSV, for isic-challenge-scoring")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                        help="average the eight flips and quarter turns (default: as the model's "
                             "threshold was fitted)")
    parser.add_argument("--bias-test", action="store_true",
                        help="also measure the AUC with the lesion removed and with only the lesion, on the "
                             "held-out images that have a lesion mask (three predictions per image: slower)")
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                        help="bootstrap resamples for the 95%% intervals (0: none)")
    parser.set_defaults(func=run)


def write_csvs(args: argparse.Namespace, report: dict, table) -> None:
    """The ISIC challenge CSVs asked for: predictions and/or truth, in the task's format."""
    from skinml.metrics import binary, multiclass

    if report["task"] == "diagnosis":
        probabilities = table[[f"p_{c}" for c in report["classes"]]].to_numpy()
        ids = table["isic_id"]
        write_predictions = lambda path: multiclass.write_isic2018_predictions_csv(ids, probabilities, path)
        write_truth = lambda path: multiclass.write_isic2018_truth_csv(table["isic_id"], table["y"], path)
    else:
        write_predictions = lambda path: binary.write_isic_predictions_csv(table["isic_id"], table["p"], path)
        write_truth = lambda path: binary.write_isic_truth_csv(table["isic_id"], table["y"], path)
    if args.predictions_csv:
        report["predictions_csv"] = str(write_predictions(args.predictions_csv))
    if args.truth_csv:
        report["truth_csv"] = str(write_truth(args.truth_csv))


def check_outputs(args: argparse.Namespace, data: list) -> None:
    """Refuse, before the evaluation starts, CSV paths that would replace an input, a data file,
    a folder or a device, or each other (`skinml.settings.check_output_file`)."""
    from skinml.cnn.classifier import SHIPPED_DIR
    from skinml.errors import SkinmlError
    from skinml.settings import check_output_file

    inputs = [*data, args.model or SHIPPED_DIR]
    written = [check_output_file(path, inputs) for path in (args.predictions_csv, args.truth_csv) if path]
    if len(written) == 2 and written[0] == written[1]:
        raise SkinmlError("--predictions-csv and --truth-csv name the same file: one would replace the "
                          "other. Name two files.")


def run_segmentation(args: argparse.Namespace) -> int:
    """The segmenter's figures on a folder with masks (held-out images only), text or JSON."""
    from skinml.errors import DataError
    from skinml.segment.evaluate import evaluate_folder
    from skinml.segment.predict import SHIPPED, load_segmenter, load_split_of

    if not args.data or len(args.data) != 1:
        raise DataError("--task segmentation takes one dataset folder with masks: --data DIR.")
    model = load_segmenter(args.model or SHIPPED)
    report, _ = evaluate_folder(model, args.data[0], args.masks, load_split_of(args.model or SHIPPED),
                                n_boot=args.bootstrap)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    o = report["overall"]
    print(f"{o['n']} images with masks ({report['left_out_seen']} left out: seen in training or validation)")
    for name in ("jaccard", "threshold_jaccard", "dice"):
        f = o[name]
        interval = f"  (95% interval {f['low']:.3f} to {f['high']:.3f})" if "low" in f else ""
        print(f"  {name:<18} {f['mean']:.3f}{interval}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.task == "segmentation":
        return run_segmentation(args)
    from skinml.cnn.classifier import SHIPPED_DIR, load_classifier
    from skinml.data.readers import default_data_dir
    from skinml.errors import ModelError
    from skinml.evaluation import evaluate_classifier
    from skinml.progress import tqdm_progress

    if args.bootstrap < 0:
        raise ModelError("--bootstrap is a number of resamples: 0 or more.")
    data = args.data or [default_data_dir()]
    check_outputs(args, data)
    if not args.model and args.task in (None, "binary") and not (SHIPPED_DIR / "model.keras").exists():
        raise ModelError("No shipped model is installed yet: pass --model with a classifier folder "
                         "or a run directory (train one with python -m skinml train).")
    classifier = load_classifier(args.model, task=args.task or (None if args.model else "binary"))
    on_progress, close = tqdm_progress(desc="predicting")
    try:
        report, table = evaluate_classifier(classifier, data if args.data else data[0], args.split,
                                            tta=classifier.tta if args.tta is None else args.tta,
                                            n_boot=args.bootstrap, on_progress=on_progress,
                                            bias=args.bias_test, masks=args.masks)
    finally:
        close()
    write_csvs(args, report, table)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(format_diagnosis(report) if report["task"] == "diagnosis" else format_binary(report))
    if "bias_test" in report:
        print(format_bias(report["bias_test"]))
    for key in ("predictions_csv", "truth_csv"):
        if key in report:
            print(f"  {key.replace('_', ' ')} written to {report[key]}", file=sys.stderr)
    return 0


def _with_interval(report: dict, key: str) -> str:
    value, interval = report.get(key), report.get("intervals", {}).get(key)
    shown = "n/a" if value is None else f"{value:.3f}"
    if interval and value is not None:
        shown += f"  (95% {interval[0]:.3f} to {interval[1]:.3f})"
    return shown


def format_binary(report: dict) -> str:
    """A binary model's report as readable lines."""
    lines = [f"{report['model']} on {report['data']} ({report['split']}: {report['n']} images, "
             f"{report['n_malignant']} malignant), threshold {report['threshold']:.3f}"]
    for key in ("auc", "accuracy", "sensitivity", "specificity", "balanced_accuracy", "precision",
                "partial_auc_80", "sensitivity_at_specificity_70", "average_precision", "ece"):
        lines.append(f"  {key:<32}{_with_interval(report, key)}")
    (tn, fp), (fn, tp) = report["confusion"]
    lines.append(f"  confusion (rows truth benign/malignant): [[{tn}, {fp}], [{fn}, {tp}]]")
    return "\n".join(lines)


def format_diagnosis(report: dict) -> str:
    """A diagnosis model's report: the headline figures, one row per class, the confusion matrix."""
    classes = report["classes"]
    left_out = sum(report.get("left_out", {}).values())
    lines = [f"{report['model']} on {report['data']} ({report['split']}: {report['n']} images of the "
             f"{len(classes)} diagnoses; {left_out} usable images of other or no diagnosis left out)"]
    for key in ("balanced_accuracy", "macro_auc", "accuracy", "malignant_auc", "ece"):
        lines.append(f"  {key:<32}{_with_interval(report, key)}")
    fmt = lambda v: "  n/a" if v is None else f"{v:5.3f}"
    lines.append(f"  {'class':<8}{'n':>6}  sensitivity  specificity    AUC")
    lines += [f"  {r['class']:<8}{r['n']:>6}  {fmt(r['sensitivity']):>11}  {fmt(r['specificity']):>11}  {fmt(r['auc'])}"
              for r in report["per_class"]]
    lines.append("  confusion (rows truth, columns most probable): " + " ".join(f"{c:>6}" for c in classes))
    lines += [f"  {c:>48} " + " ".join(f"{n:>6}" for n in row) for c, row in zip(classes, report["confusion"])]
    return "\n".join(lines)


def format_bias(bias: dict) -> str:
    """The bias test as readable lines: AUC of p(malignant) on the photos, lesion removed, lesion only."""
    lines = [f"  does it look at the lesion? {bias['n']} held-out images with a lesion mask "
             f"({bias['n_malignant']} malignant, {bias['n_lesions']} lesions); 95% intervals by lesion"]
    for name, r in bias["auc"].items():
        lines.append(f"  {'AUC, ' + name.replace('_', ' '):<32}{r['auc']:.3f}  (95% {r['low']:.3f} to {r['high']:.3f})")
    return "\n".join(lines)
