"""Which photos a classifier learned from: its training index, by ISIC id and by pixels.

A model's answer on a photo it trained on is not a test of the model (it has seen the
answer), so the clinician's page says so. A classifier folder may hold `training_images.npz`:
the ISIC id, the split ("train" or "val": the images the model learned from or was tuned on)
and a perceptual hash of every such image. An upload matches when its file name holds one
of those ids, or when its hash is within `MATCH_BITS` of one.

The hash is a 16x16 difference hash (256 bits: is each pixel of a 17x16 grayscale thumbnail
brighter than its right neighbour?). Measured on the ISIC sample (the shipped model's
3,422 training images against its 488 test images): the same photo saved again as PNG
differs by at most 6 bits, at half size as a JPEG of quality 70 by 6 bits in the median
(95%: 14); the nearest training image of a test image differs by 9 bits at least, 17 or
more for 99% of them. With `MATCH_BITS = 10`, 1 of the 488 test images matches an image of
the shipped index (train and val, 4,398 images, 139 kB). Cropped or turned copies are not
recognised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

INDEX_FILE = "training_images.npz"
HASH_SIDE = 16
MATCH_BITS = 10
SPLITS = ("train", "val")
ISIC_ID = re.compile(r"ISIC_\d{7}")


@dataclass(frozen=True)
class Seen:
    """A match in the training index: the image's ISIC id, its split, and how it was found
    ("id": the file name holds the id; "pixels": the photo looks the same, `bits` apart)."""

    isic_id: str
    split: str
    how: str
    bits: int = 0


def image_hash(image) -> np.ndarray:
    """The difference hash of a Pillow image or uint8 (H, W, 3) pixels: uint8 (32,), 256 bits."""
    image = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, "uint8"))
    gray = np.asarray(image.convert("L").resize((HASH_SIDE + 1, HASH_SIDE), Image.Resampling.BILINEAR), "int16")
    return np.packbits((gray[:, 1:] > gray[:, :-1]).ravel())


def build_index(table: pd.DataFrame, on_progress=None, pack: str | Path | None = None) -> dict[str, np.ndarray]:
    """The index arrays of the rows of `table` in SPLITS (columns isic_id, split, and image_path,
    or pack_row for a table read from the image pack `pack`: each image hashed from the pack,
    whose squashed copy hashes like its photo, the hash being of a squashed thumbnail)."""
    in_pack = pack is not None and "pack_row" in table
    rows = table[table["split"].isin(SPLITS) & (table["image_path"].ne("") | in_pack)]
    images = None
    if in_pack:
        from skinml.images.pack import pack_images

        images = pack_images(str(pack))
    hashes = []
    for k, (path, row) in enumerate(zip(rows["image_path"], rows["pack_row"] if in_pack else rows["image_path"])):
        hashes.append(photo_hash(path) if path else image_hash(images[int(row)]))
        if on_progress and (k + 1) % 100 == 0:
            on_progress((k + 1) / len(rows), {"images": k + 1})
    return {"isic_id": rows["isic_id"].to_numpy(str), "split": rows["split"].to_numpy(str),
            "dhash": np.asarray(hashes, "uint8").reshape(-1, HASH_SIDE * HASH_SIDE // 8)}


def write_index(folder: str | Path, table: pd.DataFrame, on_progress=None, pack: str | Path | None = None) -> Path:
    """Write `training_images.npz` into a classifier folder from its split table (read from the
    image pack `pack` when the model was trained from one)."""
    import io

    from skinml.io import write_atomic

    buf = io.BytesIO()
    np.savez_compressed(buf, **build_index(table, on_progress, pack))
    path = Path(folder) / INDEX_FILE
    write_atomic(path, buf.getvalue())
    return path


@lru_cache(maxsize=8)
def _read(path: str, mtime: int) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def read_index(folder: str | Path | None) -> dict[str, np.ndarray] | None:
    """The index of a classifier folder, or None when it has none."""
    path = Path(folder or "") / INDEX_FILE
    if folder is None or not path.is_file():
        return None
    return _read(str(path), path.stat().st_mtime_ns)


def find_seen(folder: str | Path | None, name: str, image) -> Seen | None:
    """The training image an upload is, by the ISIC id in its file `name` or by its pixels
    (`image`: Pillow or uint8 pixels); None when it is none of them or there is no index."""
    index = read_index(folder)
    if index is None or not len(index["isic_id"]):
        return None
    for isic_id in ISIC_ID.findall(name or ""):
        hit = np.flatnonzero(index["isic_id"] == isic_id)
        if len(hit):
            return Seen(isic_id, str(index["split"][hit[0]]), "id")
    bits = np.unpackbits(index["dhash"] ^ image_hash(image)[None], axis=1).sum(axis=1)
    nearest = int(np.argmin(bits))
    if bits[nearest] <= MATCH_BITS:
        return Seen(str(index["isic_id"][nearest]), str(index["split"][nearest]), "pixels", int(bits[nearest]))
    return None


def photo_hash(path: str | Path) -> np.ndarray:
    """The difference hash of an image file (a reduced JPEG decode: plenty for 16 px)."""
    with Image.open(path) as image:
        image.draft("RGB", (4 * HASH_SIDE, 4 * HASH_SIDE))
        return image_hash(image.convert("RGB"))


def unseen(table: pd.DataFrame, folder: str | Path | None, lesions: pd.DataFrame | None = None,
           by_pixels: bool = False) -> pd.DataFrame:
    """The rows of a data table (isic_id, lesion_id; image_path for `by_pixels`) that a
    classifier folder's training index does not hold, neither by image nor by lesion: held out
    from everything it learned from or was tuned on. `lesions` (isic_id, lesion_id; default
    `table`) names the lesions of the indexed images, which may lie outside `table`.
    `by_pixels` also drops a photo within MATCH_BITS of an indexed one (the same photo under
    another name). `attrs["left_out_seen"]` counts the rows dropped (`left_out_by_pixels` of
    them by pixels); a folder without an index drops nothing and sets `attrs["index"] = False`."""
    index = read_index(folder)
    if index is None:
        out = table.copy()
        out.attrs.update(left_out_seen=0, index=False)
        return out
    ids = set(index["isic_id"].tolist())
    lesions = table if lesions is None else lesions
    seen_lesions = set(lesions.loc[lesions["isic_id"].isin(ids), "lesion_id"].astype(str)) - {""}
    seen = (table["isic_id"].isin(ids) | table["lesion_id"].astype(str).isin(seen_lesions)).to_numpy()
    by_hash = np.zeros(len(table), bool)
    if by_pixels and len(index["dhash"]):
        bits = np.unpackbits(index["dhash"], axis=1).astype(bool)
        for k in np.flatnonzero(~seen):
            photo = np.unpackbits(photo_hash(table["image_path"].iloc[k])).astype(bool)
            by_hash[k] = (bits != photo).sum(axis=1).min() <= MATCH_BITS
    out = table[~(seen | by_hash)].copy()
    out.attrs.update(left_out_seen=int((seen | by_hash).sum()), left_out_by_pixels=int(by_hash.sum()), index=True)
    return out
