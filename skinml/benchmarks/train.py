"""Training images/second: models fed by the skinml pipeline against in-memory tensors.

The goal is a ratio of at least 0.95 for the thesis's base model: the input pipeline is
never the bottleneck. Each measurement trains one warm-up epoch (tracing, filling caches)
and then times one epoch of `--steps` batches. `--task diagnosis` times the seven-class
heads; an image + metadata model (skinml_resnet_meta) is fed as the core loop feeds it
(NumPy arrays with the patient's metadata beside the images).
"""

from __future__ import annotations

import argparse
import json
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="dataset folder (default: the default data folder)")
    parser.add_argument("--models", nargs="+", default=["thesis_base", "skinml_resnet"])
    parser.add_argument("--image-size", type=int, default=128, help="px (the thesis used 256)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=15, help="batches in the timed epoch")
    parser.add_argument("--augment", default="none", help="none, thesis or strong (pipeline side only)")
    parser.add_argument("--task", choices=["binary", "diagnosis"], default="binary",
                        help="binary (one sigmoid) or diagnosis (seven-class softmax)")
    parser.add_argument("--json", action="store_true", help="print only the JSON")


def _timed_fit(model, data, steps: int, batch_size: int | None = None) -> float:
    """Seconds of the second of two epochs of `steps` batches (the first one warms up)."""
    import keras

    times = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    x, y = data if isinstance(data, tuple) else (data, None)
    if y is None:
        model.fit(x, steps_per_epoch=steps, epochs=2, callbacks=[Clock()], verbose=0)
    else:
        model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=True, callbacks=[Clock()], verbose=0)
    return times[-1]


def measure(name: str, paths, labels, image_size: int, batch_size: int, steps: int, augment: str,
            metadata=None, classes: int = 1) -> dict:
    """images/s of `name` fed by the pipeline and by in-memory float32 tensors, and their ratio.

    `labels`: 0/1, or class indices when `classes` > 1; `metadata`: float32 (N, F) features
    for a model that reads them (skinml.data.tabular)."""
    import keras
    import numpy as np

    from skinml.cnn.models import METADATA_MODELS, build_model
    from skinml.cnn.train import make_feed
    from skinml.images.pipeline import load_array

    n = steps * batch_size
    paths, labels = list(paths)[:n], np.asarray(labels[:n])
    targets = np.eye(classes, dtype="float32")[labels.astype(int)] if classes > 1 else labels.astype("float32")
    with_metadata = name in METADATA_MODELS
    backend = keras.backend.backend()

    def compiled():
        keras.utils.set_random_seed(0)
        model = build_model(name, image_size=image_size, **({"classes": classes} if classes > 1 else {}))
        loss = "categorical_crossentropy" if classes > 1 else "binary_crossentropy"
        model.compile(optimizer="rmsprop", loss=loss, metrics=["accuracy"])
        return model

    if backend == "tensorflow" and not with_metadata and classes == 1:  # as the core loop feeds them
        from skinml.images.pipeline import make_dataset

        feed = make_dataset(paths, targets, image_size=image_size, batch_size=batch_size, shuffle=True,
                            augment=None if augment == "none" else augment, cache="disk",
                            drop_remainder=True).repeat()
        kind = "tf.data (disk cache)"
    else:
        from skinml.images.augment import build_augmenter

        feed = make_feed(load_array(paths, image_size), targets, batch_size, True,
                         None if augment == "none" else build_augmenter(augment), drop_remainder=True,
                         metadata=None if metadata is None else metadata[:n])
        kind = "NumPy array feed" + (" + metadata" if with_metadata else "")
    pipeline_s = _timed_fit(compiled(), feed, steps)
    tensors = np.asarray(load_array(paths, image_size), dtype="float32") / 255.0
    inputs = {"image": tensors, "metadata": metadata[:n]} if with_metadata else tensors
    memory_s = _timed_fit(compiled(), (inputs, targets), steps, batch_size)
    return {"model": name, "backend": backend, "feed": kind, "image_size": image_size, "classes": classes,
            "batch_size": batch_size, "images": n,
            "pipeline_images_per_s": round(n / pipeline_s, 1), "memory_images_per_s": round(n / memory_s, 1),
            "ratio": round(memory_s / pipeline_s, 3)}


def run(args: argparse.Namespace) -> int:
    from skinml.data.diagnoses import DIAGNOSIS_CLASSES
    from skinml.data.policy import diagnosis_class, prepare
    from skinml.data.readers import default_data_dir
    from skinml.data.tabular import metadata_features

    diagnosis = args.task == "diagnosis"
    table = prepare(args.data or default_data_dir(), seed=0, balance=not diagnosis)
    train = table[table["split"] == "train"].sample(frac=1.0, random_state=0)
    if diagnosis:
        dx = diagnosis_class(train)
        train = train[dx.isin(DIAGNOSIS_CLASSES)]
        labels = dx[train.index].map(DIAGNOSIS_CLASSES.index).to_numpy()
    else:
        labels = train["benign_malignant"].eq("malignant").astype(int).to_numpy()
    needed = args.steps * args.batch_size
    if len(train) < needed:
        from skinml.errors import DataError

        raise DataError(f"The training split has {len(train)} images; --steps x --batch-size needs "
                        f"{needed}. Lower --steps or use a larger folder.")
    rows = [measure(name, train["image_path"], labels, args.image_size, args.batch_size, args.steps,
                    args.augment, metadata_features(train), len(DIAGNOSIS_CLASSES) if diagnosis else 1)
            for name in args.models]
    if not args.json:
        print(f"{'model':<20}{'backend':<12}{'pipeline img/s':>16}{'memory img/s':>14}{'ratio':>8}")
        for r in rows:
            print(f"{r['model']:<20}{r['backend']:<12}{r['pipeline_images_per_s']:>16.1f}"
                  f"{r['memory_images_per_s']:>14.1f}{r['ratio']:>8.3f}")
    print(json.dumps(rows, indent=None if not args.json else 2))
    return 0
