"""ABCD measures on synthetic shapes with known answers (skinml.segment.abcd)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import disk, ellipse, polygon

from skinml.errors import ImageError
from skinml.segment import abcd

SKIN = (225, 180, 160)


def canvas(h=200, w=200):
    return np.zeros((h, w), bool), np.full((h, w, 3), SKIN, np.uint8)


def test_disc_is_symmetric_compact_and_its_size_is_known():
    mask, photo = canvas()
    mask[disk((100, 100), 40)] = True
    photo[mask] = abcd.DERMOSCOPIC_COLOURS["dark brown"]
    m = abcd.measure_lesion(photo, mask, field_of_view_mm=20.0)  # 200 px = 20 mm: 0.1 mm per px
    assert m["area_px"] == pytest.approx(np.pi * 40 ** 2, rel=0.01)
    assert m["diameter_px"] == pytest.approx(80, rel=0.01)
    assert m["diameter_mm"] == pytest.approx(8.0, rel=0.01)
    assert m["area_mm2"] == pytest.approx(np.pi * 4 ** 2, rel=0.01)
    assert m["asymmetry_major"] < 0.02 and m["asymmetry_minor"] < 0.02
    assert m["compactness"] > 0.9
    assert m["colours"] == ["dark brown"] and m["colour_shares"]["dark brown"] == 1.0
    assert m["colour_variance"] == pytest.approx(0.0, abs=1e-3)  # one colour (float32 rounding aside)


def test_ellipse_axes_and_orientation_follow_the_shape():
    mask, _ = canvas(200, 300)
    mask[ellipse(100, 150, 30, 90)] = True  # long axis along the columns: 180 px, short 60 px
    axes = abcd.principal_axes(mask)
    assert axes["major_axis_px"] == pytest.approx(180, rel=0.02)
    assert axes["minor_axis_px"] == pytest.approx(60, rel=0.03)
    assert abs(abs(axes["orientation"]) - np.pi / 2) < 0.01  # scikit-image: angle from the row axis
    assert max(abcd.fold_asymmetry(mask)) < 0.02  # an ellipse is symmetric about both of its axes
    assert abcd.compactness(mask) < 0.8  # elongated: less compact than a disc


def test_a_lopsided_lesion_is_asymmetric_and_a_star_is_not_compact():
    mask, _ = canvas()
    mask[disk((100, 80), 40)] = True
    mask[disk((100, 135), 18)] = True  # a bump on one side of the long axis' perpendicular
    long_fold, short_fold = abcd.fold_asymmetry(mask)
    assert short_fold > 0.1 and long_fold < 0.05  # folding end over end does not match: asymmetric
    star, _ = canvas()
    angles = np.linspace(0, 2 * np.pi, 17)[:-1]
    radius = np.where(np.arange(16) % 2, 30, 80)
    star[polygon(100 + radius * np.sin(angles), 100 + radius * np.cos(angles), star.shape)] = True
    assert abcd.compactness(star) < 0.5


def test_two_colour_lesion_has_both_colours_with_their_shares():
    mask, photo = canvas()
    mask[40:160, 40:160] = True
    photo[40:160, 40:100] = abcd.DERMOSCOPIC_COLOURS["black"]
    photo[40:160, 100:160] = abcd.DERMOSCOPIC_COLOURS["blue-grey"]
    m = abcd.measure_lesion(photo, mask)
    assert set(m["colours"]) == {"black", "blue-grey"}
    assert m["colour_shares"]["black"] == pytest.approx(0.5) and m["colour_shares"]["blue-grey"] == pytest.approx(0.5)
    # half the pixels at each of two colours: the variance is (delta E / 2)^2
    lab = abcd.color.rgb2lab(np.array([[abcd.DERMOSCOPIC_COLOURS["black"], abcd.DERMOSCOPIC_COLOURS["blue-grey"]]],
                                      np.uint8))[0]
    assert m["colour_variance"] == pytest.approx((np.linalg.norm(lab[0] - lab[1]) / 2) ** 2, rel=1e-4)
    assert "diameter_mm" not in m  # no field of view, no millimetres


def test_sharp_border_has_a_larger_gradient_than_a_blurred_one():
    from scipy import ndimage

    mask, photo = canvas()
    mask[disk((100, 100), 50)] = True
    photo[mask] = abcd.DERMOSCOPIC_COLOURS["dark brown"]
    blurred = np.stack([ndimage.gaussian_filter(photo[..., c].astype(float), 6) for c in range(3)], -1)
    sharp = abcd.border_gradient(photo, mask)
    soft = abcd.border_gradient(blurred.round().astype(np.uint8), mask)
    assert sharp > 2 * soft > 0


def test_empty_mask_and_mismatched_sizes():
    mask, photo = canvas()
    assert abcd.measure_lesion(photo, mask) == {"area_px": 0}
    with pytest.raises(ImageError):
        abcd.measure_lesion(photo[:100], mask)
