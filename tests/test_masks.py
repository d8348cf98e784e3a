"""Lesion masks: found by ISIC id beside or inside a dataset folder, resized like the image."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skinml.data.masks import attach_masks, find_mask_folder, load_mask, mask_path
from skinml.errors import DataError


def write_mask(folder, isic_id, box, size=(200, 150)):
    """A black PNG of `size` (width, height) with a white rectangle `box` (left, top, right, bottom)."""
    pixels = np.zeros(size[::-1], np.uint8)
    left, top, right, bottom = box
    pixels[top:bottom, left:right] = 255
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(folder / f"{isic_id}_segmentation.png")


def test_the_mask_folder_is_the_sibling_named_after_the_data_else_masks_inside(tmp_path):
    data = tmp_path / "ham10000"
    data.mkdir()
    assert find_mask_folder(data) is None
    (data / "masks").mkdir()
    assert find_mask_folder(data) == (data / "masks").resolve()
    (tmp_path / "ham10000-segmentations").mkdir()
    assert find_mask_folder(data) == (tmp_path / "ham10000-segmentations").resolve()


def test_a_mask_is_read_at_its_size_and_resized_like_the_image(tmp_path):
    write_mask(tmp_path, "ISIC_1", (100, 0, 200, 150))  # the right half is lesion
    native = load_mask(tmp_path, "ISIC_1")
    assert native.shape == (150, 200) and native.dtype == bool
    assert native[:, 100:].all() and not native[:, :100].any()
    squashed = load_mask(tmp_path, "ISIC_1", size=32)
    assert squashed.shape == (32, 32) and squashed[:, 17:].all() and not squashed[:, :15].any()
    cropped = load_mask(tmp_path, "ISIC_1", size=30, resize="crop")  # the centred 150x150: columns 25..175
    assert cropped.mean() == pytest.approx(75 / 150, abs=0.04)


def test_a_missing_mask_is_a_clear_error_and_attach_masks_reports_it(tmp_path):
    write_mask(tmp_path, "ISIC_1", (0, 0, 10, 10))
    with pytest.raises(DataError, match="no lesion mask for ISIC_2"):
        load_mask(tmp_path, "ISIC_2")
    assert mask_path(tmp_path, "ISIC_1").name == "ISIC_1_segmentation.png"
    table = pd.DataFrame({"isic_id": ["ISIC_1", "ISIC_2"], "image_path": ["a.jpg", "b.jpg"]})
    with_masks, missing = attach_masks(table, tmp_path)
    assert list(with_masks["isic_id"]) == ["ISIC_1"] and missing == ["ISIC_2"]
    assert with_masks["mask_path"].iloc[0].endswith("ISIC_1_segmentation.png")


@pytest.mark.realdata
def test_ham10000_masks_line_up_with_their_images():
    from conftest import SHARED_DATA

    masks = SHARED_DATA / "ham10000-segmentations"
    if not masks.is_dir():
        pytest.skip("real data (../shared/data/ham10000-segmentations) is not on this machine")
    assert find_mask_folder(SHARED_DATA / "ham10000") == masks.resolve()
    mask = load_mask(masks, "ISIC_0024306", size=128)
    assert mask.shape == (128, 128) and 0.02 < mask.mean() < 0.98
