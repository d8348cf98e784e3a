"""`skinml predict` on good and bad files, and a shared classifier answering many threads at once."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from skinml import settings
from skinml.cli import main
from skinml.cnn.classifier import load_classifier, save_classifier
from skinml.data.synthetic import make_lesion
from skinml.errors import ImageError
from skinml.predict import (
    build_summary_html,
    format_probability,
    format_spread,
    predict_upload,
    reading,
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny untrained skinml_resnet saved as a classifier folder (threshold 0.4)."""
    import keras

    from skinml.cnn.models import build_model

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("clf") / "model"
    info = {"name": "skinml_resnet", "image_size": 48, "resize": "squash", "threshold": 0.4, "version": "tiny"}
    metrics = {"test": {"n": 50, "sensitivity": 0.9, "specificity": 0.55}}
    return save_classifier(folder, build_model("skinml_resnet", image_size=48, widths=(8, 16)), info, metrics)


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    (folder / "benign.jpg").write_bytes(png(make_lesion(False, 160, seed=1)))  # a PNG named .jpg
    (folder / "malignant.png").write_bytes(png(make_lesion(True, 160, seed=2)))
    (folder / "notes.txt").write_text("not a photo")
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def test_predict_cli_json_keeps_order_and_survives_bad_files(model_dir, files, capsys):
    paths = [files / "benign.jpg", files / "notes.txt", files / "missing.png", files / "empty.jpg",
             files / "malignant.png"]
    status = main(["predict", *map(str, paths), "--model", str(model_dir), "--tta", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert status == 1 and [r["file"] for r in rows] == list(map(str, paths))
    assert [r["ok"] for r in rows] == [True, False, False, False, True]
    for r in rows:
        if r["ok"]:
            assert 0 <= r["p_malignant"] <= 1 and r["threshold"] == 0.4
            assert "label" not in r  # a field named for what it is, with no verdict word in it
            side = "above threshold" if r["p_malignant"] >= 0.4 else "below threshold"
            assert r["threshold_side"] == (side if r["looks_like_dermoscopy"] else None)
            assert isinstance(r["warnings"], list)
        else:
            assert r["error"].endswith(".") and "Traceback" not in r["error"]
    assert "text file" in rows[1]["error"] and "no file" in rows[2]["error"] and "empty" in rows[3]["error"]


def test_predict_cli_table_and_model_error(model_dir, files, capsys, tmp_path):
    assert main(["predict", str(files / "malignant.png"), "--model", str(model_dir)]) == 0
    out = capsys.readouterr().out
    assert "p(malignant)" in out and "not a medical device" in out
    assert main(["predict", str(files / "malignant.png"), "--model", str(tmp_path)]) == 2
    assert "No model found" in capsys.readouterr().err


def test_predict_upload_result(model_dir):
    clf = load_classifier(model_dir)
    result = predict_upload(clf, png(make_lesion(True, 200, seed=5)), "lesion.png")
    assert result.views.shape == (8,) and result.p_malignant == pytest.approx(result.views.mean())
    assert result.heatmap.shape == (48, 48) and 0 <= result.heatmap.min() <= result.heatmap.max() <= 1
    assert result.model_input.shape == (48, 48, 3) and result.image.dtype == np.uint8
    assert "not a diagnosis" in reading(result, clf.metrics)
    page = build_summary_html(result, clf.metrics)
    assert "data:image/png;base64," in page and "not a medical device" in page
    with pytest.raises(ImageError):
        predict_upload(clf, b"<html></html>", "page.html")


def test_ood_warning_reaches_the_result(model_dir):
    blank = predict_upload(load_classifier(model_dir), png(np.full((300, 300, 3), 250, np.uint8)), "blank.png")
    assert blank.ood.fired and "dermoscopy" in blank.warnings[0]
    assert blank.to_dict()["looks_like_dermoscopy"] is False
    assert blank.threshold_side is None and blank.to_dict()["threshold_side"] is None  # no side at all
    assert "No side of the threshold" not in reading(blank) and "no side of the threshold" in reading(blank)


def test_probabilities_are_rounded_to_what_calibration_supports():
    assert [format_probability(p) for p in (0.0, 0.004, 0.01, 0.473, 0.995, 1.0)] == [
        "below 1%", "below 1%", "1%", "47%", "above 99%", "above 99%"]
    assert [format_spread(s) for s in (0.0, 0.003, 0.01, 0.042)] == [
        "under 1 point", "under 1 point", "± 1 point", "± 4 points"]


def test_a_grayscale_photo_is_flagged_and_gets_no_side(model_dir):
    gray = np.repeat(np.asarray(Image.fromarray(make_lesion(True, 200, seed=5)).convert("L"))[..., None], 3, -1)
    result = predict_upload(load_classifier(model_dir), png(gray), "gray.png")
    assert result.ood.fired and result.ood.grayscale and result.threshold_side is None
    assert any("no colour" in w for w in result.warnings)


def test_the_summary_has_time_model_page_figures_heatmap_at_the_photos_aspect_and_cautions(model_dir):
    import base64
    import re
    from datetime import datetime

    clf = load_classifier(model_dir)
    wide = np.asarray(Image.fromarray(make_lesion(True, 200, seed=5)).resize((300, 150)))
    result = predict_upload(clf, png(wide), "wide.png")
    made = datetime(2026, 3, 4, 9, 5)
    page = build_summary_html(result, clf.metrics, made=made)
    assert "Made 2026-03-04 at 09:05" in page
    assert "skinml_resnet" in page and "version tiny" in page
    assert f"<b>{format_probability(result.p_malignant)}</b>" in page and format_spread(result.uncertainty) in page
    assert "not a confidence interval" in page and "not a medical device" in page.lower()
    assert not re.search(r"<td>(benign|malignant)</td>", page)  # no bare verdict
    images = [Image.open(io.BytesIO(base64.b64decode(uri))) for uri in
              re.findall(r'src="data:image/png;base64,([^"]+)"', page)]
    assert len(images) == 2 and images[0].size == images[1].size == (300, 150)  # photo and heatmap alike


def test_a_photo_the_model_trained_on_is_named_by_id_and_by_pixels(model_dir, tmp_path):
    import pandas as pd

    from skinml.cnn.seen import write_index

    seen = tmp_path / "ISIC_0000001.png"
    seen.write_bytes(png(make_lesion(True, 200, seed=5)))
    (tmp_path / "other.png").write_bytes(png(make_lesion(False, 200, seed=9)))
    table = pd.DataFrame({"isic_id": ["ISIC_0000001", "ISIC_0000002"], "split": ["train", "val"],
                          "image_path": [str(seen), str(tmp_path / "other.png")]})
    write_index(model_dir, table)
    clf = load_classifier(model_dir)
    try:
        by_pixels = predict_upload(clf, png(make_lesion(True, 200, seed=5)), "my-photo.png")
        assert (by_pixels.seen.isic_id, by_pixels.seen.how) == ("ISIC_0000001", "pixels")
        assert any("trained on this photo" in w for w in by_pixels.warnings)
        assert "trained on this photo" in reading(by_pixels)
        assert by_pixels.to_dict()["training_image"]["split"] == "train"
        by_id = predict_upload(clf, png(make_lesion(False, 200, seed=3)), "ISIC_0000002.jpg")
        assert (by_id.seen.split, by_id.seen.how) == ("val", "id") and "tuned" in reading(by_id)
        assert predict_upload(clf, png(make_lesion(True, 200, seed=77)), "new.png").seen is None
    finally:
        (model_dir / "training_images.npz").unlink()


def test_concurrent_predictions_equal_serial(model_dir):
    clf = load_classifier(model_dir)
    uploads = [png(make_lesion(i % 2 == 1, 120, seed=10 + i)) for i in range(6)]
    serial = [predict_upload(clf, data, tta=True) for data in uploads]
    with ThreadPoolExecutor(6) as pool:
        parallel = list(pool.map(lambda data: predict_upload(clf, data, tta=True), uploads * 3))
    for k, result in enumerate(parallel):
        expected = serial[k % len(uploads)]
        assert result.p_malignant == pytest.approx(expected.p_malignant, abs=1e-6)
        np.testing.assert_allclose(result.heatmap, expected.heatmap, atol=1e-5)


def test_predict_cli_batch_answers_the_good_files_whatever_the_bad_ones_are(model_dir, files, tmp_path, capsys):
    """`predict` hung for ever on a FIFO, read a 3 GB file whole and died on /dev/zero with a
    MemoryError traceback and no JSON: now each bad file is one error object."""
    fifo, huge = tmp_path / "pipe.jpg", tmp_path / "huge.jpg"
    os.mkfifo(fifo)
    with open(huge, "wb") as f:
        f.truncate(3_000_000_000)  # sparse: no disk used
    paths = [str(files / "benign.jpg"), str(fifo), "/dev/zero", str(huge), str(tmp_path), str(files / "malignant.png")]
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(status=main(["predict", *paths, "--model",
                                                                         str(model_dir), "--json"])), daemon=True)
    worker.start()
    worker.join(120)
    if worker.is_alive():  # unblock the hung reader before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("predict hangs on a FIFO")
    rows = json.loads(capsys.readouterr().out)
    assert outcome["status"] == 1 and [r["file"] for r in rows] == paths
    assert [r["ok"] for r in rows] == [True, False, False, False, False, True]
    assert "not an ordinary file" in rows[1]["error"] and "not an ordinary file" in rows[2]["error"]
    assert "3,000.0 MB: more than the" in rows[3]["error"] and "is a folder" in rows[4]["error"]
    assert settings.MAX_IMAGE_FILE_BYTES < 3_000_000_000


def test_predict_cli_says_a_damaged_model_json_in_a_sentence(model_dir, files, tmp_path, capsys):
    damaged = shutil.copytree(model_dir, tmp_path / "model")
    (damaged / "model.json").write_text('{"name": "skinml_resnet", "image_si')
    assert main(["predict", str(files / "benign.jpg"), "--model", str(damaged), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "model.json is damaged" in err and "Traceback" not in err


@pytest.mark.realdata
def test_the_shipped_model_names_its_own_training_photos_and_flags_grayscale(isic_sample):
    import pandas as pd

    from skinml.cnn.classifier import SHIPPED_DIR

    if not (SHIPPED_DIR / "training_images.npz").exists():
        pytest.skip("no shipped classifier with its training index in this copy")
    clf = load_classifier()
    photo = (isic_sample / "images" / "ISIC_0028518.jpg").read_bytes()  # in the shipped model's training split
    by_id = predict_upload(clf, photo, "ISIC_0028518.jpg", heatmap=False)
    by_pixels = predict_upload(clf, photo, "IMG_2041.jpg", heatmap=False)
    assert (by_id.seen.how, by_pixels.seen.how) == ("id", "pixels") and by_pixels.seen.isic_id == "ISIC_0028518"
    test_id = pd.read_csv(SHIPPED_DIR / "predictions.csv").query("split == 'test'")["isic_id"].iloc[0]
    assert predict_upload(clf, (isic_sample / "images" / f"{test_id}.jpg").read_bytes(), "x.jpg",
                          heatmap=False).seen is None  # a held-out test photo is a fair test
    gray = Image.open(io.BytesIO(photo)).convert("L").convert("RGB")
    flagged = predict_upload(clf, png(np.asarray(gray)), "gray.png", heatmap=False)
    assert flagged.ood.grayscale and flagged.threshold_side is None


def test_predict_upload_checks_for_a_lesion_once_and_keeps_the_mask(model_dir, monkeypatch):
    """The shipped segmenter runs once per upload: its mask feeds the dermoscopy check and is kept for the
    page's outline; plain skin gets "no lesion found", no side of the threshold and `lesion_found` false."""
    import skinml.predict as predict_module
    from skinml.ood.detector import NO_LESION
    from skinml.segment.predict import shipped_installed

    if not shipped_installed():
        pytest.skip("no shipped segmenter (skinml/assets/segmenter)")
    calls = []
    real = predict_module.shipped_mask
    monkeypatch.setattr(predict_module, "shipped_mask", lambda photo: calls.append(1) or real(photo))
    rng = np.random.default_rng(0)
    skin = np.clip(np.array([214, 160, 135]) + rng.normal(0, 4, (240, 320, 3)), 0, 255).astype(np.uint8)
    result = predict_upload(load_classifier(model_dir), png(skin), "skin.png")
    assert calls == [1] and result.mask.shape == (240, 320) and not result.mask.any()
    assert result.ood.fired and NO_LESION in result.warnings and result.threshold_side is None
    assert result.to_dict()["lesion_found"] is False and result.to_dict()["looks_like_dermoscopy"] is False
