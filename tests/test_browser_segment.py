"""A real browser: the clinician's page outlines an uploaded lesion and lists its ABCD measures."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skinml.benchmarks.predict import CHROMIUM, CHROMIUM_ARGS, free_port, start_dashboard, wait_healthy
from skinml.segment.predict import SHIPPED

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    import keras

    from skinml.cnn.classifier import save_classifier
    from skinml.cnn.models import build_model

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium (Debian's package, driven by Playwright)")
    if not (SHIPPED / "model.keras").is_file():
        pytest.skip("no shipped segmenter (skinml/assets/segmenter)")
    keras.utils.set_random_seed(0)
    info = {"name": "skinml_resnet", "image_size": 48, "resize": "squash", "threshold": 0.5, "version": "browser"}
    model = save_classifier(tmp_path_factory.mktemp("browser") / "model",
                            build_model("skinml_resnet", image_size=48, widths=(8, 16)), info,
                            {"test": {"n": 40, "sensitivity": 0.8, "specificity": 0.7}})
    port = free_port()
    server = start_dashboard(port, {"SKINML_MODEL": str(model), "SKINML_RUNS": str(tmp_path_factory.mktemp("runs"))})
    try:
        wait_healthy(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_an_upload_gets_its_outline_and_abcd_measures(dashboard, tmp_path):
    from playwright.sync_api import sync_playwright

    from skinml.data.synthetic import make_lesion

    photo = tmp_path / "mole.png"
    buf = io.BytesIO()
    Image.fromarray(np.asarray(make_lesion(True, 300, seed=4))).save(buf, "PNG")
    photo.write_bytes(buf.getvalue())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{dashboard}/Try_a_lesion_photo")
            page.get_by_text("not a medical device").first.wait_for(timeout=120_000)
            page.locator("input[type=file]").first.set_input_files(str(photo))
            page.get_by_text("The lesion's outline and the ABCD measures").first.wait_for(timeout=180_000)
            page.get_by_text("the model's outline of the lesion").first.wait_for(timeout=120_000)
            asymmetry = page.get_by_text("A - Asymmetry").first
            asymmetry.wait_for(timeout=60_000)
            teaching = page.get_by_text("A teaching aid, not a verdict").first.inner_text()
        finally:
            browser.close()
    assert "never what the lesion is" in teaching
