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


def test_gan_command_line_is_what_the_training_script_reads(tmp_path):
    """The page's settings reach train/train_gan.py unchanged: its parser gives back the same config."""
    import importlib.util
    from dataclasses import fields

    from skinml.app.gan_ui import command_line, new_run_config
    from skinml.gan.train import GANConfig

    config = new_run_config("r1", str(tmp_path / "images.npz"), model="thesis_dcgan", epochs=7, image_size=64,
                            width=0.5, time_budget=600.0)
    assert config.data_npz.endswith("images.npz") and not config.data_dir
    assert new_run_config("r2", str(tmp_path)).data_dir == str(tmp_path)
    spec = importlib.util.spec_from_file_location("train_gan", REPO / "train" / "train_gan.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    args = script.build_parser().parse_args(command_line(config))
    assert GANConfig(**{f.name: getattr(args, f.name) for f in fields(GANConfig)}) == config


def test_train_gan_page_says_when_the_data_is_missing(tmp_path):
    at = AppTest.from_file(str(REPO / "pages" / "7_Train_GAN.py"), default_timeout=90).run()
    at.text_input[0].set_value(str(tmp_path / "nowhere"))
    at.button[0].click().run()  # Start training (the form's submit button)
    assert not at.exception, at.exception
    assert any("is not there" in e.value for e in at.error)
    assert not (tmp_path / "runs" / "gan").exists() or not any((tmp_path / "runs" / "gan").iterdir())


def test_realism_page_report_is_a_table_rounded_for_people():
    at = AppTest.from_file(str(REPO / "pages" / "9_GAN_realism.py"), default_timeout=180).run()
    at.slider[0].set_value(20).run()
    next(b for b in at.button if b.label.startswith("Compute the full report")).click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    values = dict(zip(table["measure"], table["value"]))
    pixels = next(v for k, v in values.items() if k.startswith("two-sample accuracy, CNN on pixels"))
    assert pixels.endswith("%") and 0 <= int(pixels[:-1]) <= 100
    assert any(k.startswith("KID") for k in values) and not at.get("json")


def test_train_gan_page_reads_only_the_servers_data_folders(tmp_path, monkeypatch, demo_dir):
    import numpy as np

    private = tmp_path / "private"
    private.mkdir()
    np.savez(private / "d.npz", images=np.zeros((8, 16, 16, 3), np.uint8))
    monkeypatch.setenv("SKINML_DATA_ROOTS", str(demo_dir))
    at = AppTest.from_file(str(REPO / "pages" / "7_Train_GAN.py"), default_timeout=90).run()
    for path in (str(private / "d.npz"), str(private), "/etc"):
        at.text_input[0].set_value(path)
        at.button[0].click().run()
        assert not at.exception, at.exception
        assert "outside the data folders" in at.error[0].value.replace("\\", "")
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
