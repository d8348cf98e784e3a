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
import io
import json
import math
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def prepare_pack(data_dir: str, pack: Path, image_size: int, seed: int) -> None:
    """Squash every usable image to `image_size` px and store the grouped split with it."""
    from skinml.data import DataPolicy, prepare
    from skinml.pipeline import load_image

    df = prepare(data_dir, DataPolicy(), balance=True, seed=seed)
    pack.mkdir(parents=True, exist_ok=True)

    def encode(path: str) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(load_image(path, image_size, "squash")).save(buf, "JPEG", quality=95)
        return buf.getvalue()

    with ThreadPoolExecutor(4) as pool:
        blobs = list(pool.map(encode, df["image_path"]))
    with zipfile.ZipFile(pack / "images.zip", "w", zipfile.ZIP_STORED) as z:
        for isic_id, blob in zip(df["isic_id"], blobs):
            z.writestr(f"{isic_id}.jpg", blob)
    df.drop(columns=["image_path"]).to_csv(pack / "index.csv", index=False)


def load_pack(pack: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The index table and uint8 (N, S, S, 3) images in its order."""
    index = pd.read_csv(pack / "index.csv", dtype=str, keep_default_na=False)
    with zipfile.ZipFile(pack / "images.zip") as z:
        blobs = [z.read(f"{i}.jpg") for i in index["isic_id"]]
    with ThreadPoolExecutor(16) as pool:
        images = list(pool.map(lambda b: np.asarray(Image.open(io.BytesIO(b)).convert("RGB")), blobs))
    return index, np.stack(images)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prepare", metavar="DATA_DIR", help="make the pack from an ISIC folder and stop")
    p.add_argument("--pack", type=Path, required=True)
    p.add_argument("--out", type=Path)
    p.add_argument("--model", default="skinml_resnet")
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

    from skinml.augment import build_augmenter
    from skinml.models import build_model

    keras.utils.set_random_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    index, images = load_pack(args.pack)
    if images.shape[1] != args.image_size:
        images = np.stack([np.asarray(Image.fromarray(im).resize((args.image_size,) * 2, Image.BILINEAR))
                           for im in images])
    x = images.astype("float32") / 255.0
    y = (index["benign_malignant"] == "malignant").to_numpy("float32")
    part = {s: (index["split"] == s).to_numpy() for s in ("train", "val", "test")}
    print({s: int(m.sum()) for s, m in part.items()}, flush=True)

    model = build_model(args.model, image_size=args.image_size, dropout=args.dropout)
    inputs = keras.Input(model.input_shape[1:], name="image")
    trainer = keras.Model(inputs, model(build_augmenter(args.augment, seed=args.seed)(inputs)), name="trainer")
    trainer.compile(
        optimizer=keras.optimizers.AdamW(args.lr, weight_decay=args.weight_decay),
        loss=keras.losses.BinaryCrossentropy(label_smoothing=args.label_smoothing),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")])

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
            if logs["val_auc"] > best["auc"]:
                best.update(auc=float(logs["val_auc"]), epoch=epoch + 1)
                model.save_weights(args.out / "best.weights.h5")
            print(f"epoch {epoch + 1}: " + " ".join(f"{k}={v:.4f}" for k, v in logs.items()), flush=True)

    ends: list[float] = []  # seconds since start at the end of each epoch
    max_epochs = args.epochs
    history = trainer.fit(
        x[part["train"]], y[part["train"]], batch_size=args.batch_size, epochs=args.epochs,
        validation_data=(x[part["val"]], y[part["val"]]), verbose=0, shuffle=True,
        callbacks=[keras.callbacks.LearningRateScheduler(lr_at), KeepBest()])
    seconds = time.time() - start
    pd.DataFrame(history.history).rename_axis("epoch").to_csv(args.out / "history.csv")

    model.load_weights(args.out / "best.weights.h5")
    model.save(args.out / "model.keras")
    views = lambda a: [np.rot90(a, k, axes=(1, 2)) for k in range(4)] + \
                      [np.rot90(a, k, axes=(1, 2))[:, :, ::-1] for k in range(4)]
    preds = {}
    for s in ("val", "test"):
        preds[f"{s}_tta"] = np.stack([model.predict(v, batch_size=256, verbose=0).ravel()
                                      for v in views(x[part[s]])], axis=1)
        preds[f"{s}_y"] = y[part[s]]
        preds[f"{s}_ids"] = index["isic_id"][part[s]].to_numpy()
    np.savez(args.out / "predictions.npz", **preds)
    info = dict(vars(args), pack=str(args.pack), out=str(args.out), best_epoch=best["epoch"],
                best_val_auc=best["auc"], train_seconds=round(seconds, 1),
                backend=keras.backend.backend(), params=model.count_params())
    (args.out / "train.json").write_text(json.dumps(info, indent=2))
    print(json.dumps(info), flush=True)


if __name__ == "__main__":
    main()
