"""Evaluation figures against hand-computed values, threshold choice, and the official ISIC scorer."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from skinml.metrics import binary as ev

Y = np.array([0, 0, 0, 1, 1, 1, 1])
P = np.array([0.1, 0.6, 0.3, 0.8, 0.4, 0.9, 0.7])


def test_threshold_metrics_by_hand():
    m = ev.threshold_metrics(Y, P, 0.5)
    assert m["confusion"] == [[2, 1], [1, 3]]  # rows truth benign/malignant, columns predicted
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert m["error_rate"] == pytest.approx(2 / 7)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["sensitivity"] == pytest.approx(3 / 4)
    assert m["specificity"] == pytest.approx(2 / 3)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 2 / 3) / 2)
    assert m["confusion_normalised"] == [[pytest.approx(2 / 3, abs=1e-4), pytest.approx(1 / 3, abs=1e-4)],
                                         [0.25, 0.75]]
    assert ev.threshold_metrics(Y, P, 0.6)["confusion"] == [[2, 1], [1, 3]]  # p >= threshold is malignant


def test_thesis_confusion_gives_the_thesis_figures():
    (tn, fp), (fn, tp) = [[299, 162], [81, 354]]
    y = np.array([0] * (tn + fp) + [1] * (fn + tp))
    p = np.array([0.2] * tn + [0.8] * fp + [0.2] * fn + [0.8] * tp)
    m = ev.threshold_metrics(y, p)
    assert round(m["accuracy"] * 100, 2) == 72.88
    assert round(m["error_rate"] * 100, 2) == 27.12
    assert round(m["precision"] * 100, 2) == 68.60
    assert round(m["sensitivity"] * 100, 2) == 81.38  # the thesis truncates to 81.37
    assert round(m["specificity"] * 100, 2) == 64.86


def test_auc_partial_auc_and_fixed_points():
    assert ev.auc(Y, P) == pytest.approx(11 / 12)  # 11 of 12 malignant-benign pairs ordered right
    assert ev.partial_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(0.2)  # perfect: the maximum
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.3 * y + 0.8 * rng.random(300), 0, 1)
    r = ev.roc(y, p)
    direct = np.trapezoid(np.maximum(r["tpr"] - 0.8, 0), r["fpr"])  # area above tpr = 0.8
    assert ev.partial_auc(y, p) == pytest.approx(direct)
    assert 0 <= ev.partial_auc(y, p) <= 0.2
    # sensitivity 3/4 is reachable with all three benign right (threshold 0.7): specificity 1
    assert ev.specificity_at_sensitivity(Y, P, 0.75) == pytest.approx(1.0)
    assert ev.specificity_at_sensitivity(Y, P, 1.0) == pytest.approx(2 / 3)
    assert ev.sensitivity_at_specificity(Y, P, 1.0) == pytest.approx(0.75)
    assert ev.pr_curve(Y, P)["average_precision"] == pytest.approx((1 + 1 + 1 + 4 / 5) / 4)


def test_choose_threshold():
    assert ev.choose_threshold(Y, P, 1.0) == pytest.approx(0.4)
    assert ev.choose_threshold(Y, P, 0.75) == pytest.approx(0.7)
    assert ev.choose_threshold(Y, P, 0) == 0.5
    t = ev.choose_threshold(Y, P, 0.9)
    assert ev.threshold_metrics(Y, P, t)["sensitivity"] >= 0.9


def test_calibration_and_ece_by_hand():
    y, p = [0, 1, 1, 1], [0.15, 0.15, 0.95, 0.95]  # bins are [low, high): 0.15 is in bin 1
    bins = ev.calibration(y, p, 10)
    assert bins["count"].tolist() == [0, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert bins.loc[1, "fraction_malignant"] == 0.5
    assert ev.expected_calibration_error(y, p) == pytest.approx((2 * 0.35 + 2 * 0.05) / 4)


def test_bootstrap_and_subgroups():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.4 * y + 0.6 * rng.random(200), 0, 1)
    intervals = ev.bootstrap_intervals(y, p, 0.5, n_boot=300)
    point = ev.headline(y, p, 0.5)
    for key, (lo, hi) in intervals.items():
        assert lo <= point[key] <= hi, key
    meta = pd.DataFrame({"sex": np.where(np.arange(200) % 2, "male", "female"),
                         "age_approx": np.where(np.arange(200) % 3, 45.0, np.nan)})
    table = ev.subgroup_table(meta, y, p, 0.5)
    assert set(table["group"]) == {"sex"}  # one known age band only: skipped
    assert table["n"].sum() == 200
    report = ev.evaluate_predictions(y, p, 0.5, meta=meta, n_boot=50)
    json.dumps(report)  # JSON-ready
    assert {"auc", "partial_auc_80", "ece", "intervals", "subgroups"} <= set(report)


def _run_scorer(truth, pred) -> dict:
    # isic-challenge-scoring 5.6 calls DataFrame.applymap, which pandas 3 removed (DataFrame.map).
    code = ("import pandas as pd\n"
            "if not hasattr(pd.DataFrame, 'applymap'): pd.DataFrame.applymap = pd.DataFrame.map\n"
            "from isic_challenge_scoring.__main__ import cli\n"
            "cli(prog_name='isic-challenge-scoring')\n")
    out = subprocess.run([sys.executable, "-c", code, "-o", "json", "classification", str(truth), str(pred)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_isic_scorer_agrees_with_our_figures(tmp_path):
    pytest.importorskip("isic_challenge_scoring")
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 150)
    p = np.clip(0.35 * y + 0.65 * rng.random(150), 0.001, 0.999)
    ids = [f"ISIC_{i:07d}" for i in range(150)]
    pred = ev.write_isic_predictions_csv(ids, p, tmp_path / "pred.csv")
    truth = ev.write_isic_truth_csv(ids, y, tmp_path / "truth.csv")
    header = pred.read_text().splitlines()[0]
    assert header == "image,benign,malignant"
    score = _run_scorer(truth, pred)
    malignant = {k: v["malignant"] for k, v in score["per_category"].items()}
    ours = ev.threshold_metrics(y, np.round(p, 6), 0.5)
    assert malignant["auc"] == pytest.approx(ev.auc(y, np.round(p, 6)), abs=1e-9)
    assert score["aggregate"]["balanced_accuracy"] == pytest.approx(ours["balanced_accuracy"])
    assert malignant["sensitivity"] == pytest.approx(ours["sensitivity"])
    assert malignant["specificity"] == pytest.approx(ours["specificity"])
    assert malignant["ap"] == pytest.approx(ev.pr_curve(y, np.round(p, 6))["average_precision"])
    # Their auc_sens_80 is the full area under the segment above tpr 0.8; ours is the ISIC 2024 one.
    assert malignant["auc_sens_80"] == pytest.approx(ev.isic_auc_sens_80(y, np.round(p, 6)), abs=1e-9)


# ---------------------------------------------------------------- replaying a model's split

def replay_classifier(info: dict):
    """A Classifier as `evaluation_table` sees it: only its model.json (`info`) decides the rows."""
    from skinml.cnn.classifier import Classifier

    return Classifier(model=None, info={"name": "replayed", "image_size": 32, **info})


def test_evaluation_finds_the_test_split_of_the_data_a_model_was_trained_on(demo_dir):
    from skinml.data.policy import prepare, split_fingerprint
    from skinml.evaluation import evaluation_table

    trained_on = prepare(demo_dir, seed=3)
    clf = replay_classifier({"data": {"seed": 3, "balanced": True, "exclude": [],
                                      "train_ids_sha1": split_fingerprint(trained_on, "train")}})
    table, used = evaluation_table(clf, demo_dir, "auto")
    assert used == "test"
    assert sorted(table["isic_id"]) == sorted(trained_on.loc[trained_on["split"] == "test", "isic_id"])
    val, used = evaluation_table(clf, demo_dir, "val")
    assert used == "val" and set(val["isic_id"]) == set(trained_on.loc[trained_on["split"] == "val", "isic_id"])


def test_evaluation_uses_every_image_of_a_folder_the_model_was_not_trained_on(demo_dir):
    from skinml.data.policy import prepare, split_fingerprint
    from skinml.evaluation import evaluation_table

    other_split = prepare(demo_dir, seed=4)  # another seed: other training images, another fingerprint
    clf = replay_classifier({"data": {"seed": 3, "train_ids_sha1": split_fingerprint(other_split, "train")}})
    table, used = evaluation_table(clf, demo_dir, "auto")
    assert used == "all" and len(table) == 60  # the demo's 60 labelled images


def test_evaluation_replays_a_subsampled_run_exactly(demo_dir):
    from dataclasses import asdict

    from skinml.cnn.train import TrainConfig, load_splits
    from skinml.data.policy import split_fingerprint
    from skinml.evaluation import evaluation_table

    config = TrainConfig(data=str(demo_dir), max_images=30, seed=2)
    trained_on = load_splits(config)
    clf = replay_classifier({"config": asdict(config),
                             "data": {"seed": 2, "max_images": 30,
                                      "train_ids_sha1": split_fingerprint(trained_on, "train")}})
    table, used = evaluation_table(clf, demo_dir, "auto")
    assert used == "test" and len(trained_on) < 60
    assert sorted(table["isic_id"]) == sorted(trained_on.loc[trained_on["split"] == "test", "isic_id"])


def test_evaluation_refuses_an_unknown_split(demo_dir):
    from skinml.errors import DataError
    from skinml.evaluation import evaluation_table

    with pytest.raises(DataError, match="Unknown split 'train'"):
        evaluation_table(replay_classifier({}), demo_dir, "train")
