"""How long will a training run take? Batches from the settings, seconds from this machine.

`plan(config, n_train)` counts the batches of a run; its seconds (`run_seconds`, pure
arithmetic) are a start-up time plus the epochs at a training speed. Both come from an earlier
run of the same architecture on this machine (`speed_from_runs` / `speed_from_history`: the
speed of its epochs after the first, scaled by the square of the image size; the start-up is
what its first epoch took beyond the others, reading the images and compiling, plus
PROCESS_SECONDS) or from a short measurement (`measure_speed`: a few training steps on random
images, its compiling step timed apart). The first epoch is never extrapolated: on a small
dataset it is mostly reading and compiling (25.8 s against 3 s for each later one in the run
below), and a run estimated from it read 50 times too long. Early stopping may end a run sooner.

The dashboard never trains in its own process: `measure_speed_apart` runs `measure_speed` in a
child process (`python -m skinml.runs.estimate CONFIG_JSON`) under the run cap, so its memory
goes back to the system when it ends and two clicks cannot share one TensorFlow runtime.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from skinml.cnn.config import TrainConfig, steps_per_epoch

# A training process's own start and finish, outside its epochs: starting Python and TensorFlow,
# reading the folder, then the threshold, the figures on validation and test and the card. A
# 3-epoch thesis_base run at 64 px on the 200-image demo took 101 s here (2 cores, load average
# 13): 40 s starting, 9 s reading, 26 s first epoch, 3 s and 3 s for the next two, 10 s finishing;
# 60 s outside the epochs. A run on an idle machine takes less: an estimate errs long rather than short.
PROCESS_SECONDS = 60.0


@dataclass(frozen=True)
class Speed:
    """Training images per second at `image_size` px, and where the figure comes from."""

    images_per_second: float
    image_size: int
    source: str
    startup_seconds: float = PROCESS_SECONDS  # what a run spends once, outside its epochs' steady pace

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
    per_epoch = steps_per_epoch(n_train, config.batch_size)
    if speed is None:
        return Plan(n_train, per_epoch, config.epochs)
    seconds = run_seconds(n_train, config.epochs, speed.at(config.image_size), speed.startup_seconds,
                          config.time_budget)
    return Plan(n_train, per_epoch, config.epochs, seconds, speed.source)


def run_seconds(n_train: int, epochs: int, images_per_second: float, startup_seconds: float,
                time_budget: float | None = None) -> float:
    """Seconds of a run: its start-up, then `epochs` passes over `n_train` images at the steady
    speed; a time budget caps the epochs (it does not cover the start-up)."""
    training = n_train * epochs / max(images_per_second, 1e-9)
    if time_budget:
        training = min(training, time_budget)
    return startup_seconds + training


def speed_from_history(seconds: list[float], n_train: int, image_size: int, source: str) -> Speed | None:
    """The steady speed and the start-up of a run whose epochs took `seconds` (in order) on `n_train`
    images: images per second of the epochs after the first (median); start-up PROCESS_SECONDS plus
    what the first epoch took beyond them. None for fewer than two epochs: one epoch cannot tell
    reading and compiling from training."""
    if len(seconds) < 2 or n_train < 1:
        return None
    steady = max(float(statistics.median(seconds[1:])), 1e-6)
    return Speed(n_train / steady, image_size, source, PROCESS_SECONDS + max(0.0, float(seconds[0]) - steady))


def speed_from_runs(model: str, root: str | Path | None = None) -> Speed | None:
    """The speed of the newest run of `model` with two complete epochs or more (`speed_from_history`),
    or None."""
    from skinml.io import read_json
    from skinml.runs import list_runs, load_history

    runs = list_runs(root, kind="classifier")
    for row in runs[runs["model"] == model].itertuples():
        history = load_history(row.path)
        if {"images_per_second", "seconds"} <= set(history.columns) and len(history) >= 2:
            size = int((read_json(Path(row.path) / "config.json", {}) or {}).get("image_size", 128))
            n_train = float((history["images_per_second"] * history["seconds"]).median())
            speed = speed_from_history(history["seconds"].astype(float).tolist(), round(n_train), size,
                                       f"run {row.run} on this machine")
            if speed is not None:
                return speed
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
    start = time.perf_counter()
    model.train_on_batch(x, y)  # builds and compiles: once per run
    compiling = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    seconds = time.perf_counter() - start
    return Speed(steps * config.batch_size / seconds, config.image_size, "measured here just now",
                 PROCESS_SECONDS + compiling)


MEASURE_TIMEOUT_S = 300  # a few steps of the largest model at 256 px on a busy 2-core machine take about 2 min


def measure_speed_apart(config: TrainConfig, owner: str, timeout_s: float = MEASURE_TIMEOUT_S) -> Speed:
    """`measure_speed(config)` in a child process under the run cap (`skinml.runs.run_brief`): what
    the dashboard calls, never training in the server. ModelError (a sentence) when refused (the cap
    is reached, another measurement runs, training is off for visitors) or when it fails."""
    from skinml.runs.process import run_brief

    config.check()
    command = [sys.executable, "-m", "skinml.runs.estimate", json.dumps(dataclasses.asdict(config))]
    out = run_brief(command, timeout_s, owner=owner, cwd=Path(__file__).resolve().parents[2])
    speed = json.loads(out.strip().splitlines()[-1])
    return Speed(float(speed["images_per_second"]), int(speed["image_size"]), str(speed["source"]),
                 float(speed.get("startup_seconds", PROCESS_SECONDS)))


if __name__ == "__main__":  # the child process of `measure_speed_apart`: one JSON line on stdout
    from skinml.runs.process import exit_with_parent

    exit_with_parent()  # a server that dies takes its measurement with it
    measured = measure_speed(TrainConfig.from_dict(json.loads(sys.argv[1])).check())
    print(json.dumps(dataclasses.asdict(measured)), flush=True)
