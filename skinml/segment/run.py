"""The segmenter's run directory: config, split, state, history, best and last model, status.

    config.json   the resolved SegmenterConfig, with "kind": "segmenter"
    split.csv     every image with its split (train/val/test by lesion): evaluation reads the test rows
    cache/        the decoded photos and masks (images.npy, masks.npy, ids.txt)
    last.keras    the model after the last complete epoch, with its optimizer (resume from it)
    best.keras    the model of the epoch with the best validation mean Jaccard
    history.csv   one row per epoch; state.json: the last complete epoch (the commit point)
    status        running, finished, failed or stopped, and a sentence

The lock and the status file belong to the runs layer (`skinml.runs.segmenter.fit_segmenter`).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from skinml.errors import ModelError
from skinml.io import read_json, read_table, save_model_atomic, write_atomic, write_json
from skinml.segment.config import SegmenterConfig

KIND = "segmenter"
# Settings a resumed run may change: how long it may still train.
RESUMABLE = {"time_budget", "epochs"}


def open_run(run_dir: Path, config: SegmenterConfig) -> dict:
    """Write the config of a new run, or check that a resumed run has the same one; its state.

    The state is {} for a new run, else what the last complete epoch committed: epoch,
    best_epoch, best_score, train_seconds, planned_epochs.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    wanted = {"kind": KIND, **config.to_dict()}
    old = read_json(run_dir / "config.json")
    if isinstance(old, dict):
        changed = sorted(k for k in set(old) | set(wanted)
                         if k not in RESUMABLE and _plain(old.get(k)) != _plain(wanted.get(k)))
        if changed:
            raise ModelError(f"{run_dir} holds a run with other settings ({', '.join(changed)}): "
                             "choose a new run directory.")
    write_json(run_dir / "config.json", wanted)
    state = read_json(run_dir / "state.json", {}) or {}
    return state if (run_dir / "last.keras").is_file() else {}


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def load_split(run_dir: Path) -> pd.DataFrame | None:
    """The run's split table (skinml.segment.data.SPLIT_COLUMNS), or None before it is written."""
    path = Path(run_dir) / "split.csv"
    return pd.read_csv(path, dtype=str, keep_default_na=False) if path.is_file() else None


def write_split(run_dir: Path, table: pd.DataFrame) -> None:
    write_atomic(Path(run_dir) / "split.csv", table.to_csv(index=False))


def make_run_callback(run_dir: Path, state: dict, config: SegmenterConfig, n_train: int, log):
    """The Keras callback that commits each epoch: last and best model, history, state.

    The best epoch is the one with the highest `val_jaccard` (validation mean Jaccard).
    """
    import keras

    class RunCallback(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            number, seconds = epoch + 1, time.perf_counter() - self.started
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            row = {"epoch": number, **logs, "learning_rate": lr, "seconds": round(seconds, 1),
                   "images_per_second": round(n_train / seconds, 1)}
            score = logs.get("val_jaccard", float("nan"))
            improved = state.get("best_score") is None or score > state["best_score"]
            save_model_atomic(self.model, run_dir / "last.keras")
            if improved:
                save_model_atomic(self.model, run_dir / "best.keras")
                state.update(best_epoch=number, best_score=score, best_logs=logs)
            rows = read_table(run_dir / "history.csv")
            rows = rows[rows["epoch"] < number] if len(rows) else rows
            write_atomic(run_dir / "history.csv", pd.concat([rows, pd.DataFrame([row])]).to_csv(index=False))
            state["epoch"] = number
            write_json(run_dir / "state.json", state)  # the commit point of this epoch
            shown = " ".join(f"{k}={v:.4f}" for k, v in logs.items())
            log(f"epoch {number}/{state.get('planned_epochs', config.epochs)} {shown} ({seconds:.0f} s)"
                + (" best" if improved else ""))

    return RunCallback()


def load_trained(run_dir: str | Path, which: str = "best"):
    """The model of a run (`best.keras` or `last.keras`), loaded with safe_mode."""
    import keras

    import skinml.segment.unet  # noqa: F401  (registers the loss and measure)

    path = Path(run_dir) / f"{which}.keras"
    if not path.is_file():
        raise ModelError(f"{run_dir} has no {which}.keras yet: has the run finished an epoch?")
    return keras.models.load_model(path, safe_mode=True)
