"""Diagnosis and image + metadata models: build, train a step with missing values, round-trip,
train in the core loop on a pack, answer through Classifier, `predict` and `evaluate`."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from fixtures_layouts import write_image  # noqa: E402

from skinml.cli import main  # noqa: E402
from skinml.cnn.classifier import load_classifier, save_classifier  # noqa: E402
from skinml.cnn.models import METADATA_MODELS, build_model  # noqa: E402
from skinml.data.diagnoses import DIAGNOSIS_CLASSES, MALIGNANT_DIAGNOSES  # noqa: E402
from skinml.errors import DataError, ModelError  # noqa: E402

SIZE = 32
PATIENTS = pd.DataFrame({"age_approx": [35.0, np.nan, 80.0, np.nan], "sex": ["male", "", "female", ""],
                         "anatom_site_general": ["back", "", "head/neck", "palms/soles"]})
DIAGNOSIS_INFO = {"task": "diagnosis", "image_size": SIZE, "classes": list(DIAGNOSIS_CLASSES),
                  "malignant_classes": list(MALIGNANT_DIAGNOSES), "version": "test"}


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, SIZE, SIZE, 3)).astype("float32")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(METADATA_MODELS))
@pytest.mark.parametrize("classes", [1, 7])
def test_metadata_model_trains_a_step_with_missing_values_and_round_trips(name, classes, tmp_path):
    from skinml.data.tabular import METADATA_FEATURES, metadata_features

    keras.utils.set_random_seed(0)
    model = build_model(name, image_size=SIZE, classes=classes)
    assert [t.name for t in model.inputs] == ["image", "metadata"]
    assert model.get_layer("metadata").output.shape[-1] == len(METADATA_FEATURES)
    assert model.output_shape == (None, classes) and model.layers[-1].name == "output"
    x, m = _images(4), metadata_features(PATIENTS)  # two rows with no age, sex or site at all
    y = np.eye(7, dtype="float32")[[0, 1, 2, 3]] if classes == 7 else np.array([0, 1, 0, 1], "float32")
    loss = "categorical_crossentropy" if classes == 7 else "binary_crossentropy"
    model.compile(optimizer="adam", loss=loss, jit_compile=False)
    before = model.get_layer("metadata_dense1").get_weights()[0].copy()
    assert np.isfinite(model.train_on_batch({"image": x, "metadata": m}, y))
    assert not np.allclose(before, model.get_layer("metadata_dense1").get_weights()[0])  # the tabular branch learns

    info = DIAGNOSIS_INFO if classes == 7 else {"image_size": SIZE, "threshold": 0.5}
    clf = load_classifier(save_classifier(tmp_path / "clf", model, info))
    assert clf.uses_metadata and clf.task == ("diagnosis" if classes == 7 else "binary")
    expected = np.asarray(model.predict({"image": x, "metadata": m}, verbose=0))
    got = clf.predict_proba(x, metadata=PATIENTS)
    np.testing.assert_allclose(got if classes == 7 else got[:, 1:], expected, rtol=1e-5, atol=1e-6)
    older = PATIENTS.assign(age_approx=90.0)
    assert not np.allclose(clf.predict_proba(x, metadata=older), clf.predict_proba(x, metadata=PATIENTS))
    unknown = PATIENTS.assign(age_approx=np.nan, sex="", anatom_site_general="")
    np.testing.assert_allclose(clf.predict_proba(x), clf.predict_proba(x, metadata=unknown))  # None = unknown
    with pytest.raises(ModelError, match="4 images need 4 rows of patient metadata, not 2"):
        clf.predict_proba(x, metadata=PATIENTS.iloc[:2])


def test_class_weights_make_every_class_weigh_the_same():
    from skinml.cnn.train import class_weights

    y = np.array([0] * 6 + [1] * 3 + [2])  # 10 images of 3 classes
    weights = class_weights(y, "balanced", 3)
    assert weights == pytest.approx({0: 10 / 18, 1: 10 / 9, 2: 10 / 3})
    totals = [weights[c] * np.sum(y == c) for c in range(3)]
    assert totals == pytest.approx([10 / 3] * 3)  # each class adds up to n / classes
    assert class_weights(y, "none", 3) is None


def test_a_binary_classifier_answers_as_before(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_model("skinml_resnet", image_size=SIZE)
    clf = load_classifier(save_classifier(tmp_path / "b", model, {"image_size": SIZE, "threshold": 0.3}))
    x = _images(3)
    p = np.asarray(model.predict(x, verbose=0)).reshape(-1)
    assert (clf.task, clf.classes, clf.uses_metadata) == ("binary", ("benign", "malignant"), False)
    np.testing.assert_allclose(clf.p_malignant(clf.predict_proba(x)), p, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(x), np.column_stack([1 - p, p]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(clf.p_malignant(clf.predict_proba(x, metadata=PATIENTS.iloc[:3])), p, rtol=1e-5,
                               atol=1e-6)
    assert list(clf.predict(x)) == ["malignant" if v >= clf.threshold else "benign" for v in p]


@pytest.fixture(scope="module")
def diagnosis_model(tmp_path_factory):
    """An untrained image-only diagnosis model saved as a classifier folder."""
    keras.utils.set_random_seed(1)
    model = build_model("skinml_resnet", image_size=SIZE, classes=7)
    return save_classifier(tmp_path_factory.mktemp("dx") / "model", model, DIAGNOSIS_INFO)


def test_a_diagnosis_classifier_derives_p_malignant(diagnosis_model):
    clf = load_classifier(diagnosis_model, task="diagnosis")
    x = _images(5)
    p = clf.predict_proba(x, tta=True)
    assert p.shape == (5, 7) and np.allclose(p.sum(axis=1), 1)
    columns = [DIAGNOSIS_CLASSES.index(c) for c in ("mel", "bcc", "akiec")]
    np.testing.assert_allclose(clf.p_malignant(clf.predict_proba(x, tta=True)), p[:, columns].sum(axis=1))


def test_loading_says_which_model_is_missing_or_wrong(diagnosis_model, tmp_path, monkeypatch):
    import skinml.cnn.classifier as classifier

    monkeypatch.setattr(classifier, "DIAGNOSIS_DIR", tmp_path / "diagnosis")
    with pytest.raises(ModelError, match="No diagnosis model is installed yet"):
        load_classifier(task="diagnosis")
    with pytest.raises(ModelError, match="trained for the diagnosis task, not binary"):
        load_classifier(diagnosis_model, task="binary")
    with pytest.raises(ModelError, match="Unknown task 'lesion'"):
        load_classifier(diagnosis_model, task="lesion")


# ---------------------------------------------------------------- the core loop on a pack

@pytest.fixture(scope="module")
def pack(demo_dir, tmp_path_factory):
    """The demo dataset as a 48 px pack with a diagnosis per image (four images of none of
    the seven) and patient metadata with gaps."""
    from skinml.data.policy import DataPolicy, prepare
    from skinml.images.pack import write_pack

    df = prepare(demo_dir, DataPolicy(), balance=False, seed=0)
    malignant, benign = ["mel", "bcc", "akiec"], ["nv", "bkl", "df", "vasc"]
    df["dx"] = [(malignant if label == "malignant" else benign)[i % (3 if label == "malignant" else 4)]
                for i, label in enumerate(df["benign_malignant"])]
    df.loc[df.index[df["split"] == "train"][:4], "dx"] = ""  # squamous cell carcinoma and the like
    df.loc[df.index[::3], ["age_approx", "sex", "anatom_site_general"]] = [np.nan, "", ""]
    return write_pack(df, tmp_path_factory.mktemp("pack"), image_size=48)


@pytest.fixture(scope="module")
def meta_run(pack, tmp_path_factory):
    from skinml.cnn.config import TrainConfig
    from skinml.runs.train import fit_classifier

    config = TrainConfig(pack=str(pack), task="diagnosis", model="skinml_resnet_meta", image_size=SIZE,
                         epochs=1, batch_size=8, augment="crop", class_weight="balanced",
                         run_dir=str(tmp_path_factory.mktemp("runs") / "meta"))
    return fit_classifier(config)


@pytest.mark.slow
def test_the_core_loop_trains_the_metadata_model_on_a_pack(meta_run, pack):
    from skinml.images.pack import read_index
    from skinml.io import read_json
    from skinml.runs import run_status

    assert run_status(meta_run) == "finished"
    index = read_index(pack)
    info = read_json(meta_run / "model" / "model.json")
    counts = info["data"]["counts"]
    assert sum(sum(c.values()) for c in counts.values()) == int((index["dx"] != "").sum())  # the four left out
    clf = load_classifier(meta_run, task="diagnosis")
    assert clf.uses_metadata and clf.image_size == SIZE  # the 48 px pack was read at 32 px
    test = read_json(meta_run / "metrics.json")["test"]
    assert len(test["confusion"]) == 7 and sum(map(sum, test["confusion"])) == test["n"]
    p = clf.predict_proba(_images(4), metadata=PATIENTS)
    assert p.shape == (4, 7) and np.allclose(p.sum(axis=1), 1)


@pytest.mark.slow
def test_a_diagnosis_run_on_a_dataset_folder_reads_arrays(demo_dir, tmp_path):
    """tf.data feeds 0/1 labels only: the diagnosis task's one-hot rows go through the array feed."""
    from skinml.cnn.config import TrainConfig
    from skinml.io import read_json
    from skinml.runs.train import fit_classifier

    config = TrainConfig(data=str(demo_dir), task="diagnosis", model="skinml_resnet", image_size=SIZE, epochs=1,
                         batch_size=8, augment="none", run_dir=str(tmp_path / "folder"))
    run = fit_classifier(config)
    assert read_json(run / "state.json")["feed"] == "array"
    assert read_json(run / "metrics.json")["classes"] == list(DIAGNOSIS_CLASSES)
    from skinml.errors import SkinmlError

    with pytest.raises(SkinmlError, match="The diagnosis task reads its images as arrays"):
        fit_classifier(TrainConfig(**{**config.__dict__, "feed": "tfdata", "run_dir": str(tmp_path / "tf")}))


def test_a_pack_smaller_than_the_run_is_a_sentence(pack):
    from skinml.cnn.config import TrainConfig
    from skinml.cnn.splits import load_splits, split_images

    config = TrainConfig(pack=str(pack), image_size=64)
    with pytest.raises(DataError, match="48 px, smaller than the 64 px"):
        split_images(config, load_splits(config))


@pytest.mark.slow
def test_an_ensemble_of_metadata_models_is_refused(meta_run, tmp_path):
    from skinml.cnn.finish import finish_ensemble

    with pytest.raises(ModelError, match="image \\+ metadata model"):
        finish_ensemble([meta_run, meta_run], tmp_path / "ensemble")


def test_the_metadata_only_baseline_uses_the_run_split(pack):
    from skinml.cnn.config import TrainConfig
    from skinml.cnn.metadata_only import evaluate_metadata_baseline
    from skinml.data.tabular import METADATA_FEATURES

    result = evaluate_metadata_baseline(TrainConfig(pack=str(pack), task="diagnosis"), n_boot=50)
    assert result["n_features"] == len(METADATA_FEATURES)
    assert 0 <= result["test"]["balanced_accuracy"] <= 1 and len(result["test"]["confusion"]) == 7


# ---------------------------------------------------------------- predict and evaluate

@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "lesion.jpg"
    write_image(path, malignant=True, seed=5)
    return path


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_predict_diagnosis_json(meta_run, photo, capsys):
    code, out, _ = run_cli(capsys, "predict", photo, "--model", meta_run, "--task", "diagnosis", "--json",
                           "--age", "45", "--sex", "female", "--site", "back", "--tta")
    assert code == 0
    [row] = json.loads(out)
    assert row["task"] == "diagnosis" and "label" not in row  # probabilities, never a verdict word
    probabilities = [d["probability"] for d in row["diagnoses"]]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) == pytest.approx(1, abs=1e-3)
    assert {d["class"] for d in row["diagnoses"]} == set(DIAGNOSIS_CLASSES)
    malignant = sum(d["probability"] for d in row["diagnoses"] if d["class"] in row["malignant_classes"])
    assert row["p_malignant"] == pytest.approx(malignant, abs=1e-3)
    assert row["patient"] == {"age": 45.0, "sex": "female", "site": "posterior torso"}
    assert row["metadata_used"] is True and row["uncertainty"] is not None
    code, out, _ = run_cli(capsys, "predict", photo, "--model", meta_run, "--json", "--age", "85", "--tta")
    assert json.loads(out)[0]["p_malignant"] != row["p_malignant"]  # the age reaches the model


def test_predict_with_an_image_only_model_says_the_metadata_was_not_used(diagnosis_model, photo, capsys):
    code, out, _ = run_cli(capsys, "predict", photo, "--model", diagnosis_model, "--json", "--age", "45")
    [row] = json.loads(out)
    assert code == 0 and row["metadata_used"] is False
    assert any("did not change its answer" in w for w in row["warnings"])
    code, out, _ = run_cli(capsys, "predict", photo, "--model", diagnosis_model)
    assert code == 0 and "p(malignant)" in out and "most probable diagnoses" in out and "dermatologist" in out


def test_predict_upload_gives_a_heatmap_for_the_most_probable_diagnosis(diagnosis_model, photo):
    from skinml.predict import predict_upload, reading

    result = predict_upload(load_classifier(diagnosis_model), photo.read_bytes(), "x.jpg", tta=False)
    assert result.heatmap.shape == (SIZE, SIZE) and result.threshold_side is None and result.threshold is None
    assert "not a diagnosis" in reading(result) and "add up to" in reading(result)


@pytest.mark.parametrize("args, message", [
    (["--age", "200"], "between 0 and 120"), (["--sex", "x"], "male, female"),
    (["--site", "elbow"], "Unknown anatomic site 'elbow'"), (["--task", "binary"], "not binary"),
])
def test_predict_bad_options_are_sentences(diagnosis_model, photo, capsys, args, message):
    code, _, err = run_cli(capsys, "predict", photo, "--model", diagnosis_model, *args)
    assert code == 2 and message in err


def test_predict_diagnosis_without_a_shipped_model_is_a_sentence(photo, capsys, tmp_path, monkeypatch):
    import skinml.cnn.classifier as classifier

    monkeypatch.setattr(classifier, "DIAGNOSIS_DIR", tmp_path / "none")
    code, _, err = run_cli(capsys, "predict", photo, "--task", "diagnosis")
    assert code == 2 and "No diagnosis model is installed yet" in err


@pytest.fixture(scope="module")
def diagnosis_folder(tmp_path_factory):
    """An isic-cli folder: two images of each of the seven diagnoses, a squamous cell
    carcinoma and an image of no diagnosis."""
    root = tmp_path_factory.mktemp("dxfolder")
    names = {"mel": "melanoma", "nv": "nevus", "bcc": "basal cell carcinoma", "akiec": "actinic keratosis",
             "bkl": "seborrheic keratosis", "df": "dermatofibroma", "vasc": "vascular lesion"}
    rows = [(f"ISIC_{k:07d}", names[c]) for k, c in enumerate(list(names) * 2)]
    rows += [("ISIC_0000100", "squamous cell carcinoma"), ("ISIC_0000101", "")]
    records = []
    for k, (isic_id, diagnosis) in enumerate(rows):
        malignant = diagnosis in ("melanoma", "basal cell carcinoma", "actinic keratosis", "squamous cell carcinoma")
        write_image(root / f"{isic_id}.jpg", malignant=malignant, seed=k)
        records.append({"isic_id": isic_id, "benign_malignant": "malignant" if malignant else "benign",
                        "diagnosis": diagnosis, "lesion_id": f"L{k}", "image_type": "dermoscopic"})
    pd.DataFrame(records).to_csv(root / "metadata.csv", index=False)
    return root


def test_evaluate_diagnosis_json_and_the_isic_2018_csvs(diagnosis_model, diagnosis_folder, tmp_path, capsys):
    pred, truth = tmp_path / "pred.csv", tmp_path / "truth.csv"
    code, out, _ = run_cli(capsys, "evaluate", "--task", "diagnosis", "--model", diagnosis_model, "--data",
                           diagnosis_folder, "--json", "--bootstrap", "50", "--predictions-csv", pred,
                           "--truth-csv", truth)
    assert code == 0
    report = json.loads(out)
    assert (report["task"], report["split"], report["n"]) == ("diagnosis", "all", 14)
    assert report["classes"] == list(DIAGNOSIS_CLASSES)
    assert report["left_out"] == {"diagnosis not one of the classes": 2}
    assert sum(map(sum, report["confusion"])) == 14 and [r["n"] for r in report["per_class"]] == [2] * 7
    assert {"balanced_accuracy", "macro_auc", "malignant_auc", "confusion_normalised", "intervals"} <= set(report)
    predictions = pd.read_csv(pred)
    assert list(predictions.columns) == ["image", "MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    assert len(predictions) == 14 and np.allclose(predictions.iloc[:, 1:].sum(axis=1), 1, atol=1e-5)
    assert pd.read_csv(truth).iloc[:, 1:].sum().tolist() == [2.0] * 7
    if importlib.util.find_spec("isic_challenge_scoring"):  # the official scorer reads our two files
        from test_evaluation import _run_scorer

        score = _run_scorer(truth, pred)
        assert score["aggregate"]["balanced_accuracy"] == pytest.approx(report["balanced_accuracy"], abs=1e-6)
    code, out, _ = run_cli(capsys, "evaluate", "--task", "diagnosis", "--model", diagnosis_model, "--data",
                           diagnosis_folder, "--bootstrap", "0")
    assert code == 0 and "balanced_accuracy" in out and "confusion (rows truth" in out


@pytest.mark.parametrize("args, message", [
    (["--bootstrap", "-1"], "0 or more"), (["--task", "binary"], "not binary"),
    (["--data", "/no/such/folder"], "is not a folder"),
])
def test_evaluate_bad_options_are_sentences(diagnosis_model, diagnosis_folder, capsys, args, message):
    base = ["evaluate", "--model", diagnosis_model, "--data", diagnosis_folder]
    code, _, err = run_cli(capsys, *base, *args)
    assert code == 2 and message in err
