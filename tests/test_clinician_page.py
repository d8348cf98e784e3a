"""The clinician's page tells one story: the dermoscopy check, the two models, the patient's data, the heatmap."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

streamlit_testing = pytest.importorskip("streamlit.testing.v1")
AppTest = streamlit_testing.AppTest

PAGE = Path(__file__).resolve().parents[1] / "app_pages" / "6_Try_a_lesion_photo.py"
ANYWAY = "The models' numbers anyway (they mean little here)"


def png(array: np.ndarray, kind: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, kind)
    return buf.getvalue()


def lesion(malignant: bool = True, seed: int = 2) -> bytes:
    from skinml.data.synthetic import make_lesion

    return png(make_lesion(malignant, 200, seed=seed))


def binary_folder(folder: Path, bias: float = 0.0, spread: float = 5.0, best: str | None = None) -> Path:
    """A tiny binary classifier folder (logit weights N(0, spread), the given bias); with `best`, an
    `explanations.json` in which that method pointed inside the lesion most often."""
    import keras

    from skinml.cnn.classifier import SHIPPED_DIR, save_classifier
    from skinml.cnn.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model("skinml_resnet", image_size=48, widths=(8, 16))
    model.get_layer("logit").set_weights([np.random.default_rng(0).normal(0, spread, (16, 1)), np.full(1, bias)])
    info = {"name": "skinml_resnet", "image_size": 48, "resize": "squash", "threshold": 0.45, "version": "t"}
    folder = save_classifier(folder, model, info, {"test": {"n": 40, "sensitivity": 0.8, "specificity": 0.7}})
    if best:
        report = json.loads((SHIPPED_DIR / "explanations.json").read_text())
        report["methods"][best]["pointing_game"].update(mean=0.97, low=0.93, high=0.99)
        (folder / "explanations.json").write_text(json.dumps(report))
    return folder


def diagnosis_folder(folder: Path, name: str = "skinml_resnet", favour: str | None = None) -> Path:
    """A tiny seven-diagnosis model folder; `favour` (a class code) gets a large output bias."""
    import keras

    from skinml.cnn.classifier import save_classifier
    from skinml.cnn.models import build_model
    from skinml.data.diagnoses import DIAGNOSIS_CLASSES, MALIGNANT_DIAGNOSES

    keras.utils.set_random_seed(3)
    model = build_model(name, image_size=32, classes=7)
    if favour:
        layer = next(layer for layer in reversed(model.layers) if len(layer.get_weights()) == 2)
        kernel, bias = layer.get_weights()
        bias[list(DIAGNOSIS_CLASSES).index(favour)] += 20.0
        layer.set_weights([kernel * 0, bias])
    info = {"task": "diagnosis", "image_size": 32, "classes": list(DIAGNOSIS_CLASSES),
            "malignant_classes": list(MALIGNANT_DIAGNOSES), "version": "dx-test", "name": name}
    return save_classifier(folder, model, info, {"test": {"n": 70, "balanced_accuracy": 0.41}})


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("clinician")
    return {"binary": binary_folder(root / "binary"),
            "sure_benign": binary_folder(root / "sure_benign", bias=-60.0, spread=0.0),
            "measured_ig": binary_folder(root / "measured_ig", best="integrated_gradients"),
            "dx": diagnosis_folder(root / "dx"),
            "dx_melanoma": diagnosis_folder(root / "dx_mel", favour="mel"),
            "dx_meta": diagnosis_folder(root / "dx_meta", "skinml_resnet_meta")}


def page(monkeypatch, tmp_path, binary: Path, diagnosis: Path | None) -> AppTest:
    from skinml.app import classifiers

    monkeypatch.setenv("SKINML_MODEL", str(binary))
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path / "no-runs"))
    monkeypatch.setattr(classifiers, "DIAGNOSIS_DIR", diagnosis or tmp_path / "absent")
    at = AppTest.from_file(str(PAGE), default_timeout=90)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def send(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="try_image_upload").set_value((name, data, "image/png")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_photo_that_is_not_dermoscopy_shows_neither_models_number_prominently_nor_a_heatmap(
        models, monkeypatch, tmp_path):
    """A plain blue JPEG: both models' figures are inside one expander, the text outside it gives no
    percentage, no heatmap is drawn, and neither downloaded summary leads with a number."""
    from skinml.cnn.classifier import load_classifier
    from skinml.predict import build_summary_html, predict_upload

    blue = png(np.tile(np.array([40, 90, 200], np.uint8), (240, 320, 1)), "JPEG")
    at = send(page(monkeypatch, tmp_path, models["binary"], models["dx"]), "blue.jpg", blue)
    assert any("does not look like a dermoscopy image" in e.value for e in at.error)
    anyway = next(e for e in at.expander if e.label == ANYWAY)
    assert at.metric and len(anyway.metric) == len(at.metric)  # every tile, both models', inside it
    assert len(anyway.get("plotly_chart")) == len(at.get("plotly_chart")) == 1  # the diagnoses' bars too
    inside = {e.value for kind in ("info", "markdown", "caption", "warning") for e in getattr(anyway, kind)}
    outside = [e.value for e in (*at.info, *at.markdown, *at.warning, *at.error) if e.value not in inside]
    assert not [t for t in outside if re.search(r"\d%", t)], outside
    assert len(at.get("image")) == 1 and not any(r.key.startswith("try_target") for r in at.radio)  # the photo only
    assert any("No heatmap is drawn" in i.value for i in at.info)

    for folder in (models["binary"], models["dx"]):
        result = predict_upload(load_classifier(folder), blue, "blue.jpg")
        assert result.heatmap is None
        summary = build_summary_html(result)
        assert "<b>" not in summary.split("Probability of", 1)[1][:80]  # not in bold
        assert summary.index("<h2>Warnings</h2>") < summary.index("Probability of")  # the warning first
        assert "mean little here" in summary and "heatmap</figcaption>" not in summary


def test_a_strong_disagreement_between_the_two_models_is_a_visible_warning(models, monkeypatch, tmp_path):
    from skinml.cnn.classifier import load_classifier
    from skinml.predict import build_summary_html, disagreement, predict_upload

    at = send(page(monkeypatch, tmp_path, models["sure_benign"], models["dx_melanoma"]), "a.png", lesion())
    warned = [w.value for w in at.warning if "The two models disagree" in w.value]
    assert len(warned) == 1 and "below 1%" in warned[0] and "melanoma" in warned[0]
    binary = predict_upload(load_classifier(models["sure_benign"]), lesion(), "a.png")
    dx = predict_upload(load_classifier(models["dx_melanoma"]), lesion(), "a.png")
    assert disagreement(binary, dx) == warned[0]
    assert warned[0] in __import__("html").unescape(build_summary_html(dx, notes=[warned[0]]))
    agreeing = predict_upload(load_classifier(models["dx"]), lesion(), "a.png")  # random weights: benign-ish
    if abs(agreeing.p_malignant - binary.p_malignant) < 0.3 and agreeing.ranked()[0]["class"] not in ("mel", "bcc",
                                                                                                      "akiec"):
        assert disagreement(binary, agreeing) is None


def test_every_sentence_about_the_patients_data_names_its_model_and_is_true(models, monkeypatch, tmp_path):
    at = send(page(monkeypatch, tmp_path, models["binary"], models["dx_meta"]), "b.png", lesion())
    assert any(e.label.startswith("About the patient (optional: the binary model does not read them; the diagnosis "
                                  "model reads them)") for e in at.expander)
    captions = [c.value for c in at.caption]
    assert any("The diagnosis model (skinml_resnet_meta) reads the patient's age, sex and site: none were given"
               in c for c in captions)
    assert not any("trained on images alone" in t.value for t in (*at.warning, *at.caption))
    at.number_input(key="try_patient_age").set_value(65).run()
    at.selectbox(key="try_patient_sex").set_value("male").run()
    at.selectbox(key="try_patient_site").set_value("lower extremity").run()
    assert not at.exception, [e.value for e in at.exception]
    texts = [t.value for t in (*at.warning, *at.caption)]
    assert any("The binary model (skinml_resnet) reads the image alone: the age, sex and site given did not change "
               "its answer." in t for t in texts)
    assert any("The diagnosis model (skinml_resnet_meta) reads the patient's age, sex and site: its answer used the "
               "age 65, sex male, site lower extremity given." in t for t in texts)
    assert not any("trained on images alone" in t or "This model" in t for t in texts)


def test_the_page_and_the_summary_draw_the_same_heatmap_method_scaled_to_show_red(models, monkeypatch, tmp_path):
    from skinml.cnn.classifier import load_classifier
    from skinml.predict import build_summary_html, predict_upload

    at = send(page(monkeypatch, tmp_path, models["measured_ig"], None), "c.png", lesion())
    assert any("Where the model looked (integrated gradients)" in s.value for s in at.subheader)
    captions = [c for image in at.get("image") for c in image.captions]
    assert any(c.startswith("integrated gradients for the ") and "red = its strongest tenth" in c for c in captions)
    result = predict_upload(load_classifier(models["measured_ig"]), lesion(), "c.png")
    assert result.heatmap_method == "integrated_gradients"
    assert ">integrated gradients for the " in build_summary_html(result) and "Grad-CAM" not in \
        build_summary_html(result).split("<h2>")[0]


def test_a_heatmap_is_scaled_so_its_strongest_tenth_is_red_and_a_flat_one_is_said_in_words():
    from skinml.explain.gradcam import colorize
    from skinml.predict import heatmap_for_display, heatmap_is_empty

    rng = np.random.default_rng(0)
    specks = np.zeros((64, 64), "float32")
    specks[rng.integers(0, 64, 20), rng.integers(0, 64, 20)] = 1.0  # integrated gradients: a few specks
    specks += rng.uniform(0, 0.02, specks.shape).astype("float32")
    shown = heatmap_for_display(specks)
    assert np.mean(shown >= 1.0) == pytest.approx(0.10, abs=0.01)  # the strongest tenth at the top
    red = colorize(shown)
    assert np.mean((red[..., 0] > 150) & (red[..., 2] < 100)) >= 0.09  # and drawn red
    assert np.mean(colorize(specks)[..., 0] > 150) < 0.02  # unscaled it was blue almost everywhere
    assert heatmap_for_display(np.full((8, 8), 0.3)) is None and heatmap_is_empty(np.full((8, 8), 0.3))
    assert not heatmap_is_empty(specks)
