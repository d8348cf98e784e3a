"""Trust measures against hand-computed values: pointing game, share inside, curves, baselines, intervals."""

from __future__ import annotations

import numpy as np
import pytest

from skinml.explain.measures import (
    blurred,
    centre_gaussian,
    curve_area,
    perturbation_curve,
    pointing_game,
    rank_correlation,
    salience_order,
    share_inside,
    summarise,
)

MASK = np.zeros((6, 6), bool)
MASK[1:3, 1:4] = True  # a 2x3 lesion


def test_pointing_game_of_a_perfect_map_is_1_of_an_off_mask_map_0_of_a_flat_map_0():
    assert pointing_game(MASK.astype(float), MASK) == 1.0
    off = np.zeros((6, 6))
    off[5, 5] = 1.0
    assert pointing_game(off, MASK) == 0.0
    assert pointing_game(np.zeros((6, 6)), MASK) == 0.0  # points nowhere
    near_miss = MASK * 0.9
    near_miss[4, 4] = 1.0
    assert pointing_game(near_miss, MASK) == 0.0  # only the peak counts


def test_share_inside_counts_only_positive_attribution():
    heat = np.zeros((6, 6))
    heat[1, 1], heat[5, 5], heat[0, 0] = 3.0, 1.0, -5.0
    assert share_inside(heat, MASK) == pytest.approx(0.75)
    assert share_inside(MASK.astype(float), MASK) == 1.0
    assert share_inside(-np.ones((6, 6)), MASK) == 0.0


def test_the_centre_gaussian_peaks_in_the_middle_and_wins_only_on_central_lesions():
    g = centre_gaussian((9, 9), sigma=0.25)
    assert g.shape == (9, 9) and g[4, 4] == pytest.approx(1.0) and np.unravel_index(g.argmax(), g.shape) == (4, 4)
    np.testing.assert_allclose(g, g[::-1, ::-1])  # symmetric
    assert g[4, 0] == pytest.approx(np.exp(-0.5 * (4 / 2.25) ** 2))  # 4 px off centre, sigma 2.25 px
    central, corner = np.zeros((9, 9), bool), np.zeros((9, 9), bool)
    central[3:6, 3:6], corner[:3, :3] = True, True
    assert pointing_game(g, central) == 1.0 and pointing_game(g, corner) == 0.0
    assert share_inside(g, central) > central.mean() > share_inside(g, corner)


def test_deletion_area_by_hand():
    """A 'model' that reads the mean of a 2x2 image whose one bright pixel carries the whole score."""
    predict = lambda batch: batch.mean(axis=(1, 2, 3))
    image = np.zeros((2, 2, 3), "float32")
    image[0, 1] = 1.0
    blank = np.zeros_like(image)
    right = salience_order(np.array([[0.1, 0.9], [0.2, 0.3]]))  # the bright pixel first
    wrong = salience_order(np.array([[0.9, 0.1], [0.8, 0.7]]))  # the bright pixel last
    first = perturbation_curve(predict, image, blank, right, steps=4)
    last = perturbation_curve(predict, image, blank, wrong, steps=4)
    np.testing.assert_allclose(first, [0.25, 0, 0, 0, 0])
    np.testing.assert_allclose(last, [0.25, 0.25, 0.25, 0.25, 0])
    assert curve_area(first) == pytest.approx(0.25 / 2 / 4)                  # 0.03125
    assert curve_area(last) == pytest.approx(3 * 0.25 / 4 + 0.25 / 2 / 4)    # 0.21875
    insertion = perturbation_curve(predict, blank, image, right, steps=4)
    np.testing.assert_allclose(insertion, [0, 0.25, 0.25, 0.25, 0.25])
    assert curve_area(np.array([1.0, 0.0])) == 0.5


def test_ties_are_broken_at_random_not_in_reading_order():
    flat = np.zeros((8, 8))
    orders = [salience_order(flat, np.random.default_rng(s))[:8] for s in (1, 2)]
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[0], np.arange(8))
    peaked = flat.copy()
    peaked[5, 6] = 1.0
    assert salience_order(peaked, np.random.default_rng(3))[0] == 5 * 8 + 6


def test_blurred_keeps_the_colour_and_removes_the_shape():
    image = np.zeros((64, 64, 3), "float32")
    image[29:35, 29:35] = [1.0, 0.5, 0.0]  # a 6-px square; the blur's sigma is 64 / 16 = 4 px
    soft = blurred(image)
    assert soft.shape == image.shape
    assert soft[..., 0].sum() == pytest.approx(image[..., 0].sum(), rel=0.02)  # colour mass stays
    assert soft[32, 32, 0] < 0.4 and soft[22, 32, 0] > 0.01  # the square's edge is gone


def test_rank_correlation():
    a = np.arange(16.0).reshape(4, 4)
    assert rank_correlation(a, a ** 2) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    assert rank_correlation(a, np.zeros((4, 4))) == 0.0


def test_summarise_gives_the_mean_inside_its_interval():
    values = np.tile([0.0, 1.0], 100)
    s = summarise(values, n_boot=500)
    assert s["mean"] == 0.5 and s["n"] == 200 and 0.38 < s["low"] < 0.5 < s["high"] < 0.62
    assert summarise(np.full(10, 0.3)) == {"mean": 0.3, "low": 0.3, "high": 0.3, "n": 10}
