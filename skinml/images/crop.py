"""Lesion-centred square crops: the photo cut to a square around the lesion's bounding box.

`lesion_box(mask, margin)` is the square (left, top, right, bottom), in pixels, centred on the
bounding box of the mask's True pixels, with a side of the box's longer side plus `margin` times
it on each side; moved back inside the photo where it would cross an edge, and no larger than the
photo's shorter side (a lesion longer than that is cut: the square keeps its middle). None when
the mask marks nothing. `crop_to_lesion` applies it, the whole photo when there is no lesion.
"""

from __future__ import annotations

import numpy as np

LESION_MARGIN = 0.15  # skin kept around the lesion on each side, as a share of its longer side


def lesion_box(mask: np.ndarray, margin: float = LESION_MARGIN) -> tuple[int, int, int, int] | None:
    """The square crop box (left, top, right, bottom; right and bottom exclusive) around the lesion
    of a bool mask (H, W), or None when the mask marks no pixel."""
    mask = np.asarray(mask, bool)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    height, width = mask.shape
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    side = int(np.ceil(max(bottom - top, right - left) * (1 + 2 * margin)))
    side = max(1, min(side, height, width))
    x0 = int(round((left + right - side) / 2))
    y0 = int(round((top + bottom - side) / 2))
    x0, y0 = min(max(x0, 0), width - side), min(max(y0, 0), height - side)
    return x0, y0, x0 + side, y0 + side


def crop_to_lesion(photo: np.ndarray, mask: np.ndarray | None, margin: float = LESION_MARGIN
                   ) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """(the photo cut to `lesion_box`, the box), or (the whole photo, None) without a lesion.
    `photo`: (H, W, ...) with the mask's height and width."""
    box = None if mask is None else lesion_box(mask, margin)
    if box is None:
        return photo, None
    left, top, right, bottom = box
    return photo[top:bottom, left:right], box
