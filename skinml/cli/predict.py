"""`python -m skinml predict FILE [FILE ...]`: p(malignant) for photos, with the dashboard's rules.

Each file goes through `skinml.predict.predict_upload`, the code path of the clinician's
page. `--task diagnosis` uses a diagnosis model: the seven diagnoses ranked by probability,
and p(malignant) derived from them. `--age`, `--sex`, `--site` describe the patient; only a
model trained with metadata reads them. One bad file, whatever it is (missing, a folder, a
FIFO, /dev/zero, too large, not an image, or one that hits a bug), never stops the others: it
gets `"ok": false` and a sentence. Exit status 0 when every file was read, 1 when some could
not be (2 for a model error or a bad option).
"""

from __future__ import annotations

import argparse
import json
import sys

from skinml import DISCLAIMER


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="probability of malignancy for lesion photos (teaching tool, not a diagnosis)",
        description=__doc__.splitlines()[0] + " " + DISCLAIMER)
    parser.add_argument("files", nargs="+", metavar="FILE", help="image files (JPEG, PNG, WebP, TIFF, BMP, GIF)")
    parser.add_argument("--model", help="classifier folder or run directory (default: the shipped model of --task)")
    parser.add_argument("--task", choices=["binary", "diagnosis"], default=None,
                        help="binary: p(malignant) and the threshold's side; diagnosis: the seven diagnoses "
                             "ranked, and p(malignant) derived from them (default: binary, or --model's task)")
    parser.add_argument("--age", type=float, default=None, help="the patient's age in years (0 to 120)")
    parser.add_argument("--sex", default=None, help="the patient's sex: male or female")
    parser.add_argument("--site", default=None,
                        help="anatomic site: head/neck, upper extremity, lower extremity, anterior torso, "
                             "posterior torso, lateral torso, torso, palms/soles or oral/genital")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                        help="average over the eight flips and quarter turns and report their spread "
                             "(default: as the model's threshold was fitted)")
    parser.add_argument("--json", action="store_true", help="print a JSON array, one object per file")
    parser.set_defaults(func=run)


def predict_file(classifier, path: str, tta: bool, patient=None) -> dict:
    """The JSON object for one file: the result's fields, or {"file", "ok": false, "error"}."""
    from skinml.cli import file_answer
    from skinml.images.upload import read_image_file
    from skinml.predict import predict_upload

    # read_image_file: an ordinary file of bounded size, never a pipe or a device
    return file_answer(path, lambda: predict_upload(classifier, read_image_file(path), path, tta=tta, heatmap=False,
                                                    patient=patient).to_dict())


def format_table(rows: list[dict]) -> str:
    """A readable table of `predict_file` results, then the warnings and the disclaimer."""
    if any(r.get("task") == "diagnosis" for r in rows):
        return format_diagnosis_table(rows)
    width = max(len("file"), *(len(r["file"]) for r in rows))
    lines = [f"{'file':<{width}}  p(malignant)  threshold  side of threshold", "-" * (width + 44)]
    notes = []
    for r in rows:
        if r["ok"]:
            side = r["threshold_side"] or "none (not dermoscopy)"
            lines.append(f"{r['file']:<{width}}  {r['p_malignant']:>12.3f}  {r['threshold']:>9.3f}  {side}"
                         + ("  (!)" if r["warnings"] else ""))
            notes += [f"{r['file']}: {w}" for w in r["warnings"]]
        else:
            lines.append(f"{r['file']:<{width}}  {'-':>12}  {'-':>9}  could not be read")
            notes.append(f"{r['file']}: {r['error']}")
    return "\n".join(lines + [""] + notes + ["", DISCLAIMER])


def format_diagnosis_table(rows: list[dict]) -> str:
    """A diagnosis model's results: p(malignant) and the three most probable diagnoses."""
    width = max(len("file"), *(len(r["file"]) for r in rows))
    lines = [f"{'file':<{width}}  p(malignant)  most probable diagnoses (probability)", "-" * (width + 60)]
    notes = []
    for r in rows:
        if r["ok"]:
            top = ", ".join(f"{d['name']} {d['probability']:.2f}" for d in r["diagnoses"][:3])
            lines.append(f"{r['file']:<{width}}  {r['p_malignant']:>12.3f}  {top}" + ("  (!)" if r["warnings"] else ""))
            notes += [f"{r['file']}: {w}" for w in r["warnings"]]
        else:
            lines.append(f"{r['file']:<{width}}  {'-':>12}  could not be read")
            notes.append(f"{r['file']}: {r['error']}")
    return "\n".join(lines + [""] + notes + ["", DISCLAIMER])


def run(args) -> int:
    from skinml.cnn.classifier import load_classifier
    from skinml.data.tabular import patient_table

    given = any(v is not None for v in (args.age, args.sex, args.site))
    patient = patient_table(args.age, args.sex, args.site) if given else None  # checked before the model loads
    classifier = load_classifier(args.model, task=args.task or (None if args.model else "binary"))
    tta = classifier.tta if args.tta is None else args.tta
    rows = [predict_file(classifier, path, tta, patient) for path in args.files]
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))
    sys.stdout.flush()
    return 0 if all(r["ok"] for r in rows) else 1
