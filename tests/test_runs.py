"""Run directories: atomic files, safe names, one process per run, starting and stopping runs."""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from skinml import io as skinml_io
from skinml import runs
from skinml.errors import ModelError, SkinmlError

REPO = Path(__file__).resolve().parents[1]


def test_write_atomic_writes_whole_files_and_leaves_no_temporary(tmp_path):
    skinml_io.write_atomic(tmp_path / "a.txt", "old")
    skinml_io.write_atomic(tmp_path / "a.txt", b"new bytes")
    assert (tmp_path / "a.txt").read_bytes() == b"new bytes"
    assert oct((tmp_path / "a.txt").stat().st_mode & 0o777) == "0o644"

    class Boom(str):  # fails half way through the write
        def encode(self, *args):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        skinml_io.write_atomic(tmp_path / "a.txt", Boom())
    assert (tmp_path / "a.txt").read_bytes() == b"new bytes"  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_read_json_of_a_damaged_file_is_the_default(tmp_path):
    (tmp_path / "state.json").write_text('{"epoch": 3')
    assert skinml_io.read_json(tmp_path / "state.json", {}) == {}
    assert skinml_io.read_json(tmp_path / "missing.json") is None
    skinml_io.write_json(tmp_path / "ok.json", {"epoch": 3})
    assert skinml_io.read_json(tmp_path / "ok.json") == {"epoch": 3}


@pytest.mark.parametrize("name", ["../../etc", "/tmp/x", "a/b", ".hidden", "", "x" * 101, "a..b", "run name",
                                  "run\n", "a\n../../x"])  # "$" alone let a final newline through
def test_a_run_name_cannot_leave_the_runs_folder(name, tmp_path):
    with pytest.raises(SkinmlError):
        runs.run_dir_named(name, tmp_path)


def test_new_run_dirs_are_unique_and_inside_the_root(tmp_path):
    first = runs.new_run_dir("skinml_resnet", tmp_path)
    first.mkdir()
    second = runs.new_run_dir("skinml_resnet", tmp_path)
    assert first != second and second.parent == tmp_path and not second.exists()
    with pytest.raises(SkinmlError):
        runs.new_run_dir("../escape", tmp_path)


def test_one_process_per_run_directory(tmp_path):
    with runs.RunLock(tmp_path):
        assert runs.run_status(tmp_path) == "new"
        runs.set_status(tmp_path, "running")
        assert runs.run_status(tmp_path) == "running"
        assert int((tmp_path / "pid").read_text()) == os.getpid()
        with pytest.raises(ModelError, match="Another process"):
            runs.RunLock(tmp_path).__enter__()
    (tmp_path / "pid").write_text("999999999\n")  # no such process, and the lock is free
    assert runs.run_status(tmp_path) == "interrupted"
    runs.set_status(tmp_path, "failed", "Out of memory.")
    assert runs.run_status(tmp_path) == "failed" and runs.status_message(tmp_path) == "Out of memory."


def test_list_runs_by_kind(tmp_path):
    for name, kind in (("c1", "classifier"), ("g1", "gan")):
        (tmp_path / name).mkdir()
        skinml_io.write_json(tmp_path / name / "config.json", {"kind": kind, "model": name})
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{")
    assert runs.list_runs(tmp_path)["run"].tolist().count("broken") == 0
    assert runs.list_runs(tmp_path, kind="gan")["run"].tolist() == ["g1"]
    assert runs.list_runs(tmp_path, kind="classifier")["model"].tolist() == ["c1"]
    assert runs.load_run(tmp_path / "g1")["kind"] == "gan"
    with pytest.raises(ModelError):
        runs.load_run(tmp_path / "broken")


def _wait_for(condition, seconds: float = 120.0) -> None:
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


@pytest.mark.slow
def test_the_stop_button_ends_a_gan_run_as_stopped(tmp_path):
    """SIGTERM to the run's process group, as the dashboard's Stop button sends it."""
    from skinml.data.synthetic import make_lesion

    np.savez(tmp_path / "d.npz", images=np.stack([make_lesion(i % 2 == 1, 16, seed=i) for i in range(16)]))
    run_dir = tmp_path / "gan-run"
    runs.launch([sys.executable, "-m", "skinml", "train", "--kind", "gan", "--model", "thesis_dcgan",
                 "--data-npz", str(tmp_path / "d.npz"), "--image-size", "16", "--width", "0.125",
                 "--batch-size", "4", "--epochs", "100000", "--run-dir", str(run_dir), "--quiet"], run_dir, cwd=REPO)
    assert runs.run_status(run_dir) == "running"
    _wait_for(lambda: (run_dir / "state.json").exists())  # training, past its first epoch
    assert runs.stop(run_dir, by=runs.OPERATOR, wait_s=60)
    assert runs.run_status(run_dir) == "stopped"
    assert runs.status_message(run_dir).startswith("Stopped")
    assert json.loads((run_dir / "config.json").read_text())["kind"] == "gan"
    assert skinml_io.read_json(run_dir / "state.json")["epoch"] >= 1
    assert not runs.stop(run_dir, by=runs.OPERATOR)  # nothing left to stop
