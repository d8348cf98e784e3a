"""A finished segmenter run into the folder the dashboard and the CLI load (skinml/assets/segmenter):
the model in float32, its figures on held-out lesions, and a model card generated from them.

    model.keras      the best epoch's U-Net, float32, weights rounded to float16 in a compressed archive
    config.json      the SegmenterConfig, how the photo is resized, the training record, the commands
    metrics.json     held-out test figures (Jaccard, thresholded Jaccard, Dice, 95% intervals over
                     lesions; per source and diagnosis), where it fails, and the validation figures
    test_scores.csv  one row per test image; history.csv the run's epochs; split.csv.gz its split
    MODEL_CARD.md    written from the files above (`write_card`), never by hand

Its life as every model's: `python -m skinml make segmenter` runs train/recipes/segmenter.toml
(train, measure, ship); by hand, `python -m skinml.runs.segmenter train --data DIR --run-dir RUN`
then `python -m skinml.runs.segmenter ship --run-dir RUN [--out skinml/assets/segmenter]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from skinml import SHORT_DISCLAIMER
from skinml.errors import ModelError, SkinmlError
from skinml.io import read_json, save_model_atomic, write_atomic, write_json
from skinml.progress import OnProgress
from skinml.runs.status import run_log, running
from skinml.segment import run as runs
from skinml.segment import train as segment_train
from skinml.segment.config import SegmenterConfig
from skinml.segment.evaluate import evaluate_table
from skinml.segment.predict import SHIPPED, THRESHOLD, load_segmenter

DX_NAMES = {"nv": "melanocytic nevus", "mel": "melanoma", "bkl": "benign keratosis", "bcc": "basal cell carcinoma",
            "akiec": "actinic keratosis / intraepithelial carcinoma", "vasc": "vascular lesion", "df": "dermatofibroma"}


def train_command(config: SegmenterConfig, run_dir: str = "RUN_DIR") -> str:
    """The command line that trains this config (data folders named relative to the repository)."""
    parts = ["python -m skinml.runs.segmenter train", f"--data ../shared/data/{Path(config.data).name}"]
    if config.masks:
        parts.append(f"--masks ../shared/data/{Path(config.masks).name}")
    parts += [f"--run-dir {run_dir}", f"--time-budget {config.time_budget:g}", f"--image-size {config.image_size}",
              "--filters " + ",".join(map(str, config.filters)), f"--epochs {config.epochs}",
              f"--batch-size {config.batch_size}", f"--learning-rate {config.learning_rate:g}", f"--seed {config.seed}"]
    return " ".join(parts)


def float32_model(model, config: SegmenterConfig):
    """The same U-Net and weights with float32 layers (training ran in mixed bfloat16)."""
    import keras

    from skinml.segment.unet import build_unet

    keras.mixed_precision.set_global_policy("float32")
    copy = build_unet(config.image_size, config.filters)
    copy.set_weights(model.get_weights())
    return copy


def where_it_fails(scores: pd.DataFrame, table: pd.DataFrame) -> dict:
    """Mean Jaccard of the hard cases against the rest: lesions cut by the photo's edge, small
    lesions (under 5% of the photo), each diagnosis; the share of images under 0.65; the worst images."""
    scores = scores.merge(table[["isic_id", "dx"]], on="isic_id", how="left")

    def mean(rows):
        return {"n": int(len(rows)), "jaccard": float(rows["jaccard"].mean()) if len(rows) else float("nan")}

    small = scores["lesion_share"] < 0.05
    worst = scores.nsmallest(5, "jaccard")[["isic_id", "dx", "jaccard", "lesion_share", "touches_border"]]
    return {"under_threshold_share": float((scores["jaccard"] < 0.65).mean()),
            "touching_border": mean(scores[scores["touches_border"]]),
            "inside_photo": mean(scores[~scores["touches_border"]]),
            "small_lesions": mean(scores[small]), "larger_lesions": mean(scores[~small]),
            "worst_images": worst.to_dict("records")}


def fit_segmenter(config: SegmenterConfig, run_dir: str | Path, on_progress: OnProgress | None = None,
                  log=None) -> Path:
    """Train (or resume) a segmenter run in `run_dir` under its lock, keeping its status
    (`skinml.runs.status.running`); the epochs are `skinml.segment.train.fit_run`."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    log = log or run_log(run_dir)
    with running(run_dir, log):
        segment_train.fit_run(config, run_dir, on_progress, log)
    return run_dir


def ship_segmenter(run_dir: str | Path, out: str | Path = SHIPPED, n_boot: int = 1000, log=print) -> Path:
    """Measure the run's best model on its held-out test lesions and ship it to `out` (replaced whole)."""
    run_dir, out = Path(run_dir), Path(out)
    saved = read_json(run_dir / "config.json")
    state = read_json(run_dir / "state.json", {}) or {}
    split = runs.load_split(run_dir)
    if not isinstance(saved, dict) or saved.get("kind") != runs.KIND or split is None or not state:
        raise ModelError(f"{run_dir} is not a segmenter run with a finished epoch.")
    config = SegmenterConfig.from_dict(saved)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        save_model_atomic(float32_model(runs.load_trained(run_dir, "best"), config), tmp / "model.keras",
                          compact=True)
        model = load_segmenter(tmp)  # measure the weights as stored
        figures = {}
        for name in ("test", "val"):
            rows = split[split["split"] == name]
            log(f"measuring on {len(rows)} {name} images")
            started = time.perf_counter()
            report, scores = evaluate_table(model, rows, n_boot=n_boot if name == "test" else 200)
            figures[name] = {"report": report, "scores": scores, "seconds": time.perf_counter() - started}
        test = figures["test"]
        sizes = test["scores"][["width", "height"]].value_counts()
        metrics = {"test": test["report"], "val": figures["val"]["report"]["overall"],
                   "photo_sizes": {f"{w}x{h}": int(n) for (w, h), n in sizes.items()},
                   "where_it_fails": where_it_fails(test["scores"], split),
                   "seconds_per_image_measured": test["seconds"] / max(1, len(test["scores"]))}
        write_json(tmp / "metrics.json", metrics)
        write_atomic(tmp / "test_scores.csv", test["scores"].to_csv(index=False, float_format="%.5f"))
        counts = split["split"].value_counts().to_dict()
        write_json(tmp / "config.json", {
            "kind": runs.KIND, **config.to_dict(), "resize": "squash", "threshold": THRESHOLD,
            "clean": "largest region, holes filled",
            "trained": {"epochs": state.get("epoch"), "best_epoch": state.get("best_epoch"),
                        "best_val_jaccard_at_128px": state.get("best_score"),
                        "train_seconds": state.get("train_seconds"), "cpu_count": os.cpu_count(),
                        "images": {k: int(counts.get(k, 0)) for k in ("train", "val", "test")},
                        "lesions": {k: int(split.loc[split["split"] == k, "lesion_id"].nunique())
                                    for k in ("train", "val", "test")}},
            "commands": {"make": "python -m skinml make segmenter",
                         "train": train_command(config, str(run_dir)),
                         "ship": f"python -m skinml.runs.segmenter ship --run-dir {run_dir} "
                                 f"--out skinml/assets/{out.name}"},
            "created": datetime.now(UTC).isoformat(timespec="seconds")})
        shutil.copyfile(run_dir / "history.csv", tmp / "history.csv")
        split[["isic_id", "lesion_id", "dx", "split"]].to_csv(tmp / "split.csv.gz", index=False)
        write_atomic(tmp / "MODEL_CARD.md", write_card(tmp))
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _ci(figure: dict) -> str:
    return f"{figure['mean']:.3f} ({figure['low']:.3f} to {figure['high']:.3f})"


def write_card(folder: str | Path) -> str:
    """The model card of a shipped segmenter folder, from its config.json, metrics.json and history.csv."""
    folder = Path(folder)
    config, metrics = read_json(folder / "config.json"), read_json(folder / "metrics.json")
    if not isinstance(config, dict) or not isinstance(metrics, dict):
        raise ModelError(f"{folder} has no readable config.json and metrics.json.")
    trained, test, fails = config["trained"], metrics["test"], metrics["where_it_fails"]
    overall = test["overall"]
    sizes = ", ".join(metrics.get("photo_sizes", {})) or "unrecorded"
    size, filters = config["image_size"], config["filters"]
    lines = [
        "# Model card: lesion segmenter (U-Net)", "",
        "## Description",
        f"Outlines the skin lesion in a dermoscopy photo: a U-Net ({len(filters) - 1} levels, "
        f"{'-'.join(map(str, filters))} filters, batch normalisation) that gives each pixel a probability of "
        f"being lesion. The photo is squashed to {size}x{size} px; the probability map is resized back to the "
        f"photo's own size and thresholded at {config['threshold']}; the mask keeps the largest region with its "
        "holes filled. The mask feeds the ABCD measures (skinml.segment.abcd).", "",
        "## Intended use and limitations",
        f"{SHORT_DISCLAIMER} The outline is a teaching aid: it shows where the model thinks the lesion is, so "
        "that its size, asymmetry, border and colours can be measured and discussed. It was trained on "
        f"HAM10000 dermoscopy photos only (mostly fair skin; test photos of {sizes} px): "
        "clinical photos, other "
        "dermoscopes, hair, ink marks and lesions larger than the photo may be outlined wrongly.", "",
        "## Training data",
        f"`{Path(config['data']).name}` photos with a dermatologist's mask each "
        f"(`{Path(config['masks']).name if config['masks'] else 'masks beside the data'}`), split 70/20/10 by "
        f"lesion (the project's grouped split, stratified by diagnosis, seed {config['seed']}): no lesion is in "
        "two splits.", "",
        "| split | images | lesions |", "| --- | --- | --- |",
        *[f"| {k} | {trained['images'][k]} | {trained['lesions'][k]} |" for k in ("train", "val", "test")], "",
        "## Training procedure",
        f"From scratch (no pretrained weights). Loss: binary cross-entropy plus (1 - soft Dice) per image. "
        f"AdamW, learning rate {config['learning_rate']:g} with a one-epoch warm-up and a cosine decay fitted to "
        f"a time budget of {config['time_budget']:g} s, weight decay {config['weight_decay']:g}, batch "
        f"{config['batch_size']}; augmentation on every batch: the eight flips and quarter turns, a random zoom "
        "to 75-100% of the side, and brightness, contrast, saturation and colour-balance jitter. Mixed "
        f"bfloat16 on a {trained['cpu_count']}-core CPU: {trained['epochs']} epochs in "
        f"{trained['train_seconds']:.0f} s; the best epoch by validation mean Jaccard (at {size} px) was "
        f"{trained['best_epoch']}. Shipped in float32, weights rounded to float16 in a compressed archive; "
        "the figures below were measured on the stored weights.", "",
        "## Evaluation (held-out test lesions)",
        f"On {overall['n']} test images of lesions never seen in training or validation, masks compared at the "
        "photo's size as ISIC 2018 Task 1 does (thresholded Jaccard: an image under 0.65 counts 0). 95% "
        "bootstrap intervals resample lesions.", "",
        "| figure | test | validation |", "| --- | --- | --- |",
        *[f"| {name.replace('_', ' ')} | {_ci(overall[name])} | {metrics['val'][name]['mean']:.3f} |"
          for name in ("jaccard", "threshold_jaccard", "dice")],
        *[f"| {name} (pixels) | {overall[name]['mean']:.3f} | {metrics['val'][name]['mean']:.3f} |"
          for name in ("sensitivity", "specificity")],
        "", "### By diagnosis (test)", "",
        "| diagnosis | images | mean Jaccard | thresholded Jaccard | Dice |", "| --- | --- | --- | --- | --- |",
        *[f"| {DX_NAMES.get(dx, dx)} | {row['n']} | {_ci(row['jaccard'])} | {_ci(row['threshold_jaccard'])} | "
          f"{_ci(row['dice'])} |" for dx, row in test["by"].get("dx", {}).items()],
        "", "### By source (test)", "",
        "| source | images | mean Jaccard | thresholded Jaccard | Dice |", "| --- | --- | --- | --- | --- |",
        *[f"| {src} | {row['n']} | {_ci(row['jaccard'])} | {_ci(row['threshold_jaccard'])} | {_ci(row['dice'])} |"
          for src, row in test["by"].get("attribution", {}).items()],
        "", "## Where it fails",
        f"- {fails['under_threshold_share']:.0%} of test images score a Jaccard under 0.65 (0 in the thresholded "
        "figure).",
        f"- Lesions that reach the photo's edge: mean Jaccard {fails['touching_border']['jaccard']:.3f} "
        f"({fails['touching_border']['n']} images) against {fails['inside_photo']['jaccard']:.3f} for lesions "
        f"inside the photo ({fails['inside_photo']['n']}).",
        f"- Small lesions (under 5% of the photo): {fails['small_lesions']['jaccard']:.3f} "
        f"({fails['small_lesions']['n']} images) against {fails['larger_lesions']['jaccard']:.3f} "
        f"({fails['larger_lesions']['n']}).",
        "- The five worst test images: " + ", ".join(f"{w['isic_id']} ({w['dx']}, Jaccard {w['jaccard']:.2f})"
                                                    for w in fails["worst_images"]) + ".",
        "", "## How it was made",
        "- One command remakes it from the data: `" + config['commands'].get('make', 'python -m skinml make segmenter')
        + "` (the recipe below).",
        f"- Train: `{config['commands']['train']}`",
        f"- Ship (measure on the test lesions, write this folder and card): `{config['commands']['ship']}`",
        "- Recipe: `train/recipes/segmenter.toml`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("train", "ship"):
        print("usage: python -m skinml.runs.segmenter train --data DIR --run-dir RUN [options] | "
              "ship --run-dir RUN [--out DIR]", file=sys.stderr)
        return 2
    try:
        if argv[0] == "train":
            args = segment_train.parse_args(argv[1:])
            fit_segmenter(segment_train.config_from_args(args), args.run_dir, log=lambda m: print(m, flush=True))
            return 0
        p = argparse.ArgumentParser(prog="python -m skinml.runs.segmenter ship", description=__doc__.split("\n")[0])
        p.add_argument("--run-dir", required=True)
        p.add_argument("--out", default=str(SHIPPED))
        p.add_argument("--bootstrap", type=int, default=1000)
        args = p.parse_args(argv[1:])
        print(ship_segmenter(args.run_dir, args.out, args.bootstrap, log=lambda m: print(m, flush=True)))
    except SkinmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
