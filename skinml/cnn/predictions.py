"""A finished run's predictions: the model with its fitted temperature, probabilities of a split
(with test-time augmentation), and the run's training time. Shared by both finishing steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skinml.io import half_precision, read_table


def predict_arrays(model, images: np.ndarray, tta: bool = False, batch_size: int = 64,
                   metadata: np.ndarray | None = None) -> np.ndarray:
    """Probabilities for uint8 (N, S, S, 3), a batch at a time (memory stays small): float (N,)
    p(malignant) for a binary model, (N, C) class probabilities for a multi-class one. With
    `tta`, the mean over the eight flips and quarter turns. `metadata`: float32 (N, F), the
    second input of an image + metadata model (the same for every view of an image)."""
    from skinml.cnn.classifier import dihedral

    def inputs(view, start):
        if metadata is None:
            return view
        return {"image": view, "metadata": np.asarray(metadata[start:start + len(view)], "float32")}

    out = []
    for start in range(0, len(images), batch_size):
        x = np.asarray(images[start:start + batch_size], dtype="float32") / 255.0
        views = dihedral(x) if tta else [x]
        p = np.mean([np.asarray(model.predict(inputs(v, start), verbose=0)).reshape(len(v), -1)
                     for v in views], axis=0)
        out.append(p[:, 0] if p.shape[1] == 1 else p)
    return np.concatenate(out).astype("float64") if out else np.zeros(0)


def best_model_predictions(config, run_dir: Path, df, compact: bool = False) -> tuple[object, dict]:
    """(best, {split: (rows, labels int (N,), probabilities)}) for "val" and "test": the run's
    best.keras (its weights at half precision with `compact`, as they will be stored), and its
    answers on each split of `df` (with TTA when `config.tta`)."""
    import keras

    from skinml.cnn.splits import split_images, split_metadata

    best = keras.saving.load_model(Path(run_dir) / "best.keras", compile=False, safe_mode=True)
    if compact:  # measure the weights as they will be stored
        best.set_weights(half_precision(best.get_weights()))
    preds = {}
    for split in ("val", "test"):
        part = df[df["split"] == split]
        preds[split] = (part, part["label"].to_numpy().astype(int),
                        predict_arrays(best, split_images(config, part), config.tta,
                                       metadata=split_metadata(config, part)))
    return best, preds


def with_temperature(best, temperature: float):
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


def train_seconds(run_dir: Path, state: dict) -> float:
    """Seconds of training: the state's count, else the history's per-epoch times."""
    if state.get("train_seconds") is not None:
        return round(float(state["train_seconds"]), 1)
    history = read_table(Path(run_dir) / "history.csv")
    return round(float(history["seconds"].sum()), 1) if "seconds" in history else 0.0
