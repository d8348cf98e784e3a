"""The trust evaluation end to end on a tiny model and synthetic lesions with masks, its CLI and benchmark."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skinml.cli import main

SIZE = 32


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    """A saved thesis_base classifier at 32 px (untrained weights: speed and plumbing, not skill)."""
    import keras

    from skinml.cnn.classifier import save_classifier
    from skinml.cnn.models import build_model

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("clf") / "model"
    save_classifier(folder, build_model("thesis_base", image_size=SIZE),
                    {"name": "thesis_base", "image_size": SIZE, "threshold": 0.5, "resize": "squash"})
    return folder


@pytest.fixture(scope="module")
def lesions_with_masks(tmp_path_factory):
    """Twelve synthetic lesions (isic-cli layout) and, beside them, a centred disc as each one's mask."""
    from skinml.data.synthetic import write_demo_dataset

    root = tmp_path_factory.mktemp("data")
    data = write_demo_dataset(root / "lesions", n=12, size=64, seed=2)
    masks = root / "lesions-segmentations"
    masks.mkdir()
    rows, cols = np.mgrid[:64, :64]
    disc = ((rows - 31.5) ** 2 + (cols - 31.5) ** 2 < 14 ** 2).astype(np.uint8) * 255
    for isic_id in pd.read_csv(data / "metadata.csv")["isic_id"]:
        Image.fromarray(disc).save(masks / f"{isic_id}_segmentation.png")
    return data


def test_the_evaluation_measures_every_method_against_masks_and_baselines(tiny_classifier, lesions_with_masks):
    from skinml.cnn.classifier import load_classifier
    from skinml.explain.randomisation import weight_groups
    from skinml.explain.trust import (
        METHODS,
        best_method,
        evaluate_explanations,
        explanations_table,
        save_explanations,
        trust_sentence,
    )

    clf = load_classifier(tiny_classifier)
    report = evaluate_explanations(clf, lesions_with_masks, n=6, n_randomise=2, steps=4, n_boot=50)
    assert report["n"] == 6 and report["n_randomised"] == 2 and report["n_malignant"] == 3
    assert report["model"] == "thesis_base"
    assert report["without_mask"] == 0 and "warning" in report  # its training data is unknown
    # The centre baseline on centred discs: its peak is always inside, and it beats the disc's area.
    assert report["centre"]["pointing_game"]["mean"] == 1.0
    assert report["centre"]["share_inside"]["mean"] > report["centre"]["mask_area"]["mean"] > 0.1
    blocks = [block for block, _ in weight_groups(clf.model)]
    for key, m in report["methods"].items():
        assert m["label"] == METHODS[key][0]
        for measure in ("pointing_game", "share_inside", "deletion_auc", "insertion_auc"):
            assert 0 <= m[measure]["low"] <= m[measure]["mean"] <= m[measure]["high"] <= 1
        assert list(m["randomisation"]) == blocks
        assert len(report["curves"][key]["deletion"]) == len(report["curves"]["fraction"]) == 5
    json.dumps(report)  # JSON-ready

    save_explanations(report, tiny_classifier)
    table = explanations_table(clf)
    assert list(table.index) == [m[0] for m in METHODS.values()] + ["centre baseline (no model)",
                                                                     "random order (no model)"]
    best = best_method(clf)
    assert "held-out images" in trust_sentence(clf) and METHODS[best][0] in trust_sentence(clf)
    assert report["methods"][best]["pointing_game"]["mean"] == max(
        m["pointing_game"]["mean"] for m in report["methods"].values())


def test_method_maps_and_the_randomisation_strip_in_one_call(tiny_classifier):
    from skinml.cnn.classifier import load_classifier
    from skinml.explain.randomisation import weight_groups
    from skinml.explain.trust import METHODS, method_maps, randomisation_maps

    clf = load_classifier(tiny_classifier)
    image = np.random.default_rng(0).integers(0, 255, (50, 40, 3), dtype=np.uint8)  # any size
    maps = method_maps(clf, image)
    assert list(maps) == [label for label, _ in METHODS.values()]
    assert all(h.shape == (50, 40) and h.dtype == np.float32 for h in maps.values())
    strip = randomisation_maps(clf, image, "gradcam")
    assert [name for name, _ in strip] == ["trained"] + [b for b, _ in weight_groups(clf.model)]


def test_explain_eval_cli_writes_json(tiny_classifier, lesions_with_masks, capsys):
    rc = main(["explain-eval", "--model", str(tiny_classifier), "--data", str(lesions_with_masks), "--n", "4",
               "--n-randomise", "1", "--methods", "gradcam,occlusion", "--bootstrap", "20", "--json"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 4 and list(report["methods"]) == ["gradcam", "occlusion"]


def test_explain_eval_cli_says_what_is_wrong(tiny_classifier, lesions_with_masks, tmp_path, capsys, monkeypatch):
    from skinml.data.synthetic import write_demo_dataset
    from skinml.segment import predict

    monkeypatch.setattr(predict, "SHIPPED", tmp_path / "no-segmenter")  # no masks and no segmenter to draw them
    bare = write_demo_dataset(tmp_path / "no-masks", n=4, size=32)
    assert main(["explain-eval", "--model", str(tiny_classifier), "--data", str(bare)]) == 2
    assert "No lesion masks found" in capsys.readouterr().err
    assert main(["explain-eval", "--model", str(tiny_classifier), "--data", str(bare), "--masks",
                 str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["explain-eval", "--model", str(tiny_classifier), "--data", str(lesions_with_masks),
                 "--methods", "gradcam,lime"]) == 2
    assert "Unknown method(s) lime" in capsys.readouterr().err
    assert main(["explain-eval", "--model", str(tmp_path / "nothing"), "--data", str(lesions_with_masks)]) == 2
    assert "No model found" in capsys.readouterr().err


def shipped_segmenter_jaccard() -> float:
    from skinml.segment.predict import SHIPPED, shipped_installed

    if not shipped_installed():
        pytest.skip("no shipped segmenter (skinml/assets/segmenter)")
    return json.loads((SHIPPED / "metrics.json").read_text())["test"]["overall"]["jaccard"]["mean"]


def test_explain_eval_without_masks_uses_the_segmenters_and_says_so(tiny_classifier, tmp_path, capsys):
    """A folder without masks: every image is outlined by the shipped segmenter; the JSON says "predicted",
    how many, and the segmenter's held-out Jaccard from its own metrics.json; with masks for some: "mixed"."""
    from skinml.data.synthetic import write_demo_dataset
    from skinml.explain.trust import masks_sentence

    jaccard = shipped_segmenter_jaccard()
    bare = write_demo_dataset(tmp_path / "bare", n=8, size=96, seed=4)
    assert main(["explain-eval", "--model", str(tiny_classifier), "--data", str(bare), "--n", "8",
                 "--n-randomise", "1", "--methods", "gradcam", "--bootstrap", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["masks"] == "predicted" and report["masks_given"] == 0
    held_out = report["held_out_lesions"]  # one image per lesion
    assert report["masks_predicted"] == report["n"] == held_out - report["no_lesion_found"] and report["n"] >= 4
    assert report["segmenter_jaccard"] == jaccard and report["mask_folder"] is None
    assert "predicted by the lesion segmenter" in masks_sentence(report) and f"{jaccard:.2f}" in masks_sentence(report)

    masks = tmp_path / "bare-segmentations"
    masks.mkdir()
    disc = np.zeros((96, 96), np.uint8)
    disc[30:66, 30:66] = 255
    from skinml.cnn.classifier import load_classifier
    from skinml.explain.trust import held_out_images

    table, _ = held_out_images(load_classifier(tiny_classifier), bare, n=8)
    for isic_id in table["isic_id"].head(3):
        Image.fromarray(disc).save(masks / f"{isic_id}_segmentation.png")
    assert main(["explain-eval", "--model", str(tiny_classifier), "--data", str(bare), "--n", "8",
                 "--n-randomise", "0", "--methods", "gradcam", "--bootstrap", "20"]) == 0
    text = capsys.readouterr().out
    assert "outlines were predicted by the lesion segmenter" in text and "3 drawn by dermatologists" in text
    assert main(["explain-eval", "--model", str(tiny_classifier), "--data", str(bare), "--n", "8",
                 "--n-randomise", "0", "--methods", "gradcam", "--bootstrap", "20", "--json"]) == 0
    mixed = json.loads(capsys.readouterr().out)
    assert mixed["masks"] == "mixed" and mixed["masks_given"] == 3 and mixed["masks_predicted"] == mixed["n"] - 3 >= 1
    assert mixed["without_mask"] == 5 and mixed["mask_folder"] == str(masks.resolve())
    assert mixed["held_out_lesions"] == held_out


@pytest.mark.realdata
def test_explain_eval_on_real_photos_without_masks(tiny_classifier, isic_sample, tmp_path, capsys):
    """Six ISIC-sample photos copied to a folder with no masks: all six outlined by the segmenter."""
    import shutil

    jaccard = shipped_segmenter_jaccard()
    meta = pd.read_csv(isic_sample / "metadata.csv")
    meta = pd.concat([meta[meta["benign_malignant"] == label].head(3) for label in ("benign", "malignant")])
    (tmp_path / "photos" / "images").mkdir(parents=True)
    for isic_id in meta["isic_id"]:
        shutil.copy(next((isic_sample / "images").glob(f"{isic_id}.*")), tmp_path / "photos" / "images")
    meta.to_csv(tmp_path / "photos" / "metadata.csv", index=False)
    assert main(["explain-eval", "--model", str(tiny_classifier), "--data", str(tmp_path / "photos"), "--n", "6",
                 "--n-randomise", "0", "--methods", "gradcam", "--bootstrap", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["masks"] == "predicted" and report["masks_predicted"] == report["n"] == 6
    assert report["segmenter_jaccard"] == jaccard
    assert 0.0 < report["centre"]["mask_area"]["mean"] < 0.9


def test_explain_benchmark_prints_seconds_per_method(tiny_classifier, capsys):
    import re

    assert main(["bench", "explain", "--model", str(tiny_classifier), "--images", "2"]) == 0
    out = capsys.readouterr().out
    seconds = dict(re.findall(r"^  (\S.*?)\s+([\d.]+) s$", out, re.M))
    expected = {"Grad-CAM", "occlusion", "integrated gradients", "deletion + insertion curve (16 steps each)"}
    assert expected <= set(seconds)
    assert all(float(s) > 0 for s in seconds.values())


@pytest.mark.realdata
@pytest.mark.slow
def test_held_out_images_of_the_shipped_classifier_share_no_image_or_lesion_with_its_training():
    from conftest import SHARED_DATA

    from skinml.cnn.classifier import load_classifier
    from skinml.explain.trust import held_out_images, training_rows

    ham = SHARED_DATA / "ham10000"
    if not (ham / "HAM10000_metadata.csv").exists() or not (SHARED_DATA / "isic-sample").is_dir():
        pytest.skip("real data (../shared/data/ham10000 and isic-sample) is not on this machine")
    clf = load_classifier()
    table, notes = held_out_images(clf, ham, n=40)
    train, verified = training_rows(clf)
    assert verified and notes["left_out_as_trained_on"] > 1000
    assert len(table) == 40 and (table["benign_malignant"] == "malignant").sum() == 20
    assert not table["isic_id"].isin(train["isic_id"]).any()
    assert not table["lesion_id"].isin(set(train["lesion_id"]) - {""}).any()
    assert table["lesion_id"].is_unique


def test_the_deletion_chart_has_a_line_per_method_and_the_random_order():
    from skinml.plots.explain import plot_perturbation_curves

    report = {"n": 3, "curves": {"fraction": [0, 0.5, 1], "random": {"deletion": [0.9, 0.6, 0.2]},
                                 "gradcam": {"deletion": [0.9, 0.3, 0.2]}},
              "methods": {"gradcam": {"label": "Grad-CAM", "deletion_auc": {"mean": 0.43}}},
              "random_order": {"deletion_auc": {"mean": 0.58}}}
    fig = plot_perturbation_curves(report, "deletion")
    assert [t.name for t in fig.data] == ["Grad-CAM (area 0.43)", "random order (area 0.58)"]
    assert list(fig.data[0].x) == [0, 50, 100] and list(fig.data[1].y) == [0.9, 0.6, 0.2]
    with pytest.raises(ValueError):
        plot_perturbation_curves(report, "sideways")
