"""Train a GAN into a run directory: checkpoints, sample grids, losses, GIF, resume after a kill.

Run directory (every file written atomically, so a killed run never leaves half a file):
`config.json`, `state.json` (last complete epoch, images seen, seconds), `status` + `pid`
(as classifier runs, kept by `skinml.runs.train.fit_gan`, which calls `fit_run` here),
`gan.weights.h5` (everything needed to resume: both networks, EMA, both optimizers, the
seed), `generator/` (generator.keras + gan.json, the EMA generator when the spec keeps one),
`discriminator.keras`, `samples/epoch_XXXX.png` (a grid from a fixed latent seed),
`losses.csv`, `training.gif`, `holdout.npy` (indices never trained on: whole lesions, so no
photo of a held-out lesion is trained on).
Only NumPy, Pillow and Keras on the `--data-npz` path: it runs where there is no TensorFlow.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from skinml.errors import DataError, ModelError
from skinml.io import (
    read_json,
    save_model_atomic,
    save_weights_atomic,
    write_atomic,
    write_csv,
    write_json,
    write_npy,
    write_png,
)

LABEL_CODES = {"benign": 0, "malignant": 1}  # everything else: -1 (unknown, indeterminate)
GRID = 4  # samples/epoch_XXXX.png is GRID x GRID images
GIF_EVERY = 10  # training.gif is remade every GIF_EVERY epochs and at the end


@dataclass(frozen=True)
class GANConfig:
    """A GAN training run: the model, the data and the budget (argparse is built from this)."""

    model: str = "skinml_gan"
    epochs: int = 100
    image_size: int = 128
    batch_size: int = 0               # 0: the model's own (64 for the thesis's DCGAN)
    width: float = 1.0                # channel multiplier of skinml_gan/skinml_cgan
    spectral_norm: bool = True        # spectral normalisation of the discriminator (the shipped ones: off)
    data_dir: str = ""                # an ISIC folder (any layout skinml.data reads)
    data_npz: str = ""                # or a .npz: images uint8 (N, H, W, 3), labels int (N,)
    data_pack: str = ""               # or an image pack (skinml.pack): its test split is held out
    holdout: float = 0.1              # fraction never trained on (for the two-sample test)
    run_dir: str = ""
    seed: int = 0
    time_budget: float = 0.0          # seconds; 0 = no limit (stops after the epoch in progress)
    steps_per_execution: int = 1
    max_images: int = 0               # 0: all

    @classmethod
    def from_dict(cls, d: dict) -> GANConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def load_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`images` uint8 (N, H, W, 3), `labels` int (N,) (0 benign, 1 malignant, -1 other) and
    `groups` str (N,): the lesion each image shows (`skinml.data.policy.group_key`).

    The file holds either `images` (uint8 (N, H, W, 3)) or JPEG-packed `jpeg` (uint8 bytes of
    all files one after another) + `offsets` (int64 (N + 1,)), five times smaller; `groups`
    when it was written by `export_npz` (a file without them: every image is its own group).
    """
    from PIL import Image

    try:
        with np.load(path, allow_pickle=False) as f:
            if "jpeg" in f:
                data, offsets = f["jpeg"], f["offsets"]
                images = np.stack([np.asarray(Image.open(io.BytesIO(data[a:b].tobytes())).convert("RGB"))
                                   for a, b in zip(offsets[:-1], offsets[1:])])
            else:
                images = f["images"]
            labels = f["labels"] if "labels" in f else np.full(len(images), -1)
            groups = f["groups"].astype(str) if "groups" in f else np.array([f"image:{i}" for i in range(len(images))])
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"Could not read {path}: a .npz with an `images` (or `jpeg` + `offsets`) "
                        f"array is needed ({exc}).") from exc
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise DataError(f"{path}: `images` must be uint8 (N, H, W, 3), not {images.dtype} {images.shape}.")
    return images, np.asarray(labels).astype("int32").reshape(-1), groups


def load_folder(data_dir: str | Path, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All GAN-usable images of an ISIC folder, or of several joined by os.pathsep (as the dashboard's
    session dataset: one row per ISIC id), unknown/indeterminate labels kept: uint8 images, labels and
    lesion groups (`skinml.data.policy.group_key`), as `load_npz`."""
    from skinml.data.policy import DataPolicy, apply_policy, folders_of, group_key
    from skinml.data.readers import load_datasets
    from skinml.images.pipeline import load_array

    df, _ = apply_policy(load_datasets(folders_of(str(data_dir))), DataPolicy.for_gan())
    if df.empty:
        raise DataError(f"No usable images in {data_dir}.")
    labels = df["benign_malignant"].map(LABEL_CODES).fillna(-1).to_numpy("int32")
    return load_array(df["image_path"].tolist(), size=size), labels, group_key(df).to_numpy(str)


def export_npz(data_dir: str | Path, out: str | Path, size: int = 128, jpeg_quality: int = 0) -> Path:
    """Write an ISIC folder's GAN images as a .npz for `--data-npz` (e.g. for a GPU machine).

    `jpeg_quality` 0 stores raw uint8 pixels; 1..100 stores JPEG-packed bytes (smaller).
    """
    from PIL import Image

    images, labels, groups = load_folder(data_dir, size)
    if not jpeg_quality:
        np.savez(out, images=np.asarray(images), labels=labels, groups=groups)
        return Path(out)
    blobs = []
    for im in images:
        buf = io.BytesIO()
        Image.fromarray(np.asarray(im)).save(buf, format="JPEG", quality=jpeg_quality)
        blobs.append(np.frombuffer(buf.getvalue(), "uint8"))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype("int64")
    np.savez(out, jpeg=np.concatenate(blobs), offsets=offsets, labels=labels, groups=groups)
    return Path(out)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, h, w, 3) -> uint8 (N, size, size, 3), bilinear (as the thesis), no-op if equal."""
    if images.shape[1:3] == (size, size):
        return images
    from PIL import Image
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in images])


def split_holdout(groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, holdout) index arrays that keep each group (lesion) whole: whole groups,
    in a seeded order, are held out until they hold `fraction` of the images (at least one
    image when there are two or more groups)."""
    groups = np.asarray(groups)
    names, codes = np.unique(groups, return_inverse=True)
    if len(names) < 2:
        return np.arange(len(groups)), np.array([], dtype=int)
    sizes = np.bincount(codes)
    order = np.random.default_rng(seed).permutation(len(names))
    taken = np.cumsum(sizes[order])
    k = min(len(names) - 1, max(1, int(np.searchsorted(taken, round(len(groups) * fraction)) + 1)))
    held = np.isin(codes, order[:k]) if fraction > 0 else np.zeros(len(groups), bool)
    return np.flatnonzero(~held), np.flatnonzero(held)


def fixed_latents(latent_dim: int, n: int = GRID * GRID, seed: int = 1234) -> tuple[np.ndarray, np.ndarray]:
    """The grid's fixed float32 latents (n, latent_dim) and labels (alternating benign/malignant)."""
    return (np.random.default_rng(seed).standard_normal((n, latent_dim)).astype("float32"),
            np.arange(n, dtype="int32") % 2)


def image_grid(images: np.ndarray, cols: int = GRID) -> np.ndarray:
    """float (N, H, W, 3) in [0, 1] -> uint8 grid image (rows*H, cols*W, 3)."""
    n, h, w, _ = images.shape
    rows = -(-n // cols)
    grid = np.ones((rows * h, cols * w, 3), "float32")
    for i, im in enumerate(images):
        grid[(i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w] = im
    return (np.clip(grid, 0, 1) * 255).round().astype("uint8")


def write_gif(run_dir: Path, max_frames: int = 120, frame_px: int = 256) -> Path | None:
    """`training.gif` from the epoch grids (evenly thinned to `max_frames`); None without imageio."""
    from PIL import Image
    try:
        import imageio.v2 as imageio
    except ImportError:  # a bare GPU machine: the grids are enough, the GIF can be made later
        return None

    frames = sorted((run_dir / "samples").glob("epoch_*.png"))
    if not frames:
        return None
    frames = [frames[int(i)] for i in np.unique(np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).round())]
    imgs = [np.asarray(Image.open(f).convert("RGB").resize((frame_px, frame_px))) for f in frames]
    buf = io.BytesIO()
    imageio.mimsave(buf, imgs, format="GIF", duration=0.2, loop=0)
    write_atomic(run_dir / "training.gif", buf.getvalue())
    return run_dir / "training.gif"


def read_state(run_dir: str | Path) -> dict:
    """The run's state.json ({} before the first epoch)."""
    return read_json(Path(run_dir) / "state.json", {}) or {}


def read_losses(run_dir: str | Path) -> list[dict]:
    """Rows of losses.csv as dicts of floats (epoch, d_loss, g_loss, r1, d_real, d_fake, ...)."""
    path = Path(run_dir) / "losses.csv"
    if not path.exists():
        return []
    with open(path) as f:
        rows = [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
    return [{**r, "epoch": int(r.get("epoch", 0))} for r in rows]


def load_training_data(config: GANConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 images (N, size, size, 3), labels int (N,) and lesion groups str (N,) of the
    config's pack, npz or folder."""
    if config.data_pack:
        from skinml.data.policy import group_key
        from skinml.images.pack import read_pack
        index, images = read_pack(config.data_pack)
        labels = index["benign_malignant"].map(LABEL_CODES).fillna(-1).to_numpy("int32")
        groups = group_key(index).to_numpy(str) if {"patient_id", "lesion_id"} <= set(index) else \
            index["isic_id"].to_numpy(str)
    elif config.data_npz:
        images, labels, groups = load_npz(config.data_npz)
    elif config.data_dir:
        images, labels, groups = load_folder(config.data_dir, config.image_size)
    else:
        raise DataError("Give the training images: --data-dir FOLDER, --data-npz FILE.npz or --data-pack FOLDER.")
    if config.max_images:
        images, labels, groups = images[:config.max_images], labels[:config.max_images], groups[:config.max_images]
    return resize_images(np.asarray(images), config.image_size), labels, np.asarray(groups)


def holdout_indices(config: GANConfig, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(train, holdout) indices: a pack's test split (lesion-grouped), else a seeded share of
    whole lesions (`split_holdout`)."""
    if config.data_pack:
        import pandas as pd

        split = pd.read_csv(Path(config.data_pack) / "index.csv", dtype=str, keep_default_na=False)["split"]
        test = split.to_numpy()[:len(groups)] == "test"
        return np.flatnonzero(~test), np.flatnonzero(test)
    return split_holdout(groups, config.holdout, config.seed)


def fit_run(config: GANConfig, run_dir: Path, on_progress=None):
    """Train the GAN run in `run_dir` after its last complete epoch; returns the trained `GAN`.

    `config` is the run's resolved config (written to config.json by the caller, which holds
    the run's lock and keeps its status: `skinml.runs.train.fit_gan`). Resumes from
    `gan.weights.h5` and `state.json` when they exist, with the same optimizer state and the
    same fixed sample latents.
    """
    import keras

    from skinml.gan.models import build_gan, save_generator
    from skinml.progress import ProgressCallback

    (run_dir / "samples").mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    images, labels, groups = load_training_data(config)
    train_idx, holdout_idx = holdout_indices(config, groups)
    write_npy(run_dir / "holdout.npy", holdout_idx)
    gan = build_gan(config.model, image_size=config.image_size, width=config.width,
                    batch_size=config.batch_size or None, steps_per_execution=config.steps_per_execution,
                    spectral_norm=config.spectral_norm)
    spec = gan.spec
    x, y = images[train_idx], labels[train_idx]
    if spec.conditional:
        keep = y >= 0
        x, y = x[keep], y[keep]
    if len(x) < spec.batch_size:
        raise DataError(f"Only {len(x)} training images: at least one batch ({spec.batch_size}) is needed.")

    state = read_state(run_dir)
    if not state and (run_dir / "state.json").exists():  # never start again over a damaged record
        raise ModelError(f"{run_dir / 'state.json'} is damaged (not a whole JSON record), so the run cannot resume "
                         "safely. Nothing was deleted: restore the file, or start the run in a new folder.")
    initial_epoch = int(state.get("epoch", 0))
    if initial_epoch and (run_dir / "gan.weights.h5").exists():
        try:
            gan.load_weights(run_dir / "gan.weights.h5")
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"{run_dir / 'gan.weights.h5'} cannot be read ({exc}), so the run cannot resume. "
                             "Nothing was deleted: its generator/ folder still holds the last epoch's generator.") \
                from None
    z_fixed, label_fixed = fixed_latents(spec.latent_dim)
    losses = [r for r in read_losses(run_dir) if r.get("epoch", 0) <= initial_epoch]
    steps = len(x) // spec.batch_size
    started = time.time()
    base_seconds = float(state.get("seconds", 0.0))

    class Checkpoint(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.time()

        def on_train_batch_end(self, batch, logs=None):
            if config.time_budget and time.time() - started > config.time_budget:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.time() - self.t0
            done = epoch + 1
            samples = gan.sampler([z_fixed, label_fixed[:, None]] if spec.conditional else z_fixed, training=False)
            write_png(run_dir / "samples" / f"epoch_{done:04d}.png",
                             image_grid(keras.ops.convert_to_numpy(samples)))
            save_weights_atomic(gan, run_dir / "gan.weights.h5")
            save_generator(run_dir / "generator", gan.sampler, spec,
                           {"epochs": done, "images_seen": done * steps * spec.batch_size,
                            "training_images": int(len(x)), "backend": keras.backend.backend()})
            save_model_atomic(gan.discriminator, run_dir / "discriminator.keras")
            losses.append({"epoch": done, **{k: round(float(v), 5) for k, v in (logs or {}).items()},
                           "seconds": round(seconds, 2),
                           "images_per_second": round(steps * spec.batch_size / max(seconds, 1e-9), 1)})
            write_csv(run_dir / "losses.csv", losses)
            if done % GIF_EVERY == 0:
                write_gif(run_dir)
            write_json(run_dir / "state.json", {
                "epoch": done, "epochs": config.epochs, "images_seen": done * steps * spec.batch_size,
                "seconds": round(base_seconds + time.time() - started, 1), "model": spec.name,
                "training_images": int(len(x)), "holdout_images": int(len(holdout_idx))})

    callbacks = [Checkpoint()]
    if on_progress is not None:
        callbacks.append(ProgressCallback(on_progress, config.epochs, steps, initial_epoch))
    try:
        if initial_epoch < config.epochs:
            gan.fit(x, y if spec.conditional else None, batch_size=spec.batch_size, epochs=config.epochs,
                    initial_epoch=initial_epoch, callbacks=callbacks, verbose=0, shuffle=True)
    finally:  # the animation of every epoch so far, also when stopped
        write_gif(run_dir)
    return gan
