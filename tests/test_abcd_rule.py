"""The ABCD rule against the CNN (skinml.explain.abcd_rule) on synthetic lesions drawn by the ABCD rule."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from skinml.metrics.binary import auc


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """60 synthetic lesions (malignant ones larger, asymmetric, ragged, many-coloured) and masks for them."""
    from skinml.data import load_dataset
    from skinml.data.synthetic import write_demo_dataset

    data = write_demo_dataset(tmp_path_factory.mktemp("abcd") / "lesions", n=60, size=96, seed=5)
    masks = data.parent / "lesions-segmentations"
    masks.mkdir()
    for path in data.glob("*.jpg"):
        grey = np.asarray(Image.open(path).convert("L"), float)
        Image.fromarray(((grey < 0.8 * np.median(grey[0])) * 255).astype(np.uint8)).save(
            masks / f"{path.stem}_segmentation.png")
    return load_dataset(data), masks


def test_abcd_separates_lesions_drawn_by_the_abcd_rule_and_the_cnn_is_scored_on_the_same_images(drawn):
    from skinml.explain.abcd_rule import FEATURES, abcd_features, compare_with_cnn

    table, masks = drawn
    features = abcd_features(table, [masks])
    assert len(features) == 60 and (features["mask"] == "given").all()
    y = (table["benign_malignant"] == "malignant").astype(int).to_numpy()
    p_cnn = np.clip(0.5 + 0.2 * (y - 0.5) + np.random.default_rng(0).normal(0, 0.2, 60), 0, 1)
    out = compare_with_cnn(features, y, p_cnn, groups=table["lesion_id"], n_boot=200)
    assert out["abcd"]["auc"] > 0.8  # the synthetic malignant lesions are drawn larger and more irregular
    assert out["cnn"]["auc"] == pytest.approx(auc(y, p_cnn))
    for name in ("abcd", "cnn"):
        low, high = out[name]["interval"]
        assert low <= out[name]["auc"] <= high
    assert set(out["coefficients"]) == set(FEATURES) and out["coefficients"]["lesion_share"] > 0
    malignant = features[y == 1]
    assert malignant["lesion_share"].mean() > features[y == 0]["lesion_share"].mean()
