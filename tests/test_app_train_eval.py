"""The training and evaluation pages under AppTest: they render, launch and stop a run."""

from __future__ import annotations

import re
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
    from skinml.runs.train import fit_classifier

    runs = tmp_path_factory.mktemp("runs")
    config = TrainConfig(data=str(demo_dir), model="thesis_base", image_size=32, epochs=2, batch_size=8,
                         tta=True, run_dir=str(runs / "tiny"))  # its threshold fitted on eight-view means
    fit_classifier(config)
    return runs


def _page(name: str, runs: Path, monkeypatch, demo_dir) -> AppTest:
    monkeypatch.setenv("SKINML_RUNS", str(runs))
    monkeypatch.setenv("SKINML_DATA", str(demo_dir))
    at = AppTest.from_file(str(REPO / "app_pages" / name), default_timeout=90).run()
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
    at.button(key="train_start").click().run()
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
    from skinml import io as skinml_io
    from skinml import runs

    run_dir = runs_root / "someone-elses"
    run_dir.mkdir(parents=True)
    skinml_io.write_json(run_dir / "config.json", {"kind": "classifier", "model": "thesis_base", "epochs": 5})
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
        at.text_input(key="train_run_name").set_value("mine")
        at.button(key="train_start").click().run()
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
    at.text_input(key="train_run_name").set_value(name)
    at.button(key="train_start").click().run()
    assert not at.exception and "cannot name a run" in at.error[0].value.replace("\\", "")
    assert not list(tmp_path.rglob("escape")) and not Path("/tmp/escape").exists()


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_evaluate_gives_one_answer_and_warns_when_the_test_split_is_small(finished_run, monkeypatch, demo_dir):
    at = _page("3_Evaluate.py", finished_run, monkeypatch, demo_dir)
    saved = metric(at, "AUC")  # the test split's predictions.csv, written with the eight-view mean
    assert any("could lie anywhere from" in w.value and "95% bootstrap interval" in w.value for w in at.warning)
    at.radio[0].set_value("the data folder").run()
    next(b for b in at.button if b.label == "Predict the folder").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("test part" in c.value for c in at.caption) and metric(at, "AUC") == saved  # the same images


def test_evaluate_explains_its_tiles_and_gives_the_runs_own_interval(finished_run, monkeypatch, demo_dir):
    """Evaluate bootstrapped 500 resamples where the run had 1,000: one run's AUC interval read
    "0.44 to 1.00" on Train and "0.40 to 1.00" here; its tiles had no help, its partial AUC no scale."""
    import json

    at = _page("3_Evaluate.py", finished_run, monkeypatch, demo_dir)
    assert not at.exception, [e.value for e in at.exception]
    low, high = json.loads((finished_run / "tiny" / "metrics.json").read_text())["test"]["intervals"]["auc"]
    table = next(df.value for df in at.dataframe if "figure" in df.value.columns)
    auc = table[table["figure"] == "auc"].iloc[0]
    assert (auc["low"], auc["high"]) == (f"{low:.3f}", f"{high:.3f}")
    tiles = {m.label: m.proto.help for m in at.metric}
    assert all(tiles[label] for label in ("AUC", "accuracy", "sensitivity", "specificity", "balanced acc.",
                                          "precision"))
    assert any("of at most 0.200 for a perfect model and 0.020 for a coin" in c.value for c in at.caption)


def test_evaluate_shows_no_empty_runs_heading(tmp_path, monkeypatch, demo_dir):
    from skinml.cnn.classifier import SHIPPED_DIR

    if not (SHIPPED_DIR / "model.keras").exists():
        pytest.skip("no shipped classifier in this copy")
    at = _page("3_Evaluate.py", tmp_path, monkeypatch, demo_dir)
    assert not at.exception
    assert "All runs" not in [s.value for s in at.subheader]


def test_data_page_rules_reach_the_run_and_the_runs_table(tmp_path, monkeypatch, demo_dir):
    import json

    from skinml.app import train_ui

    monkeypatch.setattr(train_ui, "resume_training", lambda run_dir: Path(run_dir))  # no process
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path))
    monkeypatch.setenv("SKINML_DATA", str(demo_dir))
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=90).run()
    at.switch_page("app_pages/1_Data.py").run()
    at.checkbox(key="policy_dermoscopic").uncheck().run()
    at.text_input(key="policy_extra").set_value("sex=male").run()
    at.switch_page("app_pages/2_Train_classifier.py").run()
    shown = [re.sub(r"\\(.)", r"\1", m.value) for m in at.markdown]  # as written: plain() escapes punctuation
    assert any("every image type · without sex = male" in m for m in shown)
    at.text_input(key="train_run_name").set_value("ruled")
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    config = json.loads((tmp_path / "ruled" / "config.json").read_text())
    assert config["exclude"] == ["sex=male"] and config["dermoscopic_only"] is False
    table = next(df.value for df in at.dataframe if "rules" in df.value)
    row = table[table["run"] == "ruled"].iloc[0]
    assert row["rules"] == "every image type · without sex = male" and row["data"] == Path(demo_dir).name


def test_a_running_run_counts_batches_and_the_page_estimates_the_time(finished_run, tmp_path, monkeypatch, demo_dir):
    import os
    import shutil

    from skinml.io import write_json
    from skinml.runs import set_status

    shutil.copytree(finished_run / "tiny", tmp_path / "tiny")  # a finished thesis_base run: its speed
    live = tmp_path / "live"
    live.mkdir()
    write_json(live / "config.json", {"kind": "classifier", "model": "thesis_base", "epochs": 5})
    write_json(live / "state.json", {"epoch": 1})
    write_json(live / "progress.json", {"epoch": 2, "batch": 37, "batches": 54, "seconds": 12.3})
    (live / "log.txt").write_text("epoch 1/5 " + " ".join(f"metric_{k}=0.5000" for k in range(30)) + "\n")
    (live / "pid").write_text(f"{os.getpid()}\n")  # a live process: the run reads as running
    set_status(live, "running")
    at = _page("2_Train_classifier.py", tmp_path, monkeypatch, demo_dir)
    at.selectbox(key="train_model").set_value("thesis_base").run()
    assert not at.exception, [e.value for e in at.exception]
    plan = next(m.value for m in at.markdown if "training images" in m.value)
    assert "of 64 per epoch · 100 epochs" in plan and "about" in plan and "run tiny on this machine" in plan
    assert any("Epoch 2: batch 37 of 54" in c.value for c in at.caption)
    log = next(c for c in at.code if "metric_29" in c.value)
    assert log.proto.wrap_lines  # long log lines wrap instead of running off the right edge


def test_the_run_callback_counts_batches_inside_an_epoch(tmp_path):
    from skinml.cnn.config import TrainConfig
    from skinml.cnn.train import make_run_callback
    from skinml.io import read_json

    callback = make_run_callback(tmp_path, {}, TrainConfig(), print, steps=54)
    callback.on_epoch_begin(2)
    callback.reported = -1e9  # as if the last report were long ago
    callback.on_train_batch_end(36)
    progress = read_json(tmp_path / "progress.json")
    assert (progress["epoch"], progress["batch"], progress["batches"]) == (3, 37, 54) and progress["seconds"] >= 0


def test_calibration_chart_counts_whole_images():
    import numpy as np

    from skinml.plots.eval import plot_reliability

    rng = np.random.default_rng(0)
    fig = plot_reliability(rng.integers(0, 2, 1005), np.full(1005, 0.55) + rng.normal(0, 0.001, 1005))
    axis = fig.layout.yaxis2
    assert axis.range[0] == 0 and axis.dtick >= 1 and float(axis.dtick).is_integer() and axis.tickformat == "d"


# ---------------------------------------------------------------- the diagnosis task

@pytest.mark.slow
def test_train_page_trains_the_diagnosis_task_with_images_and_metadata(tmp_path, monkeypatch, demo_dir):
    """The page trained benign/malignant only: the task choice reaches config.json with its model,
    and the estimate (a few timed steps of the two-input model) and the plan keep working."""
    import json

    from skinml.app import train_ui

    monkeypatch.setattr(train_ui, "resume_training", lambda run_dir: Path(run_dir))  # no process
    at = _page("2_Train_classifier.py", tmp_path, monkeypatch, demo_dir)
    at.radio(key="train_task").set_value("diagnosis (7 classes)").run()
    assert not at.exception, [e.value for e in at.exception]
    offered = at.selectbox(key="train_model_diagnosis").options
    assert "skinml_resnet" in offered and "skinml_resnet_meta" not in offered  # that one: image + metadata
    assert not any(name.startswith("thesis") for name in offered)  # one sigmoid unit: no diagnosis head
    assert at.selectbox(key="train_mon_diagnosis").value == "val_balanced_accuracy"
    at.radio(key="train_task").set_value("diagnosis from image + metadata").run()
    assert any("skinml_resnet_meta" in m.value for m in at.markdown)
    at.select_slider(key="train_size_skinml_resnet_meta").set_value(32)
    at.select_slider(key="train_batch_skinml_resnet_meta").set_value(8).run()
    plan = next(m.value for m in at.markdown if "training images" in m.value)
    assert "of 8 per epoch" in plan
    next(b for b in at.button if b.label.startswith("Estimate the time")).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "measured here just now" in next(m.value for m in at.markdown if "training images" in m.value)
    at.text_input(key="train_run_name").set_value("dx-meta")
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    config = json.loads((tmp_path / "dx-meta" / "config.json").read_text())
    assert (config["task"], config["model"], config["monitor"]) == ("diagnosis", "skinml_resnet_meta",
                                                                      "val_balanced_accuracy")
    table = next(df.value for df in at.dataframe if "task" in df.value)
    assert table.loc[table["run"] == "dx-meta", "task"].iloc[0] == "diagnosis"


def test_diagnosis_split_on_the_training_page_counts_the_images_a_run_trains_on(demo_dir):
    """The plan's image count is the diagnosis task's train split (every usable image of one of the
    seven classes, unbalanced), not the balanced benign/malignant split."""
    from skinml.app.data_ui import folder_stamp, load_split
    from skinml.cnn.config import TrainConfig
    from skinml.cnn.splits import load_splits
    from skinml.data.policy import DataPolicy

    split, _ = load_split(str(demo_dir), folder_stamp(str(demo_dir)), DataPolicy(), True, 0, task="diagnosis")
    run = load_splits(TrainConfig(data=str(demo_dir), task="diagnosis"))
    assert sorted(split.loc[split["split"] == "train", "isic_id"]) == sorted(run.loc[run["split"] == "train",
                                                                                      "isic_id"])


@pytest.fixture(scope="module")
def diagnosis_run(demo_dir, tmp_path_factory):
    """A finished tiny diagnosis run (skinml_resnet, 32 px, 1 epoch) in its own runs folder."""
    from skinml.cnn.config import TrainConfig
    from skinml.runs.train import fit_classifier

    runs = tmp_path_factory.mktemp("dxruns")
    fit_classifier(TrainConfig(data=str(demo_dir), task="diagnosis", model="skinml_resnet", image_size=32, epochs=1,
                               batch_size=8, augment="none", run_dir=str(runs / "dx")))
    return runs


def _chart_titles(at: AppTest) -> list[str]:
    import json

    return [json.loads(c.proto.spec).get("layout", {}).get("title", {}).get("text", "")
            for c in at.get("plotly_chart")]


def test_evaluate_page_shows_a_diagnosis_model_in_its_classes(diagnosis_run, monkeypatch, demo_dir):
    """The page read every model as benign/malignant: a diagnosis run shows its confusion matrix of
    the seven classes, ROC and sensitivity per class, balanced accuracy and macro AUC with their
    intervals, and the AUC of its p(malignant), on its saved splits and on a folder."""
    from skinml.io import read_json

    at = _page("3_Evaluate.py", diagnosis_run, monkeypatch, demo_dir)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.slider  # no threshold: the most probable class
    test = read_json(diagnosis_run / "dx" / "metrics.json")["test"]
    assert metric(at, "balanced accuracy") == f"{test['balanced_accuracy']:.3f}"
    low, high = test["intervals"]["balanced_accuracy"]
    assert any(f"95% interval {low:.2f} to {high:.2f}" in c.value for c in at.caption)
    assert metric(at, "macro AUC") == f"{test['macro_auc']:.3f}"
    assert metric(at, "p(malignant) AUC") == f"{test['malignant_auc']:.3f}"
    titles = _chart_titles(at)
    for title in ("Confusion matrix (counts)", "Confusion matrix (share of each true class)",
                  "ROC per class (one against the rest)", "Sensitivity per class", "ROC of p(malignant)"):
        assert any(t.startswith(title) for t in titles), (title, titles)
    per_class = next(df.value for df in at.dataframe if "class" in df.value)
    assert list(per_class["class"]) == ["mel", "nv", "bcc", "akiec", "bkl", "df", "vasc"]
    at.radio[0].set_value("validation split").run()
    assert not at.exception
    at.radio[0].set_value("the data folder").run()
    next(b for b in at.button if b.label == "Predict the folder").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("test part" in c.value for c in at.caption)  # its own training data: the test split
    assert metric(at, "balanced accuracy") == f"{test['balanced_accuracy']:.3f}"  # the same images, one answer


def test_train_page_shows_a_diagnosis_run_by_its_own_measures(diagnosis_run, monkeypatch, demo_dir):
    """A diagnosis run's curves showed AUC (a binary figure it has not): its validation balanced
    accuracy instead; the runs table names its task and test balanced accuracy."""
    import json

    from skinml.io import read_json

    at = _page("2_Train_classifier.py", diagnosis_run, monkeypatch, demo_dir)
    assert not at.exception, [e.value for e in at.exception]
    history = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "validation" in c.proto.spec)
    titles = [a["text"] for a in history["layout"]["annotations"]]
    assert titles == ["loss", "accuracy", "balanced_accuracy"]
    table = next(df.value for df in at.dataframe if "task" in df.value)
    row = table[table["run"] == "dx"].iloc[0]
    test = read_json(diagnosis_run / "dx" / "metrics.json")["test"]
    assert row["task"] == "diagnosis" and row["test_balanced_accuracy"] == pytest.approx(test["balanced_accuracy"])


def test_evaluate_page_offers_the_shipped_diagnosis_model(diagnosis_run, monkeypatch, demo_dir, tmp_path):
    import shutil

    from skinml.app import classifiers

    shipped = tmp_path / "diagnosis"
    shutil.copytree(diagnosis_run / "dx" / "model", shipped)
    shutil.copy(diagnosis_run / "dx" / "predictions.csv", shipped)
    monkeypatch.setattr(classifiers, "DIAGNOSIS_DIR", shipped)
    at = _page("3_Evaluate.py", tmp_path / "no-runs", monkeypatch, demo_dir)
    assert classifiers.SHIPPED_DIAGNOSIS in at.selectbox[0].options
    at.selectbox[0].set_value(classifiers.SHIPPED_DIAGNOSIS).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(m.label == "balanced accuracy" for m in at.metric)


def test_multiclass_figures_count_and_share_each_class():
    import numpy as np

    from skinml.plots.multiclass import plot_class_sensitivity, plot_confusion_classes, plot_roc_per_class

    cm = [[3, 1, 0], [0, 0, 0], [2, 0, 2]]
    names = ["a", "<b>", "c"]
    counts, shares = plot_confusion_classes(cm, names), plot_confusion_classes(cm, names, normalised=True)
    assert list(counts.data[0].text[0]) == ["3", "1", "0"] and list(shares.data[0].text[2]) == ["50%", "0%", "50%"]
    assert list(shares.data[0].text[1]) == ["0%"] * 3 and counts.data[0].x[1] == "&lt;b&gt;"  # shown, not markup
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.8 + 0.2 / 3
    roc = plot_roc_per_class(y, p, ["a", "b", "c"])
    assert [t.name.split(" ")[0] for t in roc.data] == ["chance", "a", "b", "c"]
    bars = plot_class_sensitivity([{"class": "a", "n": 2, "sensitivity": 0.5}, {"class": "b", "n": 0,
                                                                                   "sensitivity": None}], 0.5)
    assert list(bars.data[0].x) == ["a"] and bars.data[0].text[0] == "50% of 2"
