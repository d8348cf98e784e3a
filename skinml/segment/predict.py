"""A photo to its lesion mask at the photo's own size, and masks to files and outlines.

The model sees the photo squashed to its square input (as in training); its probability map is
resized back to the photo's width and height (bilinear) and thresholded at 0.5. The mask is then
cleaned as a dermatologist draws one: the largest connected region only, with its holes filled.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from skinml import ASSETS
from skinml.data.masks import MASK_SUFFIX
from skinml.errors import ModelError
from skinml.images.decode import load_image
from skinml.images.upload import to_rgb

THRESHOLD = 0.5
SHIPPED = ASSETS / "segmenter"  # the shipped segmenter's folder (skinml.segment.ship writes it)


def model_size(model) -> int:
    """The square input size of a segmenter (pixels)."""
    return int(model.inputs[0].shape[1])


def to_inputs(photos, size: int) -> np.ndarray:
    """uint8 photos (H, W, 3), any sizes -> float32 (N, size, size, 3) in [0, 1], squashed."""
    return np.stack([load_image(p, size, "squash") for p in photos]).astype("float32") / 255.0


def clean_mask(mask: np.ndarray) -> np.ndarray:
    """bool (H, W): the largest connected region of `mask`, holes filled (all False when empty)."""
    labels, n = ndimage.label(mask)
    if n == 0:
        return np.zeros_like(mask, bool)
    largest = 1 + int(np.argmax(ndimage.sum_labels(mask, labels, index=range(1, n + 1))))
    return ndimage.binary_fill_holes(labels == largest)


def probability_at(prob: np.ndarray, width: int, height: int) -> np.ndarray:
    """A float (S, S) probability map resized to (height, width) with bilinear filtering."""
    image = Image.fromarray(np.asarray(prob, dtype="float32"), mode="F")
    return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR))


def segment_photos(model, photos, batch_size: int = 32, clean: bool = True) -> list[np.ndarray]:
    """Lesion masks of uint8 photos (H, W, 3): one bool (H, W) per photo, at its own size."""
    photos = [np.asarray(p) for p in photos]
    size, masks = model_size(model), []
    for start in range(0, len(photos), batch_size):
        chunk = photos[start:start + batch_size]
        probs = model.predict_on_batch(to_inputs(chunk, size))[..., 0]
        for photo, prob in zip(chunk, probs):
            mask = probability_at(prob, photo.shape[1], photo.shape[0]) >= THRESHOLD
            masks.append(clean_mask(mask) if clean else mask)
    return masks


def segment_photo(model, photo: np.ndarray, clean: bool = True) -> np.ndarray:
    """The lesion mask of one uint8 photo (H, W, 3): bool (H, W)."""
    return segment_photos(model, [photo], clean=clean)[0]


def mask_as_input(mask: np.ndarray, size: int, resize: str = "squash") -> np.ndarray:
    """A mask at the photo's size resized as `load_image` resizes the photo: bool (size, size)."""
    grey = np.repeat(np.asarray(mask, np.uint8)[..., None] * 255, 3, axis=-1)
    return load_image(grey, size, resize)[..., 0] >= 128


def touches_border(mask: np.ndarray) -> bool:
    """True when the lesion reaches the photo's edge: it may go on outside the photo."""
    mask = np.asarray(mask, bool)
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


NO_LESION_SHARE = 0.002  # a mask smaller than this share of the photo is taken as no lesion found


def no_lesion(mask: np.ndarray) -> bool:
    """True when a mask marks less than NO_LESION_SHARE of the photo: no lesion was found."""
    return bool(np.asarray(mask, bool).mean() < NO_LESION_SHARE)


def mask_warnings(mask: np.ndarray) -> list[str]:
    """Sentences for what makes a predicted outline unreliable: no lesion, or one cut by the edge."""
    mask = np.asarray(mask, bool)
    if no_lesion(mask):
        return ["No lesion was found in this photo: the outline and the ABCD measures are missing."]
    if touches_border(mask):
        return ["The lesion touches the edge of the photo, so part of it may be outside: its size, "
                "asymmetry and border measures describe only the part in the photo."]
    return []


def outline(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """bool (H, W): the lesion's border pixels (inside the mask, next to outside), `width` px thick."""
    mask = np.asarray(mask, bool)
    return mask & ~ndimage.binary_erosion(mask, iterations=width, border_value=0)


def draw_outline(photo: np.ndarray, mask: np.ndarray, colour=(0, 255, 0), width: int = 0) -> np.ndarray:
    """A copy of the uint8 photo (H, W, 3) with the mask's outline drawn in `colour`
    (width 0: about 1/150 of the photo's shorter side, at least 1 px)."""
    width = width or max(1, min(mask.shape) // 150)
    out = np.array(photo, dtype=np.uint8, copy=True)
    out[outline(mask, width)] = colour
    return out


def mask_png(mask: np.ndarray) -> bytes:
    """A mask as ISIC writes it: an 8-bit greyscale PNG, 255 = lesion, 0 = not."""
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(mask, bool).astype(np.uint8) * 255, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def mask_file_name(isic_id: str) -> str:
    """`<isic_id>_segmentation.png`, ISIC's name for a mask."""
    return f"{isic_id}{MASK_SUFFIX}"


def load_split_of(folder: str | Path):
    """The split a segmenter was trained with (split.csv.gz of a shipped folder, split.csv of a run
    directory): isic_id, lesion_id, split; None when the folder has none."""
    import pandas as pd

    for name in ("split.csv.gz", "split.csv"):
        if (Path(folder) / name).is_file():
            return pd.read_csv(Path(folder) / name, dtype=str, keep_default_na=False)
    return None


def load_segmenter(folder: str | Path):
    """The model of a shipped segmenter folder (model.keras) or a run directory (best.keras)."""
    import keras

    import skinml.segment.unet  # noqa: F401  (registers the loss and measure the file names)

    folder = Path(folder)
    for name in ("model.keras", "best.keras"):
        if (folder / name).is_file():
            try:
                return keras.models.load_model(folder / name, safe_mode=True, compile=False)
            except (OSError, ValueError) as exc:
                raise ModelError(f"The segmenter {folder / name} cannot be loaded ({exc}).") from exc
    raise ModelError(f"{folder} holds no segmenter (model.keras or best.keras).")


@lru_cache(maxsize=1)
def _shipped(folder: str, stamp: int):
    return load_segmenter(folder), threading.Lock()


def shipped_installed() -> bool:
    """Whether the shipped segmenter (skinml/assets/segmenter/model.keras) is there."""
    return (SHIPPED / "model.keras").is_file()


def shipped_stamp() -> str:
    """Changes when the shipped segmenter does (its folder and file time), "none" without one."""
    return f"{SHIPPED}:{(SHIPPED / 'model.keras').stat().st_mtime_ns}" if shipped_installed() else "none"


def shipped_jaccard() -> float | None:
    """The shipped segmenter's mean Jaccard on its held-out HAM10000 test lesions, as its metrics.json
    says; None when it has none."""
    import json

    path = SHIPPED / "metrics.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("test", {}).get("overall", {}).get("jaccard", {}).get("mean")


def shipped_mask(photo) -> np.ndarray | None:
    """The shipped segmenter's lesion mask of one photo (Pillow or uint8 (H, W, 3)): bool (H, W) at the
    photo's size; None when no segmenter is installed. The model is loaded once per process (again
    when its file changes) and called under a lock, so threads may share it; the masks of the last
    few photos are kept, so that a page predicting one photo with two models segments it once."""
    if not shipped_installed():
        return None
    folder, stamp = str(SHIPPED), (SHIPPED / "model.keras").stat().st_mtime_ns
    model, lock = _shipped(folder, stamp)
    pixels = np.ascontiguousarray(to_rgb(photo) if isinstance(photo, Image.Image) else photo, dtype=np.uint8)
    key = (folder, stamp, pixels.shape, hashlib.sha1(pixels).hexdigest())
    with lock:
        if key not in _RECENT:
            _RECENT[key] = segment_photo(model, pixels)
            while len(_RECENT) > RECENT_MASKS:
                _RECENT.popitem(last=False)
        _RECENT.move_to_end(key)
        return _RECENT[key].copy()


RECENT_MASKS = 8  # masks of the last photos kept by `shipped_mask`
_RECENT: OrderedDict = OrderedDict()
