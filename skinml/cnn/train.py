"""Classifier training runs: the fit loop, its schedule and time budget, checkpoints and resume.

A run directory (see docs/ARCHITECTURE.md) is the whole record of one run. Every file in it
is written to a temporary name and renamed, and `state.json` is the commit point of an
epoch: the epoch's checkpoint is saved first (`ckpt/epoch-NNNN.keras`, with the state that
goes with it in `ckpt/epoch-NNNN.json`), then the history and `state.json`; then, when the
epoch is the best so far, `best.keras` is copied from the checkpoint (a copy, never a link:
one damaged file cannot take both). A run killed at any moment (even `kill -9` in the middle
of a save) therefore restarts, with the same run directory, from its last complete epoch,
with its optimizer state, best score and patience count. The run's config, lock and status
are the runs layer's (`skinml.runs.train.fit_classifier` calls `fit_run` here).

Nothing is lost to a damaged file either: the last two checkpoints are kept, and resuming
takes the newest one that is whole (falling back to the one before); a damaged `state.json`
is rebuilt from the state saved with the newest checkpoint. Both are written to the run's
log. A run whose state cannot be recovered stops with a sentence and deletes nothing.
"""

from __future__ import annotations

import math
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from skinml.cnn.config import TrainConfig
from skinml.cnn.distribute import data_parallel
from skinml.cnn.splits import load_splits, split_images, split_metadata, targets, uses_metadata
from skinml.data.policy import split_counts
from skinml.errors import DataError, ModelError
from skinml.io import copy_atomic, intact_zip, read_json, read_table, save_model_atomic, write_atomic, write_json
from skinml.progress import OnProgress, ProgressCallback
from skinml.schedule import make_schedule_callback

# ---------------------------------------------------------------- checkpoints

KEEP_CHECKPOINTS = 2  # the newest and the one before it: a fallback when the newest is damaged
BEST_FIELDS = ("best_epoch", "best_score", "best_logs")  # the state that goes with best.keras


def _ckpt(run_dir: Path, epoch: int) -> Path:
    return run_dir / "ckpt" / f"epoch-{epoch:04d}.keras"


def _ckpt_state(run_dir: Path, epoch: int) -> Path:
    """The state saved with a checkpoint: state.json as it was when that epoch committed."""
    return _ckpt(run_dir, epoch).with_suffix(".json")


def _ckpt_epochs(run_dir: Path) -> list[int]:
    """Epochs that have a checkpoint file, newest first."""
    return sorted((int(p.stem.split("-")[1]) for p in (run_dir / "ckpt").glob("epoch-*.keras")), reverse=True)


def _valid_state(state) -> bool:
    return isinstance(state, dict) and isinstance(state.get("epoch"), int) and state["epoch"] >= 0


def _read_state(run_dir: Path, log) -> dict:
    """The run's committed state ({} for a new run). A damaged or missing state.json beside
    checkpoints is rebuilt from the newest checkpoint's saved state and reported in the log;
    ModelError when none is readable (nothing is deleted, the run does not start again)."""
    path = run_dir / "state.json"
    state = read_json(path)
    if _valid_state(state):
        return state
    if state is None and not path.exists() and not _ckpt_epochs(run_dir):
        return {}  # a new run
    for epoch in _ckpt_epochs(run_dir):
        saved = read_json(_ckpt_state(run_dir, epoch))
        if _valid_state(saved):
            log(f"state.json is {'missing' if not path.exists() else 'damaged'}: resuming from the state "
                f"saved with the checkpoint of epoch {epoch}")
            write_json(path, saved)
            return saved
    raise ModelError(f"{path} is damaged and no checkpoint of this run holds a readable state, so the run cannot "
                     "resume safely. Nothing was deleted: restore state.json, or start the run in a new folder.")


def _clean_run_dir(run_dir: Path, state: dict, log) -> None:
    """Remove temporary files and checkpoints of epochs that never committed; make sure
    best.keras is the best epoch's model (copied again when a crash came before the copy)."""
    for tmp in list(run_dir.glob(".*.tmp")) + list(run_dir.glob(".*.keras")) + \
            list((run_dir / "ckpt").glob(".*")):
        tmp.unlink(missing_ok=True)
    epoch = state.get("epoch", 0)
    for stale in _ckpt_epochs(run_dir):
        if stale > epoch:
            _ckpt(run_dir, stale).unlink()
            _ckpt_state(run_dir, stale).unlink(missing_ok=True)
    best, best_file = state.get("best_epoch"), run_dir / "best.keras"
    if best and best == epoch and intact_zip(_ckpt(run_dir, epoch)):
        copy_atomic(_ckpt(run_dir, epoch), best_file)
    if best and not intact_zip(best_file):
        log(f"best.keras (epoch {best}) is damaged and its checkpoint is gone: the best epoch is chosen "
            "again from the next epoch on")
        for key in BEST_FIELDS:
            state.pop(key, None)


def _check_history(run_dir: Path, state: dict, log) -> None:
    """Make history.csv the committed epochs' table. A history.csv that differs from the one saved in
    the state (cut short, edited, missing) is rebuilt from it and logged. A run from before the state
    held its history keeps its file, and a gap in it (epochs missing) is logged, never hidden."""
    epoch, path = int(state.get("epoch", 0)), run_dir / "history.csv"
    if not epoch:
        return
    on_disk = read_table(path)
    saved = [r for r in state.get("history", []) if r.get("epoch", 0) <= epoch]
    if saved:
        expected = pd.DataFrame(saved)
        try:
            same = len(on_disk) == len(expected) and list(on_disk.columns) == list(expected.columns) and \
                np.allclose(on_disk.to_numpy(dtype=float), expected.to_numpy(dtype=float), equal_nan=True)
        except (ValueError, TypeError):  # text where numbers belong
            same = False
        if not same:
            rows = f"{len(on_disk)} row{'s' if len(on_disk) != 1 else ''}"
            log(f"history.csv is damaged or out of step ({rows} for {epoch} epochs): rebuilt from "
                "the state saved with the last complete epoch")
            write_atomic(path, expected.to_csv(index=False))
        return
    found = set(pd.to_numeric(on_disk.get("epoch", pd.Series(dtype=float)), errors="coerce").dropna().astype(int))
    missing = sorted(set(range(1, epoch + 1)) - found)
    if missing:
        log(f"history.csv lacks the rows of epoch{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(str, missing[:10]))}{' ...' if len(missing) > 10 else ''} and this run's state does not "
            "hold them (it was saved by an older skinml): its curves have a gap there")


def _load_checkpoint(run_dir: Path, state: dict, log):
    """(model, state) to resume from: the newest checkpoint that loads, at or before the committed
    epoch. Falling back to an older one keeps the best epoch found so far (best.keras is its
    own file) and takes the rest of that epoch's saved state. ModelError when none loads."""
    import keras

    for epoch in (e for e in _ckpt_epochs(run_dir) if e <= state["epoch"]):
        saved = state if epoch == state["epoch"] else read_json(_ckpt_state(run_dir, epoch))
        problem = "" if _valid_state(saved) else "its saved state is damaged"
        if not problem and not intact_zip(_ckpt(run_dir, epoch)):
            problem = "the file is damaged (truncated or changed)"
        if not problem:
            try:
                model = keras.saving.load_model(_ckpt(run_dir, epoch), compile=True, safe_mode=True)
            except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
                problem = f"Keras cannot load it: {exc}"
        if not problem:
            if saved is not state:
                saved = {**saved, **{key: state[key] for key in BEST_FIELDS if key in state}}
            return model, saved
        log(f"the checkpoint of epoch {epoch} cannot be used ({problem}): trying the one before it")
    raise ModelError(f"No checkpoint of {run_dir} can be read (the last {KEEP_CHECKPOINTS} are damaged or missing), "
                     "so it cannot resume. Nothing was deleted: start the run again in a new folder.")


# ---------------------------------------------------------------- feeds

def make_feed(images: np.ndarray, labels: np.ndarray, batch_size: int, shuffle: bool,
              augmenter=None, seed: int = 0, drop_remainder: bool = False,
              metadata: np.ndarray | None = None, metadata_dropout: float = 0.0):
    """A keras.utils.PyDataset of (float32 (B, S, S, 3) in [0, 1], float32 labels) batches.

    `images` is uint8 (N, S, S, 3) (a memory map is fine); shuffled each epoch when asked,
    augmented per batch by `augmenter` (a Keras layer called with training=True): any backend.
    With `metadata` (float32 (N, F), skinml.data.tabular), each batch's inputs are
    `{"image": ..., "metadata": ...}`, the two inputs of an image + metadata model; with
    `metadata_dropout`, fields of each batch are hidden at random (skinml.data.tabular).
    """
    import keras

    from skinml.data.tabular import metadata_dropout as hide_at_random

    class Feed(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.rng = np.random.default_rng(seed)
            self.order = np.arange(len(images))
            self.on_epoch_end()

        def __len__(self):
            n = len(images) // batch_size if drop_remainder else math.ceil(len(images) / batch_size)
            return max(1, n)

        def on_epoch_end(self):
            if shuffle:
                self.order = self.rng.permutation(len(images))

        def __getitem__(self, i):
            idx = np.sort(self.order[i * batch_size:(i + 1) * batch_size])
            x = np.asarray(images[idx], dtype="float32") / 255.0
            if augmenter is not None:
                x = keras.ops.convert_to_numpy(augmenter(x, training=True))
            if metadata is not None:
                x = {"image": x, "metadata": hide_at_random(metadata[idx], metadata_dropout, self.rng)}
            return x, np.asarray(labels[idx], dtype="float32")  # 0/1, or one-hot rows

    return Feed()


def _feeds(config: TrainConfig, df: pd.DataFrame):
    """(train feed, val feed, steps per epoch, feed kind) for the configured backend."""
    import keras

    from skinml.images.augment import build_augmenter

    train, val = df[df["split"] == "train"], df[df["split"] == "val"]
    y_train, y_val = targets(config, train["label"]), targets(config, val["label"])
    augmenter = None if config.augment == "none" else build_augmenter(config.augment, seed=config.seed)
    from skinml.cnn.config import steps_per_epoch

    drop = len(train) >= 2 * config.batch_size  # batch norm dislikes a last batch of one
    steps = steps_per_epoch(len(train), config.batch_size)
    # tf.data feeds image files with 0/1 labels; packs, one-hot diagnosis rows and patient
    # metadata go as arrays
    if config.pack:
        arrays_only = "A run on an image pack"
    elif uses_metadata(config):
        arrays_only = f"{config.model}, which reads patient metadata,"
    elif config.task != "binary":
        arrays_only = "The diagnosis task"
    else:
        arrays_only = ""
    kind = config.feed
    if kind == "auto":
        kind = "tfdata" if keras.backend.backend() == "tensorflow" and not arrays_only else "array"
    if kind == "tfdata" and arrays_only:
        raise DataError(f"{arrays_only} reads its images as arrays: use feed 'array' or 'auto'.")
    if kind == "tfdata":
        from skinml.images.pipeline import make_dataset

        common = dict(image_size=config.image_size, batch_size=config.batch_size, resize=config.resize,
                      cache="disk", seed=config.seed)
        train_feed = make_dataset(train["image_path"], y_train, shuffle=True, augment=augmenter,
                                  drop_remainder=drop, **common)
        val_feed = make_dataset(val["image_path"], y_val, **common)
    else:
        train_feed = make_feed(split_images(config, train), y_train, config.batch_size, True, augmenter,
                               config.seed, drop, metadata=split_metadata(config, train),
                               metadata_dropout=config.metadata_dropout)
        val_feed = make_feed(split_images(config, val), y_val, config.batch_size, False,
                             metadata=split_metadata(config, val))
    return train_feed, val_feed, max(1, steps), kind


def class_weights(y: np.ndarray, how: str, n_classes: int = 2) -> dict[int, float] | None:
    """{class: n / (n_classes * n_class)} for "balanced" (every class weighs the same in the
    loss, however rare), None for "none"."""
    if how == "none":
        return None
    counts = np.bincount(np.asarray(y, int), minlength=n_classes)
    return {c: float(len(y) / (n_classes * max(1, counts[c]))) for c in range(n_classes)}


# ---------------------------------------------------------------- model and optimizer

def make_optimizer(config: TrainConfig):
    """The configured Keras optimizer; its learning rate follows `ScheduleCallback`."""
    import keras

    lr, wd = config.learning_rate, config.weight_decay or None
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(lr, weight_decay=wd)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr, weight_decay=wd)
    return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=wd)


def make_balanced_accuracy_callback(val_feed, y_val: np.ndarray):
    """Adds `val_balanced_accuracy` (mean per-class sensitivity, ISIC 2018's measure) to each
    epoch's logs, for the diagnosis task: Keras has no such metric built in."""
    import keras

    from skinml.metrics.multiclass import balanced_accuracy

    class BalancedAccuracy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            p = np.asarray(self.model.predict(val_feed, verbose=0))
            if logs is not None:
                logs["val_balanced_accuracy"] = balanced_accuracy(y_val, p)

    return BalancedAccuracy()


def compile_metrics(task: str = "binary"):
    import keras

    if task == "diagnosis":
        return [keras.metrics.CategoricalAccuracy(name="accuracy")]
    return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc"),
            keras.metrics.Recall(name="sensitivity"), keras.metrics.Precision(name="precision")]


def build_compiled_model(config: TrainConfig):
    """The configured architecture, compiled with cross-entropy and the task's metrics."""
    import keras

    from skinml.cnn.models import build_model
    from skinml.data.policy import DIAGNOSIS_CLASSES

    if config.task == "diagnosis":
        model = build_model(config.model, image_size=config.image_size, classes=len(DIAGNOSIS_CLASSES))
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    else:
        model = build_model(config.model, image_size=config.image_size)
        loss = keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing)
    model.compile(optimizer=make_optimizer(config), loss=loss, metrics=compile_metrics(config.task))
    return model


# ---------------------------------------------------------------- the epoch commit

def make_run_callback(run_dir: Path, state: dict, config: TrainConfig, log, steps: int = 0):
    """The Keras callback that commits each epoch: checkpoint, history, state, early stopping.

    Inside an epoch it writes `progress.json` (epoch, batch, batches of `steps`, seconds) at
    most once a second, so that the dashboard can count batches while an epoch runs.
    """
    import keras

    mode_max = not config.monitor.endswith("loss")

    class RunCallback(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.started = epoch, time.perf_counter()
            self.reported = self.started

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            if now - self.reported >= 1.0:
                self.reported = now
                write_json(run_dir / "progress.json", {"epoch": self.epoch + 1, "batch": batch + 1,
                                                        "batches": steps, "seconds": round(now - self.started, 1)})

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            number = epoch + 1
            (run_dir / "progress.json").unlink(missing_ok=True)
            seconds = time.perf_counter() - self.started
            lr = self.model.optimizer.learning_rate
            row = {"epoch": number, **logs, "learning_rate": float(keras.ops.convert_to_numpy(lr)),
                   "seconds": round(seconds, 3), "images_per_second": round(state["n_train"] / seconds, 2)}
            score = logs.get(config.monitor)
            if score is None:
                raise ModelError(f"The monitored metric '{config.monitor}' is not among {sorted(logs)}.")
            best = state.get("best_score")
            improved = best is None or (score > best if mode_max else score < best) or \
                (math.isnan(best) and not math.isnan(score))
            ckpt = _ckpt(run_dir, number)
            ckpt.parent.mkdir(exist_ok=True)
            save_model_atomic(self.model, ckpt)
            state.update(epoch=number, wait=0 if improved else state.get("wait", 0) + 1)
            if improved:
                state.update(best_epoch=number, best_score=score, best_logs=logs)
            # the history travels in the state (and so in every checkpoint's saved state): a damaged
            # history.csv is rebuilt from it, never resumed as a shorter table (`_check_history`)
            state["history"] = [r for r in state.get("history", []) if r.get("epoch", 0) < number] + [row]
            write_json(_ckpt_state(run_dir, number), state)
            write_atomic(run_dir / "history.csv", pd.DataFrame(state["history"]).to_csv(index=False))
            write_json(run_dir / "state.json", state)  # the commit point of this epoch
            if improved:
                copy_atomic(ckpt, run_dir / "best.keras")
            for old in _ckpt_epochs(run_dir)[KEEP_CHECKPOINTS:]:
                _ckpt(run_dir, old).unlink(missing_ok=True)
                _ckpt_state(run_dir, old).unlink(missing_ok=True)
            write_tensorboard(run_dir, number, {**logs, "learning_rate": row["learning_rate"]})
            shown = " ".join(f"{k}={v:.4f}" for k, v in logs.items())
            log(f"epoch {number}/{config.epochs} {shown} ({seconds:.1f} s)" + (" best" if improved else ""))
            if state["wait"] >= config.patience:
                state["stopped_early"] = True
                write_json(run_dir / "state.json", state)
                log(f"early stop: {config.monitor} has not improved for {config.patience} epochs")
                self.model.stop_training = True

    return RunCallback()


# ---------------------------------------------------------------- fit

def fit_run(config: TrainConfig, run_dir: Path, on_progress: OnProgress | None = None, log=print) -> None:
    """Train the run in `run_dir` after its last complete epoch (from the start for a new
    one), then finish it (`skinml.cnn.finish.finish_run`). `config` is the run's resolved
    config; the caller holds the run's lock and keeps its status (`skinml.runs.train.fit_classifier`).
    `log(message)` reports what happens (resumes, fallbacks, epochs)."""
    import keras

    keras.utils.set_random_seed(config.seed)
    state = _read_state(run_dir, log)
    _clean_run_dir(run_dir, state, log)
    _check_history(run_dir, state, log)
    log(f"reading {config.pack or config.data or 'the default data folder'}")
    df = load_splits(config)
    train_feed, val_feed, steps, kind = _feeds(config, df)
    y_train = df.loc[df["split"] == "train", "label"].to_numpy().astype(int)
    state.setdefault("n_train", int(len(y_train)))
    state.update(backend=keras.backend.backend(), feed=kind, splits=split_counts(df))
    start = int(state.get("epoch", 0))
    done = start >= state.get("planned_epochs", config.epochs) or state.get("stopped_early")
    if not done:
        with data_parallel(config.devices, config.batch_size) as devices:
            if start:
                model, resumed = _load_checkpoint(run_dir, state, log)
                if resumed is not state:  # fell back to an older checkpoint: its state, in the dict the callbacks hold
                    state.clear()
                    state.update(resumed)
                start = state["epoch"]
                best = f"best {config.monitor} {state['best_score']:.4f} at epoch {state['best_epoch']}" \
                    if state.get("best_epoch") else "no best epoch yet"
                log(f"resuming after epoch {start} ({best})")
                keras.utils.set_random_seed(config.seed + start)  # a fresh shuffle, not a replay
            else:
                model = build_compiled_model(config)
            log(f"training {config.model} on {len(y_train)} images ({kind} feed, {keras.backend.backend()}"
                + (f", {devices} devices" if devices > 1 else "") + ")")
            callbacks = [make_schedule_callback(config, steps, state, log)]
            if config.task == "diagnosis":
                y_val = df.loc[df["split"] == "val", "label"].to_numpy().astype(int)
                callbacks.append(make_balanced_accuracy_callback(val_feed, y_val))
            callbacks.append(make_run_callback(run_dir, state, config, log, steps))
            if on_progress:
                callbacks.append(ProgressCallback(on_progress, config.epochs, steps, start))
            model.fit(train_feed, validation_data=val_feed, epochs=config.epochs, initial_epoch=start,
                      class_weight=class_weights(y_train, config.class_weight, len(df.attrs["classes"])),
                      callbacks=callbacks, shuffle=False, verbose=0)  # the feeds shuffle themselves
    log("choosing the threshold and measuring the best epoch on validation and test")
    from skinml.cnn.finish import finish_run

    finish_run(config, run_dir, df, state)


def write_tensorboard(run_dir: Path, epoch: int, logs: dict) -> None:
    """Append one epoch's figures to TensorBoard logs in `tb/train` and `tb/validation`.

    Written with TensorFlow's own summary op and the scalars plugin's metadata, so the logs
    need neither the `tensorboard` package nor the TensorFlow backend (only TensorFlow
    installed); without TensorFlow there are no logs.
    """
    try:
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2
    except ImportError:
        return
    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")).SerializeToString()
    writers = _TB_WRITERS.setdefault(str(run_dir), {})
    for part, prefix in (("train", ""), ("validation", "val_")):
        if part not in writers:
            writers[part] = tf.summary.create_file_writer(str(run_dir / "tb" / part))
        with writers[part].as_default():
            for key, value in logs.items():
                name = key[len(prefix):] if prefix and key.startswith(prefix) else key
                if (prefix and key.startswith(prefix)) or (not prefix and not key.startswith("val_")):
                    tf.summary.write(f"epoch_{name}", tf.constant(float(value)), step=epoch, metadata=meta)
        writers[part].flush()


_TB_WRITERS: dict[str, dict] = {}
