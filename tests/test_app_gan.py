"""The GAN pages run under AppTest with no shipped generator (the demo stands in)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch, demo_dir):
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("SKINML_DATA", str(demo_dir))
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize("page", ["7_Train_GAN.py", "8_Latent_space.py", "9_GAN_realism.py"])
def test_gan_page_runs(page):
    at = AppTest.from_file(str(REPO / "pages" / page), default_timeout=90).run()
    assert not at.exception, at.exception


def test_train_page_shows_a_run(tmp_path):
    import numpy as np

    from skinml.data.synthetic import make_lesion
    from skinml.gan.train import GANConfig, fit_gan

    np.savez(tmp_path / "d.npz", images=np.stack([make_lesion(i % 2 == 1, 16, seed=i) for i in range(8)]))
    fit_gan(GANConfig(model="thesis_dcgan", data_npz=str(tmp_path / "d.npz"), image_size=16, width=0.125,
                      batch_size=4, epochs=1, holdout=0.0, run_dir=str(tmp_path / "runs" / "r1")))
    at = AppTest.from_file(str(REPO / "pages" / "7_Train_GAN.py"), default_timeout=90).run()
    assert not at.exception, at.exception
    assert any("epoch 1 / 1" in m.value for m in at.markdown)
