"""The segmenter: U-Net, augmentation, training run (resume), shipping, prediction at the photo's
size and the CLI, on tiny synthetic lesions and a tiny U-Net (seconds)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skinml.segment.config import SegmenterConfig

TINY = dict(image_size=32, filters=(4, 8, 16), batch_size=8, learning_rate=3e-3)


@pytest.fixture(scope="module")
def lesions(tmp_path_factory):
    """A synthetic dataset folder (24 lesions of 48 px) and its masks folder beside it."""
    from skinml.data.synthetic import write_demo_dataset

    data = write_demo_dataset(tmp_path_factory.mktemp("seg") / "lesions", n=24, size=48, seed=3)
    masks = data.parent / "lesions-segmentations"
    masks.mkdir()
    for path in data.glob("*.jpg"):
        grey = np.asarray(Image.open(path).convert("L"), float)
        Image.fromarray(((grey < 0.8 * np.median(grey[0])) * 255).astype(np.uint8)).save(
            masks / f"{path.stem}_segmentation.png")
    return data, masks


def test_unet_shapes_names_and_round_trip(tmp_path):
    import keras

    from skinml.segment.unet import build_unet, dice_bce_loss, jaccard

    model = build_unet(32, (4, 8, 16))
    assert model.output_shape == (None, 32, 32, 1)
    names = {layer.name for layer in model.layers}
    assert {"enc1_conv1", "enc2_pool", "bottleneck_conv2", "dec1_up", "dec2_concat", "mask"} <= names
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    truth = np.zeros((2, 32, 32, 1), "float32")
    truth[:, 8:24, 8:24] = 1
    perfect, wrong = truth * 0.999 + 0.0005, 1 - truth
    assert float(np.mean(dice_bce_loss(truth, perfect))) < 0.02 < float(np.mean(dice_bce_loss(truth, wrong)))
    np.testing.assert_allclose(np.asarray(jaccard(truth, perfect)), 1.0)
    np.testing.assert_allclose(np.asarray(jaccard(truth, wrong)), 0.0)


def test_augmentation_moves_photo_and_mask_together():
    from skinml.segment.train import augment_batch

    rng = np.random.default_rng(0)
    masks = np.zeros((16, 32, 32, 1), np.uint8)
    for m in masks:
        r, c = rng.integers(2, 20, 2)
        m[r:r + 10, c:c + 6] = 1  # not symmetric: a flip or turn shows
    images = np.where(masks == 1, 240, 20).repeat(3, axis=-1).astype(np.uint8)
    x, y = (np.asarray(t) for t in augment_batch(images, masks))
    assert x.shape == (16, 32, 32, 3) and y.shape == (16, 32, 32, 1) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1 and set(np.unique(y)) <= {0.0, 1.0}
    agree = (x.mean(axis=-1, keepdims=True) > 0.5) == (y > 0.5)
    assert agree.mean() > 0.97  # the same geometry for both (bilinear edges aside)
    assert not np.array_equal(y, masks)  # something moved


def test_schedule_and_time_budget():
    from skinml.schedule import learning_rate_at, plan_epochs

    config = SegmenterConfig(epochs=30, learning_rate=1e-2, warmup_epochs=1, time_budget=1000)
    assert learning_rate_at(config, 0, 300, 10) == pytest.approx(1e-4)
    assert learning_rate_at(config, 10, 300, 10) == pytest.approx(1e-2)
    assert learning_rate_at(config, 300, 300, 10) == pytest.approx(1e-4)
    assert plan_epochs(config, 2, 200.0, [100.0]) == 10  # 800 s left at 100 s an epoch: 8 more
    assert plan_epochs(config, 2, 200.0, [1.0]) == 30  # never more than configured


@pytest.mark.slow
def test_fit_resume_ship_and_segment(lesions, tmp_path):
    from skinml.runs import run_status
    from skinml.runs.segmenter import fit_segmenter, ship_segmenter
    from skinml.segment.abcd import MEANINGS
    from skinml.segment.predict import load_segmenter, segment_photo

    data, masks = lesions
    run_dir = tmp_path / "run"
    config = SegmenterConfig(data=str(data), masks=str(masks), epochs=2, **TINY)
    fit_segmenter(config, run_dir, log=lambda m: None)
    assert run_status(run_dir) == "finished"
    assert len(pd.read_csv(run_dir / "history.csv")) == 2
    split = pd.read_csv(run_dir / "split.csv", keep_default_na=False)
    by_lesion = split.groupby("lesion_id")["split"].nunique()
    assert (by_lesion == 1).all() and set(split["split"]) == {"train", "val", "test"}
    fit_segmenter(SegmenterConfig(data=str(data), masks=str(masks), epochs=3, **TINY), run_dir,
                        log=lambda m: None)  # resumed: one more epoch
    assert list(pd.read_csv(run_dir / "history.csv")["epoch"]) == [1, 2, 3]

    out = ship_segmenter(run_dir, tmp_path / "segmenter", n_boot=50, log=lambda m: None)
    metrics = json.loads((out / "metrics.json").read_text())
    card = (out / "MODEL_CARD.md").read_text()
    assert metrics["test"]["overall"]["n"] == int((split["split"] == "test").sum())
    assert f"{metrics['test']['overall']['jaccard']['mean']:.3f}" in card
    assert "python -m skinml make segmenter" in card and "python -m skinml.runs.segmenter train" in card
    model = load_segmenter(out)
    assert model.layers[-1].dtype_policy.name == "float32"
    photo = np.asarray(Image.open(next(data.glob("*.jpg"))).convert("RGB").resize((60, 45)))
    mask = segment_photo(model, photo)
    assert mask.shape == (45, 60) and mask.dtype == bool
    assert set(MEANINGS) >= {"area", "diameter", "compactness", "colours"}


def test_cli_segment_and_evaluate(lesions, tmp_path, capsys):
    from skinml.cli import main
    from skinml.segment.unet import build_unet

    data, masks = lesions
    run_dir = tmp_path / "segmenter"  # a folder as shipped: model.keras and the split it trained with
    run_dir.mkdir()
    build_unet(32, (4, 8, 16)).save(run_dir / "model.keras")
    ids = sorted(p.stem for p in data.glob("*.jpg"))
    pd.DataFrame({"isic_id": ids[:10], "lesion_id": "", "dx": "nv", "split": "train"}).to_csv(
        run_dir / "split.csv.gz", index=False)
    files = sorted(str(p) for p in data.glob("*.jpg"))[:2]
    bad = tmp_path / "notes.txt"
    bad.write_text("not a photo")
    code = main(["segment", *files, str(bad), "--out", str(tmp_path / "out"), "--model", str(run_dir),
                 "--field-of-view-mm", "10", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 1 and [r["ok"] for r in rows] == [True, True, False]
    assert "not an image" in rows[2]["error"]
    with Image.open(rows[0]["mask"]) as m:
        assert m.mode == "L" and m.size == (48, 48)
    assert rows[0]["mask"].endswith("_segmentation.png") and "abcd" in rows[0]
    code = main(["evaluate", "--task", "segmentation", "--data", str(data), "--masks", str(masks),
                 "--model", str(run_dir), "--bootstrap", "50", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["left_out_seen"] >= 10  # the images it trained on (and their lesions) are left out
    assert report["overall"]["n"] + report["left_out_seen"] == len(list(data.glob("*.jpg")))


def test_cli_errors_are_one_sentence(tmp_path, capsys):
    from skinml.cli import main

    assert main(["segment", "x.jpg", "--out", str(tmp_path), "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "holds no segmenter" in err and "\n" not in err


def test_masks_at_the_photos_size_cleaned_and_warned():
    from skinml.segment.predict import clean_mask, mask_png, mask_warnings, probability_at, touches_border

    prob = np.zeros((8, 8), "float32")
    prob[2:6, 2:6] = 1.0
    big = probability_at(prob, 40, 30) >= 0.5
    assert big.shape == (30, 40) and big[15, 20] and not big[0, 0]
    mask = np.zeros((20, 20), bool)
    mask[3:12, 3:12] = True
    mask[6, 6] = False  # a hole
    mask[16:18, 16:18] = True  # a speck
    cleaned = clean_mask(mask)
    assert cleaned[6, 6] and not cleaned[17, 17] and cleaned.sum() == 81
    assert not clean_mask(np.zeros((5, 5), bool)).any()
    with Image.open(__import__("io").BytesIO(mask_png(cleaned))) as png:
        assert png.mode == "L" and set(np.unique(np.asarray(png))) == {0, 255}
    assert mask_warnings(cleaned) == [] and not touches_border(cleaned)
    assert "No lesion was found" in mask_warnings(np.zeros((20, 20), bool))[0]
    edge = cleaned.copy()
    edge[0, 5] = True
    assert "touches the edge" in mask_warnings(edge)[0]


@pytest.mark.realdata
def test_shipped_segmenter_outlines_held_out_ham_lesions(ham10000):
    """The shipped segmenter on 40 of its own held-out test images: masks at 200x150, Jaccard like its card's."""
    from skinml.segment.data import load_table
    from skinml.segment.evaluate import evaluate_table
    from skinml.segment.predict import SHIPPED, load_segmenter, load_split_of

    if not (SHIPPED / "model.keras").is_file():
        pytest.skip("no shipped segmenter (skinml/assets/segmenter)")
    split = load_split_of(SHIPPED)
    test_ids = set(split.loc[split["split"] == "test", "isic_id"])
    table = load_table(ham10000)
    table = table[table["isic_id"].isin(test_ids)].head(40)
    report, scores = evaluate_table(load_segmenter(SHIPPED), table, n_boot=100)
    card = json.loads((SHIPPED / "metrics.json").read_text())["test"]["overall"]["jaccard"]
    assert len(scores) == 40
    assert report["overall"]["jaccard"]["mean"] > 0.7
    assert abs(report["overall"]["jaccard"]["mean"] - card["mean"]) < 0.1


def test_parsing_the_segment_commands_imports_no_tensorflow():
    import subprocess
    import sys

    code = ("import sys\nfrom skinml.cli import build_parser\n"
            "build_parser().parse_args(['segment', 'a.jpg', '--out', 'x'])\n"
            "build_parser().parse_args(['evaluate', '--task', 'segmentation', '--data', 'x'])\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'skimage') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
