"""Find and read ISIC folders and normalise their metadata to ISIC field names.

Five layouts are read (`detect_layout`): what `isic image download` writes (flat, or with an
`images/` folder), the old archive's JPG + JSON pairs, HAM10000, and `benign/`/`malignant/`
class folders. Both ISIC schemas are read: the legacy one (`benign_malignant`, `diagnosis`,
`anatom_site_general`) and the current one (`diagnosis_1..5`, `anatom_site_1..`).
Every unusable file or value becomes a problem `{"path" or "id", "reason", "detail"}`:
reported and skipped, never fatal.

Every read is bounded (`skinml.settings`): a folder's walk visits at most MAX_WALK_ENTRIES
files and folders, only regular files are read (links only when they stay inside the
folder), a metadata table at most MAX_TABLE_BYTES, an image at most MAX_IMAGE_FILE_BYTES and
MAX_DECODED_BYTES once decoded. Metadata tables may be UTF-8 (with or without BOM), UTF-16
(with BOM), cp1252 or latin-1, separated by commas, semicolons, tabs or bars.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageMode

from skinml import ISIC_SAMPLE, settings
from skinml.data.diagnoses import HAM_DIAGNOSES, MALIGNANT_DIAGNOSES, NO_DIAGNOSIS, is_known
from skinml.errors import DataError, shown
from skinml.progress import OnProgress

# The normalised table's columns, in order (see docs/ARCHITECTURE.md).
LABELS = ("benign", "malignant")  # the two classes every classifier and GAN of skinml tells apart
ALL_LABELS = (*LABELS, "indeterminate", "unknown")  # every value of the benign_malignant column
SPLITS = ("train", "val", "test")
COLUMNS = [
    "isic_id", "image_path", "benign_malignant", "diagnosis", "age_approx", "sex",
    "anatom_site_general", "lesion_id", "patient_id", "image_type", "attribution",
    "copyright_license", "fitzpatrick_skin_type",
]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LAYOUTS = {
    "isic-cli": "isic-cli download: <isic_id>.jpg next to metadata.csv",
    "isic-cli-images": "isic-cli style with the images in images/",
    "archive-json": "old ISIC archive download: <isic_id>.jpg next to <isic_id>.json",
    "ham10000": "HAM10000: HAM10000_metadata.csv and HAM10000_images_part_1/_part_2",
    "class-folders": "benign/ and malignant/ folders (optionally under train/, test/)",
}
# Every label value either schema writes, mapped to the four labels of the table.
LABEL_VALUES = {
    "benign": "benign", "malignant": "malignant", "indeterminate": "indeterminate",
    "indeterminate/benign": "indeterminate", "indeterminate/malignant": "indeterminate",
    "unknown": "unknown", "": "unknown",
}
HAM_MALIGNANT = set(MALIGNANT_DIAGNOSES)
# The current schema's diagnosis levels below benign/malignant, finest first.
DIAGNOSIS_LEVELS = ("diagnosis_5", "diagnosis_4", "diagnosis_3", "diagnosis_2")
# ISIC's general anatomic sites, and the other names of them (HAM10000's `localization`).
GENERAL_SITES = ("head/neck", "upper extremity", "lower extremity", "anterior torso", "posterior torso",
                 "lateral torso", "torso", "palms/soles", "oral/genital")
SITE_ALIASES = {
    "head and neck": "head/neck", "head & neck": "head/neck", "face": "head/neck", "ear": "head/neck",
    "neck": "head/neck", "scalp": "head/neck", "hand": "upper extremity", "foot": "lower extremity",
    "abdomen": "anterior torso", "chest": "anterior torso", "back": "posterior torso", "trunk": "torso",
    "acral": "palms/soles", "genital": "oral/genital", "unknown": "",
}
COLUMN_ALIASES = {"source": "attribution", "license": "copyright_license",
                  "anatom_site": "anatom_site_general", "label": "benign_malignant"}
ID_COLUMNS = ("isic_id", "image_id", "image_name", "image", "name")
LABEL_COLUMNS = ("benign_malignant", "diagnosis_1", "dx")  # where `_labels` finds an image's label
SEPARATORS = ",;\t|"


def _problem(reason: str, path: str | Path | None = None, id: str | None = None,
             detail: str = "") -> dict:
    where = {"path": str(path)} if path is not None else {"id": str(id)}
    return {**where, "reason": reason, **({"detail": detail} if detail else {})}


# ---------------------------------------------------------------- finding the layout

def _walk(root: Path) -> Iterator[Path]:
    """Every file under `root` that skinml may read, in sorted order: hidden names skipped,
    linked folders not entered, only regular files (or links to regular files inside `root`).

    Raises DataError after MAX_WALK_ENTRIES files and folders: a dataset folder, not a disk.
    """
    seen, limit = 0, settings.MAX_WALK_ENTRIES
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        seen += len(dirs) + len(files)
        if seen > limit:
            raise DataError(f"{root} holds more than {limit:,} files and folders: choose the folder of one "
                            "dataset, not a whole disk or home folder.")
        for name in sorted(files):
            path = Path(folder) / name
            if not name.startswith(".") and _readable_file(path, root):
                yield path


def _readable_file(path: Path, root: Path) -> bool:
    """A regular file, or a link to a regular file that stays inside `root` (never a pipe,
    a device, or a link to somewhere else on the server)."""
    try:
        if stat.S_ISREG(os.lstat(path).st_mode):
            return True
        return path.is_symlink() and path.is_file() and path.resolve().is_relative_to(root)
    except OSError:
        return False


def _index_images(root: Path) -> dict[str, list[Path]]:
    """Every image file under root (see `_walk`), by file stem, in sorted order."""
    index: dict[str, list[Path]] = {}
    for path in _walk(root):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            index.setdefault(path.stem, []).append(path)
    return index


def _class_folders(root: Path) -> list[Path]:
    tops = [root, *(d for d in root.iterdir() if d.is_dir())]
    return [d for top in tops for d in top.iterdir() if d.is_dir() and d.name.lower() in LABELS]


def detect_layout(root: str | Path) -> str:
    """The name of the layout of a dataset folder (a key of `LAYOUTS`), or a DataError."""
    root = Path(root)
    if (root / "HAM10000_metadata.csv").is_file():
        return "ham10000"
    if (root / "metadata.csv").is_file():
        return "isic-cli-images" if (root / "images").is_dir() else "isic-cli"
    if any(path.suffix == ".json" for path in _walk(root)):
        return "archive-json"
    if _class_folders(root):
        return "class-folders"
    raise DataError(
        f"No ISIC dataset found in {root}: expected a metadata.csv (isic-cli), JPG + JSON "
        "pairs (old archive), HAM10000_metadata.csv, or benign/ and malignant/ folders.")


# ---------------------------------------------------------------- reading each layout
# Each reader returns the raw metadata as strings, one row per image, with `isic_id` and
# `_image` (the image's path, "" when none was found), plus the problems it met.

ENCODINGS = ("UTF-8 (with or without BOM)", "UTF-16 (with BOM)", "cp1252", "latin-1")


def _decode_table(data: bytes, path: Path) -> str:
    """The text of a metadata table in the first of ENCODINGS that fits, else DataError."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        attempts = ["utf-16"]
    else:
        attempts = ["utf-8-sig", "cp1252", "latin-1"]  # latin-1 reads any bytes: the last resort
    for encoding in attempts:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise DataError(f"{path} is not a text table: it could not be read as {', '.join(ENCODINGS)}. "
                    "Save it as CSV (UTF-8) and try again.")


def _separator(text: str) -> str:
    """The column separator of a table: csv.Sniffer's pick among SEPARATORS, else a comma."""
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=SEPARATORS).delimiter
    except csv.Error:  # one column, or too irregular to tell
        return ","


def _read_csv(path: Path) -> pd.DataFrame:
    """A metadata table as strings, with its id column renamed `isic_id`; DataError (naming the
    file and what is wrong) when it cannot be used. Read only from inside its dataset folder (a
    link out of it is refused unread), and at most MAX_TABLE_BYTES and MAX_TABLE_ROWS."""
    data = settings.read_file(path, settings.MAX_TABLE_BYTES, DataError, inside=path.parent)
    rows = data.count(b"\n")  # an upper bound on the rows (a quoted value may hold line breaks), counted unparsed
    if rows > settings.MAX_TABLE_ROWS + 1:
        raise DataError(f"{path} has about {rows:,} rows: more than the {settings.MAX_TABLE_ROWS:,} a dataset's table "
                        "may hold here. Split it into several dataset folders.")
    text = _decode_table(data, path)
    if not text.strip():
        raise DataError(f"{path} is empty: a metadata table needs a header row and one row per image.")
    try:
        raw = pd.read_csv(io.StringIO(text), sep=_separator(text), dtype=str, keep_default_na=False,
                          na_filter=False)
    except (ValueError, pd.errors.ParserError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path} could not be read as a table ({shown(reason)}).") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    id_column = next((c for c in ID_COLUMNS if c in raw.columns), None)
    if id_column is None:
        raise DataError(f"{path} has no image id column: its header must name one of {', '.join(ID_COLUMNS)} "
                        f"(it has {shown(', '.join(raw.columns[:8])) or 'no columns'}).")
    return raw.rename(columns={id_column: "isic_id"}).astype(str)


def _by_id(raw: pd.DataFrame, index: dict[str, list[Path]]) -> pd.DataFrame:
    raw["_image"] = [str(index[i][0]) if i in index else "" for i in raw["isic_id"].str.strip()]
    return raw


def _read_isic_cli(root: Path, index: dict) -> tuple[pd.DataFrame, list[dict]]:
    return _by_id(_read_csv(root / "metadata.csv"), index), []


def _read_ham(root: Path, index: dict) -> tuple[pd.DataFrame, list[dict]]:
    raw = _by_id(_read_csv(root / "HAM10000_metadata.csv"), index)
    raw["image_type"] = raw.get("image_type", "dermoscopic")  # confocal etc. is how dx was confirmed
    raw["attribution"] = raw.get("attribution", "HAM10000")
    raw["copyright_license"] = raw.get("copyright_license", "CC-BY-NC-4.0")
    return raw, []


def _fields(record: dict, prefix: str = "") -> Iterator[str]:
    """The column names `pd.json_normalize` makes of a record (nested keys joined with '.')."""
    for key, value in record.items():
        if isinstance(value, dict):
            yield from _fields(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def _read_archive_json(root: Path, index: dict) -> tuple[pd.DataFrame, list[dict]]:
    """The JPG + JSON layout. Bounded like the other readers: a record of at most MAX_RECORD_BYTES,
    MAX_TABLE_BYTES of JSON in all and MAX_METADATA_FIELDS different fields (a folder of arbitrary
    JSON files, such as /usr, made a table of thousands of columns: 11.5 GB in 5 minutes)."""
    records, problems, fields, total = [], [], set(), 0
    for path in (p for p in _walk(root) if p.suffix == ".json"):
        try:
            data = settings.read_file(path, settings.MAX_RECORD_BYTES, DataError, inside=root)
            total += len(data)
            if total > settings.MAX_TABLE_BYTES:
                raise DataError(f"{root} holds more than {settings.MAX_TABLE_BYTES / 1e6:,.0f} MB of JSON files: "
                                "more than a dataset's records. Choose the folder of one dataset.")
            record = json.loads(data)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            fields.update(_fields(record))
        except (ValueError, RecursionError) as exc:  # RecursionError: nested thousands deep
            problems.append(_problem("unreadable metadata", path=path, detail=str(exc)[:200]))
            continue
        except DataError as exc:
            if total > settings.MAX_TABLE_BYTES:
                raise
            problems.append(_problem("unreadable metadata", path=path, detail=str(exc)[:200]))
            continue
        if len(fields) > settings.MAX_METADATA_FIELDS:
            raise DataError(f"The JSON files under {root} have more than {settings.MAX_METADATA_FIELDS:,} different "
                            "fields: they are not the records of an ISIC dataset. Choose the folder of one dataset.")
        image = next((p for p in index.get(path.stem, []) if p.parent == path.parent), "")
        records.append({**record, "_stem": path.stem, "_image": str(image)})
    raw = pd.json_normalize(records) if records else pd.DataFrame(columns=["_stem", "_image"])
    raw.columns = [c.removeprefix("meta.clinical.").removeprefix("meta.acquisition.")
                   for c in raw.columns]
    raw = raw.rename(columns={"dataset.name": "attribution", "dataset.license": "copyright_license"})
    raw = raw.loc[:, ~raw.columns.duplicated()].map(
        lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    raw["isic_id"] = _pick(raw, "name", "_stem")
    return raw, problems


def _read_class_folders(root: Path, index: dict) -> tuple[pd.DataFrame, list[dict]]:
    rows = []  # an image outside the class folders has no label: `_unmatched_files` reports it
    for stem, paths in index.items():
        for path in paths:
            label = next((p.lower() for p in path.relative_to(root).parts[:-1]
                          if p.lower() in LABELS), None)
            if label is not None:
                rows.append({"isic_id": stem, "_image": str(path), "benign_malignant": label})
    return pd.DataFrame(rows, columns=["isic_id", "_image", "benign_malignant"]), []


READERS = {"isic-cli": _read_isic_cli, "isic-cli-images": _read_isic_cli,
           "archive-json": _read_archive_json, "ham10000": _read_ham,
           "class-folders": _read_class_folders}


# ---------------------------------------------------------------- normalising

def _pick(raw: pd.DataFrame, *names: str) -> pd.Series:
    """The first non-empty value of the named columns, row by row ("" if none)."""
    out = pd.Series("", index=raw.index, dtype=object)
    for name in names:
        if name in raw.columns:
            out = out.where(out != "", raw[name].astype(str).str.strip())
    return out


def _diagnosis_name(legacy: str, levels: list[str], ham_code: str) -> str:
    """One row's diagnosis name, lower case ("" when none is given): the legacy `diagnosis`,
    else the finest level of the current schema whose name skinml knows (else the finest
    given, an unknown name that the reader reports), else HAM10000's dx code spelled out."""
    if legacy.lower() not in NO_DIAGNOSIS:
        return legacy.lower()
    given = [name.lower() for name in levels if name.lower() not in NO_DIAGNOSIS]
    if given:
        return next((name for name in given if is_known(name)), given[0])
    code = ham_code.lower()
    return HAM_DIAGNOSES.get(code, code)  # an unknown code is kept, and reported


def _finest_diagnosis(raw: pd.DataFrame) -> pd.Series:
    """The diagnosis name of every row from whichever vocabulary its table uses (see
    `skinml.data.diagnoses`)."""
    columns = [_pick(raw, "diagnosis"), *(_pick(raw, level) for level in DIAGNOSIS_LEVELS), _pick(raw, "dx")]
    names = [_diagnosis_name(legacy, levels, code)
             for legacy, *levels, code in zip(*(c.tolist() for c in columns))]
    return pd.Series(names, index=raw.index, dtype=object)


def _labels(raw: pd.DataFrame) -> pd.Series:
    dx = _pick(raw, "dx").str.lower()
    ham = dx.map(lambda d: "" if d == "" else "malignant" if d in HAM_MALIGNANT
                 else "benign" if d in HAM_DIAGNOSES else d)
    return _pick(raw, "benign_malignant", "diagnosis_1").where(lambda s: s != "", ham).str.lower()


def _normalise(raw: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Raw metadata strings -> the table of `COLUMNS`, plus the unusable rows and values."""
    problems: list[dict] = []
    raw = raw.reset_index(drop=True)
    ids = raw["isic_id"].astype(str).str.strip()
    unsafe = ids.eq("") | ids.str.contains(r"[/\\]|\.\.", regex=True)
    for i in ids[unsafe]:
        problems.append(_problem("unsafe id", id=i, detail="empty, or has path separators or '..'"))
    duplicate = ids.duplicated() & ~unsafe
    for i in ids[duplicate]:
        problems.append(_problem("duplicate id", id=i, detail="later rows with this id are skipped"))
    raw, ids = raw[~unsafe & ~duplicate], ids[~unsafe & ~duplicate]

    df = pd.DataFrame({"isic_id": ids, "image_path": raw["_image"]})
    for i in ids[df["image_path"].eq("")]:
        problems.append(_problem("missing image", id=i))

    label_raw = _labels(raw)
    label = label_raw.map(LABEL_VALUES)
    for i, value in zip(ids[label.isna()], label_raw[label.isna()]):
        problems.append(_problem("unusable label", id=i, detail=repr(value)))
    df["benign_malignant"] = label.fillna("unknown")
    df["diagnosis"] = _finest_diagnosis(raw)
    for i, name in zip(ids, df["diagnosis"]):
        if not is_known(name):
            problems.append(_problem("unknown diagnosis", id=i, detail=f"{name!r} is none of the diagnoses "
                                     "skinml knows: kept for benign/malignant, left out of the diagnosis task"))

    age_raw = _pick(raw, "age_approx", "age", "age_approximate")
    age = pd.to_numeric(age_raw, errors="coerce")
    bad_age = (age_raw.ne("") & age.isna()) | ~age.between(0, 120) & age.notna()
    for i, value in zip(ids[bad_age], age_raw[bad_age]):
        problems.append(_problem("unusable age", id=i, detail=repr(value)))
    df["age_approx"] = age.where(~bad_age).astype(float)

    sex = _pick(raw, "sex").str.lower()
    df["sex"] = sex.map({"male": "male", "female": "female", "m": "male", "f": "female"}).fillna("")
    site = _pick(raw, "anatom_site_general", "anatom_site_1", "anatom_site_general_challenge",
                 "localization").str.lower()
    site = site.replace(SITE_ALIASES)
    unknown_site = site.ne("") & ~site.isin(GENERAL_SITES)
    for i, value in zip(ids[unknown_site], site[unknown_site]):
        problems.append(_problem("unknown anatomic site", id=i, detail=repr(value)))
    df["anatom_site_general"] = site
    df["lesion_id"] = _pick(raw, "lesion_id")
    df["patient_id"] = _pick(raw, "patient_id")
    df["image_type"] = _pick(raw, "image_type").str.lower()
    df["attribution"] = _pick(raw, "attribution", "source", "dataset.attribution")
    df["copyright_license"] = _pick(raw, "copyright_license", "license", "licence")
    df["fitzpatrick_skin_type"] = _pick(raw, "fitzpatrick_skin_type").str.upper()
    return df[COLUMNS].reset_index(drop=True), problems


def _unmatched_files(index: dict[str, list[Path]], raw: pd.DataFrame) -> list[dict]:
    """Image files that no metadata row points to: duplicates of an id, or with no row."""
    used, ids = set(raw["_image"]), set(raw["isic_id"].astype(str).str.strip())
    return [_problem("duplicate id" if stem in ids else "no metadata row", path=path)
            for stem, paths in index.items() for path in paths if str(path) not in used]


# ---------------------------------------------------------------- checking images

def decoded_bytes(image: Image.Image) -> int:
    """The memory an image takes once decoded at its current size: width x height x channels x
    bytes per channel (from its header: nothing is decoded to know it)."""
    mode = ImageMode.getmode(image.mode)
    channel_bytes = np.dtype(mode.typestr).itemsize
    return image.width * image.height * len(mode.bands) * channel_bytes


WEBP_DECODE_COPIES = 4  # Pillow's WebP decoder peaks at about four RGBA copies of the image (measured 3.8-4.2)


def decoder_bytes(image: Image.Image) -> int:
    """The memory decoding `image` takes at its peak when that is more than its pixels, from its header
    (call it before `draft`): a progressive JPEG keeps every DCT coefficient of the full-size image
    (2 bytes each, per component at its sampling) whatever scale it is decoded at; a WebP is decoded
    to RGBA and copied about WEBP_DECODE_COPIES times. 0 for other formats (see `decoded_bytes`)."""
    width, height = image.size
    if image.format in ("JPEG", "MPO") and image.info.get("progressive"):
        layers = [(h, v) for _, h, v, *_ in getattr(image, "layer", None) or []] \
            or [(1, 1)] * len(image.getbands())
        h_max, v_max = max(h for h, _ in layers), max(v for _, v in layers)
        return sum(-(-width * h // h_max) * -(-height * v // v_max) * 2 for h, v in layers)
    if image.format == "WEBP":
        return width * height * 4 * WEBP_DECODE_COPIES
    return 0


def check_image(path: str | Path) -> tuple[str, int, int]:
    """Decode one image: (problem reason or "", width, height).

    A JPEG is decoded at 1/8 scale (`draft`): every byte is still read and entropy-decoded,
    so truncation and corruption are caught, at a fraction of the full decode's cost. A file
    over MAX_IMAGE_FILE_BYTES, or one that would take more than MAX_DECODED_BYTES decoded (or
    a decoder more than MAX_DECODER_BYTES: `decoder_bytes`), is "image too large" and is not decoded.
    """
    try:
        size = os.path.getsize(path)
        if size == 0:
            return "empty file", 0, 0
        if size > settings.MAX_IMAGE_FILE_BYTES:
            return "image too large", 0, 0
        with Image.open(path) as image:
            width, height = image.size
            if decoder_bytes(image) > settings.MAX_DECODER_BYTES:
                return "image too large", 0, 0
            if image.format == "JPEG":
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            if decoded_bytes(image) > settings.MAX_DECODED_BYTES:
                return "image too large", 0, 0
            image.load()
    except FileNotFoundError:
        return "missing image", 0, 0
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return ("truncated image" if "truncated" in str(exc).lower() else "undecodable image"), 0, 0
    return "", width, height


def _map_images(function: Callable, paths: list[str], on_progress: OnProgress | None,
                stage: str) -> list:
    """`function` over paths in a thread pool (Pillow releases the GIL while decoding)."""
    results, step = [], max(1, len(paths) // 100)
    with ThreadPoolExecutor(max_workers=min(16, 2 * (os.cpu_count() or 1))) as pool:
        for k, result in enumerate(pool.map(function, paths, chunksize=16)):
            results.append(result)
            if on_progress and (k + 1) % step == 0:
                on_progress((k + 1) / len(paths), {"stage": stage})
    if on_progress:
        on_progress(1.0, {"stage": stage})
    return results


def _read_size(path: str) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, SyntaxError, ValueError):
        return 0, 0


# ---------------------------------------------------------------- the public readers

def load_dataset(root: str | Path, on_progress: OnProgress | None = None,
                 verify: bool = True) -> pd.DataFrame:
    """Read a dataset folder in any layout: one row per image, the columns of `COLUMNS`.

    With `verify`, every image is decoded (fast, in threads): unreadable ones keep their
    row with `image_path` "" and `width`/`height` (int) columns give each image's size.
    `df.attrs`: `layout`, `root`, `n_files` (image files found) and `problems` (list of
    `{"path" or "id", "reason", "detail"}`). `on_progress(fraction, logs)` reports the check.
    """
    try:
        root = Path(root).expanduser().resolve()
        if not root.is_dir():
            raise DataError(f"{shown(root)} is not a folder: choose a folder that holds a dataset.")
        layout = detect_layout(root)
        index = _index_images(root)
        raw, problems = READERS[layout](root, index)
    except (OSError, RuntimeError) as exc:  # /proc, a folder this user may not list, a loop of links
        reason = getattr(exc, "strerror", None) or "a loop of links"
        raise DataError(f"{shown(root)} cannot be read as a dataset ({reason}): choose a folder of images and "
                        "metadata that you may read.") from None
    if "_image" not in raw.columns:  # an empty table
        raw["_image"] = pd.Series(dtype=str)
    if len(raw) and not any(c in raw.columns for c in LABEL_COLUMNS):
        problems.append(_problem("no label column", path=root, detail=f"the metadata has none of "
                                 f"{', '.join(LABEL_COLUMNS)}: no image has a label"))
    df, found = _normalise(raw)
    problems += found + _unmatched_files(index, raw)
    if verify:
        checks = _map_images(check_image, list(df["image_path"].where(df["image_path"] != "", "-")),
                             on_progress, "checking images")
        reasons = pd.Series([c[0] for c in checks], index=df.index, dtype=object)
        df["width"] = np.array([c[1] for c in checks], dtype=int)
        df["height"] = np.array([c[2] for c in checks], dtype=int)
        bad = reasons.ne("") & df["image_path"].ne("")
        problems += [_problem(r, path=p) for r, p in zip(reasons[bad], df["image_path"][bad])]
        df.loc[bad, "image_path"] = ""
    df.attrs.update(layout=layout, root=str(root), problems=problems,
                    n_files=sum(len(p) for p in index.values()))
    return df


def image_sizes(df: pd.DataFrame, on_progress: OnProgress | None = None) -> pd.DataFrame:
    """The image-size survey: columns width, height, count (ints), most common first.

    Uses the `width`/`height` columns `load_dataset` adds, else reads only the headers.
    """
    readable = df[df["image_path"] != ""]
    if {"width", "height"} <= set(df.columns):
        sizes = readable[["width", "height"]]
    else:
        pairs = _map_images(_read_size, list(readable["image_path"]), on_progress, "reading sizes")
        sizes = pd.DataFrame(pairs, columns=["width", "height"], dtype=int)
    sizes = sizes[(sizes["width"] > 0) & (sizes["height"] > 0)]
    counts = sizes.value_counts().rename("count").reset_index()
    return counts.sort_values(["count", "width", "height"], ascending=[False, True, True],
                              ignore_index=True).astype(int)


def load_datasets(roots, on_progress: OnProgress | None = None) -> pd.DataFrame:
    """Several dataset folders as one table, joined on the ISIC id (no image counted twice).

    Where folders share an id, the row with the most filled-in metadata is kept (the first
    folder's on a tie). `df.attrs`: `roots`, `root` (the folders joined by os.pathsep),
    `layout` (theirs joined by " + "), `n_files`, `merged` (rows dropped as duplicates),
    `folders` (per folder: root, layout, n_images, n_kept = its rows in the union) and the
    folders' `problems` together.
    """
    tables = [load_dataset(root, on_progress) for root in roots]
    if len(tables) == 1:
        return tables[0]
    df = pd.concat([t.assign(_folder=k) for k, t in enumerate(tables)], ignore_index=True)
    filled = df[COLUMNS].astype(str).ne("").sum(axis=1) + df["image_path"].ne("") * 100
    order = pd.DataFrame({"filled": -filled, "pos": np.arange(len(df))}, index=df.index)
    df = df.loc[order.sort_values(["filled", "pos"]).index].drop_duplicates("isic_id")
    df = df.sort_index().reset_index(drop=True)
    kept = df["_folder"].value_counts()
    folders = [{"root": t.attrs["root"], "layout": t.attrs["layout"], "n_images": len(t),
                "n_kept": int(kept.get(k, 0))} for k, t in enumerate(tables)]
    df = df.drop(columns="_folder")
    df.attrs.update(roots=[t.attrs["root"] for t in tables], root=os.pathsep.join(t.attrs["root"] for t in tables),
                    layout=" + ".join(t.attrs["layout"] for t in tables), merged=len(order) - len(df),
                    n_files=sum(t.attrs["n_files"] for t in tables), folders=folders,
                    problems=[p for t in tables for p in t.attrs.get("problems", [])])
    return df


def default_data_dir() -> Path:
    """The folder to show first: $SKINML_DATA, else ../shared/data/isic-sample next to the
    repository when it exists, else the built-in synthetic demo (written once, then reused)."""
    candidates = [os.environ.get("SKINML_DATA", ""),
                  ISIC_SAMPLE]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    from skinml.data.synthetic import demo_dataset_dir

    return demo_dataset_dir()
