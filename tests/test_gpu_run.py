"""The prepared GPU run, at tiny scale on this CPU: the same script, a tiny pack, a short budget."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_run_at_tiny_scale_returns_finished_models(demo_dir, tmp_path):
    pytest.importorskip("jax")
    from skinml.data.policy import DataPolicy, diagnosis_class, prepare
    from skinml.images.pack import write_pack

    df = prepare(demo_dir, DataPolicy(), balance=False, seed=0)
    pack = write_pack(df.assign(dx=diagnosis_class(df)), tmp_path / "pack", image_size=32)
    out, work = tmp_path / "out", tmp_path / "work"
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, str(REPO / "train" / "gpu_run.py"), "run", "--pack", str(pack), "--out", str(out),
         "--work", str(work), "--budget-s", "45", "--grace-s", "60", "--jobs", "gan,binary0", "--width", "0.25",
         "--steps-per-call", "5", "--epochs", "2"], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["binary0.tar.gz", "gan.tar.gz", "logs.tar.gz"]
    with tarfile.open(out / "gan.tar.gz") as tar:
        names = tar.getnames()
    expected = {"gan/generator/generator.keras", "gan/generator/gan.json", "gan/state.json", "gan/holdout.npy"}
    assert expected <= set(names)
    assert any(n.startswith("gan/samples/epoch_") for n in names)
    with tarfile.open(out / "binary0.tar.gz") as tar:
        names = tar.getnames()
        metrics = json.load(tar.extractfile("binary0/metrics.json"))
    assert {"binary0/model/model.keras", "binary0/model/MODEL_CARD.md", "binary0/history.csv"} <= set(names)
    assert not any("ckpt" in n or n.endswith(("best.keras", "last.keras")) for n in names)  # what fits the 16 MiB
    assert 0 <= metrics["test"]["auc"] <= 1 and metrics["threshold"] > 0
    summary = json.loads((work / "summary.json").read_text())
    assert summary["jobs"]["gan"]["returncode"] == 0 and summary["jobs"]["gan"]["images_seen"] > 0
