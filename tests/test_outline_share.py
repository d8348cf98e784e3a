"""How much of the CNN's heatmap falls inside the lesion's outline (skinml.explain.outline_share)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


def test_the_centred_blob_has_the_lesions_area_and_sits_on_the_centre():
    from skinml.explain.outline_share import centred_blob

    rng = np.random.default_rng(0)
    for rows, cols, share in zip(rng.integers(4, 60, 60), rng.integers(4, 60, 60), rng.random(60)):
        pixels = int(round(share * rows * cols))
        blob = centred_blob((rows, cols), pixels)
        assert blob.shape == (rows, cols) and blob.sum() == pixels
        if pixels:
            ys, xs = np.nonzero(blob)
            assert abs(ys.mean() - (rows - 1) / 2) <= 1 and abs(xs.mean() - (cols - 1) / 2) <= 1
        bigger = centred_blob((rows, cols), min(rows * cols, pixels + 5))
        assert (bigger | blob).sum() == bigger.sum()  # a larger blob contains the smaller one


def test_a_mask_is_resized_as_its_photo():
    from skinml.explain.outline_share import mask_as_input
    from skinml.images.decode import load_image

    mask = np.zeros((60, 90), bool)
    mask[10:30, 50:80] = True
    photo = np.where(mask[..., None], 255, 0).astype(np.uint8).repeat(3, -1)
    for resize in ("squash", "crop"):
        assert np.array_equal(mask_as_input(mask, 32, resize), load_image(photo, 32, resize)[..., 0] >= 128)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """A tiny untrained classifier folder and 12 synthetic lesions with masks for the first 6 only."""
    import keras

    from skinml.cnn.classifier import save_classifier
    from skinml.cnn.models import build_model
    from skinml.data import load_dataset
    from skinml.data.synthetic import write_demo_dataset

    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("share")
    info = {"name": "skinml_resnet", "image_size": 48, "resize": "squash", "threshold": 0.5, "version": "tiny"}
    folder = save_classifier(root / "model", build_model("skinml_resnet", image_size=48, widths=(8, 16)), info,
                             {"test": {"n": 10}})
    data = write_demo_dataset(root / "lesions", n=12, size=96, seed=7)
    table = load_dataset(data).sort_values("isic_id").reset_index(drop=True)
    masks = data.parent / "lesions-segmentations"
    masks.mkdir()
    for row in table.head(6).itertuples():
        grey = np.asarray(Image.open(row.image_path).convert("L"), float)
        Image.fromarray(((grey < 0.8 * np.median(grey[0])) * 255).astype(np.uint8)).save(
            masks / f"{row.isic_id}_segmentation.png")
    return folder, table, masks


def test_the_share_is_the_page_heatmaps_share_inside_given_or_predicted_outlines(setting):
    from skinml.cnn.classifier import load_classifier
    from skinml.data.masks import load_mask
    from skinml.explain.measures import share_inside
    from skinml.explain.outline_share import heatmap_in_outline, mask_as_input, outline_share_sentence
    from skinml.explain.trust import method_maps
    from skinml.images.decode import load_image
    from skinml.segment.predict import SHIPPED, load_segmenter, shipped_installed

    folder, table, masks = setting
    clf = load_classifier(folder)
    out = heatmap_in_outline(clf, table, [masks], None, n=0, n_boot=200)
    assert out["masks"] == {"given": 6, "predicted": 0, "none": 6} and out["n"] == 6
    assert out["method"] == "gradcam" and out["label"] == "Grad-CAM"  # no explanations.json: the page's Grad-CAM
    first = out["per_image"].iloc[0]
    row = table.set_index("isic_id").loc[first["isic_id"]]
    heat = method_maps(clf, load_image(row["image_path"], 48), None, ["gradcam"])["Grad-CAM"]
    mask = mask_as_input(load_mask(masks, first["isic_id"]), 48)
    assert first["share_inside"] == pytest.approx(share_inside(heat, mask))
    assert first["lesion_share"] == pytest.approx(mask.mean())
    for name in ("share_inside", "centred_blob", "difference"):
        s = out[name]
        assert s["low"] <= s["mean"] <= s["high"] and s["n"] == 6
    assert out["difference"]["mean"] == pytest.approx(out["share_inside"]["mean"] - out["centred_blob"]["mean"],
                                                      abs=1e-3)
    assert "6 outlines drawn by dermatologists, 0 predicted" in outline_share_sentence(out, 0.88)
    if not shipped_installed():
        pytest.skip("no shipped segmenter (skinml/assets/segmenter)")
    mixed = heatmap_in_outline(clf, table, [masks], load_segmenter(SHIPPED), n=8, seed=1, n_boot=100)
    assert mixed["masks"]["given"] + mixed["masks"]["predicted"] + mixed["masks"]["none"] == 8
    assert mixed["masks"]["predicted"] > 0 and set(mixed["per_image"]["mask"]) <= {"given", "predicted"}
    sentence = outline_share_sentence(mixed, 0.88)
    assert "predicted by the segmenter (mean Jaccard 0.88" in sentence and "not where the lesion is" in sentence


def test_the_sentence_says_which_side_of_the_blob_the_heatmap_is():
    from skinml.explain.outline_share import outline_share_sentence

    s = lambda mean, low, high: {"mean": mean, "low": low, "high": high, "n": 30}
    out = {"n": 30, "label": "Grad-CAM", "masks": {"given": 30, "predicted": 0, "none": 0},
           "share_inside": s(0.7, 0.65, 0.75), "centred_blob": s(0.5, 0.45, 0.55), "difference": s(0.2, 0.1, 0.3)}
    sentence = outline_share_sentence(out)
    assert sentence.startswith("On 30 held-out images, 70% of the Grad-CAM heatmap fell inside")
    assert "more than a centred blob" in sentence and "Jaccard" not in sentence
    out["difference"] = s(0.0, -0.1, 0.1)
    assert "no clearly different share from a centred blob" in outline_share_sentence(out)
    assert "nothing was measured" in outline_share_sentence({**out, "n": 0})
