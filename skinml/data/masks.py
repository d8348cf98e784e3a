"""Lesion masks drawn by dermatologists: find the mask of an image by its ISIC id, read it.

HAM10000's segmentations are PNG files `<isic_id>_segmentation.png`, white = lesion, the
size of the image. They live either in a folder beside the dataset named after it plus
`-segmentations` (`ham10000/` and `ham10000-segmentations/`), or in `masks/` inside it.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from skinml import settings
from skinml.errors import DataError, shown

MASK_SUFFIX = "_segmentation.png"


def find_mask_folder(data_dir: str | Path) -> Path | None:
    """The masks folder of a dataset folder: `<name>-segmentations` beside it, else `masks/` inside."""
    data_dir = Path(data_dir).expanduser().resolve()
    for candidate in (data_dir.parent / f"{data_dir.name}-segmentations", data_dir / "masks"):
        if candidate.is_dir():
            return candidate
    return None


def mask_path(mask_dir: str | Path, isic_id: str) -> Path:
    """The mask file of one image; DataError when the folder has none for that id."""
    path = Path(mask_dir) / f"{isic_id}{MASK_SUFFIX}"
    if not path.is_file():
        raise DataError(f"There is no lesion mask for {isic_id}: expected {path}.")
    return path


def load_mask(mask_dir: str | Path, isic_id: str, size: int | None = None, resize: str = "squash") -> np.ndarray:
    """The lesion mask of one image: bool (H, W), True = lesion.

    With `size`, resized the way `skinml.images.decode.load_image` resizes the image
    ("squash": stretched to size x size; "crop": the centred square, then scaled), so that
    mask and model input line up pixel for pixel.
    """
    path = mask_path(mask_dir, isic_id)
    gray = _read_mask(path, mask_dir)
    if size is not None:
        box = None
        if resize == "crop":
            side = min(gray.size)
            left, top = (gray.width - side) // 2, (gray.height - side) // 2
            box = (left, top, left + side, top + side)
        gray = gray.resize((size, size), Image.Resampling.BILINEAR, box=box)
    return np.asarray(gray) >= 128


def _read_mask(path: Path, mask_dir: str | Path) -> Image.Image:
    """The mask file as a mode "L" image, read only from inside `mask_dir` (links out of it refused),
    at most MAX_IMAGE_FILE_BYTES and MAX_MASK_PIXELS (known from the header, before decoding)."""
    data = settings.read_file(path, settings.MAX_IMAGE_FILE_BYTES, DataError, inside=mask_dir)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > settings.MAX_MASK_PIXELS:
                    raise DataError(f"The lesion mask {shown(path)} is {width}x{height} px: more than the "
                                    f"{settings.MAX_MASK_PIXELS / 1e6:.0f} megapixels a mask may have here.")
                return image.convert("L")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"The lesion mask {shown(path)} is far too large (a decompression bomb): "
                        "not decoded.") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DataError(f"The lesion mask {shown(path)} cannot be read ({shown(exc, 80)}).") from None


def mask_size(mask_dir: str | Path, isic_id: str) -> tuple[int, int]:
    """(width, height) of an image's mask, from its header; DataError as `load_mask`."""
    path = mask_path(mask_dir, isic_id)
    settings.check_inside(path, mask_dir)
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise DataError(f"The lesion mask {shown(path)} cannot be read ({shown(exc, 80)}).") from None


def attach_masks(df: pd.DataFrame, mask_dir: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """The rows of a data table that have a mask, with a `mask_path` column, and the ids without one."""
    mask_dir = Path(mask_dir)
    paths = df["isic_id"].astype(str).map(lambda i: mask_dir / f"{i}{MASK_SUFFIX}")
    found = paths.map(Path.is_file)
    missing = df.loc[~found, "isic_id"].astype(str).tolist()
    return df[found].assign(mask_path=paths[found].astype(str)), missing
