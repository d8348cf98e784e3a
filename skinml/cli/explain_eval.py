"""`python -m skinml explain-eval`: how far each explanation method can be trusted, measured on
held-out images against lesion masks (pointing game, share inside the lesion, deletion and
insertion areas, cascading weight randomisation), each with a 95% interval. Masks are the
dataset's where it has them, else the shipped lesion segmenter's predictions (the report says
which, with the segmenter's held-out Jaccard)."""

from __future__ import annotations

import json
import sys


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "explain-eval", help="measure Grad-CAM and other heatmaps against lesion masks",
        description=__doc__.split("`:", 1)[1].strip().replace("\n", " "))
    parser.add_argument("--model", help="classifier folder, run directory or .keras file (default: shipped)")
    parser.add_argument("--data", help="HAM10000-style dataset folder (default: ../shared/data/ham10000)")
    parser.add_argument("--masks", help="folder of <isic_id>_segmentation.png (default: DATA-segmentations "
                                        "beside the data folder, or DATA/masks); images without a mask are "
                                        "outlined by the shipped lesion segmenter")
    parser.add_argument("--n", type=int, default=200, help="held-out images to measure (one per lesion)")
    parser.add_argument("--n-randomise", type=int, default=30, metavar="N",
                        help="images for the weight-randomisation check (the slow part)")
    parser.add_argument("--methods", help="comma-separated subset of: gradcam, gradcam_early, hirescam, "
                                          "occlusion, integrated_gradients (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples")
    parser.add_argument("--save", action="store_true",
                        help="also write explanations.json into the classifier folder (the dashboard reads it)")
    parser.add_argument("--json", action="store_true", help="print the whole report as one JSON object")
    parser.set_defaults(func=run)


def format_report(report: dict) -> str:
    """The report as a readable table: one line per method, then the baselines."""
    f = lambda s: f"{s['mean']:.2f} ({s['low']:.2f}-{s['high']:.2f})"
    from skinml.explain.trust import masks_sentence

    lines = [f"{report['model']}: {report['n']} held-out images of {report['data']} "
             f"({report['n_malignant']} malignant). {masks_sentence(report)}",
             f"{'method':<26}{'pointing game':<20}{'share inside':<20}{'deletion AUC':<20}"
             f"{'insertion AUC':<20}rank corr. (top block / all randomised)"]
    for m in report["methods"].values():
        r = list(m["randomisation"].values())
        lines.append(f"{m['label']:<26}{f(m['pointing_game']):<20}{f(m['share_inside']):<20}"
                     f"{f(m['deletion_auc']):<20}{f(m['insertion_auc']):<20}"
                     + (f"{f(r[0])} / {f(r[-1])}" if r else "-"))
    c, o = report["centre"], report["random_order"]
    lines.append(f"{'centre Gaussian':<26}{f(c['pointing_game']):<20}{f(c['share_inside']):<20}")
    lines.append(f"{'random order':<26}{'':<40}{f(o['deletion_auc']):<20}{f(o['insertion_auc']):<20}")
    lines.append(f"(lesions cover {f(c['mask_area'])} of the image; 95% bootstrap intervals in brackets)")
    lines += [f"warning: {w}" for w in report.get("mask_warnings", [])]
    return "\n".join(lines)


def run(args) -> int:
    from skinml import SHARED_DATA
    from skinml.cnn.classifier import load_classifier
    from skinml.errors import DataError
    from skinml.explain.trust import evaluate_explanations, save_explanations
    from skinml.progress import tqdm_progress

    data = args.data or SHARED_DATA / "ham10000"
    if args.data is None and not data.is_dir():
        raise DataError(f"No dataset given and {data} does not exist: pass --data with a HAM10000-style folder.")
    if args.n < 1 or args.n_randomise < 0:
        raise DataError("--n must be at least 1 and --n-randomise at least 0.")
    classifier = load_classifier(args.model)
    methods = [m.strip() for m in args.methods.split(",")] if args.methods else None
    on_progress, close = tqdm_progress(desc="explaining")
    try:
        report = evaluate_explanations(classifier, data, args.masks, n=args.n, n_randomise=args.n_randomise,
                                       methods=methods, seed=args.seed, n_boot=args.bootstrap,
                                       on_progress=on_progress)
    finally:
        close()
    for warning in report.get("mask_warnings", []) if args.json else []:
        print(f"warning: {warning}", file=sys.stderr)
    if args.save:
        print(f"written to {save_explanations(report, classifier.path)}", file=sys.stderr)
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0
