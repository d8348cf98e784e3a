"""Lesion-centred crops for a classifier run with `crop="lesion"`, prepared once before training.

Each photo of the run (train, val and test) is cut to `skinml.images.crop.lesion_box` around its
lesion: the dataset's mask where it has one (`<data>-segmentations` beside a dataset folder),
else the shipped segmenter's prediction; the whole photo where neither finds a lesion. The crops
are JPEG files in `$SKINML_CACHE/lesion-crops`, named by the photo's path, size and time, the
mask's origin and the margin, so a second run on the same photos segments nothing again. The run
directory's crops.csv (image_path, crop_path, mask: given, predicted or none) is what `skinml.cnn.splits.load_splits`
reads.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from skinml import settings
from skinml.cnn.splits import CROPS_FILE, load_splits
from skinml.data.masks import find_mask_folder, load_mask
from skinml.data.policy import folders_of
from skinml.errors import DataError
from skinml.images.crop import LESION_MARGIN, crop_to_lesion
from skinml.images.decode import read_photo
from skinml.io import write_atomic
from skinml.segment.predict import no_lesion, shipped_installed, shipped_mask, shipped_stamp


def crop_cache_dir() -> Path:
    """`$SKINML_CACHE/lesion-crops`, else `~/.cache/skinml/lesion-crops`."""
    return settings.cache_root() / "lesion-crops"


def _crop_file(photo_path: str, origin: str, margin: float) -> Path:
    stat = Path(photo_path).stat()
    key = f"{Path(photo_path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{origin}|{margin}"
    return crop_cache_dir() / f"{hashlib.sha1(key.encode()).hexdigest()[:24]}.jpg"


def write_lesion_crops(config, run_dir: str | Path, log=print, margin: float = LESION_MARGIN) -> pd.DataFrame:
    """Write the run's crops.csv (and the crops not cached yet); returns its table. `config`: the
    run's `TrainConfig`. A crops.csv already there is kept (a resumed run reads the same crops)."""
    target = Path(run_dir) / CROPS_FILE
    if target.is_file():
        return pd.read_csv(target, dtype=str, keep_default_na=False)
    df = load_splits(dataclasses.replace(config, crop="none"))
    mask_dirs = [m for m in (find_mask_folder(f) for f in folders_of(config.data) if f) if m is not None] \
        if config.data else []
    segmenter = shipped_stamp() if shipped_installed() else None
    crop_cache_dir().mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for row in df.itertuples():
        mask, origin = None, "none"
        for folder in mask_dirs:
            try:
                mask, origin = load_mask(folder, str(row.isic_id)), "given"
                break
            except DataError:
                continue
        if mask is None and segmenter is not None:
            origin = f"predicted {segmenter}"
        path = _crop_file(row.image_path, origin, margin)
        if not path.is_file():  # cached: neither the photo nor the segmenter is needed again
            photo = read_photo(row.image_path)
            if origin != "given" and segmenter is not None:
                mask = shipped_mask(photo)
            if mask is not None and (mask.shape != photo.shape[:2] or no_lesion(mask)):
                mask = None
            cut, _ = crop_to_lesion(photo, mask, margin)
            Image.fromarray(np.ascontiguousarray(cut)).save(path, format="JPEG", quality=95)
        rows.append({"image_path": row.image_path, "crop_path": str(path), "mask": origin.split(" ")[0]})
    table = pd.DataFrame(rows, columns=["image_path", "crop_path", "mask"])
    write_atomic(target, table.to_csv(index=False))
    counts = table["mask"].value_counts().to_dict()
    log(f"lesion-centred crops of {len(table)} photos: {counts.get('given', 0)} by the dataset's masks, "
        f"{counts.get('predicted', 0)} by the segmenter's (whole where it finds no lesion), "
        f"{counts.get('none', 0)} whole (no mask, no segmenter)")
    return table
