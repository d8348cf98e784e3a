"""The training and evaluation pages under AppTest: they render, launch and stop a run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402


@pytest.fixture(scope="module")
def finished_run(demo_dir, tmp_path_factory):
    """A finished tiny run (thesis_base, 32 px, 2 epochs) in its own runs folder."""
    from skinml.cnn.config import TrainConfig
    from skinml.cnn.train import fit_classifier

    runs = tmp_path_factory.mktemp("runs")
    config = TrainConfig(data=str(demo_dir), model="thesis_base", image_size=32, epochs=2, batch_size=8,
                         run_dir=str(runs / "tiny"))
    fit_classifier(config)
    return runs


def _page(name: str, runs: Path, monkeypatch, demo_dir) -> AppTest:
    monkeypatch.setenv("SKINML_RUNS", str(runs))
    monkeypatch.setenv("SKINML_DATA", str(demo_dir))
    at = AppTest.from_file(str(REPO / "pages" / name), default_timeout=90).run()
    runs_offered = [o for o in (at.selectbox[0].options if at.selectbox else []) if o.startswith("run ")]
    if name == "3_Evaluate.py" and runs_offered:  # the test's own run, not the shipped model
        at.selectbox[0].set_value(runs_offered[0]).run()
    return at


def test_train_page_lists_runs(finished_run, monkeypatch, demo_dir):
    at = _page("2_Train_classifier.py", finished_run, monkeypatch, demo_dir)
    assert not at.exception
    assert any("tiny" in str(df.value) for df in at.dataframe)
    assert any("finished" in md.value for md in at.markdown)


def test_train_page_shows_the_thesis_models_retrained_next_to_the_thesis(finished_run, monkeypatch, demo_dir):
    from skinml.app.train_ui import thesis_reference
    from skinml.cnn.classifier import load_classifier

    table = thesis_reference()
    assert list(table["model"][:5]) == ["thesis_base", "thesis_dropout", "thesis_l2", "thesis_l2_dropout",
                                        "thesis_l2_dropout_aug"]
    assert table.loc[3, "thesis_val_accuracy"] == 0.73 and table.loc[3, "thesis_best_epoch"] == 46  # THESIS.md
    shipped = load_classifier().info["name"]  # e.g. "skinml_resnet x2 ensemble"
    assert table["val_auc"].between(0.5, 1).all() and table["model"].iloc[-1].startswith(f"{shipped} (shipped")
    at = _page("2_Train_classifier.py", finished_run, monkeypatch, demo_dir)
    assert not at.exception
    assert any("thesis_l2_dropout_aug" in str(df.value) for df in at.dataframe)


def test_train_page_launches_and_stops_a_run(tmp_path, monkeypatch, demo_dir):
    at = _page("2_Train_classifier.py", tmp_path, monkeypatch, demo_dir)
    assert not at.exception
    at.selectbox(key="train_model").set_value("thesis_base").run()
    at.text_input[0].set_value("launched")
    at.number_input(key="train_epochs_thesis_base").set_value(50)
    at.select_slider(key="train_size_thesis_base").set_value(32)
    at.button[0].click().run()  # Start training (the form's submit button)
    assert not at.exception
    run_dir = tmp_path / "launched"
    assert (run_dir / "pid").exists() and (run_dir / "config.json").exists()
    from skinml.runs import run_status

    assert run_status(run_dir) == "running"
    at.run()  # a rerun never restarts or stops it
    assert run_status(run_dir) == "running"
    stop = next(b for b in at.button if b.label == "Stop")
    stop.click().run()
    deadline = time.time() + 20
    while run_status(run_dir) == "running" and time.time() < deadline:
        time.sleep(0.2)
    assert run_status(run_dir) == "stopped"


def test_evaluate_page_shows_a_run(finished_run, monkeypatch, demo_dir):
    at = _page("3_Evaluate.py", finished_run, monkeypatch, demo_dir)
    assert not at.exception
    assert at.slider(key=at.slider[0].key).value == pytest.approx(0.5)
    at.slider[0].set_value(0.2).run()
    assert not at.exception
    at.radio[0].set_value("validation split").run()
    assert not at.exception


def test_evaluate_page_predicts_the_data_folder(finished_run, monkeypatch, demo_dir):
    at = _page("3_Evaluate.py", finished_run, monkeypatch, demo_dir)
    at.radio[0].set_value("the data folder").run()
    next(b for b in at.button if b.label == "Predict the folder").click().run()
    assert not at.exception
    assert any("test part" in c.value for c in at.caption)  # its own training data: the test split


# ---------------------------------------------------------------- a shared server

SLEEPER = ["python3", "-c", "import time; time.sleep(120)"]


def _others_run(runs_root: Path) -> Path:
    """A classifier run started by another visitor's session, still running."""
    from skinml import runs

    run_dir = runs_root / "someone-elses"
    run_dir.mkdir(parents=True)
    runs.write_json(run_dir / "config.json", {"kind": "classifier", "model": "thesis_base", "epochs": 5})
    return runs.launch(SLEEPER, run_dir, owner="another-visitors-session")


def test_train_page_refuses_to_stop_another_visitors_run(tmp_path, monkeypatch, demo_dir):
    """Any visitor's Stop button stopped any run."""
    from skinml import runs

    run_dir = _others_run(tmp_path)
    try:
        at = _page("2_Train_classifier.py", tmp_path, monkeypatch, demo_dir)
        next(b for b in at.button if b.label == "Stop").click().run()
        assert not at.exception
        assert "not yours" in at.error[0].value and runs.run_status(run_dir) == "running"
    finally:
        runs.stop(run_dir, by=runs.OPERATOR, wait_s=5)


def test_train_page_says_when_the_server_is_full(tmp_path, monkeypatch, demo_dir):
    from skinml import runs

    run_dir = _others_run(tmp_path)
    try:
        at = _page("2_Train_classifier.py", tmp_path, monkeypatch, demo_dir)
        at.text_input[0].set_value("mine")
        at.button[0].click().run()
        assert not at.exception
        assert "the most it allows at once (1)" in at.error[0].value.replace("\\", "")  # Markdown escapes
        assert not (tmp_path / "mine" / "pid").exists() and runs.running_runs(tmp_path) == [run_dir]
    finally:
        runs.stop(run_dir, by=runs.OPERATOR, wait_s=5)


@pytest.mark.parametrize("name", ["/tmp/escape", "../../escape", "a/../../escape", ".hidden"])
def test_train_page_run_names_stay_in_the_runs_folder(tmp_path, monkeypatch, demo_dir, name):
    """A run named with an absolute path, or with ../../.. in front, wrote a 44 MB run there."""
    root = tmp_path / "deep" / "runs"
    at = _page("2_Train_classifier.py", root, monkeypatch, demo_dir)
    at.text_input[0].set_value(name)
    at.button[0].click().run()
    assert not at.exception and "cannot name a run" in at.error[0].value.replace("\\", "")
    assert not list(tmp_path.rglob("escape")) and not Path("/tmp/escape").exists()
