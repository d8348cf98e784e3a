"""Finish a training run: calibrate, choose the threshold, measure, write the model card.

Every classifier run ends here (`skinml.cnn.train` calls `finish_run` after its last epoch),
and so does an ensemble of finished runs (`finish_ensemble`, `python -m skinml finish`).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from skinml.cnn.classifier import save_classifier
from skinml.cnn.config import TrainConfig
from skinml.cnn.finish_multiclass import finish_multiclass_run
from skinml.cnn.predictions import best_model_predictions, train_seconds, with_temperature
from skinml.cnn.seen import write_index
from skinml.data.policy import LABELS, split_counts, split_fingerprint
from skinml.errors import ModelError
from skinml.io import read_json, write_atomic, write_json


def fit_temperature(y: np.ndarray, p: np.ndarray) -> float:
    """The temperature T minimising log loss of sigmoid(logit(p) / T) on (y, p): float > 0."""
    z = np.log(np.clip(p, 1e-7, 1 - 1e-7) / np.clip(1 - p, 1e-7, 1))
    temps = np.exp(np.linspace(np.log(0.25), np.log(8.0), 200))

    def loss(t):
        q = np.clip(1 / (1 + np.exp(-z / t)), 1e-7, 1 - 1e-7)
        return -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))

    return float(temps[int(np.argmin([loss(t) for t in temps]))])


def finish_ensemble(run_dirs: list[Path], out_dir: Path, compact: bool = False) -> Path:
    """Join finished runs of one recipe (different seeds) into one model and finish it.

    The members must have been trained on the same split (their train ids agree). Their
    finished models become one Keras model (`skinml.cnn.ensemble`: the mean of their logits),
    which is calibrated, given its threshold and measured on the same validation and test
    images as a single run, in `out_dir` (a run directory of its own: config.json with the
    members, state.json, best.keras, then model/, metrics.json, MODEL_CARD.md).
    """
    import keras

    from skinml.cnn.ensemble import ensemble
    from skinml.cnn.models import METADATA_MODELS
    from skinml.cnn.splits import load_splits

    if len(run_dirs) < 2:
        raise ModelError("An ensemble needs two or more finished runs.")
    configs, states, splits = [], [], set()
    for run_dir in run_dirs:
        config, state = read_json(run_dir / "config.json"), read_json(run_dir / "state.json")
        info = read_json(run_dir / "model" / "model.json")
        if not (config and state and info) or not (run_dir / "model" / "model.keras").exists():
            raise ModelError(f"{run_dir} is not a finished training run (config.json, state.json, model/).")
        if config.get("model") in METADATA_MODELS:
            raise ModelError(f"{run_dir} trained {config['model']}, an image + metadata model: ensembles "
                             "join image-only models.")
        configs.append(config)
        states.append(state)
        splits.add(info.get("data", {}).get("train_ids_sha1"))
    if len(splits) != 1:
        raise ModelError("These runs were trained on different splits: an ensemble of them cannot be measured "
                         "on held-out images. Train them with the same data, seed and settings.")
    first = TrainConfig.from_dict(configs[0])
    config = TrainConfig.from_dict({**configs[0], "run_dir": str(out_dir)})
    out_dir.mkdir(parents=True, exist_ok=True)
    members = [keras.saving.load_model(run_dir / "model" / "model.keras", compile=False, safe_mode=True)
               for run_dir in run_dirs]  # each calibrated: the ensemble folds the temperatures in
    ensemble(members).save(out_dir / "best.keras")
    write_json(out_dir / "config.json", {"kind": "classifier", **asdict(config),
                                         "members": [str(r) for r in run_dirs]})
    state = {"epoch": max(s.get("epoch", 0) for s in states),
             "best_epoch": [s.get("best_epoch") for s in states], "best_score": None,
             "train_seconds": sum(train_seconds(r, s) for r, s in zip(run_dirs, states)),
             "members": [{"run": str(r), "best_epoch": s.get("best_epoch"), "best_score": s.get("best_score")}
                         for r, s in zip(run_dirs, states)]}
    write_json(out_dir / "state.json", state)
    name = f"{first.model} x{len(members)} ensemble"
    finish_run(config, out_dir, load_splits(first), state, name=name, compact=compact)
    return out_dir


def finish_run(config: TrainConfig, run_dir: Path, df: pd.DataFrame, state: dict,
               name: str | None = None, compact: bool = False) -> None:
    """From best.keras: calibrate, choose the threshold on val, measure val and test, write
    `model/` (classifier folder), `metrics.json`, `predictions.csv` and `MODEL_CARD.md`.

    `name` describes the model when it is not `config.model` alone (an ensemble); `compact`
    stores its weights at half precision, compressed (the shipped model)."""
    import skinml
    from skinml.metrics.binary import choose_threshold, evaluate_predictions

    if config.task != "binary":
        return finish_multiclass_run(config, run_dir, df, state, name=name, compact=compact)

    best, preds = best_model_predictions(config, run_dir, df, compact)
    temperature = 1.0
    if config.calibrate and "temperature" in [layer.name for layer in best.layers]:
        _, y_val, p_val = preds["val"]
        temperature = fit_temperature(y_val, p_val)
        for split, (part, y, p) in preds.items():
            z = np.log(np.clip(p, 1e-7, 1 - 1e-7) / np.clip(1 - p, 1e-7, 1))
            preds[split] = (part, y, 1 / (1 + np.exp(-z / temperature)))
    _, y_val, p_val = preds["val"]
    threshold = choose_threshold(y_val, p_val, config.target_sensitivity)
    metrics = {split: evaluate_predictions(y, p, threshold, meta=part, seed=config.seed)
               for split, (part, y, p) in preds.items() if len(y)}
    metrics.update(best_epoch=state.get("best_epoch"), epochs_run=state.get("epoch"),
                   monitor=config.monitor, best_score=state.get("best_score"), temperature=temperature,
                   threshold=threshold, train_seconds=train_seconds(run_dir, state))
    table = pd.concat([pd.DataFrame({"split": s, "isic_id": part["isic_id"].to_numpy(), "y": y, "p": p})
                       for s, (part, y, p) in preds.items()])
    write_atomic(run_dir / "predictions.csv", table.to_csv(index=False))
    info = {
        "name": name or config.model, "architecture": config.model, "image_size": config.image_size,
        "resize": config.resize, "threshold": threshold, "classes": list(LABELS),
        "threshold_rule": (f"highest threshold with validation sensitivity >= {config.target_sensitivity}"
                           if config.target_sensitivity else "0.5"),
        "temperature": temperature, "tta": config.tta, "version": run_dir.name,
        "skinml_version": skinml.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "data": {"root": str(df.attrs.get("root", config.data)), "layout": df.attrs.get("layout", ""),
                 "seed": config.seed, "balanced": config.balance, "exclude": list(config.exclude),
                 "dermoscopic_only": config.dermoscopic_only,
                 "max_images": config.max_images, "counts": split_counts(df),
                 "train_ids_sha1": split_fingerprint(df, "train"), "test_ids_sha1": split_fingerprint(df, "test")},
        "config": asdict(config),
    }
    card = build_model_card(config, info, metrics)
    save_classifier(run_dir / "model", with_temperature(best, temperature), info, metrics, card, compact)
    write_index(run_dir / "model", df, pack=config.pack or None)  # which photos it learned from (the page says so)
    write_json(run_dir / "metrics.json", metrics)
    write_atomic(run_dir / "MODEL_CARD.md", card)


def _figure(m: dict, key: str) -> str:
    value = m.get(key)
    if value is None:
        return "n/a"
    interval = (m.get("intervals") or {}).get(key)
    return f"{value:.3f}" + (f" ({interval[0]:.3f} to {interval[1]:.3f})" if interval else "")


def build_model_card(config: TrainConfig, info: dict, metrics: dict) -> str:
    """A Markdown model card (Hugging Face sections) from the run's config and metrics."""
    counts = info["data"]["counts"]
    lines = [
        f"# Model card: {info['name']} ({info['version']})", "",
        "## Description",
        f"A benign/malignant classifier for dermoscopy images: `{info['name']}` at "
        f"{config.image_size}x{config.image_size} px ({config.resize}), output p(malignant); "
        f"a lesion is called malignant when p >= {info['threshold']:.3f} ({info['threshold_rule']}).", "",
        "## Intended use and limitations",
        "Teaching and research only. It is not a medical device and must not guide care. It saw "
        "only the images below: other cameras, dermoscopes, resolutions, body sites and skin types "
        "(dark skin is rare in ISIC data) may make it wrong without warning.", "",
        "## Training data",
        f"Folder `{info['data']['root']}` ({info['data']['layout']} layout), grouped split by patient/"
        f"lesion (seed {config.seed}), {'balanced' if config.balance else 'not balanced'}.", "",
        "| split | benign | malignant |", "| --- | --- | --- |",
        *[f"| {s} | {c.get('benign', 0)} | {c.get('malignant', 0)} |" for s, c in counts.items()], "",
        "## Training procedure",
        f"{config.optimizer} lr {config.learning_rate} ({config.schedule} schedule), batch "
        f"{config.batch_size}, up to {config.epochs} epochs, augmentation {config.augment}, label "
        f"smoothing {config.label_smoothing}, class weights {config.class_weight}; best epoch "
        f"{metrics.get('best_epoch')} of {metrics.get('epochs_run')} on {config.monitor}; "
        f"temperature {metrics.get('temperature', 1.0):.3f}; {metrics.get('train_seconds')} s.", "",
        "## Evaluation", "", "Figures with 95% bootstrap intervals.", "",
        "| figure | validation | test |", "| --- | --- | --- |",
    ]
    for key in ("auc", "accuracy", "sensitivity", "specificity", "balanced_accuracy"):
        lines.append(f"| {key} | {_figure(metrics.get('val', {}), key)} | {_figure(metrics.get('test', {}), key)} |")
    for key in ("partial_auc_80", "sensitivity_at_specificity_70", "average_precision", "ece"):
        lines.append(f"| {key} | {_figure(metrics.get('val', {}), key)} | {_figure(metrics.get('test', {}), key)} |")
    groups = metrics.get("test", {}).get("subgroups") or []
    if groups:
        lines += ["", "### Test split by subgroup", "", "| group | value | n | AUC | sensitivity | specificity |",
                  "| --- | --- | --- | --- | --- | --- |"]
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
        lines += [f"| {g['group']} | {g['value']} | {g['n']} | {fmt(g['auc'])} | {fmt(g['sensitivity'])} | "
                  f"{fmt(g['specificity'])} |" for g in groups]
    return "\n".join(lines) + "\n"
