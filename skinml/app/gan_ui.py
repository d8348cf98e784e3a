"""Streamlit helpers for the GAN pages (7, 8, 9): cached generators, a demo generator, GAN runs,
real images and the realism report.

GAN runs live with every other run under the runs root (`skinml.runs`); `python -m skinml train`
writes them in its own process (started and stopped by `skinml.runs.launch`/`stop`) and
these helpers only read them.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from skinml import io as skinml_io
from skinml import runs, settings
from skinml.app import RUN_STATUS_ICONS, mtime_stamp, plain, session_id
from skinml.errors import DataError, SkinmlError, shown
from skinml.gan.train import GANConfig


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
                "Train one on the Train GAN page or with `python -m skinml train --kind gan`.")
    options["untrained demo"] = None
    choice = st.selectbox("Generator", list(options), key=key)
    return options[choice] or demo_generator(conditional)


def as_uint8(images: np.ndarray) -> list[np.ndarray]:
    return list((np.clip(images, 0, 1) * 255).round().astype("uint8"))


# ---------------------------------------------------------------- latent space, cached
# Each helper takes the generator (not hashed: leading underscore) and `key`, a name for it
# (`generator_key`), so that a rerun computes only what a widget changed.

def generator_key(gen) -> str:
    """A name for a generator that changes when its files do (cache key of the helpers below)."""
    if gen.path is None:
        return f"demo-{gen.spec.name}"
    return f"{gen.path}@{mtime_stamp([Path(gen.path) / 'generator.keras'])}"


@st.cache_data(show_spinner=False, max_entries=32)
def samples(_gen, key: str, seeds: tuple[int, ...]) -> list[np.ndarray]:
    """One uint8 image per seed (benign label for a conditional generator)."""
    from skinml.gan.latent import sample_latents

    labels = np.zeros(len(seeds), "int32") if _gen.spec.conditional else None
    return as_uint8(_gen.generate(sample_latents(seeds, _gen.spec.latent_dim), labels))


@st.cache_data(show_spinner=False, max_entries=32)
def walk(_gen, key: str, a: int, b: int, steps: int, method: str, gif_size: int) -> tuple[list[np.ndarray], bytes, str]:
    """The walk from seed `a` to seed `b`: (frames uint8, GIF bytes at `gif_size` px, latent norms text)."""
    from skinml.gan import latent

    dim = _gen.spec.latent_dim
    path = latent.interpolate(latent.latent_for_seed(a, dim), latent.latent_for_seed(b, dim), steps, method)
    labels = np.zeros(steps, "int32") if _gen.spec.conditional else None
    frames = _gen.generate(path, labels)
    norms = " → ".join(f"{np.linalg.norm(path[i]):.1f}" for i in (0, steps // 2, -1))
    return as_uint8(frames), latent.to_gif(frames, size=gif_size), norms


@st.cache_data(show_spinner=False, max_entries=32)
def arithmetic(_gen, key: str, groups: tuple[tuple[int, ...], ...], signs: tuple[int, ...]) -> np.ndarray:
    """The uint8 image of sum(sign * mean latent of each group of seeds)."""
    from skinml.gan import latent

    z = latent.combine_groups([latent.sample_latents(g, _gen.spec.latent_dim) for g in groups], list(signs))
    labels = np.zeros(1, "int32") if _gen.spec.conditional else None
    return as_uint8(_gen.generate(z[None], labels))[0]


@st.cache_data(show_spinner="Walking from the benign to the malignant label ...", max_entries=32)
def label_walk(_cgen, key: str, seed: int, steps: int,
               gif_size: int) -> tuple[list[np.ndarray], bytes, np.ndarray | None, float]:
    """The same latent from the benign to the malignant label: (frames uint8, GIF bytes, the shipped
    classifier's p(malignant) of each frame and its threshold; None and NaN without a shipped classifier)."""
    from skinml.gan import latent

    frames = latent.walk_labels(_cgen.model, latent.latent_for_seed(seed, _cgen.spec.latent_dim), steps=steps)
    return (as_uint8(frames), latent.to_gif(frames, size=gif_size), *classifier_probabilities(as_uint8(frames)))


def classifier_probabilities(images: list[np.ndarray]) -> tuple[np.ndarray | None, float]:
    """The shipped classifier's p(malignant) of uint8 images (resized as it was trained) and its
    threshold; (None, NaN) when there is no shipped classifier."""
    from skinml.app.classifiers import load_model
    from skinml.cnn.classifier import SHIPPED_DIR
    from skinml.errors import ModelError
    from skinml.images.decode import load_image

    try:
        classifier = load_model(SHIPPED_DIR)
    except ModelError:
        return None, float("nan")
    x = np.stack([load_image(im, classifier.image_size, classifier.resize) for im in images]).astype("float32")
    return classifier.p_malignant(classifier.predict_proba(x / 255.0)), classifier.threshold


def walk_reading(p: np.ndarray, threshold: float) -> str:
    """What the classifier's probabilities along a benign -> malignant walk say, in one sentence."""
    change = p[-1] - p[0]
    text = (f"The shipped classifier gives the benign end {p[0]:.0%} and the malignant end {p[-1]:.0%} "
            f"(threshold {threshold:.0%}): ")
    if abs(change) < 0.05:
        return text + ("the label barely changes what the classifier sees. This generator's label does not "
                       "steer the lesion towards what the classifier calls malignant.")
    if change > 0:
        crossed = " and crosses its threshold" if p[0] < threshold <= p[-1] else ""
        text += (f"the malignant label raises the classifier's probability by {change * 100:.0f} percentage "
                 f"points{crossed}.")
        if change >= 0.3:
            text += (" Look at the pictures: where they barely change while the number moves this far, the "
                     "classifier reacts to details of colour and texture that people hardly see. One reason "
                     "not to read a CNN's probability as a judgement of how a lesion looks.")
        return text
    return text + "the malignant label lowers the classifier's probability: the label does not work as hoped."


# ---------------------------------------------------------------- GAN runs

def list_runs() -> list[Path]:
    """GAN run directories, newest first."""
    return [Path(p) for p in runs.list_runs(kind="gan")["path"]]


def new_run_config(name: str, data: str, **settings) -> GANConfig:
    """The GANConfig of a new run `name` (a folder under the runs root) that reads `data`: an
    ISIC folder, or a .npz file of images (see `skinml.gan.train.load_npz`)."""
    source = {"data_npz": data} if data.endswith(".npz") else {"data_dir": data}
    return GANConfig(run_dir=str(runs.run_dir_named(name)), **source, **settings)


def launch_gan_training(config: GANConfig) -> Path:
    """Start `python -m skinml train` for `config` in its own process group; returns the run directory.

    Raises DataError when the data folder or .npz file is not there, or the run exists.
    """
    data = config.data_npz or config.data_dir
    # only inside the server's data folders (checked first: nothing is said about other paths); the
    # session's dataset may be several folders joined by os.pathsep, each checked
    parts = [data] if config.data_npz else [p for p in (data or "").split(os.pathsep) if p.strip()]
    for part in parts:
        settings.inside_data_roots(part)
    if not parts or not all(Path(part).exists() for part in parts):
        raise DataError(f"The training data '{shown(data)}' is not there: type an ISIC folder or a .npz file.")
    run_dir = Path(config.run_dir)
    if (run_dir / "config.json").exists():
        raise DataError(f"{run_dir} already holds a run: pick another run name.")
    runs.check_cap(session_id(), run_dir.parent)  # a refused Start leaves no folder behind
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    skinml_io.write_json(run_dir / "config.json", {"kind": "gan", **asdict(config)})  # what the process reads
    try:
        return runs.launch_training(run_dir, owner=session_id())
    except SkinmlError:  # refused after all (another click took the last place): take back what was written
        runs.remove_unstarted(run_dir, created)
        raise


def resume_gan_training(run_dir: Path) -> Path:
    """Start the training process of a stopped, interrupted or failed run again: it continues after
    its last complete epoch, with the settings saved in its config.json."""
    return runs.launch_training(run_dir, owner=session_id())


def stop_training(run_dir: Path) -> bool:
    """Stop the run's process group (SIGTERM, then SIGKILL): True if it was running; ModelError
    when this session did not start it."""
    return runs.stop(run_dir, by=session_id())


REFRESH_S = 3  # seconds between redraws of a running run


def refresh_every(status: str) -> int | None:
    """How often the run view redraws itself: every few seconds while the run is live, else never."""
    return REFRESH_S if status == "running" else None


def live_run_ui(run_dir: Path) -> str:
    """`run_view_ui` in a fragment that redraws itself only while the run is running; returns the status.

    When the run ends the whole page is redrawn once (its buttons and run list change)."""
    status = runs.run_status(run_dir)
    every = refresh_every(status)

    @st.fragment(run_every=every)
    def view():
        run_view_ui(run_dir)
        if every and runs.run_status(run_dir) != "running":
            st.rerun()

    view()
    return status


def run_view_ui(run_dir: Path) -> None:
    """Status, progress, the latest sample grid, the losses and the GIF of one GAN run (no buttons)."""
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
    if status == "failed":
        failed = "The training process failed: its console output below says why."
        st.error(plain(runs.status_message(run_dir) or failed))
    elif status == "interrupted":
        st.warning("The training process ended without finishing (killed?). Resume continues after its last "
                   "complete epoch.")
    elif status == "stopped":
        st.info("Stopped. Resume continues after its last complete epoch.")
    if status in ("failed", "interrupted") and (run_dir / "console.txt").exists():
        with st.expander("Console output of the training process (for finding the cause)"):
            st.code((run_dir / "console.txt").read_text(errors="replace")[-2000:], language=None, wrap_lines=True)


# ---------------------------------------------------------------- realism

REALISM_N = 60  # GAN realism's "Images of each kind" at first (the server primes that view)


@st.cache_data(show_spinner="Generating images and comparing them with real ones ...", max_entries=8)
def realism_basics(_gen, key: str, root: str, n: int) -> dict:
    """What the realism page shows before its report, cached: `held` and `train` (two real samples of
    `root`), `fake` (generated from seeds 0..n-1), `pca` (pixels of held and fake), and for the first
    eight generated images the index and distance of the nearest image of `train` (`nearest`, `distance`).
    Raises DataError when the folder has too few images."""
    from skinml.gan.latent import sample_latents
    from skinml.quality.realism import nearest_training_images, pca_overlay, real_sample

    held, train = real_sample(root, n, _gen.spec.image_size)
    n = len(held)
    fake = _gen.generate(sample_latents(range(n), _gen.spec.latent_dim),
                         np.arange(n) % 2 if _gen.spec.conditional else None)
    nearest, distance = nearest_training_images(fake[:8], train)
    return {"held": held, "train": train, "fake": fake, "pca": pca_overlay(held, fake), "nearest": nearest,
            "distance": distance}


def realism_report(held: np.ndarray, fake: np.ndarray, train: np.ndarray,
                   on_step=None) -> tuple[dict, dict, str]:
    """`realism_report` of the generated images against real ones, and the same measures for real
    against real (the two disjoint real samples `held` and `train`): what a perfect generator would
    score on this data. In the shipped classifier's feature space (an untrained thesis_base CNN when
    there is none). Returns (report, real-vs-real report, a phrase naming the feature space);
    `on_step(fraction, text)` is told before each of the two measurements."""
    from skinml.app.classifiers import load_model
    from skinml.cnn.classifier import SHIPPED_DIR
    from skinml.errors import ModelError
    from skinml.quality.realism import nearest_training_images
    from skinml.quality.realism import realism_report as measure

    try:
        classifier = load_model(SHIPPED_DIR)
        run, source = classifier.with_model, "the shipped classifier"
    except ModelError:
        from skinml.cnn.models import build_model

        model = build_model("thesis_base", image_size=held.shape[1])
        run, source = (lambda fn: fn(model)), "an untrained thesis_base CNN"
    step = on_step or (lambda fraction, text: None)
    step(0.0, "Measuring generated against real images ...")
    report = run(lambda model: measure(held, fake, train=train, feature_model=model))
    step(0.5, "Measuring real against real images (the yardstick) ...")
    baseline = run(lambda model: measure(held, train, feature_model=model))
    _, dist = nearest_training_images(held, train)  # distinct real lesions: how far apart they are
    baseline["memorisation"] = {"min_distance": float(dist.min()), "median_distance": float(np.median(dist))}
    step(1.0, "Done.")
    return report, baseline, source


# One row per measure: name, where it sits in the report, scale, format, the good value, what it says.
MEASURES = [
    ("KID x1000", ("kid",), 1000, "{:.1f}", "as low as real vs real (0 = one distribution)",
     "How far apart the two sets are in the classifier's feature space; unbiased at any sample size, so two "
     "samples of one distribution scatter around 0, below it too: a negative KID reads as no difference found."),
    ("FID", ("fid",), 1, "{:.1f}", "as low as real vs real",
     "The same distance as KID, the number papers quote; it grows when samples are small, so compare it "
     "only with real vs real at the same size."),
    ("precision", ("precision",), 1, "{:.0%}", "near real vs real",
     "Share of generated images that land among real ones in feature space. With few real images their "
     "neighbourhoods are wide, so even blurry blobs can score high: read it with recall and the judges."),
    ("recall", ("recall",), 1, "{:.0%}", "near real vs real",
     "Share of real images that some generated image comes close to: how much of the real variety it covers."),
    ("judge on pixels (CNN)", ("two_sample", "accuracy"), 1, "{:.0%}", "near 50%",
     "How often a small CNN, trained on half the images, tells generated from real in the other half: "
     "50% means it cannot, 100% that they are easy to spot. On a few dozen images a judge that cannot tell "
     "lands anywhere from about 35% to 65% by chance (real vs real shows how far), so only a figure well above "
     "both 50% and real vs real says the images are told apart."),
    ("judge on features", ("two_sample_features", "accuracy"), 1, "{:.0%}", "near 50%",
     "The same test in the classifier's feature space: it sees lesion structure the pixel judge can miss. "
     "Read it the same way: below 50% is chance too."),
    ("nearest training image", ("memorisation", "min_distance"), 1, "{:.3f}", "like real vs real, well above 0",
     "Smallest RMS pixel difference (32 px) between a generated image and a training image: near 0 is a copy."),
]


def _value(report: dict, path: tuple[str, ...]):
    for key in path:
        report = report.get(key) if isinstance(report, dict) else None
    return report


def report_table(report: dict, baseline: dict | None = None) -> pd.DataFrame:
    """The report's figures for people: one row per measure, rounded, next to real vs real on the
    same data, with the value to hope for and what the measure says."""
    rows = []
    for name, path, scale, fmt, good, meaning in MEASURES:
        value = _value(report, path)
        if value is None:
            continue
        reference = _value(baseline or {}, path)
        rows.append({"measure": name, "generated vs real": fmt.format(value * scale),
                     "real vs real": "" if reference is None else fmt.format(reference * scale),
                     "good value": good, "what it says": meaning})
    return pd.DataFrame(rows, columns=["measure", "generated vs real", "real vs real", "good value", "what it says"])


def realism_reading(report: dict, baseline: dict) -> str:
    """The report in one sentence: how easily the judges spot the generated images."""
    def best(r: dict) -> float:
        return max(_value(r, ("two_sample", "accuracy")) or 0, _value(r, ("two_sample_features", "accuracy")) or 0)

    judge, real = best(report), best(baseline)
    verdict = ("they are easy to spot" if judge >= 0.8 else "they are often spotted" if judge >= 0.65
               else "they are hard to tell from real ones")
    return (f"The better judge tells these generated images from real ones {judge:.0%} of the time, where two "
            f"samples of real images give {real:.0%}: {verdict}.")
