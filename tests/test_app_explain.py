"""Pages 4 (Inside the CNN), 5 (Convolution) and 6 (Try a lesion photo) under AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest

streamlit_testing = pytest.importorskip("streamlit.testing.v1")
AppTest = streamlit_testing.AppTest

PAGES = Path(__file__).resolve().parents[1] / "pages"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny untrained classifier folder with test-split figures, offered through SKINML_MODEL."""
    import keras

    from skinml.cnn.classifier import save_classifier
    from skinml.cnn.models import build_model

    keras.utils.set_random_seed(0)
    info = {"name": "skinml_resnet", "image_size": 48, "resize": "squash", "threshold": 0.45, "version": "tiny"}
    metrics = {"test": {"n": 40, "sensitivity": 0.85, "specificity": 0.6}}
    return save_classifier(tmp_path_factory.mktemp("app") / "model",
                           build_model("skinml_resnet", image_size=48, widths=(8, 16)), info, metrics)


@pytest.fixture
def with_model(tiny_model, monkeypatch, tmp_path):
    monkeypatch.setenv("SKINML_MODEL", str(tiny_model))
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path / "no-runs"))
    return tiny_model


def run_page(name: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=90)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_inside_the_cnn_page(with_model):
    at = run_page("4_Inside_the_CNN.py")
    assert "SKINML_MODEL" in at.selectbox(key="cnn_model").value
    layers = at.select_slider(key="cnn_layer")
    at.select_slider(key="cnn_layer").set_value(layers.options[2]).run()
    at.slider(key="cnn_channel").set_value(3).run()
    chosen, other = at.radio(key="cnn_target").options
    assert "the side the model chose" in chosen
    at.radio(key="cnn_target").set_value(other.split()[0]).run()
    at.button(key="cnn_play").click().run()
    assert not at.exception
    assert any("Grad-CAM" in s.value for s in at.subheader)


def test_inside_the_cnn_with_an_untrained_architecture(monkeypatch, tmp_path):
    monkeypatch.delenv("SKINML_MODEL", raising=False)
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path))
    at = AppTest.from_file(str(PAGES / "4_Inside_the_CNN.py"), default_timeout=90)
    at.run()
    options = at.selectbox(key="cnn_model").options
    at.selectbox(key="cnn_model").set_value(next(o for o in options if "thesis_base" in o)).run()
    assert not at.exception, [e.value for e in at.exception]


def test_inside_the_cnn_says_the_shipped_model_is_an_ensemble(monkeypatch, tmp_path):
    from skinml.cnn.classifier import SHIPPED_DIR, load_classifier
    from skinml.cnn.ensemble import ensemble_size

    if not (SHIPPED_DIR / "model.keras").exists():
        pytest.skip("no shipped classifier in this copy")
    members = ensemble_size(load_classifier().model)
    assert members >= 2, "the shipped classifier is an ensemble (its model card says so)"
    monkeypatch.delenv("SKINML_MODEL", raising=False)
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path))
    at = run_page("4_Inside_the_CNN.py")
    assert at.selectbox(key="cnn_model").value == "shipped model"
    assert any(f"an ensemble of {members} networks" in c.value for c in at.caption)


def test_convolution_page():
    at = run_page("5_Convolution.py")
    assert any("output side" in formula.value for formula in at.latex)
    at.slider(key="conv_stride").set_value(2).run()
    at.slider(key="conv_padding").set_value(0).run()
    at.select_slider(key="conv_n").set_value(32).run()
    assert any("= 15" in formula.value for formula in at.latex)  # (32 + 0 - 3) // 2 + 1
    at.selectbox(key="conv_kernel").set_value("your own numbers").run()
    assert not at.exception, [e.value for e in at.exception]


def test_try_a_lesion_photo_page(with_model):
    at = run_page("6_Try_a_lesion_photo.py")
    labels = [m.label for m in at.metric]
    assert "Probability of malignancy" in labels and "Model threshold" in labels
    assert at.metric[labels.index("Model threshold")].value == "45%"  # 0.45, rounded for people
    assert any("Not a medical device" in w.value for w in at.warning)
    assert any("85%" in m.value and "60%" in m.value for m in at.markdown)
    at.radio(key="try_target").set_value(at.radio(key="try_target").options[1].split()[0]).run()
    at.slider(key="try_alpha").set_value(0.8).run()
    assert not at.exception


def test_try_page_without_any_model(monkeypatch, tmp_path):
    from skinml.app import classifiers

    monkeypatch.delenv("SKINML_MODEL", raising=False)
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path))
    monkeypatch.setattr(classifiers, "SHIPPED_DIR", tmp_path / "none")
    at = run_page("6_Try_a_lesion_photo.py")
    assert any("No trained model" in i.value for i in at.info)


def test_convolution_on_a_dataset_image(demo_dir, monkeypatch):
    monkeypatch.setenv("SKINML_DATA", str(demo_dir))
    at = run_page("5_Convolution.py")
    at.radio(key="conv_image_source").set_value("Dataset").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="conv_image_dataset").value == 0
    assert len(at.latex) == 2


def test_an_uploads_file_name_is_shown_as_text(with_model):
    """An upload's file name was rendered as Markdown in its caption."""
    import io
    import re

    from markdown_it import MarkdownIt
    from PIL import Image

    from skinml.data.synthetic import make_lesion

    name = "![x](http://evil.example/p.png) <b>lesion</b>.png"
    buf = io.BytesIO()
    Image.fromarray(make_lesion(True, 200, seed=3)).save(buf, "PNG")
    at = run_page("6_Try_a_lesion_photo.py")
    at.radio(key="try_image_source").set_value("Upload a file").run()
    at.file_uploader(key="try_image_upload").set_value((name, buf.getvalue(), "image/png")).run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [i.caption for element in at.get("image") for i in element.proto.imgs]
    shown = next(c for c in captions if "evil" in c)
    assert re.sub(r"\\(.)", r"\1", shown) == name  # the name as written
    html = MarkdownIt("commonmark").render(shown)
    assert "<img" not in html and "<a " not in html and "<b>" not in html


def test_the_html_summary_escapes_the_file_name_and_warnings():
    import numpy as np

    from skinml.ood.detector import OODResult
    from skinml.predict import PredictionResult, build_summary_html

    pixels = np.zeros((8, 8, 3), np.uint8)
    result = PredictionResult(name='<img src="http://evil.example/x.png"><script>alert(1)</script>', image=pixels,
                              model_input=pixels, p_malignant=0.3, views=np.array([0.3]), threshold=0.5,
                              label="benign", ood=OODResult(score=1.0, threshold=3.0, fired=False),
                              warnings=["<b>bold</b>"])
    html = build_summary_html(result)
    assert "<script>" not in html and '<img src="http://evil' not in html and "<b>bold" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;bold" in html
