"""Finish a diagnosis run: calibrate the softmax, measure validation and test, write the card.

The multi-class counterpart of `skinml.cnn.finish.finish_run`: the same files (`model/`,
`metrics.json`, `predictions.csv`, `MODEL_CARD.md`), with ISIC 2018 Task 3's measure
(balanced accuracy) and per-class figures instead of a threshold. A diagnosis model answers
with its class probabilities; p(malignant) is the sum over the malignant classes.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from skinml.cnn.classifier import save_classifier
from skinml.cnn.config import TrainConfig
from skinml.cnn.predictions import best_model_predictions, train_seconds, with_temperature
from skinml.cnn.seen import write_index
from skinml.data.policy import DIAGNOSIS_CLASSES, MALIGNANT_DIAGNOSES, split_counts, split_fingerprint
from skinml.io import write_atomic, write_json


def fit_softmax_temperature(y: np.ndarray, p: np.ndarray) -> float:
    """The temperature T minimising the log loss of softmax(log p / T) on (y, p): float > 0."""
    z = np.log(np.clip(p, 1e-12, 1.0))
    temps = np.exp(np.linspace(np.log(0.25), np.log(8.0), 200))

    def loss(t: float) -> float:
        s = z / t
        s = s - s.max(axis=1, keepdims=True)
        log_q = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        return float(-np.mean(log_q[np.arange(len(y)), y]))

    return float(temps[int(np.argmin([loss(t) for t in temps]))])


def apply_temperature(p: np.ndarray, temperature: float) -> np.ndarray:
    s = np.log(np.clip(p, 1e-12, 1.0)) / temperature
    s = np.exp(s - s.max(axis=1, keepdims=True))
    return s / s.sum(axis=1, keepdims=True)


def finish_multiclass_run(config: TrainConfig, run_dir: Path, df: pd.DataFrame, state: dict,
                          name: str | None = None, compact: bool = False) -> None:
    """From best.keras: fit the temperature on validation, measure validation and test."""
    import skinml
    from skinml.metrics.multiclass import evaluate_multiclass, subgroup_rows

    classes = list(DIAGNOSIS_CLASSES)
    best, preds = best_model_predictions(config, run_dir, df, compact)
    temperature = 1.0
    if config.calibrate:
        _, y_val, p_val = preds["val"]
        temperature = fit_softmax_temperature(y_val, p_val)
        preds = {s: (part, y, apply_temperature(p, temperature)) for s, (part, y, p) in preds.items()}
    metrics = {split: evaluate_multiclass(y, p, classes, list(MALIGNANT_DIAGNOSES), seed=config.seed)
               for split, (part, y, p) in preds.items() if len(y)}
    if "test" in metrics:
        part, y, p = preds["test"]
        metrics["test"]["subgroups"] = subgroup_rows(part.reset_index(drop=True), y, p,
                                                     [classes.index(c) for c in MALIGNANT_DIAGNOSES])
    metrics.update(task="diagnosis", classes=classes, best_epoch=state.get("best_epoch"),
                   epochs_run=state.get("epoch"), monitor=config.monitor, best_score=state.get("best_score"),
                   temperature=temperature, train_seconds=train_seconds(run_dir, state))
    table = pd.concat([pd.DataFrame({"split": s, "isic_id": part["isic_id"].to_numpy(), "y": y,
                                     **{f"p_{c}": p[:, i] for i, c in enumerate(classes)}})
                       for s, (part, y, p) in preds.items()])
    write_atomic(run_dir / "predictions.csv", table.to_csv(index=False))
    info = {
        "name": name or config.model, "architecture": config.model, "task": "diagnosis",
        "image_size": config.image_size, "resize": config.resize, "classes": classes,
        "malignant_classes": list(MALIGNANT_DIAGNOSES), "temperature": temperature, "tta": config.tta,
        "version": run_dir.name, "skinml_version": skinml.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "data": {"root": str(df.attrs.get("root", config.pack or config.data)), "layout": df.attrs.get("layout", ""),
                 "seed": config.seed, "counts": diagnosis_counts(df), "binary_counts": split_counts(df),
                 "train_ids_sha1": split_fingerprint(df, "train"), "test_ids_sha1": split_fingerprint(df, "test")},
        "config": asdict(config),
    }
    card = build_multiclass_card(config, info, metrics)
    save_classifier(run_dir / "model", with_temperature(best, temperature), info, metrics, card, compact)
    write_index(run_dir / "model", df, pack=config.pack or None)  # which photos it learned from (the page says so)
    write_json(run_dir / "metrics.json", metrics)
    write_atomic(run_dir / "MODEL_CARD.md", card)


def diagnosis_counts(df: pd.DataFrame) -> dict[str, dict[str, int]]:
    """{split: {class: images}} of a diagnosis table."""
    return {s: {c: int(((df["split"] == s) & (df["dx"] == c)).sum()) for c in DIAGNOSIS_CLASSES}
            for s in ("train", "val", "test")}


def _ci(m: dict, key: str) -> str:
    value, interval = m.get(key), (m.get("intervals") or {}).get(key)
    if value is None:
        return "n/a"
    return f"{value:.3f}" + (f" ({interval[0]:.3f} to {interval[1]:.3f})" if interval else "")


def build_multiclass_card(config: TrainConfig, info: dict, metrics: dict) -> str:
    """A Markdown model card for a diagnosis model, from its config and metrics."""
    classes, counts = info["classes"], info["data"]["counts"]
    val, test = metrics.get("val", {}), metrics.get("test", {})
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
    lines = [
        f"# Model card: {info['name']} ({info['version']})", "",
        "## Description",
        f"A diagnosis classifier for dermoscopy images: `{info['name']}` at {config.image_size}x"
        f"{config.image_size} px ({config.resize}). It gives the probabilities of the seven HAM10000 "
        f"diagnoses ({', '.join(classes)}); p(malignant) is the sum over {', '.join(info['malignant_classes'])}.", "",
        "## Intended use and limitations",
        "Teaching and research only. It is not a medical device and must not guide care. The rare classes "
        "(dermatofibroma, vascular lesions) have a few dozen test images: their figures are uncertain. It saw "
        "only the images below: other cameras, dermoscopes, body sites and skin types may make it wrong "
        "without warning.", "",
        "## Training data",
        f"`{info['data']['root']}` ({info['data']['layout']}), lesion-grouped split stratified by "
        f"diagnosis (seed {config.seed}).", "",
        "| split | " + " | ".join(classes) + " |", "| --- |" + " --- |" * len(classes),
        *[f"| {s} | " + " | ".join(str(c.get(k, 0)) for k in classes) + " |" for s, c in counts.items()], "",
        "## Training procedure",
        f"{config.optimizer} lr {config.learning_rate} ({config.schedule} schedule), batch {config.batch_size}, "
        f"up to {config.epochs} epochs, augmentation {config.augment}, class weights {config.class_weight}; "
        f"best epoch {metrics.get('best_epoch')} of {metrics.get('epochs_run')} on {config.monitor}; softmax "
        f"temperature {metrics.get('temperature', 1.0):.3f}; {metrics.get('train_seconds')} s.", "",
        "## Evaluation", "", "95% bootstrap intervals (resampling within each class).", "",
        "| figure | validation | test |", "| --- | --- | --- |",
        f"| balanced accuracy (ISIC 2018 Task 3) | {_ci(val, 'balanced_accuracy')} | "
        f"{_ci(test, 'balanced_accuracy')} |",
        f"| macro one-vs-rest AUC | {_ci(val, 'macro_auc')} | {_ci(test, 'macro_auc')} |",
        f"| accuracy | {fmt(val.get('accuracy'))} | {fmt(test.get('accuracy'))} |",
        f"| AUC of p(malignant) | {fmt(val.get('malignant_auc'))} | {fmt(test.get('malignant_auc'))} |",
        f"| calibration error (top class) | {fmt(val.get('ece'))} | {fmt(test.get('ece'))} |", "",
        "### Test split per class", "", "| class | n | sensitivity | specificity | AUC |",
        "| --- | --- | --- | --- | --- |",
        *[f"| {r['class']} | {r['n']} | {fmt(r['sensitivity'])} | {fmt(r['specificity'])} | {fmt(r['auc'])} |"
          for r in test.get("per_class", [])],
    ]
    if test.get("subgroups"):
        lines += ["", "### Test split per subgroup (groups of 20 images or more)", "",
                  "| group | value | n | balanced accuracy | AUC of p(malignant) |", "| --- | --- | --- | --- | --- |",
                  *[f"| {r['group']} | {r['value']} | {r['n']} | {fmt(r['balanced_accuracy'])} | "
                    f"{fmt(r['malignant_auc'])} |" for r in test["subgroups"]]]
    return "\n".join(lines) + "\n"
