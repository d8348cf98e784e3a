"""A classifier trained on lesion-centred crops (TrainConfig.crop = "lesion") reads one in prediction too."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_tiny_model_trained_on_lesion_crops_predicts_on_the_uploads_crop(tmp_path, monkeypatch):
    import skinml.runs.crops as crops_module
    from skinml.cnn.classifier import load_classifier
    from skinml.cnn.config import TrainConfig
    from skinml.data.synthetic import write_demo_dataset
    from skinml.images.crop import crop_to_lesion, lesion_box
    from skinml.images.decode import load_image
    from skinml.predict import crop_of, predict_upload
    from skinml.runs.crops import write_lesion_crops
    from skinml.runs.train import fit_classifier
    from skinml.segment.predict import shipped_installed, shipped_mask

    if not shipped_installed():
        pytest.skip("no shipped segmenter (skinml/assets/segmenter)")
    monkeypatch.setenv("SKINML_CACHE", str(tmp_path / "cache"))
    data = write_demo_dataset(tmp_path / "lesions", n=40, size=96, seed=3)
    table = pd.read_csv(data / "metadata.csv")
    masks = tmp_path / "lesions-segmentations"
    masks.mkdir()
    disc = np.zeros((96, 96), np.uint8)
    yy, xx = np.mgrid[:96, :96]
    disc[(yy - 30) ** 2 + (xx - 62) ** 2 < 15 ** 2] = 255  # off centre: its crop is not the centre's square
    given = set(table["isic_id"].iloc[::2])
    for isic_id in given:
        Image.fromarray(disc).save(masks / f"{isic_id}_segmentation.png")

    config = TrainConfig(data=str(data), model="thesis_base", image_size=32, epochs=1, batch_size=8, feed="array",
                         crop="lesion", augment="none", run_dir=str(tmp_path / "runs" / "crop"))
    run_dir = fit_classifier(config)
    crops = pd.read_csv(run_dir / "crops.csv", dtype=str, keep_default_na=False)
    assert len(crops) and set(crops["mask"]) <= {"given", "predicted"}
    by_id = crops.assign(isic_id=crops["image_path"].map(lambda p: p.rsplit("/", 1)[-1].split(".")[0]))
    assert set(by_id.loc[by_id["mask"] == "given", "isic_id"]) == given & set(by_id["isic_id"])
    side = lesion_box(disc > 0)[2] - lesion_box(disc > 0)[0]
    for path in by_id.loc[by_id["mask"] == "given", "crop_path"]:
        assert Image.open(path).size == (side, side)  # the disc's square, 30 px * 1.3
    assert (by_id["mask"] == "predicted").any()

    calls = []
    real = crops_module.shipped_mask
    monkeypatch.setattr(crops_module, "shipped_mask", lambda photo: calls.append(1) or real(photo))
    again = write_lesion_crops(config, tmp_path / "runs" / "second")
    assert calls == [] and list(again["crop_path"]) == list(crops["crop_path"])  # cached: segmented once

    clf = load_classifier(run_dir)
    assert crop_of(clf) == "lesion"
    photo = np.asarray(Image.open(crops["image_path"].iloc[0]).convert("RGB"))
    result = predict_upload(clf, png(photo), "upload.png", heatmap=False)
    box = lesion_box(shipped_mask(photo))
    assert result.crop == box and result.crop_mode == "lesion" and result.to_dict()["crop"] == "lesion"
    assert np.array_equal(result.model_input, load_image(crop_to_lesion(photo, shipped_mask(photo))[0], 32))
    assert result.to_dict()["crop_box"] == list(box)


def test_models_trained_before_read_the_whole_photo(tmp_path):
    import keras

    from skinml.cnn.classifier import load_classifier, save_classifier
    from skinml.cnn.config import TrainConfig
    from skinml.cnn.models import build_model
    from skinml.data.synthetic import make_lesion
    from skinml.errors import SkinmlError
    from skinml.images.decode import load_image
    from skinml.predict import crop_of, predict_upload

    assert TrainConfig().crop == "none"
    with pytest.raises(SkinmlError, match="crop"):
        TrainConfig(crop="box").check()
    with pytest.raises(SkinmlError, match="image pack"):
        TrainConfig(crop="lesion", pack=str(tmp_path)).check()
    keras.utils.set_random_seed(0)
    folder = save_classifier(tmp_path / "old", build_model("thesis_base", image_size=32),
                             {"name": "thesis_base", "image_size": 32, "threshold": 0.5, "resize": "squash"})
    clf = load_classifier(folder)
    photo = make_lesion(True, 120, seed=2)
    result = predict_upload(clf, png(photo), "old.png", heatmap=False)
    assert crop_of(clf) == "none" and result.crop is None and result.to_dict()["crop"] == "none"
    assert np.array_equal(result.model_input, load_image(photo, 32))
