"""The dashboard under a class: a cold start, then many visitors uploading photos at once.

`streamlit run streamlit_app.py` is started on a free port with its log captured. Cold start:
seconds until it answers `/_stcore/health` (it warms the model up before it lets visitors in),
then from opening the clinician's page to its first probability. Load: `--visitors` browser
contexts (Playwright, Debian's Chromium) each open the page and upload `--photos` different
photos one after the other, all at once. Reported: the server's own seconds per upload (the
"predicted ... with a binary model in T s" lines of its log, so that the browsers' CPU does not
count) at p50 and p95, what the visitors waited from upload to probability and to heatmap (the page
draws the heatmap after the probability), the server's peak memory (VmHWM), the machine's load
average, and whether every probability shown equals `python -m skinml predict --tta`'s for the same
file. Its temporary folder (photos, server log, runs) is removed at the end. In a class the browsers run
on the students' machines: here they run at the lowest CPU priority (nice 19), so that the
server's figures are the server's. With `--background-training`, a small classifier training (the
synthetic demo data) runs the whole time, started as the dashboard starts one (`skinml.runs.launch`,
at its lower CPU priority), and the CPU it got is reported. With `--browsers-apart` the browsers run
on a core of their own and the server (and the training) on the others: on two cores the server then
has one, and what the visitors waited is no longer the browsers waiting for the CPU.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from skinml.benchmarks.predict import CHROMIUM, CHROMIUM_ARGS, REPO, free_port, wait_healthy

PAGE = "Try_a_lesion_photo"
# The binary model's lines of `skinml.app.explain_ui.predict_cached`; a diagnosis model's answers are not compared.
LOGGED = re.compile(r"predicted an upload of (\d+) bytes with a binary model in ([\d.]+) s: p=([\d.]+)")


def add_arguments(parser) -> None:
    parser.add_argument("--visitors", type=int, default=8, help="browser contexts uploading at once")
    parser.add_argument("--photos", type=int, default=5, help="different photos each visitor uploads")
    parser.add_argument("--model", help="classifier folder (default: the shipped model)")
    parser.add_argument("--background-training", action="store_true",
                        help="a small classifier training runs beside the server, started as the dashboard starts one")
    parser.add_argument("--browsers-apart", action="store_true",
                        help="the browsers on a CPU core of their own (the last one), the server and the training on "
                             "the others: as in a class, where the browsers run on the students' machines")


def start_training(work: Path) -> Path:
    """A real training run (skinml_resnet at 64 px on 200 synthetic lesions, epochs enough to outlast
    the benchmark) launched as the dashboard launches one: `runs.launch_training`, niced."""
    from dataclasses import asdict

    from skinml import runs
    from skinml.cnn.config import TrainConfig
    from skinml.data.synthetic import write_demo_dataset
    from skinml.io import write_json

    data = write_demo_dataset(work / "demo", n=200, size=128)
    run_dir = work / "training" / "background"
    run_dir.mkdir(parents=True)
    config = TrainConfig(data=str(data), image_size=64, epochs=1000, patience=1000, run_dir=str(run_dir))
    write_json(run_dir / "config.json", {"kind": "classifier", **asdict(config)})
    return runs.launch_training(run_dir)


def niceness(pid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, pid)


def write_photos(folder: Path, n: int) -> list[Path]:
    """`n` different synthetic lesion photos, 600x450 JPEGs, each a different size in bytes."""
    from PIL import Image

    from skinml.data.synthetic import make_lesion

    paths = []
    for k in range(n):
        path = folder / f"lesion-{k:02d}.jpg"
        Image.fromarray(make_lesion(k % 2 == 1, 256, seed=100 + k)).resize((600, 450)).save(path, quality=85 + k % 10)
        paths.append(path)
    return paths


def reference_answers(photos: list[Path], model: str | None) -> dict[str, float]:
    """{file name: p(malignant)} from `python -m skinml predict --tta --json` (the page uses TTA)."""
    command = [sys.executable, "-m", "skinml", "predict", *map(str, photos), "--tta", "--json"]
    out = subprocess.run(command + (["--model", model] if model else []), cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    return {Path(r["file"]).name: r["p_malignant"] for r in json.loads(out)}


def cpu_seconds(pid: int) -> float:
    """CPU time the process has used so far (user + system), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_memory_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def first_answer(browser, url: str) -> float:
    """Seconds from opening the clinician's page to its first probability (the example photo: the
    page opens on its uploader, so the benchmark chooses "Example", as a visitor would)."""
    context = await browser.new_context()
    page = await context.new_page()
    start = time.perf_counter()
    await page.goto(f"{url}/{PAGE}", timeout=600_000)  # a loaded machine takes more than 30 s
    example = page.get_by_role("radio", name="Example").first
    await example.check(force=True, timeout=300_000)  # the input is visually hidden
    await page.get_by_text("Probability of malignancy").first.wait_for(timeout=300_000)
    seconds = time.perf_counter() - start
    await context.close()
    return seconds


async def visitor(browser, url: str, photos: list[Path]) -> list[tuple[str, str, float, float]]:
    """One visitor: open the page, upload each photo, read its probability: (file, shown, seconds to the
    probability, seconds to the heatmap)."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{url}/{PAGE}", timeout=600_000)  # a loaded machine takes more than 30 s
    await page.locator("input[type=file]").first.wait_for(state="attached", timeout=600_000)  # it opens on the uploader
    answers = []
    for photo in photos:
        start = time.perf_counter()
        await page.locator("input[type=file]").first.set_input_files(str(photo))
        answer = page.locator('[data-testid="stCaptionContainer"]', has_text=f"Answer for {photo.name}")
        await answer.first.wait_for(state="attached", timeout=600_000)  # drawn just after the probability
        metric = page.locator('[data-testid="stMetric"]', has_text="Probability of malignancy")
        # text_content, not inner_text: a photo that does not look like dermoscopy has its figures in a
        # closed expander, where inner_text reads "" (2 of the 40 photos: "38/40 shown")
        shown = (await metric.first.locator('[data-testid="stMetricValue"]').text_content() or "").strip()
        to_probability = time.perf_counter() - start
        caption = page.locator('[data-testid="stImageCaption"]', has_text=photo.name)
        await caption.first.wait_for(timeout=600_000)  # the photo beside its heatmap, drawn after it
        answers.append((photo.name, shown, to_probability, time.perf_counter() - start))
    await context.close()
    return answers


async def drive(url: str, groups: list[list[Path]]) -> tuple[float, list]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            cold = await first_answer(browser, url)
            answers = await asyncio.gather(*(visitor(browser, url, group) for group in groups))
        finally:
            await browser.close()
    return cold, [a for group in answers for a in group]


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def logged_uploads(log: str, sizes: dict[int, str]) -> list[tuple[str, float, float]]:
    """(photo name, server seconds, p) of each upload of the benchmark's photos that the binary model
    answered, read from the server's log (`sizes`: file size in bytes -> photo name)."""
    found = [(sizes.get(int(m[1])), float(m[2]), float(m[3])) for m in LOGGED.finditer(log)]
    return [(name, seconds, p) for name, seconds, p in found if name]


def run(args) -> int:
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is absent: apt-get install chromium (Debian's package, driven by Playwright)")
        return 1
    cores = os.sched_getaffinity(0)
    try:
        with tempfile.TemporaryDirectory(prefix="skinml-serve-") as work:  # removed whatever happens
            return measure(args, Path(work))
    finally:
        os.sched_setaffinity(0, cores)  # --browsers-apart moved this process


def measure(args, work: Path) -> int:
    from skinml.predict import format_probability  # imports TensorFlow: only when the benchmark runs

    load_before = os.getloadavg()[0]
    photos = write_photos(work, args.visitors * args.photos)
    expected = reference_answers(photos, args.model)
    cores = sorted(os.sched_getaffinity(0))
    if args.browsers_apart and len(cores) < 2:
        print("--browsers-apart needs two CPU cores or more: one for the browsers, the rest for the server")
        return 2
    server_cores, browser_cores = (set(cores[:-1]), {cores[-1]}) if args.browsers_apart else (set(cores), set(cores))
    os.sched_setaffinity(0, server_cores)  # inherited by the training and the server started below
    sizes = {p.stat().st_size: p.name for p in photos}
    port, log = free_port(), work / "server.log"
    training = start_training(work) if args.background_training else None
    env = {**os.environ, "SKINML_RUNS": str(work / "runs"), **({"SKINML_MODEL": args.model} if args.model else {})}
    start = time.perf_counter()
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO / "streamlit_app.py"),
                                   "--server.headless=true", f"--server.port={port}", "--server.address=127.0.0.1"],
                                  cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    trainer = training and int((training / "pid").read_text())
    try:
        healthy = wait_healthy(port, timeout=600) + 0.0
        ready = time.perf_counter() - start
        warm_memory = peak_memory_mb(server.pid)
        os.nice(19)  # this process and the browsers it starts from now on yield the CPU to the server
        os.sched_setaffinity(0, browser_cores)  # and run where the browsers belong
        groups = [photos[k * args.photos:(k + 1) * args.photos] for k in range(args.visitors)]
        t, cpu = time.perf_counter(), cpu_seconds(server.pid)
        trained = trainer and cpu_seconds(trainer)
        cold, answers = asyncio.run(drive(f"http://127.0.0.1:{port}", groups))
        wall, cpu = time.perf_counter() - t, cpu_seconds(server.pid) - cpu
        trained = trainer and cpu_seconds(trainer) - trained
        nices = trainer and (niceness(server.pid), niceness(trainer))
        peak = peak_memory_mb(server.pid)
        load = os.getloadavg()[0]
    finally:
        server.terminate()
        server.wait(timeout=60)
        if training:
            from skinml import runs

            runs.stop(training, by=runs.OPERATOR)
    uploads = logged_uploads(log.read_text(), sizes)
    server_seconds = [seconds for _, seconds, _ in uploads]
    waited = [seconds for _, _, seconds, _ in answers]
    heatmaps = [seconds for _, _, _, seconds in answers]
    # whole percents; predict's JSON has 4 decimals, so at a x.5% boundary either rounding is the same answer
    wrong = [(name, shown, expected[name]) for name, shown, _, _ in answers
             if shown not in {format_probability(expected[name] + d) for d in (-5e-5, 0.0, 5e-5)}]
    shown_ok = len(answers) - len(wrong)
    logged_ok = sum(abs(p - expected[name]) <= 1e-4 for name, _, p in uploads)
    print(f"{args.visitors} visitors x {args.photos} photos (600x450 JPEG), {os.cpu_count()} CPU cores, "
          f"model: {args.model or 'shipped'}")
    if args.browsers_apart:
        print(f"  browsers on CPU core {sorted(browser_cores)}, the server{' and the training' if trainer else ''} "
              f"on {sorted(server_cores)}")
    print(f"  cold start: healthy (model warmed up) after {ready:.1f} s ({healthy:.1f} s of polling); "
          f"first answer {cold:.2f} s after opening the page")
    print(f"  server time per upload: p50 {percentile(server_seconds, 50):.2f} s, "
          f"p95 {percentile(server_seconds, 95):.2f} s ({len(server_seconds)} uploads logged)")
    print(f"  upload to probability (what visitors waited): p50 {percentile(waited, 50):.2f} s, "
          f"p95 {percentile(waited, 95):.2f} s; all {len(answers)} uploads in {wall:.1f} s")
    print(f"  upload to heatmap: p50 {percentile(heatmaps, 50):.2f} s, p95 {percentile(heatmaps, 95):.2f} s")
    print(f"  server CPU: {cpu / max(1, len(answers)):.2f} CPU-seconds per upload (page runs included); "
          f"machine load average {load_before:.1f} at the start, {load:.1f} at the end, on {os.cpu_count()} cores")
    if trainer:
        print(f"  beside a training (skinml_resnet, 64 px, started as the dashboard starts one): server nice "
              f"{nices[0]}, training nice {nices[1]}; the training used {trained:.0f} CPU-seconds in those "
              f"{wall:.0f} s ({trained / wall:.2f} cores)")
    print(f"  server peak memory: {warm_memory:.0f} MB once warm, {peak:.0f} MB at the end")
    print(f"  answers equal to `python -m skinml predict --tta`: {shown_ok}/{len(answers)} shown (as the page rounds), "
          f"{logged_ok}/{len(uploads)} logged (to 1e-4)")
    warnings = [line for line in log.read_text().splitlines() if " WARNING " in line or " ERROR " in line]
    print(f"  server log: {len(warnings)} warnings or errors" + "".join(f"\n    {w[:300]}" for w in warnings[:5]))
    for name, shown, p in wrong:
        print(f"    {name}: the page showed {shown!r}, predict says {p:.4f}")
    return 0 if shown_ok == len(answers) == len(photos) else 1
