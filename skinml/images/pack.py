"""Image packs: a dataset at one training size in two files, for machines without the data.

A pack is a folder with `images.zip` (one JPEG per image, `<isic_id>.jpg`, already squashed
to the training size) and `index.csv` (the normalised metadata table without paths, with a
`split` column and the `dx` diagnosis class). It is what travels to a lent GPU machine (no
dataset folder and no TensorFlow there) and what the training scripts read there: decoding
10,000 small JPEGs takes a few seconds, and the pack is five times smaller than raw pixels.
"""

from __future__ import annotations

import functools
import io
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from skinml.errors import DataError


def write_pack(df: pd.DataFrame, folder: str | Path, image_size: int, quality: int = 90,
               resize: str = "squash") -> Path:
    """Write the rows of `df` (with `image_path`) as a pack at `image_size` px."""
    from skinml.images.decode import load_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def encode(path: str) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(load_image(path, image_size, resize)).save(buf, "JPEG", quality=quality)
        return buf.getvalue()

    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        blobs = list(pool.map(encode, df["image_path"]))
    tmp = folder / ".images.zip.tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
        for isic_id, blob in zip(df["isic_id"], blobs):
            z.writestr(f"{isic_id}.jpg", blob)
    os.replace(tmp, folder / "images.zip")
    df.drop(columns=["image_path"]).to_csv(folder / "index.csv", index=False)
    return folder


def pack_image_size(folder: str | Path) -> int:
    """The side in pixels of a pack's (square) images, read from its first image."""
    with zipfile.ZipFile(Path(folder) / "images.zip") as z:
        with z.open(z.namelist()[0]) as f:
            return Image.open(f).size[0]


def read_index(folder: str | Path) -> pd.DataFrame:
    """A pack's index table (strings, "" for missing), without decoding its images."""
    try:
        return pd.read_csv(Path(folder) / "index.csv", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{folder} is not a readable image pack: its index.csv cannot be read ({exc}).") from exc


@functools.lru_cache(maxsize=2)
def pack_images(folder: str | Path) -> np.ndarray:
    """A pack's uint8 (N, S, S, 3) images in index order, decoded once per process."""
    images = read_pack(folder)[1]
    images.flags.writeable = False  # shared by every caller
    return images


def read_pack(folder: str | Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The index table (strings) and uint8 (N, S, S, 3) images in its order."""
    folder = Path(folder)
    try:
        index = pd.read_csv(folder / "index.csv", dtype=str, keep_default_na=False)
        with zipfile.ZipFile(folder / "images.zip") as z:
            blobs = [z.read(f"{i}.jpg") for i in index["isic_id"]]
    except (OSError, KeyError, zipfile.BadZipFile, pd.errors.ParserError) as exc:
        raise DataError(f"{folder} is not a readable image pack (images.zip + index.csv): {exc}") from exc
    decode = lambda b: np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))
    with ThreadPoolExecutor(min(16, 2 * (os.cpu_count() or 1))) as pool:
        images = list(pool.map(decode, blobs))
    if not images:
        raise DataError(f"{folder} holds no images.")
    return index, np.stack(images)
