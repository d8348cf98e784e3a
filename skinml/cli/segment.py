"""`python -m skinml segment FILE [FILE ...] --out DIR`: outline the lesion and measure it (ABCD).

For each photo: the lesion's mask as `<name>_segmentation.png` (ISIC's format, at the size the
photo was read at), the photo with the outline drawn as `<name>_outline.png`, and the ABCD
measures, each with its meaning. A teaching aid, not a verdict. One bad file never stops the
others: it gets `"ok": false` and a sentence. Exit status 0 when every file was read, 1 when
some could not be (2 for a model error or a bad option).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from skinml import DISCLAIMER


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "segment", help="outline the lesion in photos and measure it (ABCD; a teaching aid, not a verdict)",
        description=__doc__.splitlines()[0] + " " + DISCLAIMER)
    parser.add_argument("files", nargs="+", metavar="FILE", help="image files (JPEG, PNG, WebP, TIFF, BMP, GIF)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the masks and outlined photos")
    parser.add_argument("--model", help="segmenter folder or run directory (default: the shipped segmenter)")
    parser.add_argument("--field-of-view-mm", type=float, default=None, metavar="MM",
                        help="the photo's width in millimetres, to give sizes in mm as well as pixels")
    parser.add_argument("--json", action="store_true", help="print a JSON array, one object per file")
    parser.set_defaults(func=run)


def segment_file(model, path: str, out: Path, name: str, field_of_view_mm: float | None) -> dict:
    """The JSON object for one file: mask and outline files, ABCD measures and warnings."""
    import numpy as np

    from skinml.cli import file_answer
    from skinml.images.upload import read_image, read_image_file, to_rgb
    from skinml.io import write_atomic
    from skinml.segment.abcd import measure_lesion
    from skinml.segment.predict import draw_outline, mask_file_name, mask_png, mask_warnings, segment_photo

    def answer() -> dict:
        photo = np.asarray(to_rgb(read_image(read_image_file(path), Path(path).name)))
        mask = segment_photo(model, photo)
        mask_file, outline_file = out / mask_file_name(name), out / f"{name}_outline.png"
        write_atomic(mask_file, mask_png(mask))
        write_atomic(outline_file, mask_png_rgb(draw_outline(photo, mask)))
        return {"file": path, "ok": True, "width": int(photo.shape[1]), "height": int(photo.shape[0]),
                "mask": str(mask_file), "outline": str(outline_file),
                "abcd": measure_lesion(photo, mask, field_of_view_mm), "warnings": mask_warnings(mask)}
    return file_answer(path, answer)


def mask_png_rgb(pixels) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def unique_names(files: list[str]) -> list[str]:
    """Output names from the files' stems; a repeated stem gets _2, _3, ..."""
    seen: dict[str, int] = {}
    names = []
    for f in files:
        stem = Path(f).stem or "image"
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return names


def format_table(rows: list[dict]) -> str:
    from skinml.segment.abcd import MEANINGS

    lines, notes = [], []
    for r in rows:
        if not r["ok"]:
            lines.append(f"{r['file']}: could not be read: {r['error']}")
            continue
        a = r["abcd"]
        lines.append(f"{r['file']}: mask {r['mask']}")
        if a["area_px"]:
            size = f"{a['diameter_mm']:.1f} mm" if "diameter_mm" in a else f"{a['diameter_px']:.0f} px"
            lines.append(f"  diameter {size}, asymmetry {a['asymmetry_major']:.2f} / {a['asymmetry_minor']:.2f}, "
                         f"compactness {a['compactness']:.2f}, border gradient {a['border_gradient']:.1f}, "
                         f"colours {', '.join(a['colours']) or 'none'}")
        notes += [f"{r['file']}: {w}" for w in r["warnings"]]
    meanings = [f"{k}: {v}" for k, v in MEANINGS.items()]
    return "\n".join(lines + [""] + notes + [""] + meanings + ["", "A teaching aid, not a verdict. " + DISCLAIMER])


def run(args) -> int:
    from skinml.errors import SkinmlError
    from skinml.segment.predict import SHIPPED, load_segmenter

    if args.field_of_view_mm is not None and not 0 < args.field_of_view_mm < 1000:
        raise SkinmlError("--field-of-view-mm is the photo's width in millimetres: a number above 0.")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SkinmlError(f"The output folder {out} cannot be made ({exc.strerror}).") from None
    model = load_segmenter(args.model or SHIPPED)
    rows = [segment_file(model, f, out, name, args.field_of_view_mm)
            for f, name in zip(args.files, unique_names(args.files))]
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))
    sys.stdout.flush()
    return 0 if all(r["ok"] for r in rows) else 1
