"""The clinician page draws the lesion's outline and lists the ABCD measures (skinml.app.segment_ui)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

streamlit_testing = pytest.importorskip("streamlit.testing.v1")
AppTest = streamlit_testing.AppTest

PAGES = Path(__file__).resolve().parents[1] / "app_pages"


def segmenter_folder(folder: Path, bias: float) -> Path:
    """A tiny U-Net whose every pixel is lesion (bias > 0) or none is (bias < 0)."""
    from skinml.segment.unet import build_unet

    model = build_unet(32, (4, 8, 16))
    kernel, _ = model.get_layer("mask").get_weights()
    model.get_layer("mask").set_weights([np.zeros_like(kernel), np.full(1, bias, "float32")])
    folder.mkdir(parents=True)
    model.save(folder / "model.keras")
    return folder


@pytest.fixture
def page(monkeypatch, tmp_path):
    """Page 6 with a tiny untrained classifier; call it with a segmenter folder (or None for none)."""
    from test_app_explain import saved_model

    from skinml.app import segment_ui
    from skinml.segment import predict

    monkeypatch.setenv("SKINML_MODEL", str(saved_model(tmp_path / "model")))
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path / "no-runs"))

    def open_page(segmenter: Path | None) -> AppTest:
        monkeypatch.setattr(segment_ui, "SHIPPED", segmenter or tmp_path / "none")
        monkeypatch.setattr(predict, "SHIPPED", segmenter or tmp_path / "none")  # the dermoscopy check's segmenter
        at = AppTest.from_file(str(PAGES / "6_Try_a_lesion_photo.py"), default_timeout=120)
        at.run()
        at.radio(key="try_image_source").set_value("Example").run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_page


def test_outline_and_abcd_in_plain_words_with_the_teaching_caption(page, tmp_path, monkeypatch):
    from skinml.segment import predict

    calls, real = [], predict.segment_photo
    monkeypatch.setattr(predict, "segment_photo", lambda *a, **k: calls.append(1) or real(*a, **k))
    at = page(segmenter_folder(tmp_path / "all", bias=10.0))
    assert len(calls) == 1  # the dermoscopy check's mask is the outline's: the photo is segmented once
    assert any(s.value == "The lesion's outline and the ABCD measures" for s in at.subheader)
    text = " ".join(m.value for m in at.markdown)
    assert "A - Asymmetry" in text and "B - Border" in text and "C - Colours" in text and "D - Diameter" in text
    assert any("teaching aid, not a verdict" in c.value for c in at.caption)
    assert any("touches the edge of the photo" in w.value for w in at.warning)  # the whole photo is "lesion"
    at.number_input(key="try_outline_fov").set_value(20.0).run()
    assert " mm across" in " ".join(m.value for m in at.markdown)


def test_the_downloaded_summary_carries_the_outline_and_the_abcd_measures(page, tmp_path, monkeypatch):
    """The report a clinician takes away shows the page's outline and ABCD sentences (issue #20). It is
    written when the button is clicked (a function given to the button), not on every visit."""
    import streamlit

    buttons = {}
    real = streamlit.download_button
    monkeypatch.setattr(streamlit, "download_button",
                        lambda label, data, *a, **kw: buttons.__setitem__(label, data) or real(label, data, *a, **kw))
    at = page(segmenter_folder(tmp_path / "all", bias=10.0))
    write = buttons["Download a summary (HTML)"]
    assert callable(write) and callable(buttons["Download the outlined photo (PNG)"])
    summary = write()
    assert "The lesion's outline and the ABCD measures" in summary and "outline of the lesion (green)" in summary
    assert "A - Asymmetry" in summary and "D - Diameter" in summary and "teaching aid, not a verdict" in summary
    assert "alt=\"the lesion's outline\"" in summary and "data:image/png;base64" in summary  # inline
    assert "A - Asymmetry" in " ".join(m.value for m in at.markdown)  # the same sentences as the page


@pytest.mark.slow
def test_no_lesion_found_and_no_segmenter(page, tmp_path):
    """No lesion found is one of the dermoscopy check's reasons: the page says so in its error, draws
    no outline, no ABCD measures and no heatmap."""
    at = page(segmenter_folder(tmp_path / "none-found", bias=-10.0))
    assert any("No lesion found" in e.value for e in at.error)
    assert any("No lesion outline is drawn" in i.value for i in at.info)
    assert "A - Asymmetry" not in " ".join(m.value for m in at.markdown)
    at = page(None)
    assert any("No lesion segmenter is installed" in c.value for c in at.caption)


@pytest.fixture(scope="module")
def masked_dataset(tmp_path_factory):
    """Four synthetic lesion photos; beside them `<name>-segmentations` with a mask for the first only."""
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
    mask = np.zeros((160, 160), np.uint8)
    mask[40:120, 40:120] = 255
    Image.fromarray(mask).save(masks / "ISIC_0000200_segmentation.png")
    return root


def test_data_page_draws_the_dermatologists_masks(masked_dataset, monkeypatch, tmp_path):
    from skinml.app import segment_ui

    monkeypatch.setattr(segment_ui, "SHIPPED", tmp_path / "none")  # only the given masks are offered
    at = AppTest.from_file(str(PAGES / "1_Data.py"), default_timeout=120)
    at.session_state["data_dir"] = str(masked_dataset)
    at.run()
    assert at.radio(key="data_outline").options == ["none", "the dermatologists' masks"]
    at.radio(key="data_outline").set_value("the dermatologists' masks").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("a dermatologist drew" in c.value for c in at.caption)
    captions = [c for image in at.get("image") for c in image.captions]
    assert sum("no outline" in c for c in captions) == 3  # one image of four has a mask


@pytest.mark.slow
def test_evaluate_page_compares_the_abcd_rule_with_the_cnn(monkeypatch, tmp_path):
    from PIL import Image
    from test_app_explain import saved_model

    from skinml.app import segment_ui
    from skinml.data.synthetic import write_demo_dataset

    data = write_demo_dataset(tmp_path / "lesions", n=40, size=64, seed=7)
    masks = tmp_path / "lesions-segmentations"
    masks.mkdir()
    for path in data.glob("*.jpg"):
        grey = np.asarray(Image.open(path).convert("L"), float)
        Image.fromarray(((grey < 0.8 * np.median(grey[0])) * 255).astype(np.uint8)).save(
            masks / f"{path.stem}_segmentation.png")
    monkeypatch.setenv("SKINML_MODEL", str(saved_model(tmp_path / "model", spread=0.5)))
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path / "no-runs"))
    monkeypatch.setattr(segment_ui, "SHIPPED", tmp_path / "none")
    at = AppTest.from_file(str(PAGES / "3_Evaluate.py"), default_timeout=180)
    at.session_state["data_dir"] = str(data)
    at.run()
    at.radio[0].set_value("the data folder").run()
    next(b for b in at.button if b.label == "Predict the folder").click().run()
    next(t for t in at.toggle if t.label.startswith("Compare")).set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    labels = [m.label for m in at.metric]
    assert "AUC of the ABCD measures" in labels and "AUC of the CNN" in labels
    assert any("drawn by dermatologists" in c.value for c in at.caption)
    next(t for t in at.toggle if t.label.startswith("Measure")).set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert "held-out images" in text and "heatmap fell inside the lesion's outline" in text
    assert "40 outlines drawn by dermatologists, 0 predicted by the segmenter" in text
