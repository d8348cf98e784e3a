"""Train a run: resolve its config (a resumed run's saved config wins), hold its lock, keep its
status, and hand the epochs to the trainer of its kind (`skinml.cnn.train.fit_run`,
`skinml.gan.train.fit_run`). The command line, the dashboard's processes, the device run's
jobs and `make` all train through here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict
from pathlib import Path

from skinml.errors import ModelError
from skinml.io import read_json, write_json
from skinml.progress import OnProgress
from skinml.runs.status import run_log, run_status, running
from skinml.runs.store import new_run_dir

# What a resumed GAN run keeps from its saved config (the budget and epochs may change).
GAN_KEEP = ("model", "image_size", "width", "spectral_norm", "batch_size", "seed", "holdout", "data_npz", "data_dir",
            "data_pack")


def saved_config(run_dir: Path) -> dict | None:
    """The run's config.json (None for a new run); ModelError when it is there but damaged."""
    saved = read_json(run_dir / "config.json")
    if saved is None and (run_dir / "config.json").exists():
        raise ModelError(f"{run_dir / 'config.json'} is damaged: it is not whole JSON, so the run "
                         "cannot be resumed. Start a new run in another folder.")
    return saved


def fit_classifier(config, on_progress: OnProgress | None = None) -> Path:
    """Train (or resume) a classifier run and finish it: best model, threshold, metrics, card.

    `config` is a `skinml.cnn.config.TrainConfig`; its `run_dir` ("" = a new folder named after
    the model under the runs root). When the run directory already holds a run, its saved
    config is used and training continues after its last complete epoch; a finished run
    returns at once. Returns the run directory.
    """
    from skinml.cnn.config import TrainConfig
    from skinml.cnn.train import fit_run

    run_dir = Path(config.run_dir) if config.run_dir else new_run_dir(config.model)
    saved = saved_config(run_dir)
    if saved:
        config = TrainConfig.from_dict({**saved, "run_dir": str(run_dir)})
    config = dataclasses.replace(config.check(), run_dir=str(run_dir))
    if saved and run_status(run_dir) == "finished":
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_log(run_dir)
    with running(run_dir, log):
        if not saved:
            write_json(run_dir / "config.json", {"kind": "classifier", **asdict(config)})
        if config.crop == "lesion":  # the crops the run reads, prepared once (skinml.runs.crops)
            from skinml.runs.crops import write_lesion_crops

            write_lesion_crops(config, run_dir, log)
        fit_run(config, run_dir, on_progress, log)
    return run_dir


def fit_gan(config, on_progress: OnProgress | None = None):
    """Train (or resume) a GAN run (`skinml.gan.train.GANConfig`, `run_dir` required); returns
    the trained `GAN`. A resumed run keeps its saved architecture and data (`GAN_KEEP`)."""
    from skinml.gan.train import GANConfig, fit_run

    if not config.run_dir:
        raise ModelError("A GAN run needs a run directory (--run-dir).")
    run_dir = Path(config.run_dir)
    saved = saved_config(run_dir)
    if saved:
        config = GANConfig.from_dict({**asdict(config), **{k: saved[k] for k in GAN_KEEP if k in saved}})
    run_dir.mkdir(parents=True, exist_ok=True)
    with running(run_dir):
        write_json(run_dir / "config.json", {"kind": "gan", **asdict(config)})
        return fit_run(config, run_dir, on_progress)
