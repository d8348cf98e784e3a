"""First visits that find their heavy views ready (#23, item 14): the server computes them once, in the
background, into the caches every session shares (`skinml.app.server.prime_pages`)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

PAGES = Path(__file__).resolve().parents[1] / "app_pages"


def computed_on_the_visit(*args, **kwargs):
    raise AssertionError(f"computed on the visit, not found ready: {[type(a).__name__ for a in args]} {kwargs}")


def test_after_priming_inside_the_cnn_train_classifier_data_and_gan_realism_compute_nothing_heavy(tmp_path,
                                                                                                    monkeypatch):
    """Inside the CNN took up to 22 s and Train classifier 15 s on a first visit of a loaded machine, GAN
    realism 5 to 11 s on an idle one: the feature maps, Grad-CAM, the four methods' heatmaps, the grouped
    splits, Data's charts and the realism page's samples are now computed when the server starts, with the
    same cached calls as the pages."""
    import keras

    from skinml.app import server
    from skinml.cnn.classifier import save_classifier
    from skinml.cnn.models import build_model
    from skinml.data.synthetic import write_demo_dataset

    keras.utils.set_random_seed(0)
    model = save_classifier(tmp_path / "model", build_model("skinml_resnet", image_size=32, widths=(8, 16)),
                            {"name": "skinml_resnet", "image_size": 32, "threshold": 0.5, "version": "primed"})
    data = write_demo_dataset(tmp_path / "data", n=60, size=48, seed=3)  # its own folder: nothing cached yet
    monkeypatch.setenv("SKINML_MODEL", str(model))
    monkeypatch.setenv("SKINML_DATA", str(data))
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path / "runs"))
    server.prime_pages()

    for heavy in ("skinml.explain.trust.method_maps", "skinml.explain.gradcam.grad_cam",
                  "skinml.explain.features.feature_maps", "skinml.data.split_grouped",
                  "skinml.data.policy.diagnosis_split", "skinml.plots.data.plot_counts",
                  "skinml.quality.realism.real_sample", "skinml.quality.realism.pca_overlay"):
        monkeypatch.setattr(heavy, computed_on_the_visit)
    at = AppTest.from_file(str(PAGES / "4_Inside_the_CNN.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Layer **" in c.value for c in at.caption)  # the feature maps were drawn
    captions = [c for image in at.get("image") for c in image.captions]
    for label in ("Grad-CAM", "HiResCAM, earlier layer", "occlusion", "integrated gradients"):
        assert any(c.startswith(f"{label}, ") for c in captions), (label, captions)
    for page in ("2_Train_classifier.py", "1_Data.py"):  # the split, and Data's charts and splits
        at = AppTest.from_file(str(PAGES / page), default_timeout=120).run()
        assert not at.exception, (page, [e.value for e in at.exception])
    assert len(at.get("plotly_chart")) >= 6
    at = AppTest.from_file(str(PAGES / "9_GAN_realism.py"), default_timeout=120).run()  # the shipped GAN's first view
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("plotly_chart")) == 2  # the PCA and the nearest images


def test_the_sample_grid_sends_thumbnails_not_the_full_photos(tmp_path):
    """Every visit of Data decoded and sent twelve full-size dermoscopy photos (megabytes each)."""
    import numpy as np
    from PIL import Image

    from skinml.app.data_ui import THUMBNAIL_SIDE, thumbnail

    photo = tmp_path / "big.jpg"
    Image.fromarray(np.full((1200, 1600, 3), 128, np.uint8)).save(photo)
    small = thumbnail(str(photo), 0)
    assert small.dtype == np.uint8 and small.shape == (THUMBNAIL_SIDE * 3 // 4, THUMBNAIL_SIDE, 3)  # aspect kept
