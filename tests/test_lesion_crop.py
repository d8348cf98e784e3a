"""Lesion-centred square crops (skinml.images.crop) on random synthetic masks: properties."""

from __future__ import annotations

import numpy as np

from skinml.images.crop import crop_to_lesion, lesion_box


def random_masks(n: int = 300, seed: int = 0):
    """(mask, (top, bottom, left, right) of its lesion's bounding box) of random photos and ellipses."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        height, width = rng.integers(20, 200, 2)
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(1, height / 2), rng.uniform(1, width / 2)
        yy, xx = np.mgrid[:height, :width]
        mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        if not mask.any():
            continue
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        yield mask, (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1)


def test_the_crop_is_a_square_inside_the_photo_holding_the_lesion_with_its_margin():
    margin, checked = 0.15, 0
    for mask, (top, bottom, left, right) in random_masks():
        height, width = mask.shape
        x0, y0, x1, y1 = lesion_box(mask, margin)
        side = x1 - x0
        assert y1 - y0 == side >= 1  # square
        assert 0 <= x0 and 0 <= y0 and x1 <= width and y1 <= height  # clamped inside the photo
        longer = max(bottom - top, right - left)
        wanted = int(np.ceil(longer * (1 + 2 * margin)))
        assert side == min(wanted, height, width)
        if longer <= min(height, width):  # the lesion fits in a square of the photo: it lies inside the crop
            checked += 1
            assert x0 <= left and right <= x1 and y0 <= top and bottom <= y1
            room = margin * longer - 1  # the margin on each side, unless the photo's edge or size stops it
            for before, after, low, high, size in ((left - x0, x1 - right, left, right, width),
                                                   (top - y0, y1 - bottom, top, bottom, height)):
                if side == wanted:
                    assert before >= min(room, low) - 1 and after >= min(room, size - high) - 1
    assert checked > 200


def test_edges_clamp_and_no_lesion_keeps_the_whole_photo():
    mask = np.zeros((100, 150), bool)
    mask[0:10, 140:150] = True  # a lesion in the top right corner
    assert lesion_box(mask, 0.5) == (130, 0, 150, 20)  # 10 px * (1 + 2 x 0.5) = 20 px, pushed inside
    mask[:] = False
    mask[40:60, 65:85] = True  # centred, 20 px: 20 * 1.3 = 26 px on the same centre
    assert lesion_box(mask, 0.15) == (62, 37, 88, 63)
    mask[:] = True  # the whole photo: the largest square, centred
    assert lesion_box(mask, 0.15) == (25, 0, 125, 100)
    photo = np.arange(100 * 150 * 3, dtype=np.uint32).reshape(100, 150, 3)
    whole, box = crop_to_lesion(photo, np.zeros((100, 150), bool))
    assert box is None and whole is photo
    assert crop_to_lesion(photo, None)[1] is None
    cut, box = crop_to_lesion(photo, mask)
    assert box == (25, 0, 125, 100) and np.array_equal(cut, photo[0:100, 25:125])
