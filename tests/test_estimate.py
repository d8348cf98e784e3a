"""The training-time estimate: a start-up and a steady pace, never the first epoch extrapolated."""

from __future__ import annotations

import json

import pytest

from skinml.cnn.config import TrainConfig
from skinml.runs import estimate

# A real run here (thesis_base, 64 px, batch 32, 3 epochs, the 200-image demo, 138 training
# images; 2 cores at load average 13): its epochs took these seconds, the whole process 101 s.
MEASURED_EPOCHS = [25.788, 3.27, 2.807]
MEASURED_TOTAL = 101.0


def run_folder(root, name: str, seconds: list[float], n_train: int = 138, image_size: int = 64):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"kind": "classifier", "model": "thesis_base",
                                                    "image_size": image_size}))
    rows = ["epoch,seconds,images_per_second"] + [f"{i + 1},{s},{n_train / s:.2f}" for i, s in enumerate(seconds)]
    (folder / "history.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_the_estimate_of_a_run_matches_the_measured_run_it_comes_from(tmp_path):
    run_folder(tmp_path, "real", MEASURED_EPOCHS)
    speed = estimate.speed_from_runs("thesis_base", tmp_path)
    config = TrainConfig(model="thesis_base", image_size=64, epochs=3, batch_size=32)
    seconds = estimate.plan(config, 138, speed).seconds
    assert seconds == pytest.approx(MEASURED_TOTAL, rel=0.15)
    # 50 epochs: the start-up once, then 3 s an epoch; the first epoch's 26 s are not taken 50 times
    long = estimate.plan(TrainConfig(model="thesis_base", image_size=64, epochs=50, batch_size=32), 138, speed)
    assert long.seconds == pytest.approx(estimate.PROCESS_SECONDS + (25.788 - 3.0385) + 50 * 3.0385, rel=0.01)


def test_one_epoch_is_no_speed_at_all(tmp_path):
    """A run stopped after its first epoch: that epoch is mostly reading and compiling. Extrapolating it
    read "about 51 min" for a run of about a minute."""
    run_folder(tmp_path, "stopped", [50.0])
    assert estimate.speed_from_runs("thesis_base", tmp_path) is None
    assert estimate.speed_from_history([50.0], 138, 64, "x") is None


def test_a_measured_speed_includes_starting_and_finishing():
    """The "Estimate the time" button said "about 0 s" for a 55 s run: a few steps on random images are
    fast, the run's start and finish are not."""
    config = TrainConfig(model="thesis_base", image_size=32, epochs=2, batch_size=8)
    speed = estimate.measure_speed(config, steps=1)
    assert speed.startup_seconds > estimate.PROCESS_SECONDS
    assert estimate.plan(config, 138, speed).seconds >= estimate.PROCESS_SECONDS
    assert estimate.run_seconds(100, 10, 1e9, 5.0) == pytest.approx(5.0)
    assert estimate.run_seconds(100, 10, 10.0, 5.0, time_budget=30) == pytest.approx(35.0)
