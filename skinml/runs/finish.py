"""Finish runs into one model: a classifier run (or an ensemble of runs), or a generator
measured against real images it never saw.

A classifier run is finished by its own training (`skinml.cnn.finish.finish_run`: temperature,
threshold, figures on validation and test, `model/`); several finished runs of one recipe
become an ensemble run (`skinml.cnn.finish.finish_ensemble`). A GAN run is finished by
`measure_generator`: `realism.json` in the run, from its held-out lesions.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from skinml import SHARED_DATA
from skinml.errors import ModelError
from skinml.io import read_json, write_json
from skinml.runs.status import run_status
from skinml.runs.store import new_run_dir, run_kind

C2ST = SHARED_DATA.parent / "tools" / "c2st.py"  # the project's yardstick, where a checkout has it


def finish(run_dirs: list[str | Path], out: str | Path | None = None, compact: bool = False,
           realism_images: int = 1000, seed: int = 0, yardstick: bool = True) -> Path:
    """The run directory of the one model `run_dirs` make: a finished classifier run itself,
    an ensemble run of several (in `out`, default a new `ensemble-...` run), or a GAN run with
    its realism measured (`realism_images` generated images; `yardstick`: also the project's
    c2st.py where this machine has it). ModelError for runs that are not finished or do not go
    together."""
    run_dirs = [Path(r) for r in run_dirs]
    if not run_dirs:
        raise ModelError("Name at least one run to finish.")
    kinds = set()
    for run_dir in run_dirs:
        config = read_json(run_dir / "config.json")
        if not isinstance(config, dict):
            raise ModelError(f"{run_dir} is not a training run: it has no readable config.json.")
        if run_status(run_dir) != "finished":
            raise ModelError(f"{run_dir} has not finished training ({run_status(run_dir)}): finish training it "
                             "first (`python -m skinml train --run-dir ...` resumes it).")
        kinds.add(run_kind(config))
    if len(kinds) > 1:
        raise ModelError("These runs are of different kinds (classifier and GAN): finish each kind on its own.")
    if kinds == {"gan"}:
        if len(run_dirs) > 1:
            raise ModelError("A generator is finished one run at a time.")
        measure_generator(run_dirs[0], n=realism_images, seed=seed, yardstick=yardstick)
        return run_dirs[0]
    if len(run_dirs) == 1:
        if not (run_dirs[0] / "model" / "model.keras").exists():
            raise ModelError(f"{run_dirs[0]} has no finished model (model/model.keras).")
        return run_dirs[0]
    from skinml.cnn.finish import finish_ensemble

    return finish_ensemble(run_dirs, Path(out) if out else new_run_dir("ensemble"), compact=compact)


def official_c2st(real: np.ndarray, fake: np.ndarray, tool: Path = C2ST) -> dict | None:
    """The project's yardstick (`../shared/tools/c2st.py`, a 5-fold real-vs-fake CNN) on float
    images in [0, 1]: {"c2st_acc", "fold_acc", ...}, or None when the tool is not on this machine."""
    from PIL import Image

    if not tool.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        for name, images in (("real", real), ("fake", fake)):
            (Path(tmp) / name).mkdir()
            for i, im in enumerate(images):
                pixels = (np.clip(im, 0, 1) * 255).round().astype("uint8")
                Image.fromarray(pixels).save(Path(tmp) / name / f"{i:05d}.png")
        out = subprocess.run([sys.executable, str(tool), str(Path(tmp) / "real"), str(Path(tmp) / "fake")],
                             capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_generator(run_dir: str | Path, n: int = 1000, seed: int = 0, feature_model=None,
                      yardstick: bool = True) -> dict:
    """Measure a GAN run's generator against its held-out real images (`holdout.npy`: whole
    lesions it never trained on) and write `realism.json` in the run; returns the report.

    `feature_model`: the Keras classifier whose features KID, FID and precision/recall use
    (default: the shipped binary classifier when its input size matches the generator's, else
    none); `yardstick`: also run the project's `c2st.py` when this machine has it.
    """
    from skinml.gan.latent import sample_latents
    from skinml.gan.models import load_generator
    from skinml.gan.train import GANConfig, load_training_data
    from skinml.quality.realism import realism_report

    run_dir = Path(run_dir)
    generator = load_generator(run_dir)
    images, _, _ = load_training_data(GANConfig.from_dict(read_json(run_dir / "config.json", {})))
    holdout = np.load(run_dir / "holdout.npy")
    if len(holdout) < 2:
        raise ModelError(f"{run_dir} held out {len(holdout)} images: the realism measures need at least two.")
    train = np.setdiff1d(np.arange(len(images)), holdout)
    real = images[holdout].astype("float32") / 255.0
    latents = sample_latents(range(seed, seed + n), generator.spec.latent_dim)
    fake = generator.generate(latents, np.arange(n) % 2 if generator.spec.conditional else None)
    rng = np.random.default_rng(seed)
    train_sample = images[rng.choice(train, size=min(1000, len(train)), replace=False)].astype("float32") / 255.0
    if feature_model is None:
        from skinml.cnn.classifier import SHIPPED_DIR, load_classifier

        if (SHIPPED_DIR / "model.keras").exists():
            classifier = load_classifier()
            feature_model = classifier.model if classifier.image_size == real.shape[1] else None
    report = realism_report(real, fake, train=train_sample, feature_model=feature_model,
                            two_sample=len(real) >= 10, seed=seed)
    report["c2st_official"] = official_c2st(real, fake) if yardstick else None
    write_json(run_dir / "realism.json", report)
    return report
