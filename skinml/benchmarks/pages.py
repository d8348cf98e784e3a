"""Dashboard page speed: seconds until every page is idle on a first and a second visit, in Chromium.

Starts `streamlit run streamlit_app.py` on a free port (an empty runs folder, the default
dataset and the shipped models), opens each page in headless Chromium and times it from
the request to *idle*: the page's title drawn and Streamlit's "running" status widget gone
for a second (that second is not counted). Every page is visited once (cold caches: models
loaded, first results computed), then every page again (what a class sees after the first
student). Last, on Latent space,
one step of its "Steps" slider: the seconds from the key press to idle. Needs Debian's
chromium (`apt-get install chromium`) and Playwright.

A script runs while the app's root element says so (`data-test-script-state="running"`, the
attribute Streamlit's own browser tests wait on): Streamlit 1.5x and later no longer draw the
"running" status widget this benchmark watched before, so it took a page for idle as soon as
its title was drawn, seconds before its charts were.

`--background-training` measures a loaded classroom machine: a small real training run
(`python -m skinml train` on a synthetic dataset in a temporary folder, `skinml_resnet`, as
many epochs as the visits take) runs in its own process group during the visits and is killed
at the end; the load average is printed before and after.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from skinml.benchmarks.predict import CHROMIUM, CHROMIUM_ARGS, REPO, free_port, start_dashboard, wait_healthy

# Present while a script runs: the app's state (Streamlit 1.5x+), or the older status widget.
RUNNING = ('[data-testid="stApp"][data-test-script-state="running"], '
           '[data-testid="stApp"][data-test-script-state="initial"], [data-testid="stStatusWidget"]')
DRAWN = '[data-testid="stMain"] h1'  # the page's title: the new page's script has started


def add_arguments(parser) -> None:
    parser.add_argument("--width", type=int, default=1280, help="browser window width in px")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for one page")
    parser.add_argument("--pages", default="", help="comma-separated page addresses (default: every page)")
    parser.add_argument("--background-training", action="store_true",
                        help="train a small classifier in a child process during the visits (a loaded machine)")
    parser.add_argument("--background-images", type=int, default=200, help="synthetic images it trains on")
    parser.add_argument("--background-image-size", type=int, default=96, help="their size in px")


def start_background_training(folder: Path, images: int, size: int, timeout: float = 300.0) -> subprocess.Popen:
    """A real `python -m skinml train` of a small classifier on `images` synthetic lesions of `size` px
    written under `folder`, in its own process group (stop it with `stop_background_training`);
    returns once the run says "running" and has finished reading its data."""
    from skinml.data.synthetic import write_demo_dataset
    from skinml.runs import run_status

    data = write_demo_dataset(folder / "data", n=images, size=size, seed=0)
    run_dir = folder / "run"
    command = [sys.executable, "-m", "skinml", "train", "--quiet", "--data", str(data), "--model", "skinml_resnet",
               "--image-size", str(size), "--batch-size", "16", "--epochs", "10000", "--patience", "10000",
               "--run-dir", str(run_dir)]
    child = subprocess.Popen(command, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=open(folder / "train.log", "w"))
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if child.poll() is not None:
            raise RuntimeError(f"the background training ended (exit {child.returncode}): see {folder / 'train.log'}")
        if run_status(run_dir) == "running" and (run_dir / "log.txt").exists():
            return child
        time.sleep(0.5)
    stop_background_training(child)
    raise TimeoutError(f"the background training had not started after {timeout:.0f} s")


def stop_background_training(child: subprocess.Popen) -> None:
    """Kill the background training's whole process group and reap it."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait(timeout=30)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def page_addresses() -> list[str]:
    """The address of every page, as `streamlit_app.py` names them: "" (Home), "Data", ..."""
    names = sorted(p.stem for p in (REPO / "app_pages").glob("[1-9]_*.py"))
    return ["", *(re.sub(r"^\d+_", "", name) for name in names)]


def wait_idle(page, timeout: float, quiet: float = 1.0) -> float:
    """Seconds until the page shows content and no script runs for `quiet` seconds in a row
    (the quiet time itself is not counted); TimeoutError after `timeout` seconds."""
    start = time.perf_counter()
    idle_since = None
    while time.perf_counter() - start < timeout:
        busy = page.locator(RUNNING).count() > 0 or page.locator(DRAWN).count() == 0
        now = time.perf_counter()
        if busy:
            idle_since = None
        elif idle_since is None:
            idle_since = now
        elif now - idle_since >= quiet:
            return idle_since - start
        time.sleep(0.05)
    raise TimeoutError(f"the page was still running after {timeout:.0f} s")


def visit(page, url: str, timeout: float) -> float:
    """Seconds from asking for `url` to an idle page."""
    start = time.perf_counter()
    page.goto(url)
    return (time.perf_counter() - start) + wait_idle(page, timeout)


def slider_step(page, label: str, timeout: float) -> float:
    """Seconds from one right-arrow press on the slider labelled `label` to an idle page."""
    slider = page.locator('[data-testid="stSlider"]', has_text=label).first.locator('input[type="range"]')
    slider.focus()
    start = time.perf_counter()
    slider.press("ArrowRight")
    time.sleep(0.3)  # let the rerun start before watching for idle
    return (time.perf_counter() - start) + wait_idle(page, timeout)


def run(args) -> int:
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is absent: apt-get install chromium (the benchmark drives a real browser)")
        return 2
    from playwright.sync_api import sync_playwright

    addresses = [a.strip() for a in args.pages.split(",")] if args.pages else page_addresses()
    port = free_port()
    runs = tempfile.mkdtemp(prefix="skinml-bench-runs-")
    background, scratch = None, tempfile.TemporaryDirectory(prefix="skinml-bench-background-")
    print(f"load average (1, 5, 15 min) {load_average()}, {os.cpu_count()} CPU cores")
    if args.background_training:
        background = start_background_training(Path(scratch.name), args.background_images,
                                                args.background_image_size)
        print(f"background training: pid {background.pid}, skinml_resnet on {args.background_images} synthetic "
              f"images of {args.background_image_size} px, running")
    server = start_dashboard(port, {"SKINML_RUNS": runs})
    print(f"dashboard on port {port}, runs folder {runs} (empty), window {args.width} px; seconds to idle")
    try:
        print(f"  server answering after {wait_healthy(port):.1f} s")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": 900})
            times = {}
            for _ in ("first", "second"):
                for address in addresses:
                    times.setdefault(address, []).append(
                        visit(page, f"http://127.0.0.1:{port}/{address}", args.timeout))
            print(f"  {'page':<22} {'first visit':>12} {'second visit':>13}")
            for address, (first, second) in times.items():
                print(f"  {address or 'Home':<22} {first:>12.1f} {second:>13.1f}", flush=True)
            if "Latent_space" in addresses:
                visit(page, f"http://127.0.0.1:{port}/Latent_space", args.timeout)
                print(f"  Latent space, one step of the 'Steps' slider: {slider_step(page, 'Steps', args.timeout):.1f}")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        if background is not None:
            epochs = len((Path(scratch.name) / "run" / "history.csv").read_text().splitlines()[1:]) \
                if (Path(scratch.name) / "run" / "history.csv").exists() else 0
            stop_background_training(background)
            print(f"background training stopped (pid {background.pid}, {epochs} epochs done)")
        scratch.cleanup()
    print(f"load average (1, 5, 15 min) {load_average()}")
    return 0
