"""Realism measures on synthetic lesions: KID, FID, precision/recall, two-sample test, PCA."""

from __future__ import annotations

import numpy as np
import pytest

from skinml.quality import realism as quality


@pytest.fixture(scope="module")
def lesions():
    from skinml.data.synthetic import make_lesion
    return np.stack([make_lesion(i % 2 == 1, 32, seed=i) for i in range(120)]).astype("float32") / 255.0


def test_kid_of_a_set_against_itself_is_near_zero_and_against_noise_large():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 16))
    same, _ = quality.kid(real, real, subsets=10, subset_size=100)
    other, _ = quality.kid(real, rng.normal(3.0, 2.0, size=(200, 16)), subsets=10, subset_size=100)
    assert abs(same) < 0.2 and other > 1000 * abs(same)
    assert quality.fid(real, real) < 1e-6 < quality.fid(real, real + 1)


def test_precision_recall():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(150, 4))
    p, r = quality.precision_recall(real, real[::-1].copy())
    assert p == r == 1.0
    p, r = quality.precision_recall(real, rng.normal(10, 1, size=(150, 4)))
    assert p == 0.0 and r == 0.0


@pytest.mark.slow
def test_two_sample_test_is_about_half_on_two_halves_of_one_real_set(lesions):
    out = quality.two_sample_test(lesions[:60], lesions[60:], size=32, epochs=5)
    assert 0.3 <= out["accuracy"] <= 0.7 and out["n_test"] == 60
    noise = np.random.default_rng(0).random(lesions[60:].shape).astype("float32")
    assert quality.two_sample_test(lesions[:60], noise, size=32)["accuracy"] > 0.85


def test_feature_two_sample_test_is_about_half_on_one_set_and_high_on_a_shifted_one():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 32))
    same = quality.two_sample_features(real[:200], real[200:])
    assert 0.35 <= same["accuracy"] <= 0.65 and same["n_test"] == 400
    shifted = quality.two_sample_features(real[:200], real[200:] + 1.0)
    assert shifted["accuracy"] > 0.9 and shifted["ci95"][0] < shifted["accuracy"] < shifted["ci95"][1]


def test_pca_memorisation_and_report(lesions, tmp_path):
    pca = quality.pca_overlay(lesions[:50], lesions[50:100])
    assert pca["real"].shape == (50, 2) and 0 < sum(pca["explained"]) <= 1
    idx, dist = quality.nearest_training_images(lesions[:5], lesions)
    np.testing.assert_array_equal(idx, np.arange(5))
    assert np.allclose(dist, 0, atol=1e-3)

    import json

    import keras

    from skinml.cnn.models import build_model
    keras.utils.set_random_seed(0)
    clf = build_model("thesis_base", image_size=32)
    real, train = lesions[:40], lesions[80:]
    report = quality.realism_report(real, lesions[40:80], train=train, feature_model=clf, two_sample=False)
    assert report["n_real"] == report["n_fake"] == 40 and "two_sample" not in report
    assert report["memorisation"]["n_checked"] == 40 and report["memorisation"]["n_train"] == 40
    assert report["memorisation"]["min_distance"] > 0.01  # other lesions, not copies

    copies = quality.realism_report(real, train[::-1].copy(), train=train, feature_model=clf, two_sample=False)
    assert copies["memorisation"]["median_distance"] < 1e-3  # a generator that copies is caught
    noise = np.random.default_rng(0).random(real.shape).astype("float32")
    far = quality.realism_report(real, noise, train=train, feature_model=clf, two_sample=False)
    assert far["kid"] > 10 * max(report["kid"], 1e-4) and far["fid"] > report["fid"]  # noise is far from lesions
    assert far["precision"] < report["precision"]

    saved = json.loads(quality.save_report(report, tmp_path / "r.json").read_text())
    assert saved["kid"] == pytest.approx(report["kid"]) and saved["memorisation"] == report["memorisation"]
