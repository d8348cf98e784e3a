"""The core training loop with the shipped recipe's settings: image packs, a time budget, the
diagnosis task, and ensembles as a finishing step."""

import json

import numpy as np
import pytest

from skinml.cnn.config import TrainConfig
from skinml.data.policy import DIAGNOSIS_CLASSES


@pytest.fixture(scope="module")
def pack(demo_dir, tmp_path_factory):
    """The demo dataset as a 32 px image pack, with its split and a diagnosis per image
    (malignant images cycle through mel/bcc/akiec, benign ones through the other four)."""
    from skinml.data.policy import DataPolicy, prepare
    from skinml.images.pack import write_pack

    df = prepare(demo_dir, DataPolicy(), balance=False, seed=0)
    malignant, benign = ["mel", "bcc", "akiec", ""], ["nv", "bkl", "df", "vasc"]  # "": none of the seven
    df["dx"] = [(malignant if label == "malignant" else benign)[i % 4]
                for i, label in enumerate(df["benign_malignant"])]
    return write_pack(df, tmp_path_factory.mktemp("pack"), image_size=32)


def tiny(**kw) -> TrainConfig:
    return TrainConfig(**{"model": "skinml_resnet", "image_size": 32, "epochs": 2, "batch_size": 8,
                          "augment": "crop", "class_weight": "none", "patience": 100, **kw})


@pytest.fixture(scope="module")
def pack_runs(pack, tmp_path_factory):
    """Two finished one-epoch runs on the pack, seeds 0 and 1."""
    from skinml.runs.train import fit_classifier

    root = tmp_path_factory.mktemp("runs")
    return [fit_classifier(tiny(pack=str(pack), epochs=1, seed=seed, run_dir=str(root / f"s{seed}")))
            for seed in (0, 1)]


@pytest.mark.slow
def test_a_run_on_a_pack_is_finished_and_two_seeds_make_an_ensemble(pack_runs, tmp_path):
    import keras

    from skinml.cnn.classifier import load_classifier
    from skinml.cnn.finish import finish_ensemble
    from skinml.io import read_json

    runs = pack_runs
    for run in runs:
        assert read_json(run / "state.json")["epoch"] == 1
        assert read_json(run / "model" / "model.json")["data"]["layout"] == "image pack"
    out = finish_ensemble(runs, tmp_path / "ensemble")
    ensemble = load_classifier(out)
    assert ensemble.info["name"] == "skinml_resnet x2 ensemble"
    assert set(read_json(out / "metrics.json")) >= {"val", "test", "threshold", "temperature"}

    images = np.random.default_rng(0).random((4, 32, 32, 3)).astype("float32")
    members = [keras.saving.load_model(r / "model" / "model.keras") for r in runs]
    logit = lambda p: np.log(p / (1 - p))
    mean_logit = np.mean([logit(np.asarray(m.predict(images, verbose=0)).ravel()) for m in members], axis=0)
    temperature = ensemble.info["temperature"]
    got = logit(np.asarray(ensemble.model.predict(images, verbose=0)).ravel())
    np.testing.assert_allclose(got, mean_logit / temperature, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_a_pack_run_indexes_the_photos_it_learned_from(pack_runs, pack, demo_dir):
    """A run trained from an image pack writes its training index from the pack's images: the
    original photo of a training image is recognised by its pixels, a test photo is not."""
    from PIL import Image

    from skinml.cnn.seen import find_seen
    from skinml.cnn.seen import read_index as read_training_index
    from skinml.images.pack import read_index

    model = pack_runs[0] / "model"
    split = read_index(pack)
    index = read_training_index(model)
    assert sorted(index["isic_id"]) == sorted(split.loc[split["split"].isin(["train", "val"]), "isic_id"])
    for name, expected in (("train", True), ("test", False)):
        isic_id = split.loc[split["split"] == name, "isic_id"].iloc[0]
        photo = Image.open(next(demo_dir.rglob(f"{isic_id}.jpg")))
        seen = find_seen(model, "upload.jpg", photo)
        assert (seen is not None and seen.isic_id == isic_id and seen.how == "pixels") == expected


@pytest.mark.slow
def test_an_ensemble_of_runs_on_different_splits_is_refused(pack_runs, demo_dir, tmp_path):
    from skinml.cnn.finish import finish_ensemble
    from skinml.errors import ModelError
    from skinml.runs.train import fit_classifier

    other = fit_classifier(tiny(data=str(demo_dir), epochs=1, feed="array", balance=False, max_images=30,
                                run_dir=str(tmp_path / "other")))
    with pytest.raises(ModelError, match="different splits"):
        finish_ensemble([pack_runs[0], other], tmp_path / "ensemble")
    with pytest.raises(ModelError, match="two or more"):
        finish_ensemble(pack_runs[:1], tmp_path / "ensemble")


@pytest.mark.slow
def test_the_diagnosis_task_trains_and_is_measured_per_class(pack, tmp_path):
    from skinml.cnn.classifier import load_classifier
    from skinml.images.pack import read_index
    from skinml.io import read_json
    from skinml.runs import load_history
    from skinml.runs.train import fit_classifier

    run = fit_classifier(tiny(pack=str(pack), task="diagnosis", class_weight="balanced", run_dir=str(tmp_path / "dx")))
    config = read_json(run / "config.json")
    assert (config["task"], config["monitor"]) == ("diagnosis", "val_balanced_accuracy")
    assert "val_balanced_accuracy" in load_history(run).columns
    metrics = read_json(run / "metrics.json")
    assert metrics["classes"] == list(DIAGNOSIS_CLASSES)
    test = metrics["test"]
    assert 0 <= test["balanced_accuracy"] <= 1 and len(test["confusion"]) == 7
    assert sum(map(sum, test["confusion"])) == test["n"]
    assert test["n"] == int((read_index(pack).query("split == 'test'")["dx"] != "").sum())  # "" left out
    assert [r["class"] for r in test["per_class"]] == list(DIAGNOSIS_CLASSES)
    model = load_classifier(run)
    assert model.info["task"] == "diagnosis" and model.info["malignant_classes"] == ["mel", "bcc", "akiec"]
    p = np.asarray(model.model.predict(np.zeros((3, 32, 32, 3), "float32"), verbose=0))
    assert p.shape == (3, 7) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    header = (run / "predictions.csv").read_text().splitlines()[0].split(",")
    assert [h for h in header if h.startswith("p_")] == [f"p_{c}" for c in DIAGNOSIS_CLASSES]


def test_the_time_budget_plans_the_epochs_that_fit():
    from skinml.schedule import plan_epochs

    config = TrainConfig(epochs=100, time_budget=600)
    assert plan_epochs(config, done=2, seconds_so_far=100, recent=[10, 10]) == 52  # 500 s left at 10 s each
    assert plan_epochs(config, done=2, seconds_so_far=100, recent=[1]) == 100  # never above the epochs asked
    assert plan_epochs(config, done=5, seconds_so_far=700, recent=[10]) == 5  # over budget: stop now
    assert plan_epochs(TrainConfig(epochs=7), done=1, seconds_so_far=1e6, recent=[1]) == 7  # no budget


@pytest.mark.slow
def test_a_run_stops_at_its_time_budget(pack, tmp_path):
    from skinml.io import read_json
    from skinml.runs.train import fit_classifier

    run = fit_classifier(tiny(pack=str(pack), epochs=200, time_budget=0.5, run_dir=str(tmp_path / "budget")))
    state = read_json(run / "state.json")
    assert state["epoch"] == state["planned_epochs"] < 200
    assert json.loads((run / "config.json").read_text())["time_budget"] == 0.5
