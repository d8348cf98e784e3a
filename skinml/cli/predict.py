"""`python -m skinml predict FILE [FILE ...]`: p(malignant) for photos, with the dashboard's rules.

Each file goes through `skinml.predict.predict_upload`, the code path of the clinician's
page. One unreadable file never stops the others: it gets `"ok": false` and a sentence.
Exit status 0 when every file was read, 1 when some could not be (2 for a model error).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from skinml import DISCLAIMER


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="probability of malignancy for lesion photos (teaching tool, not a diagnosis)",
        description=__doc__.splitlines()[0] + " " + DISCLAIMER)
    parser.add_argument("files", nargs="+", metavar="FILE", help="image files (JPEG, PNG, WebP, TIFF, BMP, GIF)")
    parser.add_argument("--model", help="classifier folder or run directory (default: the shipped model)")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                        help="average over the eight flips and quarter turns and report their spread "
                             "(default: as the model's threshold was fitted)")
    parser.add_argument("--json", action="store_true", help="print a JSON array, one object per file")
    parser.set_defaults(func=run)


def predict_file(classifier, path: str, tta: bool) -> dict:
    """The JSON object for one file: the result's fields, or {"file", "ok": false, "error"}."""
    from skinml.errors import SkinmlError
    from skinml.predict import predict_upload

    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return {"file": path, "ok": False, "error": f"There is no file '{path}'."}
    except IsADirectoryError:
        return {"file": path, "ok": False, "error": f"'{path}' is a folder, not an image file."}
    except OSError as exc:
        return {"file": path, "ok": False, "error": f"'{path}' cannot be read ({exc.strerror})."}
    try:
        return predict_upload(classifier, data, path, tta=tta, heatmap=False).to_dict()
    except SkinmlError as exc:
        return {"file": path, "ok": False, "error": str(exc)}


def format_table(rows: list[dict]) -> str:
    """A readable table of `predict_file` results, then the warnings and the disclaimer."""
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


def run(args) -> int:
    from skinml.cnn.classifier import load_classifier

    classifier = load_classifier(args.model)
    tta = classifier.tta if args.tta is None else args.tta
    rows = [predict_file(classifier, path, tta) for path in args.files]
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))
    sys.stdout.flush()
    return 0 if all(r["ok"] for r in rows) else 1
