"""Pages 4 (Inside the CNN), 5 (Convolution) and 6 (Try a lesion photo) under AppTest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

streamlit_testing = pytest.importorskip("streamlit.testing.v1")
AppTest = streamlit_testing.AppTest

PAGES = Path(__file__).resolve().parents[1] / "app_pages"


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
    blocks = at.selectbox(key="cnn_block_the network")
    assert blocks.value == "stem" and "stage 1 · block 1" in blocks.options  # grouped by block
    layers = at.select_slider(key="cnn_layer_the network_stem")
    assert layers.value == "stem_conv"  # the first convolution, not the input's rescaling
    blocks.set_value("stage 1 · block 1").run()
    layers = at.select_slider(key="cnn_layer_the network_stage 1 · block 1")
    layers.set_value(layers.options[2]).run()
    at.slider(key="cnn_channel").set_value(3).run()
    target = next(r for r in at.radio if r.key.startswith("cnn_target"))
    assert "where the probability points" in target.format_func(target.options[0])
    target.set_value(target.options[1]).run()
    at.button(key="cnn_play").click().run()
    assert not at.exception
    assert any("Grad-CAM" in s.value for s in at.subheader)


@pytest.mark.slow
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
    networks = at.selectbox(key="cnn_network").options
    assert networks == [f"network {k}" for k in range(1, members + 1)] + ["joined features"]
    assert at.select_slider(key="cnn_layer_network 1_stem").value == "member1_stem_conv"


def test_convolution_page():
    at = run_page("5_Convolution.py")
    assert any("output side" in formula.value for formula in at.latex)
    at.slider(key="conv_stride").set_value(2).run()
    at.slider(key="conv_padding").set_value(0).run()
    at.select_slider(key="conv_n").set_value(32).run()
    assert any("= 15" in formula.value for formula in at.latex)  # (32 + 0 - 3) // 2 + 1
    at.selectbox(key="conv_kernel").set_value("your own numbers").run()
    assert not at.exception, [e.value for e in at.exception]


def test_convolutions_caption_follows_the_numbers():
    at = run_page("5_Convolution.py")
    at.select_slider(key="conv_n").set_value(16).run()
    at.slider(key="conv_stride").set_value(4).run()
    at.slider(key="conv_padding").set_value(0).run()
    assert any("= 15" in formula.value for formula in at.latex)  # (4 - 1) * 4 - 0 + 3: one pixel short
    caption = next(c.value for c in at.caption if "transposed convolution" in c.value)
    assert "gives 15 px, not 16" in caption and "restores the size" not in caption
    at.slider(key="conv_stride").set_value(1).run()
    assert "16 px again" in next(c.value for c in at.caption if "transposed convolution" in c.value)


def test_try_a_lesion_photo_page(with_model):
    at = run_page("6_Try_a_lesion_photo.py")
    at.radio(key="try_image_source").set_value("Example").run()
    labels = [m.label for m in at.metric]
    assert "Probability of malignancy" in labels and "Model threshold" in labels
    assert at.metric[labels.index("Model threshold")].value == "45%"  # 0.45, rounded for people
    assert any("85%" in i.value and "60%" in i.value for i in at.info)
    assert any("not a confidence interval" in c.value for c in at.caption)  # what the spread is not
    target = next(r for r in at.radio if r.key.startswith("try_target"))
    target.set_value(target.options[1]).run()
    at.slider(key="try_alpha").set_value(0.8).run()
    assert not at.exception


def png(array) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def saved_model(folder, bias: float = 0.0, spread: float = 0.0):
    """A tiny classifier folder whose logit layer has weights N(0, spread) and the given bias."""
    import keras
    import numpy as np

    from skinml.cnn.classifier import save_classifier
    from skinml.cnn.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model("skinml_resnet", image_size=48, widths=(8, 16))
    model.get_layer("logit").set_weights([np.random.default_rng(0).normal(0, spread, (16, 1)), np.full(1, bias)])
    info = {"name": "skinml_resnet", "image_size": 48, "resize": "squash", "threshold": 0.5, "version": "t"}
    return save_classifier(folder, model, info, {"test": {"n": 40, "sensitivity": 0.8, "specificity": 0.7}})


def image_captions(at) -> list[str]:
    return [c for image in at.get("image") for c in image.captions]


def test_try_page_opens_on_the_uploader_and_each_photo_gets_its_own_heatmap_class(monkeypatch, tmp_path):
    import numpy as np
    from PIL import Image

    from skinml.cnn.classifier import load_classifier
    from skinml.data.synthetic import make_lesion
    from skinml.predict import predict_upload

    folder = saved_model(tmp_path / "sharp", spread=40.0)  # different photos, clearly different answers
    monkeypatch.setenv("SKINML_MODEL", str(folder))
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path / "no-runs"))
    clf = load_classifier(folder)
    photos = [png(make_lesion(m, 200, seed=s)) for s in range(8) for m in (True, False)]
    sides = [predict_upload(clf, photo, heatmap=False).threshold_side for photo in photos]
    above, below = photos[sides.index("above threshold")], photos[sides.index("below threshold")]

    at = run_page("6_Try_a_lesion_photo.py")
    assert at.radio(key="try_image_source").value == "Upload a photo" and not at.metric  # opens on the uploader
    for name, photo, heatmap_class in (("first.png", above, "malignant"), ("second.png", below, "benign")):
        at.file_uploader(key="try_image_upload").set_value((name, photo, "image/png")).run()
        assert not at.exception, [e.value for e in at.exception]
        target = next(r for r in at.radio if r.key.startswith("try_target"))
        assert target.value == heatmap_class
        assert any(f"for the {heatmap_class} score" in c for c in image_captions(at))

    gray = np.asarray(Image.open(__import__("io").BytesIO(above)).convert("L").convert("RGB"))
    at.file_uploader(key="try_image_upload").set_value(("gray.png", png(gray), "image/png")).run()
    assert any("no colour" in e.value for e in at.error)
    assert not any("threshold**" in m.value for m in at.markdown)  # a photo that is not dermoscopy: no side


def test_try_page_rounds_extreme_probabilities_and_names_a_training_photo(monkeypatch, tmp_path):
    import pandas as pd

    from skinml.cnn.seen import write_index
    from skinml.data.synthetic import make_lesion

    folder = saved_model(tmp_path / "sure", bias=-60.0)  # p(malignant) about 1e-26 on every photo
    photo = tmp_path / "ISIC_0000009.png"
    photo.write_bytes(png(make_lesion(True, 200, seed=3)))
    write_index(folder, pd.DataFrame({"isic_id": ["ISIC_0000009"], "split": ["train"], "image_path": [str(photo)]}))
    monkeypatch.setenv("SKINML_MODEL", str(folder))
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path / "no-runs"))
    at = run_page("6_Try_a_lesion_photo.py")
    at.file_uploader(key="try_image_upload").set_value(("lesion.png", photo.read_bytes(), "image/png")).run()
    shown = {m.label: m.value for m in at.metric}
    assert shown["Probability of malignancy"] == "below 1%" and shown["Spread (8 flips and turns)"] == "under 1 point"
    assert any("trained on this photo" in w.value for w in at.warning)
    texts = [e.value for e in (*at.caption, *at.warning, *at.markdown)]
    assert sum("not a medical device" in t.lower() for t in texts) == 1  # the disclaimer, once


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
    at.file_uploader(key="try_image_upload").set_value((name, buf.getvalue(), "image/png")).run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [i.caption for element in at.get("image") for i in element.proto.imgs]
    shown = next(c for c in captions if "evil" in c)
    assert re.sub(r"\\(.)", r"\1", shown).replace("\u2060", "") == name  # the name as written (no autolink)
    html = MarkdownIt("commonmark").render(shown)
    assert "<img" not in html and "<a " not in html and "<b>" not in html


def test_the_html_summary_escapes_the_file_name_and_warnings():
    import numpy as np

    from skinml.ood.detector import OODResult
    from skinml.predict import PredictionResult, build_summary_html

    pixels = np.zeros((8, 8, 3), np.uint8)
    result = PredictionResult(name='<img src="http://evil.example/x.png"><script>alert(1)</script>', image=pixels,
                              model_input=pixels, p_malignant=0.3, views=np.array([0.3]), threshold=0.5,
                              threshold_side="below threshold", heatmap_class="benign",
                              ood=OODResult(score=1.0, threshold=3.0, fired=False),
                              warnings=["<b>bold</b>"])
    html = build_summary_html(result)
    assert "<script>" not in html and '<img src="http://evil' not in html and "<b>bold" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;bold" in html


@pytest.fixture(scope="module")
def clinic_dir(tmp_path_factory):
    """A small isic-cli folder of lesion-like photos from a (made-up) clinic: not skinml's synthetic demo."""
    from PIL import Image

    from skinml.data.synthetic import make_lesion

    root = tmp_path_factory.mktemp("clinic-photos")
    (root / "images").mkdir()
    rows = ["isic_id,benign_malignant,diagnosis,image_type,attribution"]
    for i in range(12):
        malignant = i % 2 == 1
        Image.fromarray(make_lesion(malignant, 160, seed=40 + i)).save(root / "images" / f"ISIC_00001{i:02d}.jpg")
        rows.append(f"ISIC_00001{i:02d},{'malignant' if malignant else 'benign'},,dermoscopic,Test clinic")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root


def test_one_dataset_for_the_whole_session(with_model, clinic_dir):
    at = AppTest.from_file(str(PAGES.parent / "streamlit_app.py"), default_timeout=180)
    at.session_state["data_dir"] = str(clinic_dir)  # as Home or Data set it
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [re.sub(r"\\(.)", r"\1", c.value) for c in at.sidebar.caption]  # plain() escapes punctuation
    assert any(clinic_dir.name in c for c in shown)  # (AppTest drops it after switch_page)

    at.switch_page("app_pages/6_Try_a_lesion_photo.py").run()
    at.radio(key="try_image_source").set_value("Example").run()
    assert any(clinic_dir.name in option for option in at.selectbox(key="try_image_example").options)
    at.switch_page("app_pages/4_Inside_the_CNN.py").run()
    assert any(clinic_dir.name in option for option in at.selectbox(key="cnn_image_example").options)
    at.switch_page("app_pages/7_Train_GAN.py").run()
    assert at.text_input(key="gan_data").value == str(clinic_dir)
    at.switch_page("app_pages/9_GAN_realism.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(str(clinic_dir) in re.sub(r"\\(.)", r"\1", c.value) for c in at.caption)


# ---------------------------------------------------------------- explanations you can trust (pages 4 and 6)

def upload(at, name: str, malignant: bool, seed: int) -> None:
    """Upload a drawn lesion on the clinician's page and rerun it."""
    from skinml.data.synthetic import make_lesion

    at.file_uploader(key="try_image_upload").set_value((name, png(make_lesion(malignant, 200, seed=seed)), "image/png"))
    at.run()


def measured_folder(folder, best: str = "occlusion"):
    """A tiny classifier folder with the shipped model's `explanations.json`, altered so that `best`
    points inside the lesion most often."""
    import json

    from skinml.cnn.classifier import SHIPPED_DIR

    folder = saved_model(folder, spread=5.0)
    report = json.loads((SHIPPED_DIR / "explanations.json").read_text())
    report["methods"][best]["pointing_game"].update(mean=0.97, low=0.93, high=0.99)
    (folder / "explanations.json").write_text(json.dumps(report))
    return folder


@pytest.fixture(scope="module")
def measured_model(tmp_path_factory):
    return measured_folder(tmp_path_factory.mktemp("measured") / "model")


def use_model(monkeypatch, tmp_path, folder):
    monkeypatch.setenv("SKINML_MODEL", str(folder))
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path / "no-runs"))


def test_inside_the_cnn_shows_four_methods_their_measures_and_the_randomisation_check(
        measured_model, monkeypatch, tmp_path):
    use_model(monkeypatch, tmp_path, measured_model)
    at = run_page("4_Inside_the_CNN.py")
    captions = image_captions(at)
    for label in ("Grad-CAM", "HiResCAM, earlier layer", "occlusion", "integrated gradients"):
        assert any(c.startswith(f"{label}, ") for c in captions), (label, captions)
    assert any("No lesion outline" in c.value for c in at.caption)  # a drawn example has no mask
    table = at.table[0].value  # a table, not a grid: it wraps, so its last column is never cut off (#23)
    assert "occlusion" in table.index and "centre baseline (no model)" in table.index
    assert any("Best by the pointing game: **occlusion**" in c.value for c in at.caption)
    assert at.get("plotly_chart"), "the deletion curve"
    at.radio(key="cnn_curve").set_value("insertion").run()
    assert "Insertion curves" in at.get("plotly_chart")[0].proto.spec

    at.toggle(key="cnn_rand_run").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    step = at.select_slider(key="cnn_rand_step")
    assert len(step.options) > 2 and "logit" in step.format_func(1)  # the output layer first
    step.set_value(len(step.options) - 1).run()
    assert any("Rank correlation with the trained map" in c.value for c in at.caption)
    assert any("re-initialised down to stem" in c for c in image_captions(at))


def test_inside_the_cnn_without_measures_says_how_to_compute_them(with_model):
    at = run_page("4_Inside_the_CNN.py")
    assert any("python -m skinml explain-eval" in i.value for i in at.info)
    assert not at.table


def test_a_second_visit_reuses_the_expensive_maps(monkeypatch, tmp_path):
    import skinml.explain.trust as trust

    calls = []
    real = trust.method_maps
    monkeypatch.setattr(trust, "method_maps", lambda *a, **k: calls.append(a[3]) or real(*a, **k))
    use_model(monkeypatch, tmp_path, measured_folder(tmp_path / "fresh"))  # a new path: nothing cached yet
    run_page("4_Inside_the_CNN.py")
    first = len(calls)
    assert first >= 4  # one call per method, occlusion included
    run_page("4_Inside_the_CNN.py")
    assert len(calls) == first


@pytest.fixture(scope="module")
def masked_dataset(tmp_path_factory):
    """An isic-cli folder of four lesion photos and, beside it, `<name>-segmentations` with a mask
    for the first image only."""
    from PIL import Image

    from skinml.data.synthetic import make_lesion

    base = tmp_path_factory.mktemp("masked")
    root, masks = base / "lesions", base / "lesions-segmentations"
    (root / "images").mkdir(parents=True)
    masks.mkdir()
    rows = ["isic_id,benign_malignant,diagnosis,image_type"]
    for i in range(4):
        Image.fromarray(make_lesion(i % 2 == 1, 160, seed=60 + i)).save(root / "images" / f"ISIC_00002{i:02d}.jpg")
        rows.append(f"ISIC_00002{i:02d},{'malignant' if i % 2 else 'benign'},,dermoscopic")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    import numpy as np

    mask = np.zeros((160, 160), np.uint8)
    mask[40:120, 40:120] = 255
    Image.fromarray(mask).save(masks / "ISIC_0000200_segmentation.png")
    return root


def test_the_lesion_outline_is_drawn_where_the_image_has_a_mask(with_model, masked_dataset):
    at = AppTest.from_file(str(PAGES / "4_Inside_the_CNN.py"), default_timeout=90)
    at.session_state["data_dir"] = str(masked_dataset)
    at.run()
    at.radio(key="cnn_image_source").set_value("Dataset").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Green line" in c.value and "ISIC_0000200" in c.value for c in at.caption)
    at.selectbox(key="cnn_image_dataset").set_value(1).run()
    assert any("no lesion outline" in c.value.lower() and "ISIC_0000201" in c.value for c in at.caption)


def test_the_outline_marks_the_masks_border_only():
    import numpy as np

    from skinml.app.explain_ui import outline

    image = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    drawn = outline(image, mask)
    green = (drawn == (0, 255, 0)).all(axis=-1)
    assert green.sum() == 12 and not green[3:5, 3:5].any() and green[2, 2]
    assert outline(image, None) is image


def test_try_page_uses_the_method_measured_best_and_says_how_far_to_trust_it(measured_model, monkeypatch, tmp_path):

    use_model(monkeypatch, tmp_path, measured_model)
    at = run_page("6_Try_a_lesion_photo.py")
    upload(at, "a.png", True, 2)
    assert not at.exception, [e.value for e in at.exception]
    assert any("Where the model looked (occlusion)" in s.value for s in at.subheader)
    assert any(c.startswith("occlusion for the ") for c in image_captions(at))
    assert any("fell inside the lesion on 97%" in c.value for c in at.caption)


def test_try_page_falls_back_to_grad_cam_without_measures(with_model):

    at = run_page("6_Try_a_lesion_photo.py")
    upload(at, "b.png", False, 2)
    assert any("Where the model looked (Grad-CAM)" in s.value for s in at.subheader)
    assert any("have not been measured" in c.value for c in at.caption)


# ---------------------------------------------------------------- diagnosis models (pages 4 and 6)

def diagnosis_folder(folder, name: str = "skinml_resnet"):
    import keras

    from skinml.cnn.classifier import save_classifier
    from skinml.cnn.models import build_model
    from skinml.data.diagnoses import DIAGNOSIS_CLASSES, MALIGNANT_DIAGNOSES

    keras.utils.set_random_seed(3)
    info = {"task": "diagnosis", "image_size": 32, "classes": list(DIAGNOSIS_CLASSES),
            "malignant_classes": list(MALIGNANT_DIAGNOSES), "version": "dx-test", "name": name}
    metrics = {"test": {"n": 70, "balanced_accuracy": 0.41}}
    return save_classifier(folder, build_model(name, image_size=32, classes=7), info, metrics)


@pytest.fixture(scope="module")
def dx_model(tmp_path_factory):
    return diagnosis_folder(tmp_path_factory.mktemp("dx") / "model")


@pytest.fixture(scope="module")
def dx_meta_model(tmp_path_factory):
    return diagnosis_folder(tmp_path_factory.mktemp("dxmeta") / "model", "skinml_resnet_meta")


def test_pickers_offer_the_models_of_one_task(with_model, dx_model, monkeypatch):
    from skinml.app import classifiers

    monkeypatch.setattr(classifiers, "DIAGNOSIS_DIR", dx_model)
    assert classifiers.SHIPPED_DIAGNOSIS in classifiers.model_options()
    assert list(classifiers.model_options(task="diagnosis")) == [classifiers.SHIPPED_DIAGNOSIS]
    assert classifiers.SHIPPED_DIAGNOSIS not in classifiers.model_options(task="binary")


def chart_spec(at) -> str:
    return at.get("plotly_chart")[0].proto.spec


def test_try_page_ranks_a_diagnosis_models_answers_beside_the_binary_one(with_model, dx_model, monkeypatch):
    import json

    from skinml.app import classifiers

    monkeypatch.setattr(classifiers, "DIAGNOSIS_DIR", dx_model)
    at = run_page("6_Try_a_lesion_photo.py")
    assert at.selectbox(key="try_diagnosis_model").value == classifiers.SHIPPED_DIAGNOSIS
    upload(at, "c.png", True, 4)
    assert not at.exception, [e.value for e in at.exception]
    assert any("Diagnoses" in s.value for s in at.subheader)
    bars = json.loads(chart_spec(at))["data"][0]
    assert len(bars["y"]) == 7 and "melanoma" in bars["y"]
    assert bars["x"] == sorted(bars["x"])  # most probable on top
    assert all(t.endswith("%") for t in bars["text"])  # whole percents, via format_probability
    shown = {m.label: m.value for m in at.metric}
    assert shown["p(malignant), the binary model"] == shown["Probability of malignancy"]
    assert shown["p(malignant), the diagnosis model"].endswith("%")
    assert any("The diagnosis model (skinml_resnet) reads the image alone." in c.value for c in at.caption)
    assert any("41%" in i.value and "not a diagnosis" in i.value for i in at.info)
    texts = [e.value for e in (*at.caption, *at.warning, *at.markdown, *at.info)]
    assert sum("not a medical device" in t.lower() for t in texts) == 1

    before = chart_spec(at)
    at.number_input(key="try_patient_age").set_value(80).run()
    at.selectbox(key="try_patient_site").set_value("head/neck").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("reads the image alone: the age, sex and site given did not change its answer" in w.value
               for w in at.warning)
    assert chart_spec(at) == before  # an image-only model: the same answer


def test_age_sex_and_site_move_only_a_model_trained_with_them(with_model, dx_meta_model, monkeypatch):
    from skinml.app import classifiers

    monkeypatch.setattr(classifiers, "DIAGNOSIS_DIR", dx_meta_model)
    at = run_page("6_Try_a_lesion_photo.py")
    upload(at, "d.png", True, 5)
    assert any("reads the patient's age, sex and site" in c.value for c in at.caption)
    before = chart_spec(at)
    at.number_input(key="try_patient_age").set_value(85).run()
    at.selectbox(key="try_patient_sex").set_value("male").run()
    assert not at.exception, [e.value for e in at.exception]
    assert chart_spec(at) != before


def test_try_page_without_a_diagnosis_model_shows_none(with_model, monkeypatch, tmp_path):
    from skinml.app import classifiers

    monkeypatch.setattr(classifiers, "DIAGNOSIS_DIR", tmp_path / "absent")
    at = run_page("6_Try_a_lesion_photo.py")
    upload(at, "e.png", True, 6)
    assert not any("Diagnoses" in s.value for s in at.subheader) and not at.get("plotly_chart")


def test_inside_the_cnn_explains_any_class_of_a_diagnosis_model(dx_model, monkeypatch, tmp_path):
    use_model(monkeypatch, tmp_path, dx_model)
    at = run_page("4_Inside_the_CNN.py")
    assert any("A diagnosis model" in c.value for c in at.caption)
    target = next(s for s in at.selectbox if s.key.startswith("cnn_target"))
    assert len(target.options) == 7 and "where the probability points" in target.format_func(target.options[0])
    target.set_value("df").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("for the dermatofibroma score" in c for c in image_captions(at))
    assert any(c.startswith("occlusion, dermatofibroma") for c in image_captions(at))


def test_inside_the_cnn_with_a_model_that_reads_metadata(dx_meta_model, monkeypatch, tmp_path):
    use_model(monkeypatch, tmp_path, dx_meta_model)
    at = run_page("4_Inside_the_CNN.py")
    assert at.selectbox(key="cnn_block_the network")  # its feature maps
    assert any("reads the patient's age, sex and site" in i.value for i in at.info)


def test_a_ham10000_image_shows_its_dermatologists_outline(with_model):
    from conftest import SHARED_DATA

    ham = SHARED_DATA / "ham10000"
    if not (ham / "HAM10000_metadata.csv").exists() or not (SHARED_DATA / "ham10000-segmentations").is_dir():
        pytest.skip("real data (../shared/data/ham10000 and its segmentations) is not on this machine")
    at = AppTest.from_file(str(PAGES / "4_Inside_the_CNN.py"), default_timeout=180)
    at.session_state["data_dir"] = str(ham)
    at.run()
    at.radio(key="cnn_image_source").set_value("Dataset").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Green line" in c.value for c in at.caption)


def test_try_page_says_which_case_of_patient_data_applies_and_what_it_costs(with_model, dx_meta_model, monkeypatch,
                                                                           tmp_path):
    import shutil

    from skinml import ASSETS
    from skinml.app import classifiers

    folder = shutil.copytree(dx_meta_model, tmp_path / "dx")
    shutil.copy(ASSETS / "diagnosis" / "patient_data.json", folder)
    monkeypatch.setattr(classifiers, "DIAGNOSIS_DIR", folder)
    at = run_page("6_Try_a_lesion_photo.py")
    upload(at, "f.png", True, 7)
    assert any("No patient data given" in w.value and "balanced accuracy" in w.value for w in at.warning)
    at.number_input(key="try_patient_age").set_value(60).run()
    assert any("Only age given (sex and site unknown)" in i.value for i in at.info)
    at.selectbox(key="try_patient_sex").set_value("female").run()
    at.selectbox(key="try_patient_site").set_value("head/neck").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Age, sex and site given" in i.value for i in at.info)


def test_inside_the_cnn_shows_the_bias_test_and_this_images_three_versions(tiny_model, masked_dataset, monkeypatch,
                                                                           tmp_path):
    import shutil

    from skinml.cnn.classifier import SHIPPED_DIR

    folder = shutil.copytree(tiny_model, tmp_path / "model")
    shutil.copy(SHIPPED_DIR / "bias.json", folder)
    use_model(monkeypatch, tmp_path, folder)
    at = AppTest.from_file(str(PAGES / "4_Inside_the_CNN.py"), default_timeout=90)
    at.session_state["data_dir"] = str(masked_dataset)
    at.run()
    at.radio(key="cnn_image_source").set_value("Dataset").run()  # ISIC_0000200 has an outline
    assert not at.exception, [e.value for e in at.exception]
    assert any("bias test" in s.value for s in at.subheader)
    assert any("with the lesion removed" in m.value and "resampled by lesion" in m.value for m in at.markdown)
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("lesion removed (filled from the skin)" in s and "chance" in s for s in specs)
    assert any("p(malignant) on each version" in c.value for c in at.caption)


@pytest.mark.slow
def test_inside_the_cnn_shows_the_bias_test_of_a_model_that_reads_patient_data(dx_meta_model, monkeypatch, tmp_path):
    import shutil

    from skinml import ASSETS

    folder = shutil.copytree(dx_meta_model, tmp_path / "dx")
    shutil.copy(ASSETS / "diagnosis" / "bias.json", folder)
    use_model(monkeypatch, tmp_path, folder)
    at = run_page("4_Inside_the_CNN.py")
    assert any("reads the patient's age, sex and site" in i.value for i in at.info)
    assert any("bias test" in s.value for s in at.subheader)
    assert any("Measured with the patients' age, sex and site" in c.value for c in at.caption)
