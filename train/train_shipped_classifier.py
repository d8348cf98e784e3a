"""Train the classifier that ships with skinml, on in-memory NumPy arrays, with any Keras backend.

This is the recipe behind `skinml/assets/classifier` (see its MODEL_CARD.md). It reads a
prepared pack (a zip of square JPEGs plus an index CSV with isic_id, benign_malignant and
split columns, made by `--prepare`), so that it runs on a machine without TensorFlow or the
ISIC folder, for example a lent GPU with `KERAS_BACKEND=jax`:

    python train/train_shipped_classifier.py --prepare ../shared/data/isic-sample --pack pack/
    KERAS_BACKEND=jax python train/train_shipped_classifier.py --pack pack/ --out out/ --epochs 120

It writes `model.keras` (the best epoch on validation AUC, without augmentation layers),
`history.csv` and `predictions.npz` (validation and test probabilities over the eight
flips and quarter turns) into `--out`; `train/finish_shipped_classifier.py` then calibrates,
chooses the threshold on validation, evaluates on test and writes the model card.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def prepare_pack(data_dir: str, pack: Path, image_size: int, seed: int) -> None:
    """Squash every usable image to `image_size` px and store the grouped split with it."""
    from skinml.data.policy import DataPolicy, prepare
    from skinml.images.pack import write_pack

    write_pack(prepare(data_dir, DataPolicy(), balance=True, seed=seed), pack, image_size, quality=95)


def task_labels(index: pd.DataFrame, task: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Rows usable for `task`, their labels (float 0/1, or int class indices) and class names."""
    if task == "binary":
        keep = index["benign_malignant"].isin(["benign", "malignant"]).to_numpy()
        return keep, (index["benign_malignant"][keep] == "malignant").to_numpy("float32"), ["benign", "malignant"]
    from skinml.data.policy import DIAGNOSIS_CLASSES

    keep = index["dx"].isin(DIAGNOSIS_CLASSES).to_numpy()
    return keep, index["dx"][keep].map(DIAGNOSIS_CLASSES.index).to_numpy("int32"), list(DIAGNOSIS_CLASSES)


def balanced_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    """Mean per-class sensitivity (ISIC 2018 Task 3's measure) of class probabilities p (N, C)."""
    pred = p.argmax(axis=1)
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prepare", metavar="DATA_DIR", help="make the pack from an ISIC folder and stop")
    p.add_argument("--pack", type=Path, required=True)
    p.add_argument("--out", type=Path)
    p.add_argument("--model", default="skinml_resnet")
    p.add_argument("--task", choices=("binary", "diagnosis"), default="binary",
                   help="benign/malignant (sigmoid), or the seven HAM10000 diagnoses (softmax, "
                        "inverse-frequency class weights, best epoch on balanced accuracy)")
    p.add_argument("--image-size", type=int, default=192)
    p.add_argument("--epochs", type=int, default=120)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--warmup-epochs", type=int, default=5)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--augment", default="strong")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-budget", type=float, default=0,
                   help="seconds; if set, the epoch count (and so the cosine schedule) is fitted to it "
                        "after every epoch from the measured epoch time, never above --epochs")
    args = p.parse_args()

    if args.prepare:
        prepare_pack(args.prepare, args.pack, args.image_size, args.seed)
        return

    import keras

    from skinml.cnn.models import build_model
    from skinml.images.augment import build_augmenter

    keras.utils.set_random_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    from skinml.images.pack import read_pack

    index, images = read_pack(args.pack)
    keep, y, classes = task_labels(index, args.task)
    index, images = index[keep].reset_index(drop=True), images[keep]
    if images.shape[1] != args.image_size:
        images = np.stack([np.asarray(Image.fromarray(im).resize((args.image_size,) * 2, Image.BILINEAR))
                           for im in images])
    x = images.astype("float32") / 255.0
    part = {s: (index["split"] == s).to_numpy() for s in ("train", "val", "test")}
    print({s: int(m.sum()) for s, m in part.items()}, flush=True)

    binary = args.task == "binary"
    extra = {} if binary else {"classes": len(classes)}
    model = build_model(args.model, image_size=args.image_size, dropout=args.dropout, **extra)
    inputs = keras.Input(model.input_shape[1:], name="image")
    trainer = keras.Model(inputs, model(build_augmenter(args.augment, seed=args.seed)(inputs)), name="trainer")
    trainer.compile(
        optimizer=keras.optimizers.AdamW(args.lr, weight_decay=args.weight_decay),
        loss=keras.losses.BinaryCrossentropy(label_smoothing=args.label_smoothing) if binary else
        keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")] if binary else
        [keras.metrics.CategoricalAccuracy(name="accuracy")])
    # Every class weighs the same in the loss (the diagnosis classes range 68:1).
    counts = np.bincount(y[part["train"]].astype(int), minlength=len(classes))
    class_weight = None if binary else {c: float(len(y[part["train"]]) / (len(classes) * max(n, 1)))
                                        for c, n in enumerate(counts)}
    targets = y if binary else np.eye(len(classes), dtype="float32")[y]

    def lr_at(epoch: int) -> float:  # linear warm-up, then cosine decay to zero
        if epoch < args.warmup_epochs:
            return args.lr * (epoch + 1) / args.warmup_epochs
        t = (epoch - args.warmup_epochs) / max(1, args.epochs - args.warmup_epochs)
        return args.lr * 0.5 * (1 + math.cos(math.pi * t))

    best = {"auc": -1.0, "epoch": 0}
    start = time.time()

    class KeepBest(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ends.append(time.time() - start)
            if args.time_budget and epoch >= 2:  # epoch 1 includes compilation
                per_epoch = (ends[-1] - ends[max(1, len(ends) - 4)]) / min(3, len(ends) - 2) \
                    if len(ends) > 2 else ends[-1]
                fit = epoch + 1 + int((args.time_budget - ends[-1]) / per_epoch)
                if fit != args.epochs and (fit < args.epochs or args.epochs < max_epochs):
                    args.epochs = max(epoch + 1, min(max_epochs, fit))
                    print(f"time budget: now {args.epochs} epochs ({per_epoch:.1f} s each)", flush=True)
            if epoch + 1 >= args.epochs:
                self.model.stop_training = True
            if not binary:  # the measure to choose on: balanced accuracy on validation
                logs["val_balanced_accuracy"] = balanced_accuracy(
                    y[part["val"]], model.predict(x[part["val"]], batch_size=256, verbose=0))
            score = logs["val_auc"] if binary else logs["val_balanced_accuracy"]
            if score > best["auc"]:
                best.update(auc=float(score), epoch=epoch + 1)
                model.save_weights(args.out / "best.weights.h5")
            print(f"epoch {epoch + 1}: " + " ".join(f"{k}={v:.4f}" for k, v in logs.items()), flush=True)

    ends: list[float] = []  # seconds since start at the end of each epoch
    max_epochs = args.epochs
    history = trainer.fit(
        x[part["train"]], targets[part["train"]], batch_size=args.batch_size, epochs=args.epochs,
        validation_data=(x[part["val"]], targets[part["val"]]), verbose=0, shuffle=True,
        class_weight=class_weight,
        callbacks=[keras.callbacks.LearningRateScheduler(lr_at), KeepBest()])
    seconds = time.time() - start
    pd.DataFrame(history.history).rename_axis("epoch").to_csv(args.out / "history.csv")

    model.load_weights(args.out / "best.weights.h5")
    model.save(args.out / "model.keras")
    views = lambda a: [np.rot90(a, k, axes=(1, 2)) for k in range(4)] + \
                      [np.rot90(a, k, axes=(1, 2))[:, :, ::-1] for k in range(4)]
    preds = {}
    for s in ("val", "test"):
        tta = [model.predict(v, batch_size=256, verbose=0) for v in views(x[part[s]])]
        preds[f"{s}_tta"] = np.stack([t.ravel() for t in tta] if binary else tta, axis=1)
        preds[f"{s}_y"] = y[part[s]]
        preds[f"{s}_ids"] = index["isic_id"][part[s]].to_numpy()
    np.savez(args.out / "predictions.npz", **preds)
    info = dict(vars(args), pack=str(args.pack), out=str(args.out), best_epoch=best["epoch"],
                best_val_score=best["auc"], score="val_auc" if binary else "val_balanced_accuracy",
                classes=classes, class_weight=class_weight, train_seconds=round(seconds, 1),
                backend=keras.backend.backend(), params=model.count_params())
    (args.out / "train.json").write_text(json.dumps(info, indent=2))
    print(json.dumps(info), flush=True)


if __name__ == "__main__":
    main()
