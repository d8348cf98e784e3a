"""Builders of tiny dataset folders in each of the five layouts, with planted problems.

Every ISIC-style folder (isic-cli flat or images/, archive JSON) holds the same 24 rows:
8 usable benign (2 from source SONIC), 7 usable malignant (one with age "forty"), 2
indeterminate, 1 unknown, 1 label "maybe", 1 clinical photo, and 4 rows whose image is
empty, truncated, random bytes or missing; plus a duplicate row of B1, a row with id
"../evil" and an image file with no row. Images are 64 px synthetic lesions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from skinml.data.synthetic import make_lesion

# id, label, finest diagnosis, lesion, patient, image kind ("ok", "empty", "truncated",
# "random", "missing"), source, image type, age
ROWS = [
    ("B1", "benign", "nevus", "L1", "", "ok", "MSK-1", "dermoscopic", "35"),
    ("B2", "benign", "nevus", "L1", "", "ok", "MSK-1", "dermoscopic", "35"),
    ("B3", "benign", "nevus", "L3", "P1", "ok", "MSK-2", "dermoscopic", "50"),
    ("B4", "benign", "seborrheic keratosis", "", "", "ok", "MSK-2", "dermoscopic", ""),
    ("B5", "benign", "nevus", "", "P2", "ok", "UDA-1", "dermoscopic", "20"),
    ("B6", "benign", "nevus", "", "", "ok", "UDA-1", "dermoscopic", "65"),
    ("M1", "malignant", "melanoma", "L2", "", "ok", "MSK-1", "dermoscopic", "70"),
    ("M2", "malignant", "melanoma", "L2", "", "ok", "MSK-1", "dermoscopic", "70"),
    ("M3", "malignant", "melanoma", "L4", "P1", "ok", "MSK-2", "dermoscopic", "50"),
    ("M4", "malignant", "basal cell carcinoma", "", "", "ok", "MSK-2", "dermoscopic", "80"),
    ("M5", "malignant", "melanoma", "", "P3", "ok", "UDA-1", "dermoscopic", "45"),
    ("M6", "malignant", "melanoma", "", "", "ok", "UDA-1", "dermoscopic", "60"),
    ("A1", "malignant", "melanoma", "", "", "ok", "UDA-1", "dermoscopic", "forty"),
    ("S1", "benign", "nevus", "", "", "ok", "SONIC", "dermoscopic", "10"),
    ("S2", "benign", "nevus", "", "", "ok", "SONIC", "dermoscopic", "15"),
    ("I1", "indeterminate", "actinic keratosis", "", "", "ok", "MSK-1", "dermoscopic", "75"),
    ("I2", "indeterminate", "atypical melanocytic proliferation", "", "", "ok", "MSK-1", "dermoscopic", "40"),
    ("U1", "", "", "", "", "ok", "MSK-4", "dermoscopic", "30"),
    ("X1", "maybe", "nevus", "", "", "ok", "MSK-4", "dermoscopic", "30"),
    ("C1", "benign", "nevus", "", "", "ok", "MSK-4", "clinical: close-up", "30"),
    ("E1", "malignant", "melanoma", "", "", "empty", "MSK-1", "dermoscopic", "55"),
    ("T1", "benign", "nevus", "", "", "truncated", "MSK-1", "dermoscopic", "55"),
    ("R1", "benign", "nevus", "", "", "random", "MSK-1", "dermoscopic", "55"),
    ("N1", "malignant", "melanoma", "", "", "missing", "MSK-1", "dermoscopic", "55"),
]
EXTRA_ROWS = [  # rows with no image of their own: a duplicate id and an id escaping the folder
    ("B1", "malignant", "melanoma", "", "", "ok", "MSK-1", "dermoscopic", "35"),
    ("../evil", "benign", "nevus", "", "", "ok", "MSK-1", "dermoscopic", "35"),
]
ORPHAN = "ORPHAN"  # an image file with no metadata row

# What `data scan --json` must say about every ISIC-style folder above.
EXPECTED_LABELS = {"benign": 8, "malignant": 7}
EXPECTED_LEFT_OUT = {"image missing or unreadable": 4, "label indeterminate": 2,
                     "label unknown": 2, "not dermoscopic": 1}
EXPECTED_PROBLEMS = {("id", "B1", "duplicate id"), ("id", "../evil", "unsafe id"),
                     ("id", "N1", "missing image"), ("id", "X1", "unusable label"),
                     ("id", "A1", "unusable age"), ("path", "E1", "empty file"),
                     ("path", "T1", "truncated image"), ("path", "R1", "undecodable image"),
                     ("path", ORPHAN, "no metadata row")}
NEW_LABELS = {"benign": "Benign", "malignant": "Malignant", "indeterminate": "Indeterminate",
              "": "", "maybe": "Maybe"}
# The current schema's levels 2 to 4 for each legacy diagnosis, as the ISIC archive names them.
NEW_DIAGNOSES = {
    "nevus": ("Benign melanocytic proliferations", "Nevus", "Nevus, NOS, Junctional"),
    "seborrheic keratosis": ("Benign epidermal proliferations", "Seborrheic keratosis", ""),
    "melanoma": ("Malignant melanocytic proliferations (Melanoma)", "Melanoma Invasive",
                 "Melanoma Invasive, Superficial spreading"),
    "basal cell carcinoma": ("Malignant adnexal epithelial proliferations - Follicular", "Basal cell carcinoma",
                             "Basal cell carcinoma, Nodular"),
    "actinic keratosis": ("Indeterminate epidermal proliferations", "Solar or actinic keratosis", ""),
    "atypical melanocytic proliferation": ("Indeterminate melanocytic proliferations",
                                           "Atypical melanocytic neoplasm", ""),
    "": ("", "", ""),
}


def problem_keys(problems: list[dict]) -> set[tuple[str, str, str]]:
    """Problems as (kind, id or file stem, reason), comparable with EXPECTED_PROBLEMS."""
    return {("id", p["id"], p["reason"]) if "id" in p else ("path", Path(p["path"]).stem, p["reason"])
            for p in problems}


def write_image(path: Path, kind: str = "ok", malignant: bool = False, seed: int = 0) -> None:
    """A 64 px synthetic lesion, or a planted broken file (empty, truncated, random bytes)."""
    if kind == "missing":
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(np.random.default_rng(seed).bytes(3000))
    else:
        image = Image.fromarray(make_lesion(malignant, 64, seed=seed))
        suffix = path.suffix.lower()
        image.save(path, quality=90) if suffix != ".png" else image.save(path)
        if kind == "truncated":
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])


def _images(folder_of, rows=ROWS) -> None:
    for k, (i, label, *_rest) in enumerate(rows):
        kind = _rest[3]
        write_image(folder_of(i) / f"{i}.jpg", kind, label == "malignant", seed=k)
    write_image(folder_of(ORPHAN) / f"{ORPHAN}.jpg", seed=99)


def make_isic_cli(root: Path, schema: str = "new", images_dir: bool = False) -> Path:
    """isic-cli layout (`images_dir`: images in images/), current or legacy metadata schema."""
    import pandas as pd

    root.mkdir(parents=True, exist_ok=True)
    folder = root / "images" if images_dir else root
    _images(lambda i: folder)
    records = []
    for i, label, dx, lesion, patient, _, source, kind, age in ROWS + EXTRA_ROWS:
        if schema == "new":
            records.append({"isic_id": i, "attribution": source, "copyright_license": "CC-BY",
                            "age_approx": age, "anatom_site_1": "Head and neck",
                            "diagnosis_1": NEW_LABELS[label], "diagnosis_2": NEW_DIAGNOSES[dx][0],
                            "diagnosis_3": NEW_DIAGNOSES[dx][1], "diagnosis_4": NEW_DIAGNOSES[dx][2],
                            "image_type": kind,
                            "lesion_id": lesion, "patient_id": patient, "sex": "female"})
        else:  # legacy, as ../shared/data/isic-sample writes it (`source`, no licence)
            records.append({"isic_id": i, "benign_malignant": label, "diagnosis": dx,
                            "age_approx": age, "sex": "male", "anatom_site_general": "lower extremity",
                            "lesion_id": lesion, "patient_id": patient, "image_type": kind,
                            "source": source})
    pd.DataFrame(records).to_csv(root / "metadata.csv", index=False)
    return root


def make_archive_json(root: Path) -> Path:
    """The old archive download: <id>.jpg next to <id>.json, in nested folders."""
    def folder_of(i: str) -> Path:
        return root / ("part_a" if i < "M" else "part_b/deeper")

    _images(folder_of)
    for n, (i, label, dx, lesion, patient, _, source, kind, age) in enumerate(ROWS + EXTRA_ROWS):
        stem = i if n < len(ROWS) else f"extra{n}"  # extra rows get a file name of their own
        record = {"_id": f"5436e3{n:04d}", "name": i,
                  "dataset": {"name": source, "license": "CC-0"},
                  "meta": {"acquisition": {"image_type": kind, "pixelsX": 64, "pixelsY": 64},
                           "clinical": {"benign_malignant": label or None, "diagnosis": dx or None,
                                        "age_approx": int(age) if age.isdigit() else age or None,
                                        "sex": "female", "anatom_site_general": "anterior torso",
                                        "lesion_id": lesion, "patient_id": patient}}}
        path = folder_of(i if n < len(ROWS) else "extra") / f"{stem}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record))
        if n >= len(ROWS):
            write_image(path.with_suffix(".jpg"), seed=n)
    return root


# HAM10000: image id, lesion, dx, dx_type, age, image kind
HAM_ROWS = [
    ("ISIC_0000001", "HAM_0000001", "nv", "follow_up", "45.0", "ok"),
    ("ISIC_0000002", "HAM_0000001", "nv", "follow_up", "45.0", "ok"),
    ("ISIC_0000003", "HAM_0000002", "nv", "histo", "30.0", "ok"),
    ("ISIC_0000004", "HAM_0000003", "bkl", "consensus", "70.0", "ok"),
    ("ISIC_0000005", "HAM_0000004", "df", "histo", "", "ok"),
    ("ISIC_0000006", "HAM_0000005", "vasc", "consensus", "35.0", "ok"),
    ("ISIC_0000007", "HAM_0000006", "mel", "histo", "60.0", "ok"),
    ("ISIC_0000008", "HAM_0000006", "mel", "histo", "60.0", "ok"),
    ("ISIC_0000009", "HAM_0000007", "bcc", "histo", "75.0", "ok"),
    ("ISIC_0000010", "HAM_0000008", "akiec", "confocal", "80.0", "ok"),
    ("ISIC_0000011", "HAM_0000009", "mel", "histo", "abc", "ok"),
    ("ISIC_0000012", "HAM_0000010", "xyz", "histo", "50.0", "ok"),
    ("ISIC_0000013", "HAM_0000011", "nv", "histo", "50.0", "empty"),
    ("ISIC_0000014", "HAM_0000012", "mel", "histo", "50.0", "truncated"),
    ("ISIC_0000015", "HAM_0000013", "nv", "histo", "50.0", "random"),
    ("ISIC_0000016", "HAM_0000014", "bcc", "histo", "50.0", "missing"),
    ("ISIC_0000001", "HAM_0000015", "mel", "histo", "50.0", "ok"),  # duplicate id
    ("../evil", "HAM_0000016", "nv", "histo", "50.0", "ok"),
]
HAM_EXPECTED_LABELS = {"benign": 6, "malignant": 5}
HAM_EXPECTED_LEFT_OUT = {"image missing or unreadable": 4, "label unknown": 1}
HAM_EXPECTED_PROBLEMS = {("id", "ISIC_0000001", "duplicate id"), ("id", "../evil", "unsafe id"),
                         ("id", "ISIC_0000016", "missing image"),
                         ("id", "ISIC_0000012", "unusable label"),
                         ("id", "ISIC_0000012", "unknown diagnosis"),
                         ("id", "ISIC_0000011", "unusable age"),
                         ("path", "ISIC_0000013", "empty file"),
                         ("path", "ISIC_0000014", "truncated image"),
                         ("path", "ISIC_0000015", "undecodable image"),
                         ("path", ORPHAN, "no metadata row")}


def make_ham(root: Path) -> Path:
    """HAM10000: HAM10000_metadata.csv and images over two part folders."""
    lines = ["lesion_id,image_id,dx,dx_type,age,sex,localization"]
    for k, (i, lesion, dx, dx_type, age, kind) in enumerate(HAM_ROWS):
        lines.append(f"{lesion},{i},{dx},{dx_type},{age},male,back")
        if k < 16:
            part = "HAM10000_images_part_1" if k % 2 else "HAM10000_images_part_2"
            write_image(root / part / f"{i}.jpg", kind, dx in ("mel", "bcc", "akiec"), seed=k)
    write_image(root / "HAM10000_images_part_2" / f"{ORPHAN}.jpg", seed=99)
    (root / "HAM10000_metadata.csv").write_text("\n".join(lines) + "\n")
    return root


CLASS_EXPECTED_LABELS = {"benign": 5, "malignant": 4}
CLASS_EXPECTED_LEFT_OUT = {"image missing or unreadable": 3}
CLASS_EXPECTED_PROBLEMS = {("path", "img_b0", "empty file"), ("path", "img_m1", "truncated image"),
                           ("path", "img_m2", "undecodable image"),
                           ("path", "loose", "no metadata row"), ("id", "img_b1", "duplicate id")}


def make_class_folders(root: Path) -> Path:
    """benign/ and malignant/ folders under train/ and test/ (PNG and JPEG), with problems."""
    kinds = {"img_b0": "empty", "img_m1": "truncated", "img_m2": "random"}
    for split, n in (("train", 4), ("test", 2)):
        for label in ("benign", "malignant"):
            for k in range(n):
                stem = f"img_{label[0]}{k}" if split == "train" else f"img_{label[0]}{k + 10}"
                suffix = ".png" if k == 3 else ".jpg"
                write_image(root / split / label / f"{stem}{suffix}", kinds.get(stem, "ok"),
                            label == "malignant", seed=k)
    write_image(root / "test" / "benign" / "img_b1.jpg", seed=7)  # same stem as a train image
    write_image(root / "loose.jpg", seed=8)
    return root
