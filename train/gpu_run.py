"""One prepared run that turns a lent GPU's few minutes into trained models.

On this machine, make the image pack once (the union of the ISIC sample and HAM10000 at
128 px, with a lesion-grouped train/val/test split stratified by diagnosis:
`skinml.runs.recipes.prepare_pack`):

    PYTHONPATH=. python train/gpu_run.py prepare --data ../shared/data/isic-sample ../shared/data/ham10000 \
        --pack .gpu/pack128

On the GPU machine (no TensorFlow: Keras on JAX, the Keras wheels carried in .whl):

    PYTHONPATH=. KERAS_BACKEND=jax python train/gpu_run.py run --pack .gpu/pack128 --out $OUT --budget-s 470

`run` starts one process per job, all at once on the one GPU (the classifiers barely use
it, the GANs share it): the GAN jobs (`GAN_MODELS`: `gan_nosn` and `cgan_nosn` made the shipped
generators) train with the whole pack on the device (`skinml.gan.steps_jax.train_on_device`)
in run directories of the runs layer (`skinml.runs.status.running`: config.json, status, lock);
`binary0/1` (benign/malignant) and `dx0/1` (seven diagnoses) train skinml_resnet members with
`python -m skinml train` ("crop" augmentation, fitted to the budget). The test split is never
trained on by any of them. Every job stops itself inside the budget; each leaves `<job>.tar.gz`
in `--out` (at most 16 MiB: the GAN's generator, sample grids, losses and state; a classifier's
model, history and predictions) and `logs.tar.gz` with every log and `summary.json`. Back here,
`python -m skinml finish OUT/gan_nosn` measures a generator, `python -m skinml finish OUT/binary0
OUT/binary1` joins the members into an ensemble, and `python -m skinml ship` ships either.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# GAN jobs: (model, spec overrides)
GAN_MODELS = {"gan": ("skinml_gan", {}), "cgan": ("skinml_cgan", {}),
              "gan_nosn": ("skinml_gan", {"spectral_norm": False}),
              "cgan_nosn": ("skinml_cgan", {"spectral_norm": False}),
              "gan_hinge": ("skinml_gan", {"loss": "hinge", "r1_gamma": 0.0})}
JOBS = (*GAN_MODELS, "binary0", "binary1", "dx0", "dx1")
# The jobs that made the shipped models: skinml/assets/gan and cgan came from gan_nosn and cgan_nosn
# (train/recipes/gan.toml, cgan.toml).
DEFAULT_JOBS = ("gan_nosn", "cgan_nosn", "binary0", "binary1", "dx0", "dx1")
CHECKPOINT_SECONDS = 45.0  # the generator is saved this often, so a killed job still returns one


def prepare(data: list[str], pack: Path, size: int, quality: int) -> None:
    from skinml.runs.recipes import prepare_pack

    prepare_pack(data, pack, size, quality)
    size_mb = sum(f.stat().st_size for f in pack.iterdir()) / 2**20
    print(f"{size_mb:.1f} MiB in {pack}")


# ---- one job, in its own process ------------------------------------------------------------

def run_gan(job: str, pack: Path, out: Path, seconds: float, width: float, steps_per_call: int) -> None:
    """One GAN job, trained with the whole pack on the device, in a run directory of the runs
    layer's layout (config.json with kind "gan" and the job, status, lock, state.json)."""
    from skinml.runs.status import run_log, running

    with running(out, run_log(out)):
        _train_gan_on_device(job, pack, out, seconds, width, steps_per_call)


def _train_gan_on_device(job: str, pack: Path, out: Path, seconds: float, width: float, steps_per_call: int) -> None:
    import keras

    from skinml.gan.models import build_gan, save_generator
    from skinml.gan.steps_jax import load_device_state, train_on_device
    from skinml.gan.train import LABEL_CODES, GANConfig, fixed_latents, image_grid, write_gif
    from skinml.images.pack import read_pack
    from skinml.io import write_csv, write_json, write_npy, write_png

    started = time.time()
    index, images = read_pack(pack)
    labels = index["benign_malignant"].map(LABEL_CODES).fillna(-1).to_numpy("int32")
    holdout = (index["split"] == "test").to_numpy()
    model, overrides = GAN_MODELS[job]
    train = ~holdout & ((labels >= 0) if model == "skinml_cgan" else True)
    config = GANConfig(model=model, image_size=images.shape[1], batch_size=64, width=width,
                       spectral_norm=overrides.get("spectral_norm", True),
                       data_pack=str(pack), holdout=float(holdout.mean()), run_dir=str(out),
                       time_budget=seconds, epochs=0)
    gan = build_gan(config.model, image_size=config.image_size, width=width, batch_size=config.batch_size,
                    **overrides)  # spectral_norm among them, as config.json records
    spec = gan.spec
    (out / "samples").mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {"kind": "gan", "job": job, "spec_overrides": overrides, **asdict(config)})
    write_npy(out / "holdout.npy", np.flatnonzero(holdout))
    x, y = images[train], labels[train]
    print(f"{job}: {spec.name}, {len(x)} training images of {len(images)}, {keras.backend.backend()} on "
          f"{keras.distribution.list_devices()}", flush=True)
    z_fixed, label_fixed = fixed_latents(spec.latent_dim)
    rows: list[dict] = []
    last_save = last_grid = time.time()

    def save(state, seen: int, final: bool = False) -> None:
        load_device_state(gan, state)
        epoch = seen / len(x)
        grid = gan.sampler([z_fixed, label_fixed[:, None]] if spec.conditional else z_fixed, training=False)
        write_png(out / "samples" / f"epoch_{int(round(epoch * 10)):05d}.png",
                         image_grid(keras.ops.convert_to_numpy(grid)))
        if not final and time.time() - last_save < CHECKPOINT_SECONDS:
            return
        train_seconds = round(time.time() - started, 1)
        save_generator(out / "generator", gan.sampler, spec, {
            "epochs": round(epoch, 2), "images_seen": seen, "training_images": int(len(x)),
            "backend": keras.backend.backend(), "device": str(keras.distribution.list_devices()[0]),
            "seconds": train_seconds})
        write_csv(out / "losses.csv", rows)
        write_json(out / "state.json", {
            "epoch": int(epoch), "epochs_float": round(epoch, 3), "images_seen": seen, "seconds": train_seconds,
            "model": spec.name, "training_images": int(len(x)), "holdout_images": int(holdout.sum()),
            "images_per_second": rows[-1]["images_per_second"] if rows else None})

    budget = seconds - (time.time() - started) - 15  # leave time for the last save
    for call, (state, logs, seen, call_seconds) in enumerate(
            train_on_device(gan, x, y, seconds=budget, steps_per_call=steps_per_call)):
        speed = steps_per_call * spec.batch_size / call_seconds
        if call <= 1:
            what = "with compilation" if call == 0 else f"{speed:.0f} images/s"
            print(f"{job}: call {call} took {call_seconds:.1f} s ({what})", flush=True)
        rows.append({"epoch": round(seen / len(x), 3), **{k: round(v, 5) for k, v in logs.items()},
                     "seconds": round(time.time() - started, 1), "images_per_second": round(speed, 1)})
        if time.time() - last_grid > 40:
            save(state, seen)
            last_grid = time.time()
            if time.time() - last_save >= CHECKPOINT_SECONDS:
                last_save = time.time()
    save(state, seen, final=True)
    write_gif(out)
    print(f"{job}: done, {seen} images seen ({seen / len(x):.1f} epochs) in {time.time() - started:.0f} s, "
          f"last losses {rows[-1]}", flush=True)


def run_classifier(job: str, pack: Path, out: Path, seconds: float, epochs: int) -> None:
    """One classifier member through the core training loop (train/train_classifier.py): the
    shipped recipe, fitted to the time left; finished (calibrated, measured) at the end."""
    from skinml.images.pack import pack_image_size

    task, seed = ("binary" if job.startswith("binary") else "diagnosis"), int(job[-1])
    cmd = [sys.executable, "-m", "skinml", "train", "--pack", str(pack), "--task", task,
           "--model", "skinml_resnet", "--image-size", str(pack_image_size(pack)), "--epochs", str(epochs),
           "--time-budget", str(max(10.0, seconds - 60)), "--batch-size", "64", "--learning-rate", "2e-3",
           "--weight-decay", "5e-4", "--warmup-epochs", "5", "--augment", "crop", "--patience", str(epochs),
           "--class-weight", "none" if task == "binary" else "balanced", "--tta", "true",
           "--target-sensitivity", "0.85", "--seed", str(seed), "--run-dir", str(out), "--quiet"]
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


# ---- the whole run ----------------------------------------------------------------------------

def pack_job(job_dir: Path, dest: Path, limit: int = 15 * 2**20) -> None:
    """`dest` (.tar.gz) with the job's files under `limit` bytes: not its resumable training
    state nor the GIF (remade from the grids), and every other sample grid until it fits."""
    skip = (".weights.h5", ".tmp", ".gif", "best.keras", "last.keras")  # model/ holds the finished model
    files = [f for f in sorted(job_dir.rglob("*")) if f.is_file() and not f.name.endswith(skip)
             and not f.name.startswith(".") and "ckpt" not in f.relative_to(job_dir).parts]
    grids = [f for f in files if f.parent.name == "samples"]
    while sum(f.stat().st_size for f in files) > limit and len(grids) > 2:
        drop = set(grids[1:-1:2])  # keep the first and the last
        files, grids = [f for f in files if f not in drop], [g for g in grids if g not in drop]
    with tarfile.open(dest, "w:gz") as tar:
        for f in files:
            tar.add(f, arcname=f"{job_dir.name}/{f.relative_to(job_dir)}")


def run_all(args) -> int:
    import platform

    from skinml.io import read_json

    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    jobs = [j for j in args.jobs.split(",") if j]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
           "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{0.9 / len(jobs):.3f}"}
    print(f"gpu_run: {len(jobs)} jobs {jobs}, budget {args.budget_s:.0f} s, python {platform.python_version()}, "
          f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND')}", flush=True)
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True) if shutil.which("nvidia-smi") else None
    print(f"device: {smi.stdout.strip() if smi else 'no nvidia-smi (CPU)'}", flush=True)
    started, procs = time.time(), {}
    for job in jobs:
        (work / job).mkdir(parents=True, exist_ok=True)
        log = open(work / f"{job}.log", "w")
        cmd = [sys.executable, __file__, "job", job, "--pack", args.pack, "--out", str(work / job),
               "--seconds", str(args.budget_s), "--width", str(args.width),
               "--steps-per-call", str(args.steps_per_call), "--epochs", str(args.epochs)]
        procs[job] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True), log)
    deadline = started + args.budget_s + args.grace_s
    while any(p.poll() is None for p, _ in procs.values()) and time.time() < deadline:
        time.sleep(1)
    for job, (p, log) in procs.items():  # past the deadline: stop what still runs, keep its files
        if p.poll() is None:
            print(f"{job}: still running at the deadline, stopped", flush=True)
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        log.close()
    summary = {"budget_s": args.budget_s, "wall_s": round(time.time() - started, 1), "jobs": {}}
    for job, (p, _) in procs.items():
        d = work / job
        state, metrics = read_json(d / "state.json", {}) or {}, read_json(d / "metrics.json", {}) or {}
        info = {"returncode": p.returncode, **{k: v for k, v in state.items() if not isinstance(v, (dict, list))},
                "val_auc": metrics.get("val", {}).get("auc"),
                "val_balanced_accuracy": metrics.get("val", {}).get("balanced_accuracy")}
        summary["jobs"][job] = info
        if any(d.rglob("*")):
            pack_job(d, out / f"{job}.tar.gz")
    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        for f in sorted(work.glob("*.log")) + [work / "summary.json"]:
            tar.add(f, arcname=f.name)
    for job in jobs:  # the end of each log, then one line per job
        lines = (work / f"{job}.log").read_text(errors="replace").splitlines()
        print(f"--- {job} (exit {procs[job][0].returncode}) ---\n" + "\n".join(lines[-6:]))
    for job, info in summary["jobs"].items():
        size = (out / f"{job}.tar.gz").stat().st_size / 2**20 if (out / f"{job}.tar.gz").exists() else 0
        keys = ("epochs_float", "images_per_second", "epoch", "best_epoch", "best_score", "train_seconds",
                "val_auc", "val_balanced_accuracy")
        print(f"{job:8s} exit {info['returncode']}  {size:5.1f} MiB  " +
              " ".join(f"{k}={info[k]}" for k in keys if k in info))
    return 0 if all(p.returncode == 0 for p, _ in procs.values()) else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    pp = sub.add_parser("prepare", help="make the image pack (on a machine with the data)")
    pp.add_argument("--data", nargs="+", required=True)
    pp.add_argument("--pack", type=Path, required=True)
    pp.add_argument("--image-size", type=int, default=128)
    pp.add_argument("--quality", type=int, default=90)
    pr = sub.add_parser("run", help="train every job at once inside the budget (on the GPU machine)")
    pj = sub.add_parser("job", help="one job (run starts these)")
    pj.add_argument("job", choices=JOBS)
    for q in (pr, pj):
        q.add_argument("--pack", required=True)
        q.add_argument("--out", required=True)
        q.add_argument("--width", type=float, default=1.0, help="GAN channel multiplier (tiny runs: 0.25)")
        q.add_argument("--steps-per-call", type=int, default=100, help="GAN steps per jitted call")
        q.add_argument("--epochs", type=int, default=150, help="classifier epochs at most")
    pr.add_argument("--budget-s", type=float, default=470)
    pr.add_argument("--grace-s", type=float, default=45, help="then jobs still running are stopped")
    pr.add_argument("--jobs", default=",".join(DEFAULT_JOBS))
    pr.add_argument("--work", default="/tmp/gpu_run", help="jobs' run directories")
    pj.add_argument("--seconds", type=float, required=True)
    args = p.parse_args(argv)

    if args.command == "prepare":
        prepare(args.data, args.pack, args.image_size, args.quality)
        return 0
    if args.command == "run":
        return run_all(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.job in GAN_MODELS:
        run_gan(args.job, Path(args.pack), out, args.seconds, args.width, args.steps_per_call)
    else:
        run_classifier(args.job, Path(args.pack), out, args.seconds, args.epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
