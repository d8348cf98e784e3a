"""The dermoscopy check fires on faces, documents, blanks, landscapes, screenshots; rarely on dermoscopy."""

from __future__ import annotations

import numpy as np
import pytest

from skinml.ood.detector import FEATURES, check_dermoscopy, fit_reference, load_reference, measure, score_stats
from skinml.ood.fit import make_non_dermoscopy


def test_shipped_reference_has_rates():
    reference = load_reference()
    assert reference["features"] == list(FEATURES)
    assert reference["rates"]["dermoscopy_test"]["fired"] <= 0.05
    assert reference["rates"]["non_dermoscopy"]["fired"] >= 0.9


def test_fires_on_fresh_non_dermoscopic_images():
    kinds = make_non_dermoscopy(per_kind=8, seed=123)  # not the images the rates were measured on
    for kind, images in kinds.items():
        results = [check_dermoscopy(image) for image in images]
        rate = np.mean([r.fired for r in results])
        assert rate >= (0.75 if kind == "photo" else 0.9), f"fired on only {rate:.0%} of {kind} images"
        for r in results:
            if r.fired:
                assert r.warnings and all(w.endswith(".") for w in r.warnings)
            assert r.fired == (r.score > r.threshold)


def test_measure_shape_and_uniform_image():
    stats = measure(np.full((64, 64, 3), 128, np.uint8))
    assert stats.shape == (len(FEATURES),)
    assert check_dermoscopy(np.full((300, 200, 3), 200, np.uint8)).fired


def test_fit_reference_threshold_is_the_quantile():
    rng = np.random.default_rng(0)
    stats = np.clip(rng.normal(0.5, 0.1, (400, len(FEATURES))), 0.01, 0.99)
    reference = fit_reference(stats, quantile=0.9)
    assert np.mean(score_stats(stats, reference) > reference["threshold"]) == pytest.approx(0.1, abs=0.01)


@pytest.mark.slow
@pytest.mark.realdata
def test_rarely_fires_on_held_out_dermoscopy(isic_sample):
    from PIL import Image

    from skinml.data.policy import split_grouped
    from skinml.data.readers import load_dataset

    df = split_grouped(load_dataset(isic_sample, verify=False).query("image_path != ''"), seed=0)
    test = df[df["split"] == "test"]
    fired = [check_dermoscopy(Image.open(p)).fired for p in test["image_path"]]
    assert np.mean(fired) <= 0.05, f"fired on {np.mean(fired):.1%} of {len(fired)} dermoscopy images"
