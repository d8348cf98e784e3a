"""The bias test (skinml.explain.bias): the two altered photos, intervals by lesion, known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

from skinml.errors import DataError
from skinml.explain import bias

SKIN, LESION = (205, 160, 140), (70, 35, 25)


def photo(height=48, width=64, radius=10, skin=SKIN, lesion=LESION, noise=0, seed=0):
    """uint8 (H, W, 3) skin with a round lesion in the middle, and its mask."""
    yy, xx = np.mgrid[:height, :width]
    mask = (yy - height / 2) ** 2 + (xx - width / 2) ** 2 <= radius ** 2
    image = np.where(mask[..., None], np.array(lesion), np.array(skin)).astype("float64")
    image += np.random.default_rng(seed).normal(0, noise, image.shape)
    return np.clip(image, 0, 255).astype("uint8"), mask


def test_lesion_removed_changes_every_lesion_pixel_and_nothing_outside():
    image, mask = photo(noise=6)
    out = bias.remove_lesion(image, mask)
    region = bias.widen(mask, bias.margin_pixels(image.shape))
    assert region.sum() > mask.sum()  # the border went too
    assert (out[~region] == image[~region]).all()
    assert (out[mask] != image[mask]).any(axis=1).all()
    # filled from the skin around it: the lesion's area now has the skin's colour
    assert np.abs(out[mask].mean(axis=0) - np.array(SKIN)).max() < 8


def test_lesion_only_keeps_the_lesion_and_fills_everything_else():
    image, mask = photo(noise=6)
    out = bias.keep_lesion(image, mask, (128, 120, 110))
    assert (out[mask] == image[mask]).all()
    assert (out[~mask] == (128, 120, 110)).all()


def test_a_lesion_over_the_whole_photo_leaves_only_the_fill():
    image, _ = photo()
    everywhere = np.ones(image.shape[:2], bool)
    with pytest.raises(DataError, match="no skin left"):
        bias.remove_lesion(image, everywhere)
    assert (bias.variants(image, everywhere, (200, 150, 150))["lesion_removed"] == (200, 150, 150)).all()


def test_widen_grows_by_the_given_pixels():
    mask = np.zeros((21, 21), bool)
    mask[10, 10] = True
    grown = bias.widen(mask, 3)
    assert grown[10, 7] and grown[10, 13] and grown[7, 10] and not grown[10, 6] and not grown[6, 6]


def test_skin_colour_is_the_mean_outside_the_lesions():
    a, mask_a = photo(skin=(200, 100, 50))
    b, mask_b = photo(height=20, width=20, radius=3, skin=(100, 50, 25))
    expected = (np.vstack([a[~mask_a], b[~mask_b]]).mean(axis=0)).round()
    assert (bias.skin_colour([(a, mask_a), (b, mask_b)]) == expected).all()


def test_auc_by_lesion_matches_scikit_learn_and_keeps_a_lesion_together():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    s = rng.random(60) + 0.4 * y
    groups = np.arange(60).astype(str)
    once = bias.auc_by_lesion(y, {"photo": s, "other": -s}, groups, n_boot=300)
    assert once["auc"]["photo"]["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-4)
    tied = np.round(s, 1)  # ties count half, as in scikit-learn
    assert bias.rank_auc(y, tied) == pytest.approx(roc_auc_score(y, tied), abs=1e-12)
    assert once["minus_photo"]["other"]["difference"] == pytest.approx(1 - 2 * roc_auc_score(y, s), abs=1e-4)
    low, high = once["auc"]["photo"]["low"], once["auc"]["photo"]["high"]
    assert low < once["auc"]["photo"]["auc"] < high
    # every lesion photographed twice: the same AUC, and the same interval when resampled by lesion...
    twice = bias.auc_by_lesion(np.tile(y, 2), {"photo": np.tile(s, 2)}, np.tile(groups, 2), n_boot=300)
    assert twice["auc"]["photo"] == once["auc"]["photo"]
    # ... but a narrower, overconfident one when each photo counts as a lesion of its own
    apart = bias.auc_by_lesion(np.tile(y, 2), {"photo": np.tile(s, 2)}, np.arange(120).astype(str), n_boot=300)
    assert apart["auc"]["photo"]["high"] - apart["auc"]["photo"]["low"] < high - low


def test_lesion_groups_fall_back_to_the_image():
    table = pd.DataFrame({"isic_id": ["a", "b", "c"], "lesion_id": ["L1", "", "L1"]})
    assert list(bias.lesion_groups(table)) == ["L1", "image:b", "L1"]


class LooksAt:
    """A stand-in classifier that scores the darkness of the border (the background) or of the centre."""

    image_size, resize, uses_metadata = 32, "squash", False

    def __init__(self, where: str):
        self.where = where

    def predict_proba(self, images, tta=False, metadata=None):
        """(N, 2) as skinml's Classifier: (benign, malignant) columns."""
        if self.where == "border":
            ring = np.concatenate([images[:, :3].reshape(len(images), -1), images[:, -3:].reshape(len(images), -1)], 1)
            p = 1 - ring.mean(axis=1)
        else:
            p = 1 - images[:, 14:18, 14:18].reshape(len(images), -1).mean(axis=1)
        return np.column_stack([1 - p, p])

    def p_malignant(self, class_probabilities):
        return np.asarray(class_probabilities)[..., 1]


def write_set(folder, skin_by_label, lesion_by_label, n=6):
    """n benign and n malignant photos (two per lesion) in `folder`, masks in `<folder>-segmentations`."""
    images, masks = folder / "images", folder.parent / f"{folder.name}-segmentations"
    images.mkdir(parents=True)
    masks.mkdir()
    rows = []
    for k in range(2 * n):
        label = ("benign", "malignant")[k % 2]
        image, mask = photo(skin=skin_by_label[label], lesion=lesion_by_label[label], radius=9 + k % 3)
        isic_id = f"ISIC_{k:07d}"
        Image.fromarray(image).save(images / f"{isic_id}.png")
        Image.fromarray(mask.astype("uint8") * 255).save(masks / f"{isic_id}_segmentation.png")
        rows.append({"isic_id": isic_id, "image_path": str(images / f"{isic_id}.png"), "benign_malignant": label,
                     "lesion_id": f"L{k // 4}_{label}"})
    rows.append({"isic_id": "ISIC_9999999", "image_path": rows[0]["image_path"], "benign_malignant": "benign",
                 "lesion_id": ""})  # no mask: left out
    return pd.DataFrame(rows)


def test_a_classifier_of_the_background_keeps_its_auc_without_the_lesion(tmp_path):
    skin = {"benign": (215, 175, 150), "malignant": (150, 110, 90)}
    table = write_set(tmp_path / "ham", skin, {"benign": LESION, "malignant": LESION})
    report = bias.bias_test(LooksAt("border"), table, data_dirs=[tmp_path / "ham"], n_boot=50)
    assert report["n"] == 12 and report["n_malignant"] == 6 and report["n_lesions"] == 6
    assert report["auc"]["photo"]["auc"] == 1.0
    assert report["auc"]["lesion_removed"]["auc"] == 1.0
    assert report["auc"]["lesion_only"]["auc"] == 0.5  # one fill for every photo: nothing left to rank
    assert report["minus_photo"]["lesion_only"]["difference"] == -0.5
    assert report["fill_rgb"] == list(np.round((np.array(skin["benign"]) + skin["malignant"]) / 2).astype(int))


def test_a_classifier_of_the_lesion_loses_its_auc_without_the_lesion(tmp_path):
    table = write_set(tmp_path / "ham", {"benign": SKIN, "malignant": SKIN},
                      {"benign": (150, 110, 90), "malignant": LESION})
    report = bias.bias_test(LooksAt("centre"), table, masks=tmp_path / "ham-segmentations", n_boot=50)
    assert report["auc"]["photo"]["auc"] == 1.0
    assert report["auc"]["lesion_only"]["auc"] == 1.0
    assert abs(report["auc"]["lesion_removed"]["auc"] - 0.5) <= 0.1
    assert bias.flat_figures(report)["lesion_removed_auc"] == report["auc"]["lesion_removed"]["auc"]


def test_predicted_masks_come_from_a_function(tmp_path):
    table = write_set(tmp_path / "ham", {"benign": SKIN, "malignant": SKIN},
                      {"benign": (150, 110, 90), "malignant": LESION})
    outline = lambda image: image.mean(axis=2) < 140  # a "segmenter": the dark part
    report = bias.bias_test(LooksAt("centre"), table, masks=outline, n_boot=0)
    assert report["n"] == 13 and report["masks"] == "predicted by a segmenter"
    assert report["auc"]["lesion_only"]["auc"] == report["auc"]["lesion_only"]["low"]


def test_no_masks_is_a_sentence(tmp_path):
    table = pd.DataFrame({"isic_id": ["a"], "image_path": ["x"], "benign_malignant": ["benign"], "lesion_id": [""]})
    with pytest.raises(DataError, match="No lesion masks"):
        bias.bias_test(LooksAt("centre"), table, data_dirs=[tmp_path])


def test_unseen_drops_the_images_and_the_lesions_a_model_learned_from(tmp_path):
    from skinml.cnn.seen import INDEX_FILE, unseen

    np.savez(tmp_path / INDEX_FILE, isic_id=np.array(["a", "x"]), split=np.array(["train", "val"]),
             dhash=np.zeros((2, 32), "uint8"))
    table = pd.DataFrame({"isic_id": ["a", "b", "c", "d", "e"], "lesion_id": ["L1", "L1", "L2", "", "L3"]})
    lesions = pd.DataFrame({"isic_id": ["x"], "lesion_id": ["L3"]})  # an indexed image outside the table
    kept = unseen(table, tmp_path, lesions=pd.concat([table, lesions]))
    assert list(kept["isic_id"]) == ["c", "d"] and kept.attrs["left_out_seen"] == 3
    assert unseen(table, tmp_path / "none").attrs == {"left_out_seen": 0, "index": False}


def test_unseen_by_pixels_drops_the_same_photo_under_another_name(tmp_path):
    from skinml.cnn.seen import INDEX_FILE, image_hash, unseen

    image, _ = photo(noise=20)
    other, _ = photo(noise=20, seed=1)
    for name, pixels in (("same", image), ("other", other)):
        Image.fromarray(pixels).save(tmp_path / f"{name}.png")
    np.savez(tmp_path / INDEX_FILE, isic_id=np.array(["a"]), split=np.array(["train"]), dhash=image_hash(image)[None])
    table = pd.DataFrame({"isic_id": ["b", "c"], "lesion_id": ["", ""],
                          "image_path": [str(tmp_path / "same.png"), str(tmp_path / "other.png")]})
    kept = unseen(table, tmp_path, by_pixels=True)
    assert list(kept["isic_id"]) == ["c"] and kept.attrs["left_out_by_pixels"] == 1


def test_evaluate_json_carries_the_bias_test(tmp_path, capsys):
    """`skinml evaluate --bias-test --json` on a folder with masks beside it: the two AUCs and their intervals."""
    import json

    import keras

    from skinml.cli import main
    from skinml.cnn.classifier import save_classifier
    from skinml.cnn.models import build_model
    from skinml.data.synthetic import write_demo_dataset

    data = write_demo_dataset(tmp_path / "syn", n=16, size=48, seed=2)
    masks = tmp_path / "syn-segmentations"
    masks.mkdir()
    _, mask = photo(height=48, width=48, radius=14)
    for path in data.glob("*.jpg"):
        Image.fromarray(mask.astype("uint8") * 255).save(masks / f"{path.stem}_segmentation.png")
    keras.utils.set_random_seed(0)
    model = save_classifier(tmp_path / "model", build_model("skinml_resnet", image_size=32, widths=(8, 16)),
                            {"name": "tiny", "image_size": 32, "resize": "squash", "threshold": 0.5})
    assert main(["evaluate", "--data", str(data), "--model", str(model), "--bias-test", "--json",
                 "--bootstrap", "20"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["bias_test"]["n"] == report["n"] == 16
    for key in ("lesion_removed_auc", "lesion_only_auc"):
        low, high = report["intervals"][key]
        assert 0 <= low <= report[key] <= high <= 1
    assert report["bias_test"]["auc"]["photo"]["auc"] == pytest.approx(report["auc"], abs=1e-3)
    # without masks: one sentence
    assert main(["evaluate", "--data", str(data), "--model", str(model), "--bias-test", "--masks",
                 str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_the_teaching_figures_show_three_bars_with_their_intervals_and_three_versions():
    from skinml.plots.bias import plot_bias_aucs, plot_bias_examples

    report = {"n": 10, "n_malignant": 4, "auc": {"photo": {"auc": 0.85, "low": 0.8, "high": 0.9},
                                                 "lesion_removed": {"auc": 0.7, "low": 0.6, "high": 0.75},
                                                 "lesion_only": {"auc": 0.83, "low": 0.79, "high": 0.88}}}
    bars = plot_bias_aucs(report).data[0]
    assert list(bars.y) == [0.85, 0.7, 0.83] and "lesion removed" in bars.x[1]
    assert list(bars.error_y.array) == pytest.approx([0.05, 0.05, 0.05])
    assert list(bars.error_y.arrayminus) == pytest.approx([0.05, 0.1, 0.04])
    image, mask = photo()
    fig = plot_bias_examples([bias.variants(image, mask, (200, 150, 150))] * 2)
    assert len(fig.data) == 6 and all(trace.type == "image" for trace in fig.data)
