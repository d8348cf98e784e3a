"""A diagnosis model with and without patient data: fields hidden as "unknown", metadata dropout,
and class-balanced decisions by a logit adjustment chosen on validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skinml.data.tabular import FIELDS, METADATA_FEATURES, hide_fields, metadata_dropout, metadata_features
from skinml.errors import DataError
from skinml.metrics.multiclass import balanced_accuracy, choose_logit_adjustment, logit_adjust

PATIENTS = pd.DataFrame({"age_approx": [35.0, 70.0, np.nan], "sex": ["female", "male", ""],
                         "anatom_site_general": ["back", "head/neck", "lower extremity"]})
COLUMNS = {"age": "age_approx", "sex": "sex", "site": "anatom_site_general"}


@pytest.mark.parametrize("fields", [("age",), ("sex",), ("site",), ("age", "site"), FIELDS])
def test_hidden_fields_read_as_a_blank_table_would(fields):
    blank = PATIENTS.assign(**{COLUMNS[f]: (np.nan if f == "age" else "") for f in fields})
    hidden = np.tile([f in fields for f in FIELDS], (len(PATIENTS), 1))
    assert np.array_equal(hide_fields(metadata_features(PATIENTS), hidden), metadata_features(blank))


def test_hiding_only_some_rows_leaves_the_others():
    x = metadata_features(PATIENTS)
    out = hide_fields(x, np.array([[True, True, True], [False] * 3, [False] * 3]))
    assert np.array_equal(out[1:], x[1:]) and np.array_equal(out[:1], metadata_features(
        pd.DataFrame({"age_approx": [np.nan], "sex": [""], "anatom_site_general": [""]})))


def test_metadata_dropout_hides_fields_and_whole_rows_at_its_rate():
    x = metadata_features(pd.concat([PATIENTS.iloc[:2]] * 10_000, ignore_index=True))
    assert metadata_dropout(x, 0.0, np.random.default_rng(0)) is x
    out = metadata_dropout(x, 0.3, np.random.default_rng(0))
    unknown = out[:, [METADATA_FEATURES.index(f"{f}_{'missing' if f == 'age' else 'unknown'}") for f in FIELDS]]
    assert unknown.mean(axis=0) == pytest.approx([0.3 + 0.7 * 0.3] * 3, abs=0.02)
    assert unknown.all(axis=1).mean() == pytest.approx(0.3 + 0.7 * 0.3 ** 3, abs=0.02)
    assert not unknown.any(axis=1).all()  # most rows still tell something


def test_logit_adjustment_by_hand():
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    prior = np.array([0.5, 0.25, 0.25])
    assert np.allclose(logit_adjust(p, prior, 0.0), p)
    by_hand = (p / prior) / (p / prior).sum(axis=1, keepdims=True)
    assert np.allclose(logit_adjust(p, prior * 4, 1.0), by_hand)  # the prior is normalised
    with pytest.raises(DataError, match="one positive share per class"):
        logit_adjust(p, [0.5, 0.5], 1.0)


def test_the_adjustment_chosen_on_validation_undoes_a_majority_bias():
    rng = np.random.default_rng(0)
    prior = np.array([0.7, 0.2, 0.1])
    y = np.repeat([0, 1, 2], 300)
    fair = np.exp(rng.normal(0, 1, (900, 3)) + 1.2 * np.eye(3)[y])
    biased = fair * prior  # a model that learned the training shares
    biased /= biased.sum(axis=1, keepdims=True)
    tau = choose_logit_adjustment(y, biased, prior)
    assert 0.75 <= tau <= 1.25
    assert balanced_accuracy(y, logit_adjust(biased, prior, tau)) > balanced_accuracy(y, biased) + 0.1


def test_training_feed_hides_patient_data_at_the_configured_rate():
    from skinml.cnn.config import TrainConfig
    from skinml.cnn.train import make_feed

    x = metadata_features(pd.concat([PATIENTS.iloc[:2]] * 200, ignore_index=True))
    images, labels = np.zeros((400, 8, 8, 3), "uint8"), np.zeros(400)
    feed = make_feed(images, labels, 400, shuffle=True, metadata=x, metadata_dropout=0.5)
    seen = feed[0][0]["metadata"]
    assert 0.5 < seen[:, METADATA_FEATURES.index("sex_unknown")].mean() < 0.9  # 0.75 expected
    assert np.array_equal(make_feed(images, labels, 400, shuffle=False, metadata=x)[0][0]["metadata"], x)
    assert TrainConfig().metadata_dropout == 0.0  # older runs: never
    with pytest.raises(Exception, match="metadata_dropout is a rate"):
        TrainConfig(metadata_dropout=1.0).check()


def figures(balanced: float, auc: float) -> dict:
    return {"balanced_accuracy": balanced, "macro_auc": auc,
            "intervals": {"balanced_accuracy": [balanced - 0.05, balanced + 0.05],
                          "macro_auc": [auc - 0.01, auc + 0.01]}}


REPORT = {"n_test": 990, "with_patient_data": {"test": figures(0.61, 0.91)},
          "without_patient_data": {"test": figures(0.38, 0.85)}}


def test_the_page_sentence_names_the_case_and_its_cost():
    from skinml.data.tabular import patient_table
    from skinml.evaluation import patient_data_sentence

    none = patient_data_sentence(REPORT, None)
    assert none.startswith("No patient data given") and "0.61 (95% 0.56 to 0.66)" in none and "0.38" in none
    assert patient_data_sentence(REPORT, patient_table(70, "male", "back")).startswith("Age, sex and site given")
    assert patient_data_sentence(REPORT, patient_table(None, "female", None)).startswith(
        "Only sex given (age and site unknown)")
    assert patient_data_sentence(None, None) is None


def test_measure_patient_data_predicts_each_case_and_chooses_tau_on_validation(tmp_path):
    import keras
    from PIL import Image

    from skinml.cnn.classifier import load_classifier, save_classifier
    from skinml.cnn.models import build_model
    from skinml.data.diagnoses import DIAGNOSIS_CLASSES, MALIGNANT_DIAGNOSES
    from skinml.evaluation import measure_patient_data, predict_table_classes, without_patient_data
    from skinml.metrics.multiclass import TAUS, evaluate_multiclass

    keras.utils.set_random_seed(1)
    classes = list(DIAGNOSIS_CLASSES)
    info = {"task": "diagnosis", "image_size": 32, "classes": classes, "malignant_classes": list(MALIGNANT_DIAGNOSES),
            "data": {"counts": {"train": {c: 10 * (k + 1) for k, c in enumerate(classes)}}}}
    folder = save_classifier(tmp_path / "model", build_model("skinml_resnet_meta", image_size=32, classes=7), info)
    clf = load_classifier(folder)
    rng = np.random.default_rng(0)
    rows = []
    for k in range(28):
        path = tmp_path / f"{k}.png"
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype="uint8")).save(path)
        rows.append({"isic_id": f"I{k}", "image_path": str(path), "dx": classes[k % 7], "age_approx": 20.0 + 2 * k,
                     "sex": ("male", "female")[k % 2], "anatom_site_general": "head/neck"})
    table = pd.DataFrame(rows)
    val, test = table.iloc[:14].reset_index(drop=True), table.iloc[14:].reset_index(drop=True)
    report = measure_patient_data(clf, val, test, n_boot=0)
    y = test["dx"].map(classes.index).to_numpy()
    blind = predict_table_classes(clf, without_patient_data(test))
    assert report["without_patient_data"]["test"] == evaluate_multiclass(y, blind, classes, list(MALIGNANT_DIAGNOSES),
                                                                         n_boot=0)
    assert report["with_patient_data"]["test"] != report["without_patient_data"]["test"]
    assert report["with_patient_data"]["tau"] in TAUS and report["prior"] == pytest.approx(
        np.arange(1, 8) / 28, abs=1e-4)
