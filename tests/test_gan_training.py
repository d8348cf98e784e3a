"""GAN runs: the run directory's files, and resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from skinml.gan.train import GANConfig, load_npz, read_losses, read_state
from skinml.runs.train import fit_gan

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory) -> Path:
    from skinml.data.synthetic import make_lesion

    images = np.stack([make_lesion(i % 2 == 1, 32, seed=i) for i in range(24)])
    labels = np.array([i % 2 for i in range(24)])
    labels[::5] = -1  # unknown labels are kept for unconditional GANs
    path = tmp_path_factory.mktemp("npz") / "tiny.npz"
    np.savez(path, images=images, labels=labels)
    return path


def _args(npz, run_dir, epochs):
    return ["--data-npz", str(npz), "--model", "thesis_dcgan", "--image-size", "16", "--width", "0.125",
            "--batch-size", "4", "--epochs", str(epochs), "--run-dir", str(run_dir), "--quiet"]


def test_run_directory(tiny_npz, tmp_path):
    config = GANConfig(model="skinml_cgan", data_npz=str(tiny_npz), image_size=16, width=0.125,
                       batch_size=4, epochs=2, run_dir=str(tmp_path / "run"))
    fit_gan(config)
    run = tmp_path / "run"
    for name in ("config.json", "state.json", "gan.weights.h5", "generator/generator.keras",
                 "generator/gan.json", "discriminator.keras", "samples/epoch_0002.png", "losses.csv",
                 "training.gif", "holdout.npy"):
        assert (run / name).exists(), name
    assert read_state(run)["epoch"] == 2 and [r["epoch"] for r in read_losses(run)] == [1, 2]
    assert (run / "status").read_text().startswith("finished")


def test_npz_jpeg_packing(tmp_path, tiny_npz):
    import io

    from PIL import Image

    images, labels, _ = load_npz(tiny_npz)
    blobs = []
    for im in images:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="JPEG", quality=95)
        blobs.append(np.frombuffer(buf.getvalue(), "uint8"))
    np.savez(tmp_path / "j.npz", jpeg=np.concatenate(blobs), labels=labels,
             offsets=np.concatenate([[0], np.cumsum([len(b) for b in blobs])]))
    back, lab, groups = load_npz(tmp_path / "j.npz")
    assert back.shape == images.shape and np.abs(back.astype(int) - images).mean() < 4
    assert len(set(groups)) == len(images)  # a file without lesion groups: each image is its own


def test_held_out_images_are_whole_lesions():
    """The realism measures need images of lesions the generator never saw: a lesion photographed
    three times is held out with all its photos or trained on with all of them."""
    from skinml.gan.train import split_holdout

    groups = np.repeat([f"lesion:{k}" for k in range(40)], 3)  # 40 lesions, 3 photos each
    for seed in range(5):
        train, held = split_holdout(groups, 0.1, seed)
        assert not set(groups[train]) & set(groups[held])
        assert len(held) == 12 and sorted(np.concatenate([train, held])) == list(range(120))
    assert len(split_holdout(np.array(["image:a"]), 0.5, 0)[1]) == 0  # one lesion: nothing to hold out


@pytest.mark.slow
def test_resume_after_a_kill(tiny_npz, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "skinml", "train", "--kind", "gan"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd + _args(tiny_npz, run, 1000), env=env, start_new_session=True, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while read_state(run).get("epoch", 0) < 1:
            assert proc.poll() is None and time.time() < deadline, "training did not finish an epoch"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = read_state(run)["epoch"]
    assert killed_at < 1000
    target = killed_at + 2
    done = subprocess.run(cmd + _args(tiny_npz, run, target), env=env, capture_output=True, text=True, timeout=180,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert read_state(run)["epoch"] == target
    assert [r["epoch"] for r in read_losses(run)] == list(range(1, target + 1))
    assert json.loads((run / "config.json").read_text())["epochs"] == target
