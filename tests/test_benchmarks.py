"""The benchmarks run end to end at toy sizes and print their figures (speed itself is not tested)."""

from __future__ import annotations

import re

import pytest

from skinml.cli import main


@pytest.mark.slow
def test_gan_benchmark_prints_our_step_against_both_plain_loops(capsys):
    assert main(["bench", "gan", "--models", "thesis_dcgan", "--image-size", "16", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    figures = re.findall(r"([\d.]+) images/s", out)
    assert len(figures) == 3 and all(float(f) > 0 for f in figures)
    assert "keras.io style" in out and "TF tutorial style" in out and "skinml fit / this" in out


# Every benchmark the README names runs to its figures at a tiny scale.

def chromium_or_skip():
    from pathlib import Path

    from skinml.benchmarks.predict import CHROMIUM

    pytest.importorskip("playwright")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium")


@pytest.fixture(scope="module")
def measured_tiny(tmp_path_factory):
    """A tiny classifier whose explanations.json ranks integrated gradients best (as the shipped one's)."""
    import json

    import keras

    from skinml.cnn.classifier import SHIPPED_DIR, save_classifier
    from skinml.cnn.models import build_model

    keras.utils.set_random_seed(0)
    folder = save_classifier(tmp_path_factory.mktemp("bench") / "model",
                             build_model("skinml_resnet", image_size=48, widths=(8, 16)),
                             {"name": "skinml_resnet", "image_size": 48, "threshold": 0.5, "version": "t"})
    report = json.loads((SHIPPED_DIR / "explanations.json").read_text())
    for method, figures in report["methods"].items():
        figures["pointing_game"]["mean"] = 0.9 if method == "integrated_gradients" else 0.1
    (folder / "explanations.json").write_text(json.dumps(report))
    return folder


def test_predict_benchmark_times_the_heatmap_the_clinicians_page_draws(measured_tiny, capsys):
    assert main(["bench", "predict", "--model", str(measured_tiny), "--runs", "1", "--photo", "200x150",
                 "--no-dashboard"]) == 0
    out = capsys.readouterr().out
    assert "total (upload -> probability + integrated gradients)" in out
    assert "heatmap (integrated gradients, as the page draws it)" in out and "Grad-CAM" not in out
    assert len(re.findall(r"\s[\d.]+ ms", out)) == 6


@pytest.mark.slow
@pytest.mark.browser
def test_predict_benchmark_cold_start_reaches_the_clinicians_first_probability(measured_tiny, capsys):
    """It waited 180 s for "Probability of malignancy" on a page that now opens on its uploader."""
    chromium_or_skip()
    assert main(["bench", "predict", "--model", str(measured_tiny), "--runs", "1", "--photo", "200x150"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"clinician page, first probability\s+[\d.]+ s", out)


@pytest.mark.slow
def test_pipeline_benchmark_prints_its_figures(capsys):
    assert main(["bench", "pipeline", "--generate", "64x48", "--n", "16", "--size", "32", "--batch-size", "8",
                 "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "images/s" in out and len(re.findall(r"^(skinml|keras|plain|raw).*\s\d+\s+\d+$", out, re.M)) == 7, out


@pytest.mark.slow
def test_train_benchmark_prints_its_figures(demo_dir, capsys):
    assert main(["bench", "train", "--data", str(demo_dir), "--models", "thesis_base", "--image-size", "32",
                 "--batch-size", "8", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "pipeline img/s" in out and re.search(r"^thesis_base\s+\S+\s+[\d.]+\s+[\d.]+\s+[\d.]+$", out, re.M), out


@pytest.mark.slow
@pytest.mark.browser
def test_pages_benchmark_prints_a_first_and_a_second_visit(capsys):
    chromium_or_skip()
    assert main(["bench", "pages", "--pages", "Convolution"]) == 0
    out = capsys.readouterr().out
    assert "first visit  second visit" in out and re.search(r"^\s*Convolution\s+[\d.]+\s+[\d.]+$", out, re.M), out


@pytest.mark.slow
@pytest.mark.browser
def test_pages_benchmark_with_a_training_in_the_background_starts_and_kills_it(capsys):
    """A loaded classroom machine: a real `python -m skinml train` child runs during the visits, and is
    gone when the benchmark ends."""
    from skinml.runs.status import pid_alive

    chromium_or_skip()
    assert main(["bench", "pages", "--pages", "Convolution", "--background-training", "--background-images", "24",
                 "--background-image-size", "32"]) == 0
    out = capsys.readouterr().out
    pid = int(re.search(r"background training: pid (\d+), skinml_resnet on 24 synthetic images of 32 px, running",
                        out).group(1))
    assert re.search(r"^\s*Convolution\s+[\d.]+\s+[\d.]+$", out, re.M), out
    assert re.search(rf"background training stopped \(pid {pid}, \d+ epochs done\)", out), out
    assert not pid_alive(pid)
    assert len(re.findall(r"load average \(1, 5, 15 min\) [\d.]+ [\d.]+ [\d.]+", out)) == 2


@pytest.mark.browser
def test_the_pages_benchmark_waits_for_the_script_not_for_a_widget_streamlit_no_longer_draws(tmp_path):
    """Streamlit 1.5x+ draws no "running" status widget: the benchmark took a page for idle one quiet second
    after its title was drawn, while the script still ran. It now watches the app's script state."""
    import subprocess
    import sys

    from playwright.sync_api import sync_playwright

    from skinml.benchmarks.pages import visit
    from skinml.benchmarks.predict import CHROMIUM, CHROMIUM_ARGS, free_port, wait_healthy

    chromium_or_skip()
    script = tmp_path / "slow_page.py"
    script.write_text("import time\nimport streamlit as st\n\nst.title('A slow page')\ntime.sleep(4)\n"
                      "st.write('the last line')\n")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script), "--server.headless=true",
                               f"--server.port={port}", "--server.address=127.0.0.1",
                               "--browser.gatherUsageStats=false"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(port)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            seconds = visit(page, f"http://127.0.0.1:{port}/", timeout=120)
            assert page.get_by_text("the last line").count() == 1  # idle means the script had ended
            assert seconds >= 4
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.browser
def test_serve_benchmark_prints_the_servers_seconds_per_upload(measured_tiny, capsys):
    """With --browsers-apart (two cores or more) the browsers get the last core and the server the others;
    the benchmark gives this process its cores back at the end."""
    import os

    chromium_or_skip()
    cores = sorted(os.sched_getaffinity(0))
    apart = ["--browsers-apart"] if len(cores) >= 2 else []
    assert main(["bench", "serve", "--visitors", "2", "--photos", "1", "--model", str(measured_tiny), *apart]) == 0
    out = capsys.readouterr().out
    assert re.search(r"p50", out)
    if apart:
        assert f"browsers on CPU core [{cores[-1]}], the server on {cores[:-1]}" in out, out
    assert sorted(os.sched_getaffinity(0)) == cores


@pytest.mark.slow
@pytest.mark.browser
def test_serve_benchmark_beside_a_training_started_as_the_dashboard_starts_one(measured_tiny, capsys):
    """The training child runs at a lower CPU priority than the server; the CPU it got is reported (at this
    tiny scale on a busy machine it may still be starting up: 0 CPU-seconds is a figure too)."""
    chromium_or_skip()
    assert main(["bench", "serve", "--visitors", "2", "--photos", "1", "--model", str(measured_tiny),
                 "--background-training"]) == 0
    out = capsys.readouterr().out
    found = re.search(r"server nice (\d+), training nice (\d+); the training used ([\d.]+) CPU-seconds", out)
    # `nice -n 19` from the server: the lowest priority, whatever the server's own (a test run that is
    # itself niced, or an earlier in-process command that niced it, leaves the server at 19 too)
    assert found and int(found[2]) == 19 and int(found[2]) >= int(found[1]), out
