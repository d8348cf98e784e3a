"""How long will a training run take? Batches from the settings, seconds from this machine.

`plan(config, n_train)` counts the batches of a run; its seconds come from the speed of an
earlier run of the same architecture on this machine (`speed_from_runs`: training images per
second of its epochs, scaled by the square of the image size) or from a short measurement
(`measure_speed`: a few training steps on random images). Either is an estimate: the first
epoch also reads the images and compiles the model, and early stopping may end a run sooner.

The dashboard never trains in its own process: `measure_speed_apart` runs `measure_speed` in a
child process (`python -m skinml.cnn.estimate CONFIG_JSON`) under the run cap, so its memory
goes back to the system when it ends and two clicks cannot share one TensorFlow runtime.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from skinml.cnn.config import TrainConfig


@dataclass(frozen=True)
class Speed:
    """Training images per second at `image_size` px, and where the figure comes from."""

    images_per_second: float
    image_size: int
    source: str

    def at(self, image_size: int) -> float:
        """Images per second at another size: the work grows with the number of pixels."""
        return self.images_per_second * (self.image_size / image_size) ** 2


@dataclass(frozen=True)
class Plan:
    """The size of a run: training images, batches per epoch, epochs, and seconds when known."""

    n_train: int
    batches_per_epoch: int
    epochs: int
    seconds: float | None = None
    source: str = ""

    @property
    def batches(self) -> int:
        return self.batches_per_epoch * self.epochs


def plan(config: TrainConfig, n_train: int, speed: Speed | None = None) -> Plan:
    """Batches (and seconds, with a `speed`) of training `config` on `n_train` images; a time
    budget caps the seconds."""
    per_epoch = max(1, math.ceil(n_train / config.batch_size))
    if speed is None:
        return Plan(n_train, per_epoch, config.epochs)
    seconds = n_train * config.epochs / max(speed.at(config.image_size), 1e-9)
    if config.time_budget:
        seconds = min(seconds, config.time_budget)
    return Plan(n_train, per_epoch, config.epochs, seconds, speed.source)


def speed_from_runs(model: str, root: str | Path | None = None) -> Speed | None:
    """The median training speed of the newest run of `model` with a complete epoch, or None."""
    from skinml.runs import list_runs, load_history, read_json

    runs = list_runs(root, kind="classifier")
    for row in runs[runs["model"] == model].itertuples():
        history = load_history(row.path)
        if "images_per_second" in history and len(history):
            size = int((read_json(Path(row.path) / "config.json", {}) or {}).get("image_size", 128))
            return Speed(float(history["images_per_second"].median()), size, f"run {row.run} on this machine")
    return None


def measure_speed(config: TrainConfig, steps: int = 3) -> Speed:
    """Images per second of `steps` training steps of `config`'s model on random images (after
    one untimed step that builds and traces it): seconds of work, no data read."""
    import keras
    import numpy as np

    from skinml.cnn.train import build_compiled_model

    keras.utils.set_random_seed(0)
    from skinml.cnn.splits import targets, uses_metadata
    from skinml.data.policy import DIAGNOSIS_CLASSES

    model = build_compiled_model(config)
    rng = np.random.default_rng(0)
    x = rng.random((config.batch_size, config.image_size, config.image_size, 3), dtype="float32")
    classes = len(DIAGNOSIS_CLASSES) if config.task == "diagnosis" else 2
    y = targets(config, rng.integers(0, classes, config.batch_size))  # 0/1, or one-hot rows
    if uses_metadata(config):  # the image + metadata model takes both inputs
        from skinml.data.tabular import METADATA_FEATURES

        x = {"image": x, "metadata": rng.random((config.batch_size, len(METADATA_FEATURES)), dtype="float32")}
    model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    seconds = time.perf_counter() - start
    return Speed(steps * config.batch_size / seconds, config.image_size, "measured here just now")


MEASURE_TIMEOUT_S = 300  # a few steps of the largest model at 256 px on a busy 2-core machine take about 2 min


def measure_speed_apart(config: TrainConfig, owner: str, timeout_s: float = MEASURE_TIMEOUT_S) -> Speed:
    """`measure_speed(config)` in a child process under the run cap (`skinml.runs.run_brief`): what
    the dashboard calls, never training in the server. ModelError (a sentence) when refused (the cap
    is reached, another measurement runs, training is off for visitors) or when it fails."""
    from skinml.runs import run_brief

    config.check()
    command = [sys.executable, "-m", "skinml.cnn.estimate", json.dumps(dataclasses.asdict(config))]
    out = run_brief(command, timeout_s, owner=owner, cwd=Path(__file__).resolve().parents[2])
    speed = json.loads(out.strip().splitlines()[-1])
    return Speed(float(speed["images_per_second"]), int(speed["image_size"]), str(speed["source"]))


if __name__ == "__main__":  # the child process of `measure_speed_apart`: one JSON line on stdout
    from skinml.runs import exit_with_parent

    exit_with_parent()  # a server that dies takes its measurement with it
    measured = measure_speed(TrainConfig.from_dict(json.loads(sys.argv[1])).check())
    print(json.dumps(dataclasses.asdict(measured)), flush=True)
