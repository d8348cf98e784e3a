"""The command line as the README gives it: quiet, consistent --json, honest exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a fresh process imports TensorFlow: 26 s on loaded 2 cores
def test_a_cli_call_prints_no_tensorflow_start_up_lines(tmp_path):
    """Every call printed "All log messages before absl::InitializeLog() ..." and "oneDNN custom
    operations are on ..." on stderr; a missing file is one sentence and exit status 1 (README)."""
    done = subprocess.run([sys.executable, "-m", "skinml", "predict", str(tmp_path / "absent.jpg"), "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert "absl" not in done.stderr and "oneDNN" not in done.stderr, done.stderr
    rows = json.loads(done.stdout)
    assert done.returncode == 1 and rows[0]["ok"] is False and rows[0]["error"].endswith(".")


@pytest.mark.slow
def test_gan_augment_json_is_a_flag_like_the_other_commands(tmp_path, demo_dir, capsys):
    from skinml.cli import main
    from skinml.gan.models import build_gan, save_generator

    gan = build_gan("skinml_cgan", image_size=16, width=0.125)
    save_generator(tmp_path / "cgan", gan.sampler, gan.spec)
    common = ["gan-augment", "--data-dir", str(demo_dir), "--generator", str(tmp_path / "cgan"), "--n", "8",
              "--classifier", "thesis_base", "--image-size", "16", "--epochs", "1", "--repeats", "1"]
    assert main([*common, "--json", "--out", str(tmp_path / "result.json")]) == 0
    printed = json.loads(capsys.readouterr().out)  # only the JSON object on stdout
    assert printed == json.loads((tmp_path / "result.json").read_text())
    assert main(common) == 0
    assert "difference:" in capsys.readouterr().out


def test_the_progress_bar_of_long_commands_gives_the_time_left():
    """explain-eval reached 16% after 5 minutes with no time given anywhere (evaluate, gan-augment and
    data scan share this bar)."""
    import io
    import re
    import time

    from skinml.progress import tqdm_progress

    out = io.StringIO()
    on_progress, close = tqdm_progress(desc="explaining", file=out)
    time.sleep(1.05)
    on_progress(0.25, {"images": 5.0})
    close()
    last = [line for line in out.getvalue().split("\r") if "25%" in line][-1]
    assert re.search(r"25%.*00:01 spent, about 00:0[2-4] left, images=5\.000", last), last
