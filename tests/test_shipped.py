"""The models that ship inside the package: they load, answer, and carry honest model cards."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from skinml.cnn.classifier import DIAGNOSIS_DIR, SHIPPED_DIR, load_classifier
from skinml.gan.models import SHIPPED_CGAN, SHIPPED_GAN, load_generator

CARD_SECTIONS = ("## Description", "## Intended use and limitations", "## Training data",
                 "## Training procedure")


def test_shipped_classifier_loads_with_threshold_and_card():
    clf = load_classifier()
    assert clf.path == SHIPPED_DIR
    assert sum(f.stat().st_size for f in SHIPPED_DIR.iterdir()) < 20 * 2**20
    assert 0 < clf.threshold < 1 and clf.image_size == clf.model.input_shape[1]
    for section in CARD_SECTIONS + ("## Evaluation",):
        assert section in clf.card
    test = clf.metrics["test"]
    assert test["n"] > 400 and 0.5 < test["auc"] <= 1
    assert clf.info["data"]["train_ids_sha1"] and clf.info["tta"] is True


def test_shipped_classifier_ranks_lesions_drawn_by_the_abcd_rule():
    """Without real data: it ranks synthetic malignant-looking lesions (asymmetric, irregular border,
    several colours) above benign-looking ones, which it never saw (measured AUC 0.93 on 16 + 16).
    A model with broken or shuffled weights ranks them at chance (0.5)."""
    from sklearn.metrics import roc_auc_score

    from skinml.data.synthetic import make_lesion

    clf = load_classifier()
    images = np.stack([make_lesion(m, clf.image_size, seed=s) for m in (0, 1) for s in range(16)])
    p = clf.p_malignant(clf.predict_proba(images.astype("float32") / 255, tta=True))
    assert roc_auc_score(np.repeat([0, 1], 16), p) > 0.8


@pytest.mark.realdata
def test_shipped_classifier_ranks_real_malignant_above_benign_and_repeats_its_recorded_answers(isic_sample):
    """On 20 + 20 real images of its held-out test split: the p it gives now are the p its run
    recorded in predictions.csv, and they rank malignant above benign (measured AUC 0.92)."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from skinml.images.decode import load_image

    clf = load_classifier()
    recorded = pd.read_csv(SHIPPED_DIR / "predictions.csv", dtype={"isic_id": str})
    test = recorded[recorded["split"] == "test"]
    pick = pd.concat([test[test["y"] == label].sample(20, random_state=0) for label in (0, 1)])
    images = np.stack([load_image(isic_sample / "images" / f"{isic_id}.jpg", clf.image_size, clf.resize)
                       for isic_id in pick["isic_id"]])
    p = clf.p_malignant(clf.predict_proba(images.astype("float32") / 255, tta=clf.tta))
    np.testing.assert_allclose(p, pick["p"], atol=0.01)
    assert roc_auc_score(pick["y"], p) > 0.8


@pytest.mark.slow
@pytest.mark.realdata
def test_shipped_classifier_reproduces_its_card_on_the_test_split(isic_sample):
    """`skinml evaluate` on the training folder finds the held-out test split and its figures."""
    out = subprocess.run([sys.executable, "-m", "skinml", "evaluate", "--data", str(isic_sample), "--json",
                          "--bootstrap", "0"], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    card = load_classifier().metrics["test"]
    assert report["split"] == "test" and report["n"] == card["n"]
    assert report["auc"] == pytest.approx(card["auc"], abs=0.01)
    assert report["threshold"] == pytest.approx(load_classifier().threshold)


def test_shipped_diagnosis_model_loads_with_its_classes_and_card():
    clf = load_classifier(task="diagnosis")
    assert clf.path == DIAGNOSIS_DIR and clf.task == "diagnosis"
    assert sum(f.stat().st_size for f in DIAGNOSIS_DIR.iterdir()) < 20 * 2**20
    assert list(clf.classes) == ["mel", "nv", "bcc", "akiec", "bkl", "df", "vasc"]
    assert set(clf.malignant_classes) == {"mel", "bcc", "akiec"}
    for section in CARD_SECTIONS + ("## Evaluation", "per subgroup"):
        assert section in clf.card
    test = clf.metrics["test"]
    assert test["n"] > 500 and test["balanced_accuracy"] > 2 / 7  # chance is 1/7


@pytest.mark.realdata
def test_shipped_diagnosis_model_repeats_its_recorded_answers_on_real_held_out_images(ham10000):
    """On up to 8 test images of each diagnosis (HAM10000's own files and metadata; the model
    trained on a 128 px JPEG pack of them, so a few points of difference are expected), the
    class probabilities it gives now are the ones its run recorded, and its most probable class
    is right far more often than chance."""
    import pandas as pd

    from skinml.data.readers import load_dataset
    from skinml.images.decode import load_image
    from skinml.metrics.multiclass import balanced_accuracy

    clf = load_classifier(task="diagnosis")
    recorded = pd.read_csv(DIAGNOSIS_DIR / "predictions.csv", dtype={"isic_id": str})
    test = recorded[recorded["split"] == "test"]
    table = load_dataset(ham10000).drop_duplicates("isic_id").set_index("isic_id")
    pick = pd.concat([test[test["y"] == k].head(8) for k in range(len(clf.classes))])
    pick = pick[pick["isic_id"].isin(table.index)]
    rows = table.loc[pick["isic_id"]].reset_index()
    images = np.stack([load_image(path, clf.image_size, clf.resize) for path in rows["image_path"]])
    p = clf.predict_proba(images.astype("float32") / 255, tta=clf.tta, metadata=rows if clf.uses_metadata else None)
    columns = [f"p_{c}" for c in clf.classes]
    assert np.mean(np.abs(p - pick[columns].to_numpy())) < 0.03
    assert np.mean(p.argmax(axis=1) == pick[columns].to_numpy().argmax(axis=1)) > 0.85
    assert balanced_accuracy(pick["y"], p) > 0.35


@pytest.mark.parametrize("folder,conditional", [(SHIPPED_GAN, False), (SHIPPED_CGAN, True)])
def test_shipped_generators_load_generate_and_carry_cards(folder, conditional, tmp_path):
    generator = load_generator(conditional=conditional)
    assert generator.spec.conditional == conditional
    card = (folder / "MODEL_CARD.md").read_text()
    for section in CARD_SECTIONS + ("## Realism",):
        assert section in card
    report = json.loads((folder / "realism.json").read_text())
    assert report["n_real"] > 100
    pixels, features = report["two_sample"]["accuracy"], report["two_sample_features"]["accuracy"]
    assert report["two_sample_best"] == max(pixels, features)  # the headline is the stronger judge
    assert f"| {pixels:.4f} |" in card and f"| {features:.4f} |" in card  # the card quotes realism.json
    args = ["--label", "malignant"] if conditional else []
    subprocess.run([sys.executable, "-m", "skinml", "generate", "--n", "3", "--out", str(tmp_path),
                    "--seed", "7", *args], check=True, capture_output=True)
    assert len(list(tmp_path.glob("*.png"))) == 3


def test_evaluation_page_opens_on_the_shipped_model(tmp_path, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SKINML_RUNS", str(tmp_path))
    page = Path(__file__).resolve().parents[1] / "app_pages" / "3_Evaluate.py"
    at = AppTest.from_file(str(page), default_timeout=90).run()
    assert not at.exception
    assert at.slider[0].value == pytest.approx(load_classifier().threshold, abs=0.01)
