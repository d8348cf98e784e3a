"""The segmentation scorer (skinml.metrics.segmentation) against isic-challenge-scoring's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skinml.metrics import segmentation as seg


def random_masks(n=12, seed=0):
    rng = np.random.default_rng(seed)
    truths, preds = [], []
    for i in range(n):
        h, w = rng.integers(20, 50, 2)
        yy, xx = np.mgrid[:h, :w]
        cy, cx, r = h / 2, w / 2, rng.uniform(4, min(h, w) / 2)
        truth = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
        shift = rng.integers(-4, 5, 2)
        pred = np.roll(truth, tuple(shift), axis=(0, 1)) | (rng.random((h, w)) < 0.03)
        if i == 0:
            truth, pred = np.zeros((h, w), bool), np.zeros((h, w), bool)  # no lesion, none found: 1
        if i == 1:
            pred = np.zeros((h, w), bool)  # a lesion missed: 0
        truths.append(truth)
        preds.append(pred)
    return truths, preds


def test_hand_computed_scores():
    truth = np.zeros((4, 4), bool)
    truth[:2] = True  # 8 px
    pred = np.zeros((4, 4), bool)
    pred[1:3] = True  # 8 px, 4 shared
    s = seg.image_scores(truth, pred)
    assert s["jaccard"] == pytest.approx(4 / 12)
    assert s["dice"] == pytest.approx(8 / 16)
    assert s["threshold_jaccard"] == 0.0  # under 0.65
    assert seg.image_scores(truth, truth)["threshold_jaccard"] == 1.0


def test_matches_isic_challenge_scoring(tmp_path):
    from isic_challenge_scoring.segmentation import SegmentationScore

    truths, preds = random_masks()
    (tmp_path / "truth").mkdir()
    (tmp_path / "pred").mkdir()
    ids = [f"ISIC_{i:07d}" for i in range(len(truths))]
    for isic_id, t, p in zip(ids, truths, preds):
        Image.fromarray(t.astype(np.uint8) * 255).save(tmp_path / "truth" / f"{isic_id}_segmentation.png")
        Image.fromarray(p.astype(np.uint8) * 255).save(tmp_path / "pred" / f"{isic_id}_segmentation.png")
    theirs = SegmentationScore.from_dir(tmp_path / "truth", tmp_path / "pred").macro_average
    ours = seg.score_masks(truths, preds, ids)
    for name in seg.MEASURES:
        assert ours[name].mean() == pytest.approx(theirs[name], abs=1e-12), name
    assert 0 < ours["threshold_jaccard"].mean() < ours["jaccard"].mean() < 1


def test_report_intervals_and_groups():
    truths, preds = random_masks(40, seed=1)
    scores = seg.score_masks(truths, preds)
    meta = pd.DataFrame({"lesion_id": [f"L{i // 2}" for i in range(40)], "dx": ["nv", "mel"] * 20,
                         "attribution": "HAM10000"})
    report = seg.segmentation_report(scores, meta, n_boot=300)
    overall = report["overall"]
    assert overall["n"] == 40
    for name in seg.HEADLINE:
        assert overall[name]["low"] <= overall[name]["mean"] <= overall[name]["high"]
    assert set(report["by"]["dx"]) == {"nv", "mel"} and report["by"]["dx"]["nv"]["n"] == 20
    assert report["by"]["dx"]["mel"]["jaccard"]["mean"] == pytest.approx(scores["jaccard"][1::2].mean())
    # resampling lesions (pairs of images) widens the interval of values that agree within a lesion
    same = np.repeat(np.linspace(0, 1, 20), 2)
    by_image = seg.bootstrap_mean(same, None, 2000)
    by_lesion = seg.bootstrap_mean(same, np.repeat(np.arange(20), 2), 2000)
    assert by_lesion[1] - by_lesion[0] > 1.2 * (by_image[1] - by_image[0])
