"""Streamlit helpers for the GAN pages: cached generators, a demo generator, run folders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import streamlit as st

REPO = Path(__file__).resolve().parents[2]


def gan_runs_root() -> Path:
    return Path(os.environ.get("SKINML_RUNS") or "runs") / "gan"


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
    root = gan_runs_root()
    return sorted((p for p in root.glob("*") if (p / "config.json").exists()), reverse=True) if root.exists() else []


def start_training(args: list[str], run_dir: Path) -> int:
    """Start train/train_gan.py in its own process group; returns its pid."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log = open(run_dir / "log.txt", "ab")
    proc = subprocess.Popen([sys.executable, str(REPO / "train" / "train_gan.py"), *args,
                             "--run-dir", str(run_dir), "--quiet"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=str(REPO))
    (run_dir / "pid").write_text(str(proc.pid))
    return proc.pid


def stop_training(run_dir: Path) -> bool:
    """Send SIGTERM to the run's process group (ours only: the pid the run wrote)."""
    try:
        pid = int((run_dir / "pid").read_text())
        os.killpg(pid, signal.SIGTERM)
        return True
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return False


def as_uint8(images: np.ndarray) -> list[np.ndarray]:
    return list((np.clip(images, 0, 1) * 255).round().astype("uint8"))
