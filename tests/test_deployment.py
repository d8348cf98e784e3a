"""A dashboard on a shared classroom server (skinml.settings, skinml.runs): visitors open only the
data roots, a folder's walk is bounded, at most SKINML_MAX_RUNS training processes run, a run is
stopped only by who started it, and every training process ends with the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
from fixtures_layouts import make_isic_cli

from skinml import io as skinml_io
from skinml import runs, settings
from skinml.data import load_dataset
from skinml.errors import DataError, ModelError

REPO = Path(__file__).resolve().parents[1]
SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def within(seconds: float, function):
    """`function()` in a thread; fails (instead of hanging the suite) when it takes longer."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=function()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s (it hangs)"
    return box.get("result")


def _wait_until(condition, seconds: float = 20.0) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


# ---------------------------------------------------------------- folders

@pytest.fixture
def shared_and_private(tmp_path, monkeypatch):
    """A data root with a dataset, and a private folder elsewhere with a photo and credentials."""
    shared, private = tmp_path / "shared", tmp_path / "home" / "private"
    make_isic_cli(shared / "class", "new")
    make_isic_cli(private, "new")
    (private / "credentials.json").write_text('{"id": "secret-id", "token": "secret"}')
    (shared / "class" / "escape").symlink_to(private)  # a link inside the root that leads out of it
    monkeypatch.setenv("SKINML_DATA_ROOTS", str(shared))
    monkeypatch.delenv("SKINML_DATA", raising=False)
    return shared, private


def test_only_folders_under_the_data_roots_open(shared_and_private):
    shared, private = shared_and_private
    assert settings.check_data_folder(shared / "class") == (shared / "class").resolve()
    for path in (private, "/", "/usr", "/etc", shared / ".." / "home" / "private", shared / "class" / "escape",
                 "~"):
        with pytest.raises(DataError, match="outside the data folders"):
            settings.check_data_folder(path)
    with pytest.raises(DataError, match="not a folder"):
        settings.check_data_folder(shared / "nope")


@pytest.mark.parametrize("typed", ["nul", "too long", "loop"])
def test_a_path_no_folder_can_have_is_a_sentence_not_a_crash(shared_and_private, typed):
    """A NUL byte or a 5,000-character name in the folder box was a ValueError/OSError: Home showed an
    error id, the Data and Train GAN pages Streamlit's own exception box."""
    shared, _ = shared_and_private
    (shared / "loop").symlink_to(shared / "loop")
    path = {"nul": f"{shared}/class\x00/etc", "too long": f"{shared}/{'a' * 5000}", "loop": shared / "loop"}[typed]
    with pytest.raises(DataError) as caught:
        settings.check_data_folder(path)
    assert "\x00" not in str(caught.value) and len(str(caught.value)) < 400
    with pytest.raises(DataError):
        settings.inside_data_roots(path)  # what the Train GAN page checks


def test_default_data_roots(monkeypatch, tmp_path):
    monkeypatch.delenv("SKINML_DATA_ROOTS")
    monkeypatch.setenv("SKINML_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SKINML_DATA", str(tmp_path / "mine"))
    roots = settings.data_roots()
    assert roots == [settings.SHARED_DATA.resolve(), Path("~/skinml-data").expanduser().resolve(),
                     (tmp_path / "cache" / "demo").resolve(), (tmp_path / "mine").resolve()]


def test_walking_a_whole_disk_stops_with_a_sentence(monkeypatch):
    """`data scan /usr` reached 15.9 GB in 5 minutes: the walk now stops after a bounded number of entries."""
    monkeypatch.setattr(settings, "MAX_WALK_ENTRIES", 2_000)
    start = time.perf_counter()
    with pytest.raises(DataError, match="more than 2,000 files and folders"):
        load_dataset("/usr")
    assert time.perf_counter() - start < 30


def test_a_folder_of_arbitrary_json_files_is_a_sentence_not_gigabytes(tmp_path):
    """`data scan /usr` still reached 11.5 GB in 5 minutes after the walk was bounded: /usr's 1,703 JSON
    objects and ~5,000 images read as the archive layout, a table of 594,382 columns."""
    from PIL import Image

    for k in range(40):
        Image.new("RGB", (40, 40)).save(tmp_path / f"f{k}.jpg")
        skinml_io.write_json(tmp_path / f"f{k}.json", {f"key{k}_{j}": j for j in range(60)})
    start = time.perf_counter()
    with pytest.raises(DataError, match="more than 2,000 different fields"):
        load_dataset(tmp_path)
    assert time.perf_counter() - start < 30


def test_an_archive_record_nested_thousands_deep_or_huge_is_a_problem_not_a_crash(tmp_path):
    from PIL import Image

    for stem in ("ISIC_0000001", "ISIC_0000002", "ISIC_0000003"):
        Image.new("RGB", (40, 40)).save(tmp_path / f"{stem}.jpg")
    skinml_io.write_json(tmp_path / "ISIC_0000001.json", {"meta": {"clinical": {"benign_malignant": "benign"}}})
    (tmp_path / "ISIC_0000002.json").write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)  # a RecursionError
    (tmp_path / "ISIC_0000003.json").write_text('{"pad": "' + "x" * (settings.MAX_RECORD_BYTES + 10) + '"}')
    table = load_dataset(tmp_path)
    unreadable = {Path(p["path"]).stem for p in table.attrs["problems"] if p["reason"] == "unreadable metadata"}
    assert unreadable == {"ISIC_0000002", "ISIC_0000003"}
    assert table.set_index("isic_id").loc["ISIC_0000001", "benign_malignant"] == "benign"


def test_pipes_and_links_out_of_a_dataset_are_never_read(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"not yours")
    root = tmp_path / "data"
    (root / "benign").mkdir(parents=True)
    (root / "malignant").mkdir()
    from PIL import Image

    from skinml.data.synthetic import make_lesion

    Image.fromarray(make_lesion(False, 64, seed=1)).save(root / "benign" / "a.jpg")
    Image.fromarray(make_lesion(True, 64, seed=2)).save(root / "malignant" / "b.jpg")
    os.mkfifo(root / "benign" / "fifo.jpg")  # opening it for reading would wait for ever
    (root / "malignant" / "secret.jpg").symlink_to(outside / "secret.jpg")
    (root / "malignant" / "inside.jpg").symlink_to(root / "malignant" / "b.jpg")  # stays inside: fine
    table = within(60, lambda: load_dataset(root))
    assert sorted(Path(p).name for p in table["image_path"]) == ["a.jpg", "b.jpg", "inside.jpg"]


# ---------------------------------------------------------------- training processes

def test_at_most_max_runs_training_processes_at_once(tmp_path, monkeypatch, launched):
    """Eight clicks on Start gave eight trainings (7.4 GB, load 14 on 2 cores): now one at a time."""
    monkeypatch.delenv("SKINML_MAX_RUNS", raising=False)
    launched.append(runs.launch(SLEEPER, tmp_path / "first", owner="alice"))
    for k in range(3):
        with pytest.raises(ModelError, match="already running on this server, the most it allows at once"):
            runs.launch(SLEEPER, tmp_path / f"click-{k}", owner="bob")
        assert not (tmp_path / f"click-{k}" / "pid").exists()
    assert runs.running_runs(tmp_path) == [tmp_path / "first"]
    monkeypatch.setenv("SKINML_MAX_RUNS", "2")
    launched.append(runs.launch(SLEEPER, tmp_path / "second", owner="bob"))
    assert len(runs.running_runs(tmp_path)) == 2


def test_concurrent_clicks_cannot_pass_the_cap_together(tmp_path, launched):
    results = []

    def click(k: int) -> None:
        try:
            results.append(runs.launch(SLEEPER, tmp_path / f"run-{k}", owner=f"visitor-{k}"))
        except ModelError:
            results.append(None)

    threads = [threading.Thread(target=click, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    launched.extend(r for r in results if r)
    assert len([r for r in results if r]) == 1 and len(runs.running_runs(tmp_path)) == 1


def test_only_the_session_that_started_a_run_stops_or_resumes_it(tmp_path, launched):
    run_dir = runs.launch(SLEEPER, tmp_path / "alices", owner="alice")
    launched.append(run_dir)
    assert runs.run_owner(run_dir) == "alice"
    with pytest.raises(ModelError, match="not yours"):
        runs.stop(run_dir, by="bob")
    assert runs.run_status(run_dir) == "running"
    assert runs.stop(run_dir, by="alice", wait_s=5) and runs.run_status(run_dir) == "stopped"
    with pytest.raises(ModelError, match="not yours"):  # resuming writes into it: the owner's too
        runs.launch(SLEEPER, run_dir, owner="bob")
    runs.launch(SLEEPER, run_dir, owner="alice")
    assert runs.stop(run_dir, by=runs.OPERATOR, wait_s=5)  # the teacher stops anything


def test_training_can_be_switched_off_for_visitors(tmp_path, monkeypatch, launched):
    monkeypatch.setenv("SKINML_TRAINING", "off")
    with pytest.raises(ModelError, match="switched off"):
        runs.launch(SLEEPER, tmp_path / "a", owner="alice")
    launched.append(runs.launch(SLEEPER, tmp_path / "b"))  # the operator's command line still trains
    monkeypatch.setenv("SKINML_TRAINING", "maybe")
    with pytest.raises(Exception, match="on or off"):
        settings.visitors_may_train()


CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from skinml import runs
runs.stop_on_sigterm()
runs.exit_with_parent(poll_s=0.2)
open({marker!r} + ".ready", "w").close()
try:
    time.sleep(120)
except KeyboardInterrupt:
    open({marker!r}, "w").write("stopped cleanly")
"""

SERVER = """
import sys, time
sys.path.insert(0, {repo!r})
from skinml import runs
import os
runs.launch([sys.executable, {child!r}], {run_dir!r})
while not os.path.exists({marker!r} + ".ready"):  # the training process is up and listening
    time.sleep(0.05)
print("launched", flush=True)
if {wait}:
    time.sleep(120)
"""


@pytest.mark.parametrize("end", ["SIGKILL", "SIGTERM", "exit"])
def test_training_processes_end_with_the_server(tmp_path, end):
    """Trainings outlived the server (reparented to PID 1): now a child ends with its parent,
    however the parent ends (killed outright, terminated, or a normal exit)."""
    marker, run_dir = tmp_path / "child-stopped", tmp_path / "runs" / "r"
    (tmp_path / "child.py").write_text(CHILD.format(repo=str(REPO), marker=str(marker)))
    (tmp_path / "server.py").write_text(SERVER.format(repo=str(REPO), child=str(tmp_path / "child.py"),
                                                      marker=str(marker), run_dir=str(run_dir), wait=end != "exit"))
    server = subprocess.Popen([sys.executable, str(tmp_path / "server.py")], stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "launched"
    child = int((run_dir / "pid").read_text())
    assert runs.pid_alive(child)
    if end != "exit":
        server.send_signal(getattr(signal, end))
    server.wait(timeout=30)
    assert _wait_until(lambda: not runs.pid_alive(child), 30), "the training process outlived the server"
    assert marker.read_text() == "stopped cleanly"  # SIGTERM first: the run can save and say "stopped"


# ---------------------------------------------------------------- Streamlit's own settings

def test_streamlit_config_is_safe_for_a_shared_server():
    import streamlit.config as config

    toml = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    options = {f"{section}.{key}": value for section, values in toml.items() for key, value in values.items()}
    unknown = [name for name in options if name not in config._config_options_template]
    assert not unknown, f"options this Streamlit does not know: {unknown}"
    assert options["browser.gatherUsageStats"] is False
    assert options["client.showErrorDetails"] == "none" and options["client.toolbarMode"] == "minimal"
    # a server runs fixed code: no file watcher at all (it watched .venv and runs/, "Inotify queue overflowed")
    assert options["server.fileWatcherType"] == "none" and options["server.runOnSave"] is False
    assert options["server.headless"] is True
    assert options["server.maxUploadSize"] * 1_000_000 <= settings.MAX_IMAGE_FILE_BYTES
