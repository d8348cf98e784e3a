"""Photos and dermatologists' masks for the segmenter: read, split by lesion, decode once, cache.

The table comes from `skinml.data` (any layout it reads, HAM10000 included) joined with the
masks on the ISIC id; the split is the project's grouped split, so a lesion's images are all
in one of train/val/test. The decoded arrays are cached as `.npy` files beside the split, so a
resumed run or a second evaluation does not decode the photos again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from skinml.data import diagnosis_class, load_dataset, split_grouped
from skinml.data.masks import attach_masks, find_mask_folder, load_mask
from skinml.errors import DataError
from skinml.images.decode import load_image

SPLIT_COLUMNS = ["isic_id", "lesion_id", "diagnosis", "dx", "attribution", "image_path", "mask_path", "split"]


def load_table(data: str | Path, masks: str | Path | None = None, seed: int = 0, max_images: int = 0) -> pd.DataFrame:
    """The images that have a mask, one row each, with a `split` column (train/val/test by lesion).

    Columns: SPLIT_COLUMNS. `masks` defaults to the dataset's masks folder (skinml.data.masks).
    """
    mask_dir = Path(masks) if masks else find_mask_folder(data)
    if mask_dir is None or not Path(mask_dir).is_dir():
        raise DataError(f"No masks folder found for {data}: pass the folder of <isic_id>_segmentation.png files.")
    df = load_dataset(data)
    df = df[df["image_path"] != ""]
    df, _missing = attach_masks(df, mask_dir)
    if df.empty:
        raise DataError(f"No image of {data} has a mask in {mask_dir}.")
    if max_images and len(df) > max_images:
        df = df.sample(n=max_images, random_state=seed)
    df = df.assign(dx=diagnosis_class(df).to_numpy())
    df = split_grouped(df.reset_index(drop=True), seed=seed, stratify="dx")
    return df[SPLIT_COLUMNS]


def _decode(row, size: int) -> tuple[np.ndarray, np.ndarray]:
    mask_dir, isic_id = Path(row.mask_path).parent, row.isic_id
    return load_image(row.image_path, size, "squash"), load_mask(mask_dir, isic_id, size, "squash")


def decode_arrays(table: pd.DataFrame, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The photos as uint8 (N, size, size, 3) and the masks as uint8 (N, size, size, 1) in {0, 1},
    both squashed to size x size (bilinear; the mask thresholded at half), in the table's order."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        pairs = list(pool.map(lambda row: _decode(row, size), table.itertuples()))
    images = np.stack([p[0] for p in pairs]) if pairs else np.zeros((0, size, size, 3), np.uint8)
    masks = np.stack([p[1] for p in pairs]) if pairs else np.zeros((0, size, size), bool)
    return images, masks.astype(np.uint8)[..., None]


def load_cached(folder: str | Path, table: pd.DataFrame, size: int) -> tuple[np.ndarray, np.ndarray]:
    """`decode_arrays`, read from `folder` (images.npy, masks.npy, ids.txt) when it holds the same
    images at the same size, else decoded and written there."""
    folder = Path(folder)
    ids = "\n".join(table["isic_id"].astype(str)) + "\n"
    paths = folder / "images.npy", folder / "masks.npy", folder / "ids.txt"
    if all(p.is_file() for p in paths) and paths[2].read_text() == ids:
        images, masks = np.load(paths[0], mmap_mode="r"), np.load(paths[1], mmap_mode="r")
        if images.shape[1:3] == (size, size):
            return np.asarray(images), np.asarray(masks)
    images, masks = decode_arrays(table, size)
    folder.mkdir(parents=True, exist_ok=True)
    for path, array in zip(paths[:2], (images, masks)):
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, array)
        tmp.replace(path)
    paths[2].write_text(ids)
    return images, masks
