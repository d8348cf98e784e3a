"""Training runs end to end on tiny synthetic data, arguments from the config, resume after kill -9."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


def test_arguments_are_generated_from_the_config():
    from skinml.cli import build_parser
    from skinml.cli.train import config_from_args
    from skinml.cnn.config import TrainConfig
    from skinml.gan.train import GANConfig

    parser = build_parser()
    train = parser.parse_args(["train"])
    flags = set(vars(train))
    assert {f.name for f in dataclasses.fields(TrainConfig)} | {f.name for f in dataclasses.fields(GANConfig)} <= flags
    args = parser.parse_args(["train", "--model", "thesis_base", "--epochs", "3", "--calibrate", "false",
                              "--exclude", "attribution=SONIC", "--learning-rate", "0.01"])
    config = config_from_args(args)
    assert (config.model, config.epochs, config.calibrate, config.exclude, config.learning_rate) == \
        ("thesis_base", 3, False, ("attribution=SONIC",), 0.01)
    assert config.batch_size == TrainConfig().batch_size  # untouched fields keep their defaults
    thesis = config_from_args(parser.parse_args(["train", "--thesis-settings", "--epochs", "2"]))
    assert (thesis.optimizer, thesis.image_size, thesis.batch_size, thesis.epochs) == ("rmsprop", 256, 64, 2)
    gan = config_from_args(parser.parse_args(["train", "--kind", "gan", "--width", "0.5", "--epochs", "4"]))
    assert gan == GANConfig(width=0.5, epochs=4)


def test_the_command_line_builds_its_options_without_keras():
    """Every `--help` answers at once: building the parser imports neither Keras nor TensorFlow."""
    code = ("import sys; from skinml.cli import build_parser; build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow', 'jax'}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_tiny_run_end_to_end(demo_dir, tmp_path, monkeypatch, capsys):
    from skinml.cnn.classifier import load_classifier
    from skinml.cnn.config import TrainConfig
    from skinml.metrics.binary import choose_threshold
    from skinml.runs import list_runs, load_run
    from skinml.runs.train import fit_classifier

    monkeypatch.setenv("SKINML_CACHE", str(tmp_path / "cache"))
    config = TrainConfig(data=str(demo_dir), model="thesis_base", image_size=32, epochs=2, batch_size=8,
                         feed="array", target_sensitivity=0.9, run_dir=str(tmp_path / "runs" / "tiny"))
    seen = []
    run_dir = fit_classifier(config, on_progress=lambda f, logs: seen.append(f))
    assert seen and seen[-1] == pytest.approx(1.0)
    for name in ("config.json", "state.json", "best.keras", "ckpt/epoch-0002.keras", "ckpt/epoch-0002.json",
                 "history.csv", "metrics.json", "MODEL_CARD.md", "predictions.csv", "log.txt", "pid",
                 "model/model.json", "model/model.keras"):
        assert (run_dir / name).exists(), name
    assert list((run_dir / "tb").rglob("events.out.tfevents.*"))
    run = load_run(run_dir)
    assert run["status"] == "finished" and len(run["history"]) == 2
    assert {"loss", "val_loss", "auc", "val_auc", "accuracy", "val_accuracy"} <= set(run["history"].columns)
    clf = load_classifier(run_dir)
    preds = pd.read_csv(run_dir / "predictions.csv")
    val = preds[preds["split"] == "val"]
    assert clf.threshold == pytest.approx(choose_threshold(val["y"], val["p"], 0.9))
    assert run["metrics"]["val"]["sensitivity"] >= 0.9
    assert clf.info["data"]["counts"]["train"]["malignant"] > 0
    assert "Intended use" in clf.card
    table = list_runs(tmp_path / "runs")
    assert table.loc[0, "run"] == "tiny" and table.loc[0, "best_epoch"] in (1, 2)
    # the CLI recognises the training data and evaluates its test split at the saved threshold
    from skinml.cli import main

    assert main(["evaluate", "--data", str(demo_dir), "--model", str(run_dir), "--json", "--bootstrap", "50",
                 "--predictions-csv", str(tmp_path / "pred.csv")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "test" and report["threshold"] == pytest.approx(clf.threshold)
    assert {"auc", "accuracy", "sensitivity", "specificity", "balanced_accuracy", "confusion"} <= set(report)
    assert report["n"] == int((preds["split"] == "test").sum())
    assert len(pd.read_csv(tmp_path / "pred.csv")) == report["n"]
    # a finished run started again returns at once, untouched
    stamp = (run_dir / "model" / "model.keras").stat().st_mtime_ns
    fit_classifier(dataclasses.replace(config, epochs=5))
    assert (run_dir / "model" / "model.keras").stat().st_mtime_ns == stamp


def _sha(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


EPOCHS = 30


@pytest.mark.slow
def test_resume_after_sigkill_finishes_and_keeps_the_best(demo_dir, tmp_path):
    from skinml.runs import load_history, run_status

    run_dir = tmp_path / "run"
    env = dict(os.environ, SKINML_CACHE=str(tmp_path / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, "-m", "skinml", "train", "--data", str(demo_dir),
           "--model", "thesis_base", "--image-size", "32", "--epochs", str(EPOCHS), "--batch-size", "8",
           "--patience", str(EPOCHS), "--run-dir", str(run_dir), "--quiet"]
    process = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline:
        state = json.loads((run_dir / "state.json").read_text()) if (run_dir / "state.json").exists() else {}
        if state.get("epoch", 0) >= 1:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # after epoch 1 of 30 (each under a second): always mid-way
    process.wait()
    killed = json.loads((run_dir / "state.json").read_text())
    assert 1 <= killed["epoch"] < EPOCHS, "the run should have been killed mid-way"
    assert run_status(run_dir) == "interrupted"
    # A kill between an epoch's commit and the copy of its new best leaves that copy to the resume.
    best_epoch = killed["best_epoch"]
    best_before = _sha(run_dir / "ckpt" / f"epoch-{best_epoch:04d}.keras") if best_epoch == killed["epoch"] \
        else _sha(run_dir / "best.keras")

    # Debris a kill in the middle of a write could leave: temporary files, an uncommitted
    # checkpoint, a history row past the committed epoch.
    (run_dir / ".last.keras.123.tmp").write_bytes(b"half a file")
    (run_dir / ".state.json.abc.tmp").write_text('{"epoch": 9')
    (run_dir / "ckpt" / f"epoch-{killed['epoch'] + 1:04d}.keras").write_bytes(b"never committed")

    subprocess.run(cmd, env=env, cwd=REPO, check=True, timeout=300, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    state = json.loads((run_dir / "state.json").read_text())
    assert run_status(run_dir) == "finished"
    assert state["epoch"] == EPOCHS
    history = load_history(run_dir)
    assert history["epoch"].tolist() == list(range(1, EPOCHS + 1))
    monitor = history["val_auc"].to_numpy()
    assert state["best_epoch"] == int(np.argmax(monitor)) + 1  # first epoch reaching the best
    if state["best_epoch"] <= killed["epoch"]:
        assert _sha(run_dir / "best.keras") == best_before  # the best checkpoint was kept as it was
    assert not list(run_dir.glob(".*.tmp"))
    assert sorted(p.name for p in (run_dir / "ckpt").iterdir()) == [  # the last two checkpoints
        f"epoch-{EPOCHS - 1:04d}.json", f"epoch-{EPOCHS - 1:04d}.keras", f"epoch-{EPOCHS:04d}.json",
        f"epoch-{EPOCHS:04d}.keras"]
    import keras

    last = keras.saving.load_model(run_dir / "ckpt" / f"epoch-{EPOCHS:04d}.keras", compile=True)
    steps = state["n_train"] // 8 if state["n_train"] >= 16 else -(-state["n_train"] // 8)
    assert int(last.optimizer.iterations) == EPOCHS * steps  # the optimizer state carried over the kill


# ---------------------------------------------------------------- damaged files never lose work

@pytest.fixture(scope="module")
def stopped_run(demo_dir, tmp_path_factory):
    """A run of 3 epochs stopped after its second (thesis_base, 32 px): (config, run directory)."""
    from skinml.cnn.config import TrainConfig
    from skinml.runs.train import fit_classifier

    folder = tmp_path_factory.mktemp("stopped")
    config = TrainConfig(data=str(demo_dir), model="thesis_base", image_size=32, epochs=3, batch_size=8,
                         feed="array", patience=10, run_dir=str(folder / "run"))

    def stop_after_epoch_two(fraction, logs):
        if logs.get("epoch") == 2 and "val_loss" in logs:  # the end of epoch 2, after its commit
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKINML_CACHE", str(folder / "cache"))
        with pytest.raises(KeyboardInterrupt):
            fit_classifier(config, on_progress=stop_after_epoch_two)
    return config, Path(config.run_dir)


def _copy_of(stopped_run, tmp_path):
    import shutil

    config, run_dir = stopped_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    return dataclasses.replace(config, run_dir=str(copy)), copy


def test_best_is_a_copy_not_a_link_of_the_last_checkpoint(stopped_run):
    _, run_dir = stopped_run
    state = json.loads((run_dir / "state.json").read_text())
    assert state["epoch"] == 2 and sorted(p.name for p in (run_dir / "ckpt").glob("*.keras")) == \
        ["epoch-0001.keras", "epoch-0002.keras"]
    best, ckpt = run_dir / "best.keras", run_dir / "ckpt" / f"epoch-{state['best_epoch']:04d}.keras"
    assert best.read_bytes() == ckpt.read_bytes() and best.stat().st_ino != ckpt.stat().st_ino
    assert best.stat().st_nlink == 1 and not (run_dir / "last.keras").exists()


def test_a_truncated_checkpoint_falls_back_to_the_one_before(stopped_run, tmp_path, monkeypatch):
    """`last` and `best` were hard links to one damaged file, older checkpoints gone: unresumable."""
    config, run_dir = _copy_of(stopped_run, tmp_path)
    best_before = (run_dir / "best.keras").read_bytes()
    newest = run_dir / "ckpt" / "epoch-0002.keras"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    monkeypatch.setenv("SKINML_CACHE", str(tmp_path / "cache"))
    from skinml.runs import load_run
    from skinml.runs.train import fit_classifier

    fit_classifier(config)
    run = load_run(run_dir)
    assert run["status"] == "finished" and run["state"]["epoch"] == 3
    assert run["history"]["epoch"].tolist() == [1, 2, 3]  # epoch 2 trained again from epoch 1's checkpoint
    log = (run_dir / "log.txt").read_text()
    assert "the checkpoint of epoch 2 cannot be used (the file is damaged" in log and "resuming after epoch 1" in log
    if run["state"]["best_epoch"] <= 2:  # the best model found before the damage is kept
        assert (run_dir / "best.keras").read_bytes() == best_before


def test_a_cut_history_csv_is_rebuilt_not_resumed_shorter(stopped_run, tmp_path, monkeypatch):
    """`head -c 500 history.csv > h && mv h history.csv` resumed as rows 1, 2, 6, 7 (issue #22, item 2)."""
    config, run_dir = _copy_of(stopped_run, tmp_path)
    history = run_dir / "history.csv"
    whole = history.read_text()
    history.write_text(whole[: len(whole.splitlines()[0]) + 20])  # the header and part of epoch 1
    monkeypatch.setenv("SKINML_CACHE", str(tmp_path / "cache"))
    from skinml.runs import load_run
    from skinml.runs.train import fit_classifier

    fit_classifier(config)
    run = load_run(run_dir)
    assert run["status"] == "finished" and run["history"]["epoch"].tolist() == [1, 2, 3]
    assert history.read_text().startswith(whole)  # epochs 1 and 2 as they were, then epoch 3
    assert "history.csv is damaged or out of step (1 row for 2 epochs): rebuilt" in (run_dir / "log.txt").read_text()


def test_a_truncated_state_json_resumes_from_the_checkpoints_state(stopped_run, tmp_path, monkeypatch):
    """A truncated state.json silently restarted at epoch 1 and deleted the checkpoints."""
    config, run_dir = _copy_of(stopped_run, tmp_path)
    history_before = (run_dir / "history.csv").read_text()
    state = run_dir / "state.json"
    state.write_text(state.read_text()[:25])
    monkeypatch.setenv("SKINML_CACHE", str(tmp_path / "cache"))
    from skinml.runs import load_run
    from skinml.runs.train import fit_classifier

    fit_classifier(config)
    run = load_run(run_dir)
    assert run["status"] == "finished" and run["history"]["epoch"].tolist() == [1, 2, 3]
    assert (run_dir / "history.csv").read_text().startswith(history_before)  # epochs 1 and 2 kept, not redone
    log = (run_dir / "log.txt").read_text()
    assert "state.json is damaged: resuming from the state saved with the checkpoint of epoch 2" in log


def test_a_damaged_state_with_no_saved_state_deletes_nothing(stopped_run, tmp_path, monkeypatch):
    config, run_dir = _copy_of(stopped_run, tmp_path)
    (run_dir / "state.json").write_text('{"epoch": ')
    for saved in (run_dir / "ckpt").glob("*.json"):
        saved.write_text("")
    files_before = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*") if p.name not in ("status", "log.txt"))
    monkeypatch.setenv("SKINML_CACHE", str(tmp_path / "cache"))
    from skinml.errors import ModelError
    from skinml.runs import run_status, status_message
    from skinml.runs.train import fit_classifier

    with pytest.raises(ModelError, match="cannot resume safely. Nothing was deleted"):
        fit_classifier(config)
    assert sorted(p.relative_to(run_dir) for p in run_dir.rglob("*") if p.name not in ("status", "log.txt")) \
        == files_before
    assert run_status(run_dir) == "failed" and "Nothing was deleted" in status_message(run_dir)


def test_a_second_process_on_a_run_directory_is_refused(stopped_run, tmp_path, monkeypatch):
    """Two processes on one --run-dir ran together and the second's model won."""
    config, run_dir = _copy_of(stopped_run, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", f"import sys, time; sys.path.insert(0, {str(REPO)!r}); "
                               "from skinml.runs import RunLock\n"
                               f"with RunLock({str(run_dir)!r}):\n    print('holding', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        state_before = (run_dir / "state.json").read_text()
        monkeypatch.setenv("SKINML_CACHE", str(tmp_path / "cache"))
        from skinml.errors import ModelError
        from skinml.runs.train import fit_classifier

        with pytest.raises(ModelError, match="Another process is training"):
            fit_classifier(config)
        assert (run_dir / "state.json").read_text() == state_before
    finally:
        holder.kill()
        holder.wait()
