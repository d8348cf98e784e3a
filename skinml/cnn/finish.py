"""Finish a training run: calibrate, choose the threshold, measure, write the model card.

Every classifier run ends here (`skinml.training` calls `finish_run` after its last epoch),
and so does the shipped model (`train/finish_shipped_classifier.py`).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from skinml.cnn.classifier import save_classifier
from skinml.cnn.config import TrainConfig
from skinml.data.policy import split_counts
from skinml.runs import half_precision, load_history, write_atomic, write_json


def predict_arrays(model, images: np.ndarray, tta: bool = False, batch_size: int = 64) -> np.ndarray:
    """p(malignant) float (N,) for uint8 (N, S, S, 3), a batch at a time (memory stays small)."""
    from skinml.cnn.classifier import dihedral

    out = []
    for start in range(0, len(images), batch_size):
        x = np.asarray(images[start:start + batch_size], dtype="float32") / 255.0
        views = dihedral(x) if tta else [x]
        p = np.mean([np.asarray(model.predict(v, verbose=0)).reshape(-1) for v in views], axis=0)
        out.append(p)
    return np.concatenate(out).astype("float64") if out else np.zeros(0)


def fit_temperature(y: np.ndarray, p: np.ndarray) -> float:
    """The temperature T minimising log loss of sigmoid(logit(p) / T) on (y, p): float > 0."""
    z = np.log(np.clip(p, 1e-7, 1 - 1e-7) / np.clip(1 - p, 1e-7, 1))
    temps = np.exp(np.linspace(np.log(0.25), np.log(8.0), 200))

    def loss(t):
        q = np.clip(1 / (1 + np.exp(-z / t)), 1e-7, 1 - 1e-7)
        return -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))

    return float(temps[int(np.argmin([loss(t) for t in temps]))])


def _final_model(best, temperature: float):
    """A copy of `best` whose `temperature` layer divides the logit by `temperature`; uncompiled
    (no optimizer state: a smaller file). Works for any model, ensembles included."""
    import keras

    def copy(layer):
        config = layer.get_config()
        if layer.name == "temperature":
            config["scale"] = 1.0 / temperature
        return layer.__class__.from_config(config)

    model = keras.models.clone_model(best, clone_function=copy)
    model.set_weights(best.get_weights())
    return model


def finish_run(config: TrainConfig, run_dir: Path, df: pd.DataFrame, state: dict,
               name: str | None = None, compact: bool = False) -> None:
    """From best.keras: calibrate, choose the threshold on val, measure val and test, write
    `model/` (classifier folder), `metrics.json`, `predictions.csv` and `MODEL_CARD.md`.

    `name` describes the model when it is not `config.model` alone (an ensemble); `compact`
    stores its weights at half precision, compressed (the shipped model)."""
    import hashlib

    import keras

    import skinml
    from skinml.data.policy import labels_of
    from skinml.images.pipeline import load_array
    from skinml.metrics.binary import choose_threshold, evaluate_predictions

    best = keras.saving.load_model(run_dir / "best.keras", compile=False, safe_mode=True)
    if compact:  # measure the weights as they will be stored
        best.set_weights(half_precision(best.get_weights()))
    preds = {}
    for split in ("val", "test"):
        part = df[df["split"] == split]
        images = load_array(part["image_path"], config.image_size, config.resize)
        preds[split] = (part, labels_of(part), predict_arrays(best, images, config.tta))
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
                   threshold=threshold, train_seconds=round(float(load_history(run_dir)["seconds"].sum()), 1))
    table = pd.concat([pd.DataFrame({"split": s, "isic_id": part["isic_id"].to_numpy(), "y": y, "p": p})
                       for s, (part, y, p) in preds.items()])
    write_atomic(run_dir / "predictions.csv", table.to_csv(index=False))
    ids = lambda split: hashlib.sha1("\n".join(sorted(df.loc[df["split"] == split, "isic_id"])).encode()).hexdigest()
    info = {
        "name": name or config.model, "architecture": config.model, "image_size": config.image_size,
        "resize": config.resize, "threshold": threshold, "classes": ["benign", "malignant"],
        "threshold_rule": (f"highest threshold with validation sensitivity >= {config.target_sensitivity}"
                           if config.target_sensitivity else "0.5"),
        "temperature": temperature, "tta": config.tta, "version": run_dir.name,
        "skinml_version": skinml.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "data": {"root": str(df.attrs.get("root", config.data)), "layout": df.attrs.get("layout", ""),
                 "seed": config.seed, "balanced": config.balance, "exclude": list(config.exclude),
                 "max_images": config.max_images, "counts": split_counts(df),
                 "train_ids_sha1": ids("train"), "test_ids_sha1": ids("test")},
        "config": asdict(config),
    }
    card = build_model_card(config, info, metrics)
    save_classifier(run_dir / "model", _final_model(best, temperature), info, metrics, card, compact)
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
