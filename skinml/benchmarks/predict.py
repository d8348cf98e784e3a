"""Prediction speed: upload bytes to probability + heatmap (warm), and the dashboard's cold start.

Warm: the median over `--runs` calls of `skinml.predict.predict_upload` (decode with the
upload rules, resize, the eight TTA views, the dermoscopy check, the heatmap the clinician's
page draws: the method measured best for the model, `skinml.predict.heatmap_method_of`) on
one photo, after one untimed call; broken down by step. Cold start: `streamlit run
streamlit_app.py` on a free port, the seconds until `/_stcore/health` answers, and (when
Debian's chromium is installed) until the clinician's page, given the photo in its uploader,
has rendered its first probability in headless Chromium. With no `--model` and no shipped
model, an untrained `skinml_resnet` at 192 px stands in: speed depends on the architecture,
not the weights.
"""

from __future__ import annotations

import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
REPO = Path(__file__).resolve().parents[2]


def add_arguments(parser) -> None:
    parser.add_argument("--model", help="classifier folder or run directory (default: shipped, else untrained)")
    parser.add_argument("--runs", type=int, default=20, help="timed calls (median reported)")
    parser.add_argument("--photo", default="600x450", metavar="WxH", help="size of the generated JPEG upload")
    parser.add_argument("--no-dashboard", action="store_true", help="skip the dashboard cold start")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dashboard(port: int, env: dict | None = None) -> subprocess.Popen:
    """`streamlit run streamlit_app.py` headless on `port`, from the repository root."""
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "streamlit_app.py"), "--server.headless=true",
         f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false"],
        cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_healthy(port: int, timeout: float = 120.0) -> float:
    """Seconds until http://127.0.0.1:port/_stcore/health answers "ok"; TimeoutError otherwise."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"the dashboard did not answer on port {port} within {timeout:.0f} s")


def _jpeg(size: str) -> bytes:
    from PIL import Image

    from skinml.data.synthetic import make_lesion

    width, height = map(int, size.lower().split("x"))
    buf = io.BytesIO()
    Image.fromarray(make_lesion(True, 256, seed=1)).resize((width, height)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _classifier(path: str | None):
    from skinml.cnn.classifier import SHIPPED_DIR, load_classifier, save_classifier

    if path or (SHIPPED_DIR / "model.keras").exists():
        return load_classifier(path), "given" if path else "shipped"
    from skinml.cnn.models import build_model

    folder = Path(tempfile.mkdtemp(prefix="skinml-bench-")) / "model"
    save_classifier(folder, build_model("skinml_resnet", image_size=192),
                    {"name": "skinml_resnet", "image_size": 192, "threshold": 0.5, "version": "untrained"})
    return load_classifier(folder), f"untrained skinml_resnet 192 px ({folder})"


def time_warm(clf, data: bytes, runs: int) -> dict[str, float]:
    """Median seconds of predict_upload and of each of its steps."""
    from skinml.cnn.classifier import predict_tta
    from skinml.explain.trust import METHODS, method_maps
    from skinml.images.decode import load_image
    from skinml.images.upload import read_image
    from skinml.ood.detector import check_dermoscopy
    from skinml.predict import predict_upload

    result = predict_upload(clf, data, "bench.jpg")  # warm: tf.function traces, sub-models, caches
    method = result.heatmap_method
    index = clf.classes.index(result.heatmap_class) if result.heatmap_class in clf.classes else 1
    photo = read_image(data)
    x = load_image(photo, clf.image_size, clf.resize)
    label = METHODS[method][0]
    steps = {f"total (upload -> probability + {label})": lambda: predict_upload(clf, data, "bench.jpg"),
             "decode + resize": lambda: load_image(read_image(data), clf.image_size, clf.resize),
             "8 TTA views": lambda: predict_tta(clf, x[None] / 255.0),
             "1 view": lambda: clf.p_malignant(clf.predict_proba(x[None] / 255.0)),
             f"heatmap ({label}, as the page draws it)": lambda: method_maps(clf, x, index, [method]),
             "dermoscopy check": lambda: check_dermoscopy(photo)}
    out = {}
    for name, step in steps.items():
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            step()
            times.append(time.perf_counter() - t)
        out[name] = statistics.median(times)
    return out


def time_cold_start(env: dict | None = None, photo: bytes | None = None) -> dict[str, float]:
    """Seconds to /_stcore/health and, `photo` (JPEG bytes) put in the clinician page's uploader,
    to its first probability in Chromium."""
    port = free_port()
    start = time.perf_counter()
    server = start_dashboard(port, env)
    try:
        out = {"health": wait_healthy(port)}
        if Path(CHROMIUM).exists():
            sync_playwright = _playwright()
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/")
                page.get_by_text("teaching and research tool").first.wait_for(timeout=120_000)
                out["home page rendered"] = time.perf_counter() - start
                page.goto(f"http://127.0.0.1:{port}/Try_a_lesion_photo")
                page.locator("input[type=file]").first.set_input_files(files=[{  # the page opens on its uploader
                    "name": "bench.jpg", "mimeType": "image/jpeg", "buffer": photo or _jpeg("600x450")}])
                page.get_by_text("Probability of malignancy").first.wait_for(timeout=180_000)
                out["clinician page, first probability"] = time.perf_counter() - start
                browser.close()
        return out
    finally:
        server.terminate()
        server.wait(timeout=30)


def _playwright():
    """Playwright's sync entry point, or a sentence saying how to install it (a test tool)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        from skinml.errors import SkinmlError

        raise SkinmlError("Timing a page in Chromium needs Playwright: pip install -r requirements-dev.txt.") from exc
    return sync_playwright


def run(args) -> int:
    clf, which = _classifier(args.model)
    data = _jpeg(args.photo)
    print(f"model: {which}; upload: {args.photo} JPEG ({len(data) / 1e3:.0f} kB); "
          f"median of {args.runs} warm runs; {os.cpu_count()} CPU cores")
    for name, seconds in time_warm(clf, data, args.runs).items():
        print(f"  {name:<42} {seconds * 1000:8.1f} ms")
    if not args.no_dashboard:
        env = {"SKINML_MODEL": str(clf.path)} if clf.path else {}
        print("dashboard cold start (streamlit run streamlit_app.py):")
        for name, seconds in time_cold_start(env, data).items():
            print(f"  {name:<42} {seconds:8.1f} s")
        if not Path(CHROMIUM).exists():
            print(f"  (page render not timed: {CHROMIUM} is absent; apt-get install chromium)")
    return 0
