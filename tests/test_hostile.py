"""A hostile student's second pass (issue #22), replayed: nothing lost, nothing read, nothing crashed.

One test (or a few) per finding, numbered as in the issue; each failed on the code the pass ran
against. The first pass's findings stay covered where they were fixed:

- run names, the run cap, Stop and resume by the owner only, training ending with the server,
  pipes and links out of a dataset: tests/test_deployment.py
- upload and dataset image memory, pipes/devices/huge files, table encodings, damaged caches and
  model.json: tests/test_inputs.py
- damaged checkpoints, state.json and (item 2 end to end) history.csv, the run-dir lock:
  tests/test_training.py
- visitors' text shown as plain text on the pages: tests/test_app_data.py (the "hostile" datasets)

Everything here runs in seconds on tiny files; the one real measurement in a child process is
marked slow.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import struct
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures_layouts import make_isic_cli
from PIL import Image

from skinml import runs, settings
from skinml.cli import main
from skinml.data import load_dataset
from skinml.errors import DataError, ImageError, ModelError, SkinmlError

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_sentence(err: str) -> str:
    """The CLI's refusal: exit 2 prints one line "error: ...", never a traceback."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def dataset(tmp_path) -> Path:
    return make_isic_cli(tmp_path / "data" / "class", "legacy")


# ---------------------------------------------------------------- 1. outputs never replace data

def test_1_predictions_csv_never_replaces_the_datasets_metadata(dataset, capsys):
    """`evaluate --predictions-csv D/metadata.csv` exited 0 after replacing the dataset's metadata."""
    before = (dataset / "metadata.csv").read_bytes()
    code, _, err = cli(capsys, "evaluate", "--data", dataset, "--split", "all", "--json",
                       "--predictions-csv", dataset / "metadata.csv")
    assert code == 2 and "input" in one_sentence(err)
    assert (dataset / "metadata.csv").read_bytes() == before


@pytest.mark.parametrize("case", ["same file twice", "a folder", "a pipe", "/proc", "a data file",
                                  "inside the model"])
def test_1_output_paths_are_refused_before_any_work(dataset, tmp_path, capsys, case):
    """Each was found only after the whole evaluation (IsADirectoryError, FileNotFoundError), or
    lost data silently (the predictions under the truth), or would replace /dev/null as root."""
    from skinml.cnn.classifier import SHIPPED_DIR

    other = make_isic_cli(tmp_path / "data" / "other", "legacy")  # another dataset of the data roots
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")  # not /dev/null: the code before the fix replaced it, as root, with a file
    model = tmp_path / "model"
    model.mkdir()  # a copy of the shipped model: it loads, so only the check can stop the command
    for name in ("model.keras", "model.json"):
        (model / name).write_bytes((SHIPPED_DIR / name).read_bytes())
    before = (model / "model.json").read_bytes()
    extra = {"same file twice": ["--predictions-csv", tmp_path / "p.csv", "--truth-csv", tmp_path / "p.csv"],
             "a folder": ["--predictions-csv", tmp_path / "folder"],
             "a pipe": ["--predictions-csv", tmp_path / "fifo"],
             "/proc": ["--predictions-csv", "/proc/version"],
             "a data file": ["--truth-csv", other / "metadata.csv"],
             "inside the model": ["--model", model, "--predictions-csv", model / "model.json"]}[case]
    start = time.perf_counter()
    code, _, err = cli(capsys, "evaluate", "--data", dataset, "--split", "all", *extra)
    assert code == 2
    sentence = one_sentence(err)
    assert time.perf_counter() - start < 5  # refused up front: no model loaded, nothing evaluated
    assert not (tmp_path / "p.csv").exists() and (model / "model.json").read_bytes() == before
    assert (tmp_path / "fifo").is_fifo()
    assert (other / "metadata.csv").read_text().startswith("isic_id")
    if case == "same file twice":
        assert "same file" in sentence


def test_1_output_checks_accept_a_new_file_and_the_write_is_atomic(tmp_path):
    from skinml.metrics.binary import write_isic_predictions_csv

    target = tmp_path / "out" / "new" / "p.csv"  # folders still to be made are fine
    assert settings.check_output_file(target) == target.resolve()
    write_isic_predictions_csv(["ISIC_0000001"], [0.25], target)
    assert target.read_text().splitlines() == ["image,benign,malignant", "ISIC_0000001,0.750000,0.250000"]
    assert [p.name for p in target.parent.iterdir()] == ["p.csv"]  # no temporary file left
    for device in ("/dev/null", "/dev/zero"):  # checked only: nothing is written here
        with pytest.raises(SkinmlError, match="not an ordinary file"):
            settings.check_output_file(device)


def test_1_other_commands_check_their_outputs_too(dataset, tmp_path, capsys):
    code, _, err = cli(capsys, "gan-augment", "--data-dir", dataset, "--out", dataset / "metadata.csv")
    assert code == 2 and "input" in one_sentence(err)
    (tmp_path / "png").mkdir()
    (tmp_path / "png" / "seed000000.png").mkdir()  # a folder where a PNG would go
    code, _, err = cli(capsys, "generate", "--n", "1", "--out", tmp_path / "png")
    assert code == 2 and "folder" in one_sentence(err)


# ---------------------------------------------------------------- 2. history.csv never shortened

def _run_dir_with_history(tmp_path, epochs: int = 7) -> tuple[Path, list[dict]]:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    rows = [{"epoch": e, "loss": 1.0 / e, "val_auc": 0.5 + e / 100, "learning_rate": 1e-3,
             "seconds": 1.5, "images_per_second": 40.0} for e in range(1, epochs + 1)]
    (run_dir / "history.csv").write_text(pd.DataFrame(rows).to_csv(index=False))
    return run_dir, rows


def test_2_a_cut_history_is_rebuilt_from_the_saved_state(tmp_path):
    """`head -c 500 history.csv` resumed as rows 1, 2, 6, 7: epochs 3-5 vanished, nothing logged."""
    from skinml.cnn.train import _check_history
    from skinml.runs import load_history

    run_dir, rows = _run_dir_with_history(tmp_path)
    whole = (run_dir / "history.csv").read_bytes()
    (run_dir / "history.csv").write_bytes(whole[:len(whole) // 3])
    log = []
    _check_history(run_dir, {"epoch": 7, "history": rows}, log.append)
    assert load_history(run_dir)["epoch"].tolist() == list(range(1, 8))
    assert (run_dir / "history.csv").read_bytes() == whole
    assert len(log) == 1 and "rebuilt" in log[0]


def test_2_an_old_runs_gap_is_reported_not_hidden(tmp_path):
    from skinml.cnn.train import _check_history

    run_dir, rows = _run_dir_with_history(tmp_path)
    kept = pd.DataFrame([r for r in rows if r["epoch"] not in (3, 4, 5)])
    (run_dir / "history.csv").write_text(kept.to_csv(index=False))
    log = []
    _check_history(run_dir, {"epoch": 7}, log.append)  # a state saved before it held the history
    assert len(log) == 1 and "epochs 3, 4, 5" in log[0]
    assert len(pd.read_csv(run_dir / "history.csv")) == 4  # nothing invented, nothing deleted


# ---------------------------------------------------------------- 3. links out of a data folder

SECRET = "alice,B+,private first line"


@pytest.mark.parametrize("table", ["metadata.csv", "HAM10000_metadata.csv"])
@pytest.mark.parametrize("target", ["private text", "grades", "isic table"])
def test_3_a_table_linked_out_of_its_folder_is_never_read(tmp_path, table, target):
    """The link was followed: a private file's first line in the sentence, a grades.csv's names
    under Problems, another ISIC table's values on the Data page."""
    folder = make_isic_cli(tmp_path / "shared" / "ds", "legacy")
    (folder / "metadata.csv").unlink()
    private = tmp_path / "home" / "private.csv"
    private.parent.mkdir()
    elsewhere = make_isic_cli(tmp_path / "home" / "other", "legacy")
    private.write_text({"private text": SECRET + "\n",
                        "grades": "name,grade\nAlice Private,B+\nBob Secret,C\n",
                        "isic table": ""}[target] or (elsewhere / "metadata.csv").read_text())
    (folder / table).symlink_to(private)
    with pytest.raises(DataError) as refused:
        load_dataset(folder)
    message = str(refused.value)
    assert "link that leads out of" in message
    assert not any(word in message for word in ("alice", "Alice", "Bob", "grade", "ISIC_"))


def test_3_a_link_inside_the_folder_is_still_read(tmp_path):
    folder = make_isic_cli(tmp_path / "ds", "legacy")
    (folder / "metadata.csv").rename(folder / "table-v2.csv")
    (folder / "metadata.csv").symlink_to(folder / "table-v2.csv")
    assert len(load_dataset(folder)) > 0


def test_3_a_mask_linked_out_of_its_folder_is_never_read(tmp_path):
    from skinml.data.masks import load_mask

    masks = tmp_path / "ds-segmentations"
    masks.mkdir()
    outside = tmp_path / "private.png"
    Image.new("L", (8, 8), 255).save(outside)
    (masks / "ISIC_0000001_segmentation.png").symlink_to(outside)
    with pytest.raises(DataError, match="link that leads out of"):
        load_mask(masks, "ISIC_0000001")


def test_3_a_masks_folder_linked_out_of_the_data_roots_is_not_outlined(tmp_path, monkeypatch):
    """The Inside-the-CNN outline read `<dataset>-segmentations` wherever its link led."""
    from skinml.app.explain_ui import lesion_mask

    shared, private = tmp_path / "shared", tmp_path / "private"
    (shared / "ds").mkdir(parents=True)
    private.mkdir()
    Image.new("L", (32, 32), 255).save(private / "ISIC_0000001_segmentation.png")
    (shared / "ds-segmentations").symlink_to(private)
    monkeypatch.setenv("SKINML_DATA_ROOTS", str(shared))
    mask, sentence = lesion_mask(str(shared / "ds"), "ISIC_0000001.jpg", 32, "squash")
    assert mask is None and "outside the data folders" in sentence


# ---------------------------------------------------------------- 4. the estimate outside the server

def test_4_the_time_estimate_waits_its_turn_under_the_run_cap(tmp_path, monkeypatch, launched):
    """Two clicks on "Estimate the time" trained in the server: 964 MB -> 6,949 MB, and once glibc
    killed it. The measurement is a child process that takes a place of the run cap."""
    from skinml.cnn.config import TrainConfig
    from skinml.runs.estimate import measure_speed_apart

    monkeypatch.setenv("SKINML_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("SKINML_MAX_RUNS", "1")
    launched.append(runs.launch(SLEEPER, tmp_path / "runs" / "training", owner="alice"))
    config = TrainConfig(model="thesis_base", image_size=32, batch_size=8)
    with pytest.raises(ModelError, match="the most it allows at once"):
        measure_speed_apart(config, owner="bob")
    monkeypatch.setenv("SKINML_TRAINING", "off")
    with pytest.raises(ModelError, match="switched off"):
        measure_speed_apart(config, owner="bob")


def test_4_a_measurement_takes_a_place_and_only_one_runs_at_once(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("SKINML_MAX_RUNS", "2")
    with open(root / runs.BRIEF_LOCK, "a") as held:  # a measurement is running
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(ModelError, match="measuring the training speed right now"):
            runs.run_brief([sys.executable, "-c", "print(1)"], 30, root=root)
        monkeypatch.setenv("SKINML_MAX_RUNS", "1")
        with pytest.raises(ModelError, match="the most it allows at once"):
            runs.launch(SLEEPER, root / "training", owner="alice")  # the measurement holds the one place
        assert not (root / "training").exists()
    assert runs.run_brief([sys.executable, "-c", "print('measured')"], 30, root=root).strip() == "measured"


def test_4_a_measurement_that_hangs_is_stopped_with_a_sentence(tmp_path):
    start = time.perf_counter()
    with pytest.raises(ModelError, match="took more than 1 s and was stopped"):
        runs.run_brief(SLEEPER, 1, root=tmp_path)
    assert time.perf_counter() - start < 10


def test_4_the_page_measures_in_a_child_process():
    """The page's button calls the child-process measurement, never `measure_speed` itself."""
    import inspect

    from skinml.app import train_ui

    source = inspect.getsource(train_ui.plan_ui)
    assert "measure_speed_apart(" in source and "measure_speed(" not in source


@pytest.mark.slow
def test_4_the_child_process_measures_a_speed(tmp_path, monkeypatch):
    from skinml.cnn.config import TrainConfig
    from skinml.runs.estimate import measure_speed_apart

    monkeypatch.setenv("SKINML_RUNS", str(tmp_path / "runs"))
    speed = measure_speed_apart(TrainConfig(model="thesis_base", image_size=32, batch_size=8), owner="bob")
    assert speed.images_per_second > 0 and speed.image_size == 32 and "measured" in speed.source


# ---------------------------------------------------------------- 5. one decoding budget

def _png_bytes(width: int, height: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buffer, format="PNG",
                                                                                   compress_level=1)
    return buffer.getvalue()


def test_5_uploads_decoded_at_once_share_one_budget(monkeypatch):
    """8 worst-case uploads at once took the server from 1.4 GB to 3.2 GB: nothing capped the sum."""
    from skinml.images import decode
    from skinml.images.upload import read_image

    data = _png_bytes(600, 450)
    cost = 2 * 600 * 450 * 3  # the pixels and one converted copy
    monkeypatch.setattr(settings, "MAX_DECODING_AT_ONCE", int(1.5 * cost))  # room for one at a time
    monkeypatch.setattr(decode, "BUDGET", decode.DecodeBudget())
    results, errors = [], []

    def upload(k):
        try:
            results.append(np.asarray(read_image(data, f"photo-{k}.png")))
        except Exception as exc:  # noqa: BLE001 - the test reports any failure below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 8 and all((r == results[0]).all() for r in results)
    assert decode.BUDGET.peak == cost <= settings.MAX_DECODING_AT_ONCE and decode.BUDGET.in_use == 0


def test_5_a_decode_waits_while_the_budget_is_spent(monkeypatch):
    from skinml.images import decode
    from skinml.images.upload import read_image

    monkeypatch.setattr(settings, "MAX_DECODING_AT_ONCE", 10_000_000)
    monkeypatch.setattr(decode, "BUDGET", decode.DecodeBudget())
    done = threading.Event()
    with decode.BUDGET.hold(10_000_000):  # other visitors' decodes hold all of it
        thread = threading.Thread(target=lambda: (read_image(_png_bytes(64, 64)), done.set()))
        thread.start()
        assert not done.wait(0.5)
    assert done.wait(10)  # and it runs as soon as they are done
    thread.join()


# ---------------------------------------------------------------- 6. rows and pixels

def test_6_a_metadata_table_is_limited_in_rows_not_only_bytes(tmp_path, monkeypatch):
    """A 40 MB, 2,000,000-row metadata.csv took `data scan` 517 s and 5.0 GB."""
    folder = tmp_path / "rows"
    folder.mkdir()
    monkeypatch.setattr(settings, "MAX_TABLE_ROWS", 1_000)
    (folder / "metadata.csv").write_text("isic_id,benign_malignant\n"
                                         + "".join(f"ISIC_{k:07d},benign\n" for k in range(5_000)))
    start = time.perf_counter()
    with pytest.raises(DataError, match="rows: more than the 1,000"):
        load_dataset(folder)
    assert time.perf_counter() - start < 2


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header says width x height (1-bit grey): a few bytes that claim gigapixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) \
        + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [13_000, 40_000])
def test_6_7_a_huge_mask_is_a_sentence_not_memory_or_a_traceback(tmp_path, side):
    """A 657 KB 13000x13000 mask cost +0.5 GB in explain-eval; 40000x40000 raised DecompressionBombError."""
    from skinml.data.masks import load_mask

    masks = tmp_path / "ds-segmentations"
    masks.mkdir()
    (masks / "ISIC_0000001_segmentation.png").write_bytes(_png_header_only(side, side))
    with pytest.raises(DataError, match="megapixels|decompression bomb"):
        load_mask(masks, "ISIC_0000001", 64)


# ---------------------------------------------------------------- 7. sentences, not tracebacks

def test_7_scanning_proc_is_a_sentence(capsys):
    code, _, err = cli(capsys, "data", "scan", "/proc/1")
    assert code == 2 and "cannot be read" in one_sentence(err)


def test_7_proc_self_mem_is_a_sentence():
    """`predict /proc/self/mem`: "Unexpected error (OSError)" and a traceback."""
    from skinml.images.upload import read_image_file

    with pytest.raises(ImageError, match="cannot be read"):
        read_image_file("/proc/self/mem")


def test_7_a_link_to_proc_typed_in_the_home_box_is_a_sentence(tmp_path):
    """"Something went wrong (error ...)": a folder of the data roots whose table is a link into /proc/1/cwd."""
    from skinml.app.data_ui import open_folder

    root = tmp_path / "shared"
    (root / "ds").mkdir(parents=True)
    (root / "cwd").symlink_to("/proc/1/cwd")
    (root / "ds" / "metadata.csv").symlink_to("/proc/1/cwd/metadata.csv")
    try:
        (root / "ds" / "metadata.csv").is_file()
        pytest.skip("this user may read /proc/1/cwd: nothing to refuse")
    except PermissionError:
        pass
    for typed in (root / "ds", root / "cwd", root / "cwd" / "etc", "/proc/1/cwd"):
        sentence = open_folder(str(typed))
        assert sentence and "Traceback" not in sentence


def test_7_8_evaluate_into_an_existing_folder_is_refused_before_the_evaluation(dataset, tmp_path, capsys):
    code, _, err = cli(capsys, "evaluate", "--data", dataset, "--predictions-csv", tmp_path)
    assert code == 2 and "is a folder" in one_sentence(err)


# ---------------------------------------------------------------- 8. a refused Start leaves nothing

def test_8_a_refused_start_creates_no_run_folder(tmp_path, monkeypatch, launched, dataset):
    """Every refused click left a folder (status "new", Resume disabled) that every visitor saw."""
    from skinml.app import gan_ui, train_ui
    from skinml.cnn.config import TrainConfig

    root = tmp_path / "runs"
    monkeypatch.setenv("SKINML_RUNS", str(root))
    monkeypatch.setenv("SKINML_MAX_RUNS", "1")
    monkeypatch.setattr(train_ui, "session_id", lambda: "bob")
    monkeypatch.setattr(gan_ui, "session_id", lambda: "bob")
    launched.append(runs.launch(SLEEPER, root / "alices", owner="alice"))
    with pytest.raises(ModelError, match="the most it allows at once"):
        train_ui.launch_training(TrainConfig(data=str(dataset), model="thesis_base", run_dir=str(root / "bobs")))
    with pytest.raises(ModelError, match="the most it allows at once"):
        gan_ui.launch_gan_training(gan_ui.new_run_config("bobs-gan", str(dataset)))
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["alices"]
    assert list(runs.list_runs(root)["run"]) == []  # alices has no config.json: a bare sleeper


def test_8_a_start_refused_after_the_folder_was_written_takes_it_back(tmp_path, monkeypatch, dataset):
    """Two clicks at once: both pass the page's check, the launch lock refuses one."""
    from skinml.app import train_ui
    from skinml.cnn.config import TrainConfig

    monkeypatch.setenv("SKINML_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(train_ui, "session_id", lambda: "bob")

    def refused(*args, **kwargs):
        raise ModelError("1 training run already running on this server, the most it allows at once (1).")

    monkeypatch.setattr(runs.process, "launch", refused)  # what runs.launch_training calls
    with pytest.raises(ModelError):
        train_ui.launch_training(TrainConfig(data=str(dataset), model="thesis_base",
                                             run_dir=str(tmp_path / "runs" / "bobs")))
    assert not (tmp_path / "runs" / "bobs").exists()


# ---------------------------------------------------------------- 9. no autolinks

# The patterns remark-gfm's autolink literals (mdast-util-gfm-autolink-literal) link, after Markdown's
# backslash escapes are read: the reference plain() must defeat.
GFM_URL = re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.IGNORECASE)
GFM_EMAIL = re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)")


@pytest.mark.parametrize("text", ["www.example.test photo.jpg", "see http://example.test/x", "HTTPS://A.B",
                                  "student@example.test", "attribution=www.evil.test", "run.www.x"])
def test_9_visitors_text_never_becomes_a_link(text):
    from skinml.app import WORD_JOINER, plain

    shown = plain(text)
    as_read = re.sub(r"\\(.)", r"\1", shown)  # what Markdown reads after its escapes
    assert not GFM_URL.search(as_read) and not GFM_EMAIL.search(as_read)
    assert as_read.replace(WORD_JOINER, "") == text  # reads (and copies) as written


def test_9_13_plain_removes_control_characters_and_cuts_long_text():
    from skinml.app import plain

    assert plain("a\x1b[31mred\nline\r\x00") == "a \\[31mred line  "
    assert plain("x" * 3000, limit=80) == "x" * 80 + "\\.\\.\\."


# ---------------------------------------------------------------- 10. the GAN page and a joined dataset

def test_10_the_gan_page_trains_on_the_sessions_joined_dataset(tmp_path, monkeypatch):
    """The page pre-filled the session's "A:B" and then refused it ("is not there")."""
    from skinml.app import gan_ui
    from skinml.gan.train import load_folder

    a = make_isic_cli(tmp_path / "a", "legacy")
    b = make_isic_cli(tmp_path / "b", "new")
    joined = os.pathsep.join([str(a), str(b)])
    started = []
    monkeypatch.setenv("SKINML_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("SKINML_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(gan_ui, "session_id", lambda: "bob")
    monkeypatch.setattr(runs.process, "launch", lambda command, run_dir, **kw: started.append(run_dir) or Path(run_dir))
    gan_ui.launch_gan_training(gan_ui.new_run_config("joined", joined))
    assert started and json.loads((Path(started[0]) / "config.json").read_text())["data_dir"] == joined
    images, labels, _ = load_folder(joined, 16)
    ids = set(load_dataset(a)["isic_id"]) | set(load_dataset(b)["isic_id"])
    assert 0 < len(images) == len(labels) <= len(ids) and images.shape[1:] == (16, 16, 3)  # one row per ISIC id


# ---------------------------------------------------------------- 11. masks that cannot fit

def test_11_masks_that_cannot_fit_their_images_are_warned_about(tmp_path):
    """explain-eval reported figures for 7x3 px, all-black masks without a word."""
    from skinml.explain.trust import empty_masks_warning, misfit_masks

    masks = tmp_path / "m"
    masks.mkdir()
    Image.new("L", (7, 3), 0).save(masks / "ISIC_0000001_segmentation.png")
    Image.new("L", (64, 48), 255).save(masks / "ISIC_0000002_segmentation.png")
    table = pd.DataFrame({"isic_id": ["ISIC_0000001", "ISIC_0000002"], "width": [64, 64], "height": [48, 48]})
    warning = misfit_masks(table, masks)
    assert len(warning) == 1 and "1 of 2 masks" in warning[0] and "7x3 px" in warning[0]
    assert "2 mark no lesion at all" in empty_masks_warning([0.0, 0.0, 0.3])[0]
    assert empty_masks_warning([0.2, 0.4]) == []


# ---------------------------------------------------------------- 12. bench serve

def test_12_bench_serve_compares_only_the_binary_models_answers():
    """The diagnosis model's log lines counted as mismatches ("4/8 logged")."""
    from skinml.benchmarks.serve import logged_uploads

    log = ("predicted an upload of 1000 bytes with a binary model in 0.500 s: p=0.250000\n"
           "predicted an upload of 1000 bytes with a diagnosis model in 0.700 s: p=0.610000\n"
           "predicted an upload of 2000 bytes with a binary model in 0.400 s: p=0.750000\n")
    assert logged_uploads(log, {1000: "a.jpg", 2000: "b.jpg"}) == [("a.jpg", 0.5, 0.25), ("b.jpg", 0.4, 0.75)]


def test_12_bench_serve_leaves_no_folder_behind(tmp_path, monkeypatch):
    import tempfile

    from skinml.benchmarks import serve

    used = []

    def fails(args, work):
        used.append(work)
        (work / "server.log").write_text("...")
        raise RuntimeError("the browser died")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(serve, "CHROMIUM", sys.executable)  # any file that exists
    monkeypatch.setattr(serve, "measure", fails)
    with pytest.raises(RuntimeError):
        serve.run(None)
    assert used and not used[0].exists() and not list(tmp_path.glob("skinml-serve-*"))


# ---------------------------------------------------------------- 13. what an error sentence quotes

def test_13_sentences_quote_short_and_escape_control_characters(capsys):
    code, _, err = cli(capsys, "predict", "x.jpg", "--site", "s" * 100_000)
    assert code == 2 and len(one_sentence(err)) < 400
    code, _, err = cli(capsys, "predict", "x.jpg", "--sex", "\x1b[2J\x1b[31mmale")
    assert code == 2 and "\x1b" not in err and "\\x1b" in one_sentence(err)
    with pytest.raises(SkinmlError) as refused:
        runs.check_run_name("a" * 3000)
    assert len(str(refused.value)) < 200


@pytest.mark.parametrize("option", ["--site", "--sex"])
def test_13_unknown_is_said_not_silently_dropped(capsys, option):
    code, _, err = cli(capsys, "predict", "x.jpg", option, "unknown")
    assert code == 2 and "leave it out" in one_sentence(err)


# ---------------------------------------------------------------- eight visitors: one forward pass

class CountingModel:
    """A stand-in for the Keras model: p = the mean pixel; counts its calls, each taking 50 ms."""

    def __init__(self):
        self.inputs = [type("T", (), {"name": "image", "shape": (None, 8, 8, 3)})()]
        self.calls = 0

    def predict_on_batch(self, x):
        self.calls += 1
        time.sleep(0.05)
        return np.asarray(x).mean(axis=(1, 2, 3))[:, None]


def test_concurrent_uploads_share_one_forward_pass():
    """Eight visitors waited on the shared model's lock for each other's calls (p95 37.5 s)."""
    from skinml.cnn.classifier import Classifier

    model = CountingModel()
    classifier = Classifier(model=model, info={"image_size": 8})
    rng = np.random.default_rng(0)
    photos = [rng.random((8, 8, 8, 3), dtype="float32") for _ in range(8)]  # 8 visitors x 8 views
    alone = [classifier.predict_proba(x) for x in photos]
    classifier.batcher.calls = classifier.batcher.requests = 0
    answers = [None] * 8
    threads = [threading.Thread(target=lambda k=k: answers.__setitem__(k, classifier.predict_proba(photos[k])))
               for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(np.allclose(a, b) for a, b in zip(answers, alone))  # each gets the answer it gets alone
    assert classifier.batcher.calls <= 3 and classifier.batcher.requests == 8  # instead of 8 calls


def test_a_failed_batch_fails_each_of_its_callers_not_the_server():
    from skinml.cnn.batcher import MicroBatcher

    def broken(images, features, batch_size):
        raise ValueError("the model fell over")

    batcher = MicroBatcher(broken, threading.Lock())
    with pytest.raises(ValueError, match="fell over"):
        batcher(np.zeros((2, 4)))
    assert batcher.requests == 0 and batcher.calls == 0
