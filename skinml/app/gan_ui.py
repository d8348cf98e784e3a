"""Streamlit helpers for the GAN pages (7, 8, 9): cached generators, a demo generator, GAN runs,
real images and the realism report.

GAN runs live with every other run under the runs root (`skinml.runs`); `train/train_gan.py`
writes them in its own process (started and stopped by `skinml.runs.launch`/`stop`) and
these helpers only read them.
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from skinml import runs, settings
from skinml.app import RUN_STATUS_ICONS, plain, session_id, show_error
from skinml.errors import DataError, SkinmlError
from skinml.gan.train import GANConfig

REPO = Path(__file__).resolve().parents[2]
ENTRY_POINT = REPO / "train" / "train_gan.py"


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


def as_uint8(images: np.ndarray) -> list[np.ndarray]:
    return list((np.clip(images, 0, 1) * 255).round().astype("uint8"))


# ---------------------------------------------------------------- GAN runs

def list_runs() -> list[Path]:
    """GAN run directories, newest first."""
    return [Path(p) for p in runs.list_runs(kind="gan")["path"]]


def command_line(config: GANConfig) -> list[str]:
    """The arguments of train/train_gan.py for `config`: every setting that differs from the
    default, as --name value (the script builds its options from GANConfig's fields)."""
    args = []
    for f in fields(GANConfig):
        value = getattr(config, f.name)
        if value != f.default:
            args += [f"--{f.name.replace('_', '-')}", str(value)]
    return args


def new_run_config(name: str, data: str, **settings) -> GANConfig:
    """The GANConfig of a new run `name` (a folder under the runs root) that reads `data`: an
    ISIC folder, or a .npz file of images (see `skinml.gan.train.load_npz`)."""
    source = {"data_npz": data} if data.endswith(".npz") else {"data_dir": data}
    return GANConfig(run_dir=str(runs.run_dir_named(name)), **source, **settings)


def launch_gan_training(config: GANConfig) -> Path:
    """Start train/train_gan.py for `config` in its own process group; returns the run directory.

    Raises DataError when the data folder or .npz file is not there, or the run exists.
    """
    data = config.data_npz or config.data_dir
    if data:  # only inside the server's data folders (checked first: nothing is said about other paths)
        settings.inside_data_roots(data)
    if not data or not Path(data).exists():
        raise DataError(f"The training data '{data}' is not there: type an ISIC folder or a .npz file.")
    run_dir = Path(config.run_dir)
    if (run_dir / "config.json").exists():
        raise DataError(f"{run_dir} already holds a run: pick another run name.")
    return runs.launch([sys.executable, str(ENTRY_POINT), *command_line(config), "--quiet"], run_dir, cwd=REPO,
                       owner=session_id())


def stop_training(run_dir: Path) -> bool:
    """Stop the run's process group (SIGTERM, then SIGKILL): True if it was running; ModelError
    when this session did not start it."""
    return runs.stop(run_dir, by=session_id())


def run_view_ui(run_dir: Path) -> None:
    """Status, progress, the latest sample grid, the losses and the GIF of one GAN run."""
    from skinml.gan.train import read_losses, read_state
    from skinml.plots.gan import plot_losses

    status, state = runs.run_status(run_dir), read_state(run_dir)
    st.markdown(f"{RUN_STATUS_ICONS.get(status, '')} Status **{status}** · epoch {state.get('epoch', 0)} / "
                f"{state.get('epochs', '?')} · {state.get('images_seen', 0):,} images seen · "
                f"{state.get('seconds', 0):.0f} s")
    if state.get("epochs"):
        st.progress(min(1.0, state.get("epoch", 0) / state["epochs"]))
    left, right = st.columns(2)
    grids = sorted((run_dir / "samples").glob("epoch_*.png"))
    if grids:
        left.image(str(grids[-1]), caption=f"fixed latent seed, {grids[-1].stem.replace('_', ' ')}", width="stretch")
    rows = read_losses(run_dir)
    if rows:
        right.plotly_chart(plot_losses(rows), width="stretch")
    if (run_dir / "training.gif").exists():
        right.image(str(run_dir / "training.gif"), caption="training, epoch by epoch")
    if status == "running" and st.button("Stop", key=f"stop-{run_dir.name}"):
        try:
            stop_training(run_dir)
        except SkinmlError as exc:
            show_error(exc)
    if status in ("failed", "interrupted"):
        if runs.status_message(run_dir):
            st.error(plain(runs.status_message(run_dir)))
        if (run_dir / "console.txt").exists():
            st.code((run_dir / "console.txt").read_text(errors="replace")[-2000:], language=None)


# ---------------------------------------------------------------- realism

@st.cache_data(show_spinner="Reading real images ...", max_entries=8)
def real_images(root: str, size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`skinml.quality.realism.real_sample` cached: (held-out stand-in, training stand-in)."""
    from skinml.quality.realism import real_sample

    return real_sample(root, n, size)


def realism_report(held: np.ndarray, fake: np.ndarray, train: np.ndarray) -> tuple[dict, str]:
    """`realism_report` in the shipped classifier's feature space (an untrained thesis_base CNN when
    there is none); returns (report, a phrase naming the feature space)."""
    from skinml.app.classifiers import load_model
    from skinml.cnn.classifier import SHIPPED_DIR
    from skinml.errors import ModelError
    from skinml.quality.realism import realism_report as measure

    try:
        classifier = load_model(SHIPPED_DIR)
    except ModelError:
        from skinml.cnn.models import build_model

        model = build_model("thesis_base", image_size=held.shape[1])
        return measure(held, fake, train=train, feature_model=model), "an untrained thesis_base CNN"
    report = classifier.with_model(lambda model: measure(held, fake, train=train, feature_model=model))
    return report, "the shipped classifier"


def report_table(report: dict) -> pd.DataFrame:
    """The report's figures for people: one row per measure, rounded, with what it means."""
    rows = [
        ("KID (x1000, 0 = same distribution)", report.get("kid"), 1000, "{:.1f}"),
        ("FID (0 = same distribution)", report.get("fid"), 1, "{:.1f}"),
        ("precision (share of generated images that look real)", report.get("precision"), 1, "{:.0%}"),
        ("recall (share of real variety covered)", report.get("recall"), 1, "{:.0%}"),
        ("two-sample accuracy, CNN on pixels (50% = indistinguishable)",
         report.get("two_sample", {}).get("accuracy"), 1, "{:.0%}"),
        ("two-sample accuracy, classifier features (50% = indistinguishable)",
         report.get("two_sample_features", {}).get("accuracy"), 1, "{:.0%}"),
        ("nearest training image, smallest distance (0 = a copy)",
         report.get("memorisation", {}).get("min_distance"), 1, "{:.3f}"),
    ]
    return pd.DataFrame([{"measure": name, "value": fmt.format(value * scale)}
                         for name, value, scale, fmt in rows if value is not None])
