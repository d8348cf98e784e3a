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
    at = AppTest.from_file(str(REPO / "app_pages" / page), default_timeout=90).run()
    assert not at.exception, at.exception


def test_train_page_shows_a_run(tmp_path):
    import numpy as np

    from skinml.data.synthetic import make_lesion
    from skinml.gan.train import GANConfig
    from skinml.runs.train import fit_gan

    np.savez(tmp_path / "d.npz", images=np.stack([make_lesion(i % 2 == 1, 16, seed=i) for i in range(8)]))
    fit_gan(GANConfig(model="thesis_dcgan", data_npz=str(tmp_path / "d.npz"), image_size=16, width=0.125,
                      batch_size=4, epochs=1, holdout=0.0, run_dir=str(tmp_path / "runs" / "r1")))
    at = AppTest.from_file(str(REPO / "app_pages" / "7_Train_GAN.py"), default_timeout=90).run()
    assert not at.exception, at.exception
    assert any("epoch 1 / 1" in m.value for m in at.markdown)


def test_a_gan_run_the_page_starts_is_the_config_the_training_command_reads(tmp_path):
    """The page writes the run's config.json and starts `python -m skinml train --run-dir RUN`:
    that command's options give back the same config, of kind gan."""
    from dataclasses import asdict

    from skinml import io as skinml_io
    from skinml.app.gan_ui import new_run_config
    from skinml.cli import build_parser
    from skinml.cli.train import config_from_args
    from skinml.runs import train_command

    config = new_run_config("r1", str(tmp_path / "images.npz"), model="thesis_dcgan", epochs=7, image_size=64,
                            width=0.5, time_budget=600.0)
    assert config.data_npz.endswith("images.npz") and not config.data_dir
    assert new_run_config("r2", str(tmp_path)).data_dir == str(tmp_path)
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True)
    skinml_io.write_json(run_dir / "config.json", {"kind": "gan", **asdict(config)})
    command = train_command(run_dir)
    assert command[1:4] == ["-m", "skinml", "train"]
    assert config_from_args(build_parser().parse_args(command[3:])) == config


def test_train_gan_page_says_when_the_data_is_missing(tmp_path):
    at = AppTest.from_file(str(REPO / "app_pages" / "7_Train_GAN.py"), default_timeout=90).run()
    at.text_input(key="gan_data").set_value(str(tmp_path / "nowhere"))
    at.button[0].click().run()  # Start training (the form's submit button)
    assert not at.exception, at.exception
    assert any("is not there" in e.value for e in at.error)
    assert not (tmp_path / "runs" / "gan").exists() or not any((tmp_path / "runs" / "gan").iterdir())


@pytest.mark.slow
def test_realism_page_reads_each_number_against_real_vs_real():
    at = AppTest.from_file(str(REPO / "app_pages" / "9_GAN_realism.py"), default_timeout=300).run()
    at.slider[0].set_value(20).run()
    next(b for b in at.button if b.label.startswith("Compute the full report")).click().run()
    assert not at.exception, at.exception
    table = at.table[0].value  # a table, not a grid: "what it says" wraps instead of being cut off (#23)
    pixels = table.loc["judge on pixels (CNN)"]
    assert pixels["generated vs real"].endswith("%") and pixels["real vs real"].endswith("%")
    assert pixels["good value"] == "near 50%" and "tells generated from real" in pixels["what it says"]
    assert "blurry blobs can score high" in table.loc["precision", "what it says"]
    assert table["real vs real"].ne("").all() and not at.get("json")
    assert any("of the time, where two samples of real images give" in m.value for m in at.markdown)
    assert any("synthetic drawings of the built-in demo" in c.value for c in at.caption)  # not "training images"


def test_train_gan_page_reads_only_the_servers_data_folders(tmp_path, monkeypatch, demo_dir):
    import numpy as np

    private = tmp_path / "private"
    private.mkdir()
    np.savez(private / "d.npz", images=np.zeros((8, 16, 16, 3), np.uint8))
    monkeypatch.setenv("SKINML_DATA_ROOTS", str(demo_dir))
    at = AppTest.from_file(str(REPO / "app_pages" / "7_Train_GAN.py"), default_timeout=90).run()
    for path in (str(private / "d.npz"), str(private), "/etc"):
        at.text_input[0].set_value(path)
        at.button[0].click().run()
        assert not at.exception, at.exception
        assert "outside the data folders" in at.error[0].value.replace("\\", "")
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def fake_run(path, status: str):
    """A GAN run folder that reads as `status` ("running": this live process holds it)."""
    import os

    from skinml.io import write_json
    from skinml.runs import set_status

    path.mkdir(parents=True)
    write_json(path / "config.json", {"kind": "gan", "model": "thesis_dcgan", "epochs": 5})
    (path / "pid").write_text(f"{os.getpid()}\n")
    set_status(path, status)
    return path


def test_the_run_view_refreshes_only_while_its_run_is_live(tmp_path, monkeypatch):
    import streamlit as st

    asked = []
    fragment = st.fragment

    def recording_fragment(*args, **kwargs):
        asked.append(kwargs.get("run_every"))
        return fragment(*args, **kwargs)

    monkeypatch.setattr(st, "fragment", recording_fragment)
    fake_run(tmp_path / "runs" / "done", "finished")
    at = AppTest.from_file(str(REPO / "app_pages" / "7_Train_GAN.py"), default_timeout=90).run()
    assert not at.exception and asked == [None]  # nothing live: the page never reruns by itself
    assert at.button(key="gan_resume").disabled and at.button(key="gan_stop").disabled
    fake_run(tmp_path / "runs" / "live", "running")
    at.run()  # the run list now holds it
    at.selectbox(key="gan_run_choice").set_value("live").run()
    assert asked[-1] == 3 and not at.button(key="gan_stop").disabled


@pytest.mark.slow
def test_a_started_gan_run_is_listed_at_once_keeps_its_name_and_stops_as_stopped(tmp_path, demo_dir):
    from skinml.runs import OPERATOR, run_status, stop

    at = AppTest.from_file(str(REPO / "app_pages" / "7_Train_GAN.py"), default_timeout=90).run()
    at.selectbox(key="gan_model").set_value("thesis_dcgan")
    at.number_input(key="gan_epochs").set_value(1000)
    at.selectbox(key="gan_size").set_value(32)
    at.text_input(key="gan_run_name").set_value("my-first-gan")
    at.button[0].click().run()  # Start training (the form's submit button)
    run_dir = tmp_path / "runs" / "my-first-gan"
    try:
        assert not at.exception, at.exception
        assert at.selectbox(key="gan_run_choice").value == "my-first-gan"  # listed right after Start
        assert at.text_input(key="gan_run_name").value == "my-first-gan"  # the typed name is kept
        at.button(key="gan_stop").click().run()
        assert run_status(run_dir) == "stopped"
        assert any("Stopped" in i.value for i in at.info) and not at.button(key="gan_resume").disabled
        at.button(key="gan_resume").click().run()
        assert run_status(run_dir) == "running"
    finally:
        stop(run_dir, by=OPERATOR)


def test_latent_space_measures_the_class_change_along_the_label_walk():
    from skinml.cnn.classifier import SHIPPED_DIR
    from skinml.gan.models import SHIPPED_CGAN

    if not (SHIPPED_DIR / "model.keras").exists() or not (SHIPPED_CGAN / "generator.keras").exists():
        pytest.skip("no shipped classifier or conditional generator in this copy")
    at = AppTest.from_file(str(REPO / "app_pages" / "8_Latent_space.py"), default_timeout=180).run()
    assert "512 px (projector)" in at.radio(key="latent_gif_size").options
    at.radio(key="latent_gif_size").set_value("512 px (projector)").run()
    assert not at.exception, at.exception
    at.session_state["latent_tab"] = "Benign → malignant"
    at.run()
    assert not at.exception, at.exception
    assert at.get("plotly_chart") and any("The shipped classifier gives the benign end" in m.value
                                          for m in at.markdown)
