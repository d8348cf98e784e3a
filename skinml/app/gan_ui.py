"""Streamlit helpers for the GAN pages: cached generators, a demo generator, run folders."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import streamlit as st

from skinml import runs

REPO = Path(__file__).resolve().parents[2]


def gan_runs_root() -> Path:
    """GAN runs live with every other run, under the one runs root."""
    return runs.runs_root()


@st.cache_resource(show_spinner="Loading the generator ...")
def load_generator_cached(path: str | None, conditional: bool):
    """The generator at `path` (None: shipped), or None when there is none."""
    from skinml.errors import ModelError
    from skinml.gan.models import load_generator

    try:
        return load_generator(path, conditional=conditional)
    except ModelError:
        return None


@st.cache_resource(show_spinner="Building an untrained demo generator ...")
def demo_generator(conditional: bool):
    """A tiny untrained generator (64 px): shows how the pages work, makes only noise."""
    from skinml.gan.models import Generator, build_gan

    gan = build_gan("skinml_cgan" if conditional else "skinml_gan", image_size=64, width=0.25)
    return Generator(model=gan.generator, spec=gan.spec, info={"demo": True}, path=None)


def generator_ui(conditional: bool = False, key: str = "gen"):
    """Pick the shipped generator, one from a run, or the demo; returns a Generator."""
    options = {}
    shipped = load_generator_cached(None, conditional)
    if shipped is not None:
        options["shipped" + (" conditional GAN" if conditional else " GAN")] = shipped
    for run in sorted(gan_runs_root().glob("*/generator/generator.keras"), reverse=True):
        gen = load_generator_cached(str(run.parent), False)
        if gen is not None and gen.spec.conditional == conditional:
            options[f"run {run.parent.parent.name}"] = gen
    if not options:
        st.info("No trained " + ("conditional " if conditional else "") + "generator is loaded yet: "
                "an **untrained demo generator** stands in (it makes noise, not lesions). "
                "Train one on the Train GAN page or with `train/train_gan.py`.")
    options["untrained demo"] = None
    choice = st.selectbox("Generator", list(options), key=key)
    return options[choice] or demo_generator(conditional)


def list_runs() -> list[Path]:
    """GAN run directories, newest first."""
    return [Path(p) for p in runs.list_runs(kind="gan")["path"]]


def start_training(args: list[str], run_dir: Path) -> int:
    """Start train/train_gan.py for `run_dir` in its own process group; returns its pid."""
    runs.check_run_name(Path(run_dir).name)
    runs.launch([sys.executable, str(REPO / "train" / "train_gan.py"), *args, "--run-dir", str(run_dir), "--quiet"],
                run_dir, cwd=REPO)
    return int((Path(run_dir) / "pid").read_text())


def stop_training(run_dir: Path) -> bool:
    """Stop the run's process group (SIGTERM, then SIGKILL): True if it was running."""
    return runs.stop(run_dir)


def as_uint8(images: np.ndarray) -> list[np.ndarray]:
    return list((np.clip(images, 0, 1) * 255).round().astype("uint8"))
