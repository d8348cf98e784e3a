"""A real browser: `streamlit run`, headless Chromium, upload a photo on the clinician's page, read the probability."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skinml.benchmarks.predict import CHROMIUM, CHROMIUM_ARGS, free_port, start_dashboard, wait_healthy

pytestmark = pytest.mark.browser
PAGES = Path(__file__).resolve().parents[1] / "app_pages"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import keras

    from skinml.cnn.classifier import save_classifier
    from skinml.cnn.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model("skinml_resnet", image_size=48, widths=(8, 16))
    # Large random output weights, so that different photos get clearly different probabilities.
    model.get_layer("logit").set_weights([np.random.default_rng(0).normal(0, 40, (16, 1)), np.zeros(1)])
    info = {"name": "skinml_resnet", "image_size": 48, "resize": "squash", "threshold": 0.5, "version": "browser"}
    return save_classifier(tmp_path_factory.mktemp("browser") / "model", model, info,
                           {"test": {"n": 40, "sensitivity": 0.8, "specificity": 0.7}})


@pytest.fixture(scope="module")
def dashboard(tiny_model, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium (Debian's package, driven by Playwright)")
    port = free_port()
    server = start_dashboard(port, {"SKINML_MODEL": str(tiny_model),
                                    "SKINML_RUNS": str(tmp_path_factory.mktemp("runs"))})
    try:
        wait_healthy(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_upload_on_the_clinician_page_shows_the_probability(dashboard, tiny_model, tmp_path):
    from playwright.sync_api import sync_playwright

    from skinml.cnn.classifier import load_classifier
    from skinml.data.synthetic import make_lesion
    from skinml.predict import format_probability, predict_upload

    photo = tmp_path / "lesion.webp"  # the extension lies: the file is a PNG
    buf = io.BytesIO()
    Image.fromarray(make_lesion(True, 300, seed=11)).save(buf, "PNG")
    photo.write_bytes(buf.getvalue())
    expected = predict_upload(load_classifier(tiny_model), photo.read_bytes(), photo.name).p_malignant

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{dashboard}/Try_a_lesion_photo")
            page.get_by_text("not a medical device").first.wait_for(timeout=120_000)
            page.locator("input[type=file]").first.set_input_files(str(photo))  # the page opens on the uploader
            page.get_by_text("lesion.webp").first.wait_for(timeout=60_000)  # caption of the shown photo
            metric = page.locator('[data-testid="stMetric"]', has_text="Probability of malignancy")
            metric.first.wait_for(timeout=120_000)
            value = metric.first.locator('[data-testid="stMetricValue"]').inner_text()
        finally:
            browser.close()
    assert value.strip() == format_probability(expected)


def test_a_phone_sees_the_uploader_first_and_every_page_names_the_dataset(dashboard):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(f"{dashboard}/Try_a_lesion_photo")
            uploader = page.locator('[data-testid="stFileUploader"]').first
            uploader.wait_for(timeout=120_000)
            assert uploader.bounding_box()["y"] < 844 * 0.75  # on the first screen, under one short disclaimer
            assert page.get_by_text("not a medical device").count() == 1
            page.set_viewport_size({"width": 1280, "height": 900})
            page.goto(f"{dashboard}/Convolution")
            sidebar = page.locator('[data-testid="stSidebar"]')
            sidebar.get_by_text("Dataset:").first.wait_for(timeout=120_000)  # drawn by streamlit_app.py
        finally:
            browser.close()


@pytest.mark.slow
def test_a_deep_link_to_every_page_shows_the_navigation_and_the_sidebar(dashboard):
    """`/Convolution` and every other page's address, opened directly, runs through streamlit_app.py:
    the page list (st.navigation) and the session's sidebar are there, not a bare page script."""
    from playwright.sync_api import sync_playwright

    names = sorted(p.stem.split("_", 1)[1] for p in PAGES.glob("[1-9]_*.py"))
    assert len(names) >= 9
    missing = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for name in names:
                page.goto(f"{dashboard}/{name}")
                sidebar = page.locator('[data-testid="stSidebar"]')
                try:
                    sidebar.get_by_text("Dataset:").first.wait_for(timeout=120_000)  # drawn by streamlit_app.py
                    sidebar.locator('[data-testid="stSidebarNav"]').first.wait_for(timeout=30_000)
                except Exception:  # noqa: BLE001 - collect every page that fails, then report them together
                    missing.append(name)
                    continue
                links = sidebar.locator('[data-testid="stSidebarNav"] a')
                assert links.count() == len(names) + 1, name  # Home and every page
        finally:
            browser.close()
    assert not missing, f"deep links without the navigation or the sidebar: {missing}"
