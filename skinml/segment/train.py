"""Train the U-Net segmenter's epochs: `fit_run(config, run_dir)` (the run's lock and status:
`skinml.runs.segmenter.fit_segmenter`; the command: `python -m skinml make segmenter`, or
`python -m skinml.runs.segmenter train --data DIR --run-dir DIR --time-budget S`).

Input pipeline (tf.data): the decoded uint8 arrays, shuffled, batched, then augmented per batch
with the same geometry for photo and mask (the eight flips and 90-degree turns, a random zoom
of 75-100% of the side) and colour jitter on the photo only (brightness, contrast, saturation,
per-channel gain), then prefetched.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from skinml.errors import SkinmlError
from skinml.progress import OnProgress
from skinml.schedule import make_schedule_callback, plan_epochs
from skinml.segment import run as runs
from skinml.segment.config import SegmenterConfig
from skinml.segment.data import load_cached, load_table


def plan_from_benchmark(config: SegmenterConfig, seconds_per_epoch: float) -> int:
    """The first plan, before any epoch ran: from a measured or guessed pace."""
    return plan_epochs(config, 0, 0.0, [seconds_per_epoch])


def augment_batch(images, masks):
    """uint8 photos (N, S, S, 3) and masks (N, S, S, 1) -> float32 in [0, 1], augmented per image."""
    import tensorflow as tf

    x = tf.cast(images, tf.float32) / 255.0
    y = tf.cast(masks, tf.float32)
    n, size = tf.shape(x)[0], tf.shape(x)[1]

    def coin():
        return tf.random.uniform([n, 1, 1, 1]) < 0.5

    both = tf.concat([x, y], axis=-1)  # one geometry for photo and mask
    for flip in (lambda t: tf.reverse(t, [2]), lambda t: tf.reverse(t, [1]),
                 lambda t: tf.transpose(t, [0, 2, 1, 3])):  # with the two flips: all 90-degree turns
        both = tf.where(coin(), flip(both), both)
    side = tf.random.uniform([n], 0.75, 1.0)
    top, left = tf.random.uniform([n]) * (1 - side), tf.random.uniform([n]) * (1 - side)
    boxes = tf.stack([top, left, top + side, left + side], axis=1)
    both = tf.image.crop_and_resize(both, boxes, tf.range(n), tf.stack([size, size]))
    x, y = both[..., :3], tf.cast(both[..., 3:] > 0.5, tf.float32)

    def factor(low, high, channels=1):
        return tf.random.uniform([n, 1, 1, channels], low, high)

    gray = tf.reduce_mean(x, axis=-1, keepdims=True)
    x = gray + (x - gray) * factor(0.8, 1.2)  # saturation
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    x = mean + (x - mean) * factor(0.8, 1.2)  # contrast
    x = x * factor(0.92, 1.08, 3) + factor(-0.08, 0.08)  # colour balance, brightness
    return tf.clip_by_value(x, 0.0, 1.0), y


def to_float(images, masks):
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 255.0, tf.cast(masks, tf.float32)


def make_datasets(images, masks, split, config: SegmenterConfig):
    """(train, val) tf.data datasets of float32 batches; train shuffled and augmented."""
    import tensorflow as tf

    auto = tf.data.AUTOTUNE
    train = (tf.data.Dataset.from_tensor_slices((images[split == "train"], masks[split == "train"]))
             .shuffle(int((split == "train").sum()), seed=config.seed, reshuffle_each_iteration=True)
             .batch(config.batch_size)
             .map(augment_batch if config.augment else to_float, num_parallel_calls=auto).prefetch(auto))
    val = (tf.data.Dataset.from_tensor_slices((images[split == "val"], masks[split == "val"]))
           .batch(config.batch_size).map(to_float, num_parallel_calls=auto).prefetch(auto))
    return train, val


def build_compiled(config: SegmenterConfig):
    import keras

    from skinml.segment.unet import build_unet, dice_bce_loss, jaccard

    model = build_unet(config.image_size, config.filters)
    model.compile(keras.optimizers.AdamW(config.learning_rate, weight_decay=config.weight_decay),
                  loss=dice_bce_loss, metrics=[jaccard])
    return model


def fit_run(config: SegmenterConfig, run_dir: str | Path, on_progress: OnProgress | None = None,
            log=print) -> Path:
    """Train (or resume) the epochs of a segmenter run in `run_dir`; returns `run_dir`. The caller
    holds the run's lock and keeps its status (`skinml.runs.segmenter.fit_segmenter`).

    Trains in mixed bfloat16 (float32 weights), which this CPU's AMX units run about twice as
    fast as float32. Writes the files listed in skinml.segment.run.
    """
    import keras

    config.check()
    run_dir = Path(run_dir)
    state = runs.open_run(run_dir, config)
    keras.utils.set_random_seed(config.seed)
    table = runs.load_split(run_dir)
    if table is None:
        table = load_table(config.data, config.masks or None, config.seed, config.max_images)
        runs.write_split(run_dir, table)
    images, masks = load_cached(run_dir / "cache", table, config.image_size)
    split = table["split"].to_numpy()
    n_train = int((split == "train").sum())
    log(f"{len(table)} images: {n_train} train, {(split == 'val').sum()} val, "
        f"{(split == 'test').sum()} test (by lesion)")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = runs.load_trained(run_dir, "last") if state else build_compiled(config)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    train, val = make_datasets(images, masks, split, config)
    steps = math.ceil(n_train / config.batch_size)
    done = state.get("epoch", 0)
    resumed_plan = state.get("planned_epochs", 0) if config.time_budget else 0
    state["planned_epochs"] = resumed_plan if resumed_plan > done else config.epochs
    callbacks = [make_schedule_callback(config, steps, state, log),
                 runs.make_run_callback(run_dir, state, config, n_train, log)]
    if on_progress is not None:
        from skinml.progress import ProgressCallback
        callbacks.append(ProgressCallback(on_progress, state["planned_epochs"], steps, state.get("epoch", 0)))
    if state.get("epoch", 0) < state["planned_epochs"]:
        model.fit(train, validation_data=val, epochs=config.epochs, initial_epoch=state.get("epoch", 0),
                  callbacks=callbacks, verbose=0)
    best = state.get("best_score", float("nan"))
    log(f"{state.get('epoch', 0)} epochs; best validation mean Jaccard {best:.3f} at epoch {state.get('best_epoch')}")
    return run_dir


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = SegmenterConfig()
    p = argparse.ArgumentParser(prog="python -m skinml.runs.segmenter train", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="dataset folder (HAM10000)")
    p.add_argument("--masks", default="", help="folder of <isic_id>_segmentation.png (default: <data>-segmentations)")
    p.add_argument("--run-dir", required=True, help="run directory (resumed when it holds the same run)")
    p.add_argument("--time-budget", type=float, default=0.0, help="seconds of training (0 = no limit)")
    p.add_argument("--image-size", type=int, default=defaults.image_size)
    p.add_argument("--filters", default=",".join(map(str, defaults.filters)), help="channels per level, e.g. 16,32,64")
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    p.add_argument("--max-images", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> SegmenterConfig:
    try:
        filters = tuple(int(f) for f in args.filters.split(","))
    except ValueError:
        raise SkinmlError(f"--filters takes channel counts separated by commas, not '{args.filters}'.") from None
    return SegmenterConfig(data=str(Path(args.data).resolve()),
                           masks=str(Path(args.masks).resolve()) if args.masks else "",
                           image_size=args.image_size, filters=filters, epochs=args.epochs,
                           batch_size=args.batch_size, learning_rate=args.learning_rate,
                           max_images=args.max_images, time_budget=args.time_budget, seed=args.seed).check()
