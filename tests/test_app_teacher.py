"""A teacher's demo on the dashboard: what a stopped run, the dataset picker and Evaluate say."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

PAGES = Path(__file__).resolve().parents[1] / "app_pages"


def stopped_run(runs: Path, name: str = "stopped13", data: Path | None = None, checkpoint: bool = True,
                status: str = "stopped", epoch: int = 13) -> Path:
    """A classifier run stopped after epoch `epoch` (best epoch 11), never finished (no model/): with a
    real best.keras of thesis_base at 32 px trained on `data` when `checkpoint`, else none (it was
    stopped during its first epoch)."""
    from dataclasses import asdict

    from skinml.cnn.config import TrainConfig

    run = runs / name
    run.mkdir(parents=True)
    config = asdict(TrainConfig(data=str(data or ""), model="thesis_base", image_size=32, epochs=40))
    (run / "config.json").write_text(json.dumps({**config, "kind": "classifier"}))
    (run / "state.json").write_text(json.dumps({"epoch": epoch, "best_epoch": 11 if epoch > 11 else None}))
    (run / "status").write_text(status + "\n")
    if checkpoint:
        from skinml.cnn.models import build_model

        build_model("thesis_base", image_size=32).save(run / "best.keras")
    return run


def test_a_stopped_run_is_offered_to_evaluate_with_what_it_lacks(tmp_path, monkeypatch, demo_dir):
    """A run stopped at epoch 13 with a best.keras was missing from Evaluate's models: a teacher who stopped a
    run to save time lost the model. It is offered, labelled, and evaluates on its own test split."""
    stopped_run(tmp_path, data=demo_dir)
    stopped_run(tmp_path, "stopped0", checkpoint=False, epoch=0)
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path))
    monkeypatch.setenv("SKINML_DATA", str(demo_dir))
    at = AppTest.from_file(str(PAGES / "3_Evaluate.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    label = "run stopped13 (thesis_base): stopped at epoch 13 (best epoch 11), not finished: no calibration, " \
            "threshold 0.5"
    assert label in at.selectbox(key="eval_model").options
    assert not any("stopped0" in option for option in at.selectbox(key="eval_model").options)
    said = [re.sub(r"\\(.)", r"\1", c.value) for c in at.caption if "Not offered" in c.value]
    assert len(said) == 1 and "run stopped0 (thesis_base, stopped after epoch 0; no best epoch kept" in said[0]
    at.selectbox(key="eval_model").set_value(label).run()
    assert not at.exception, [e.value for e in at.exception]
    warned = [re.sub(r"\\(.)", r"\1", w.value) for w in at.warning]
    assert any("these are the weights of its best epoch (best.keras)" in w for w in warned), warned
    assert at.radio[0].options == ["the data folder"]  # no saved test figures: it never finished
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Evaluated on the test part" in c.value for c in at.caption)  # its own split, not its training images
    assert [m.label for m in at.metric][:2] == ["AUC", "accuracy"]


@pytest.mark.slow
def test_a_stopped_run_is_offered_inside_the_cnn(tmp_path, monkeypatch, demo_dir):
    stopped_run(tmp_path, data=demo_dir, status="interrupted")
    (tmp_path / "stopped13" / "status").write_text("running\n")  # its process is gone: interrupted
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path))
    monkeypatch.setenv("SKINML_DATA", str(demo_dir))
    at = AppTest.from_file(str(PAGES / "4_Inside_the_CNN.py"), default_timeout=180).run()
    label = "run stopped13 (thesis_base): interrupted at epoch 13 (best epoch 11), not finished: no calibration, " \
            "threshold 0.5"
    assert label in at.selectbox(key="cnn_model").options
    at.selectbox(key="cnn_model").set_value(label).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Run stopped13 interrupted at epoch 13" in re.sub(r"\\(.)", r"\1", w.value) for w in at.warning)
    assert any("Layer **conv1**" in c.value for c in at.caption)


def test_the_clinician_page_still_names_a_stopped_run_it_does_not_offer(tmp_path, monkeypatch, demo_dir):
    stopped_run(tmp_path, data=demo_dir)
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path))
    from skinml.app import classifiers

    assert not any("stopped13" in label for label in classifiers.model_options(task="binary"))
    assert classifiers.unfinished_runs() == ["run stopped13 (thesis_base, stopped after epoch 13; not finished)"]
    assert classifiers.unfinished_runs(offered=True) == []


def test_the_dataset_picker_offers_every_dataset_of_the_data_folders(tmp_path, monkeypatch):
    """HAM10000 (with its lesion outlines beside it) had to be typed: only isic-sample was offered."""
    from skinml.app.data_ui import dataset_options
    from skinml.data.synthetic import write_demo_dataset

    root = tmp_path / "data"
    write_demo_dataset(root / "isic-sample", n=4, size=32, seed=0)
    write_demo_dataset(root / "ham10000", n=4, size=32, seed=1)
    (root / "ham10000-segmentations").mkdir()
    (root / "metadata").mkdir()
    (root / "metadata" / "ISIC_2019.csv").write_text("isic_id\n")  # a table without images: not a dataset
    monkeypatch.setenv("SKINML_DATA_ROOTS", str(root))
    monkeypatch.setenv("SKINML_DATA", str(root / "isic-sample"))
    options = dataset_options()
    assert options[f"ham10000 ({root / 'ham10000'}), with lesion outlines"] == str(root / "ham10000")
    assert options[f"isic-sample ({root / 'isic-sample'})"] == str(root / "isic-sample")
    assert not any("metadata" in label or "segmentations" in label for label in options)


@pytest.mark.realdata
def test_the_teaching_pages_start_on_a_real_image_when_real_data_is_loaded(isic_sample):
    from skinml.app.explain_ui import example_images

    names = list(example_images(str(isic_sample)))
    assert names[0].startswith("ISIC_") and any(n.startswith("synthetic") for n in names)


def test_the_plan_counts_the_batches_training_counts():
    """The plan said "14 batches of 32 per epoch" and the run "batch 13 of 13": training drops the last,
    partial batch when there are two full ones."""
    from skinml.cnn.config import TrainConfig
    from skinml.runs.estimate import plan

    assert plan(TrainConfig(batch_size=32, epochs=1), 440).batches_per_epoch == 13  # 440 = 13 x 32 + 24
    assert plan(TrainConfig(batch_size=32, epochs=1), 40).batches_per_epoch == 2  # fewer: nothing dropped


def test_wording_percentage_points_and_what_a_file_looks_like():
    import numpy as np

    from skinml.app.gan_ui import report_table, walk_reading
    from skinml.images.upload import describe_bytes

    text = walk_reading(np.array([0.01, 0.3, 0.6]), 0.43)
    assert "by 59 percentage points and crosses its threshold" in text and "59%" not in text
    assert "people hardly see" in text  # the walk barely changes the picture: a teaching moment
    assert "people hardly see" not in walk_reading(np.array([0.2, 0.3]), 0.43)
    what = describe_bytes(bytes(range(128, 256)) * 8)
    assert f"it looks like {what}" == "it looks like a file of some other kind (no image format we can read)"
    real_vs_real = {"kid": -0.0019, "two_sample": {"accuracy": 0.5}, "two_sample_features": {"accuracy": 0.37}}
    table = report_table(real_vs_real, real_vs_real)
    meaning = dict(zip(table["measure"], table["what it says"]))
    assert "below it too" in meaning["KID x1000"] and "by chance" in meaning["judge on pixels (CNN)"]
    assert "below 50% is chance too" in meaning["judge on features"]


def test_subgroup_tables_say_n_a_for_an_undefined_figure_and_warn_on_tiny_groups():
    import pandas as pd

    from skinml.app.eval_ui import small_subgroups_note, subgroup_rows

    saved = [{"group": "sex", "value": "female", "n": 40, "n_malignant": 12, "auc": 0.81234, "accuracy": 0.7},
             {"group": "site", "value": "palms/soles", "n": 1, "n_malignant": 0, "auc": None, "accuracy": 1.0}]
    table = subgroup_rows(saved)
    assert table["auc"].tolist() == ["0.812", "n/a (one class)"] and "None" not in table.to_string()
    note = small_subgroups_note(pd.DataFrame(saved))
    assert "site palms/soles (1)" in note and "female" not in note
    assert small_subgroups_note(pd.DataFrame(saved[:1])) == ""


def test_a_finished_training_child_is_reaped_not_left_defunct(tmp_path, monkeypatch):
    """Finished training children stayed <defunct> under the server until the next launch or stop."""
    import sys
    import time

    from skinml import runs
    from skinml.io import write_json

    monkeypatch.setenv("SKINML_RUNS", str(tmp_path))
    run_dir = tmp_path / "quick"
    run_dir.mkdir()
    write_json(run_dir / "config.json", {"kind": "classifier", "model": "thesis_base"})
    runs.launch([sys.executable, "-c", "pass"], run_dir, owner=runs.OPERATOR)
    pid = int((run_dir / "pid").read_text())
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break  # gone: reaped
        time.sleep(0.2)
    else:
        raise AssertionError(f"the finished child {pid} is still in the process table (state {state})")


def test_a_one_epoch_curve_has_whole_epochs_and_round_ticks():
    import pandas as pd

    from skinml.plots.eval import plot_history

    history = pd.DataFrame({"epoch": [1], "loss": [0.5488], "val_loss": [0.5490], "accuracy": [0.61],
                            "val_accuracy": [0.6]})
    layout = plot_history(history, ("loss", "accuracy")).to_dict()["layout"]
    assert layout["xaxis"]["dtick"] == 1 and layout["xaxis"]["tickformat"] == "d"
    low, high = layout["yaxis"]["range"]
    assert high - low == pytest.approx(0.1) and layout["yaxis"]["tickformat"] == ".2f"


def test_the_examples_heatmaps_are_computed_at_ship_time_and_read_back(tmp_path, monkeypatch):
    """Inside the CNN took up to 22 s on a first visit: occlusion and integrated gradients of the
    built-in examples are now computed once, when a model is shipped, and the pages read them."""
    import keras
    import numpy as np

    from skinml.app import explain_ui
    from skinml.cnn.classifier import load_classifier, save_classifier
    from skinml.cnn.models import build_model
    from skinml.explain import trust
    from skinml.explain.precomputed import example_photos, precompute_example_maps
    from skinml.images.decode import load_image
    from skinml.images.upload import read_image

    keras.utils.set_random_seed(0)
    folder = save_classifier(tmp_path / "model", build_model("skinml_resnet", image_size=32, widths=(8, 16)),
                             {"name": "skinml_resnet", "image_size": 32, "threshold": 0.5, "version": "t"})
    clf = load_classifier(folder)
    precompute_example_maps(clf, folder, ["gradcam", "occlusion"])
    x = load_image(read_image(next(iter(example_photos().values()))), 32)
    expected = trust.method_maps(clf, x, 1, ["occlusion"])["occlusion"]

    def refuse(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(trust, "method_maps", refuse)
    shown = explain_ui.method_map_cached(str(folder), x, 1, "occlusion")
    assert np.allclose(shown, expected, atol=1e-3)  # stored at half precision
    other = x.copy()
    other[0, 0] ^= 1  # any other photo is computed as before
    with pytest.raises(AssertionError, match="computed again"):
        explain_ui.method_map_cached(str(folder), other, 1, "occlusion")
