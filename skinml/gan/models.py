"""GANs by name: the thesis's DCGAN, skinml_gan (our default) and skinml_cgan (conditional).

`build_gan(name, image_size=128)` returns a compiled `GAN` (a `keras.Model` whose overridden
`train_step` is one compiled step, TensorFlow or JAX: see `skinml.gan.steps`). Generators
take float32 latents (N, latent_dim) (and, when conditional, int32 labels (N,) with
0 = benign, 1 = malignant) and return float32 (N, H, W, 3) in [0, 1].
A trained generator lives in a folder: `generator.keras` + `gan.json` (`save_generator`,
`load_generator`); the shipped ones are `skinml/assets/gan/` and `skinml/assets/cgan/`.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import keras
import numpy as np
from keras import layers

from skinml import ASSETS
from skinml.data.readers import LABELS
from skinml.errors import ModelError
from skinml.gan.layers import DiffAugment
from skinml.gan.steps import GAN

SHIPPED_GAN, SHIPPED_CGAN = ASSETS / "gan", ASSETS / "cgan"


@dataclass(frozen=True)
class GANSpec:
    """How a GAN is built and trained (saved in gan.json next to the generator)."""

    name: str
    image_size: int = 128
    latent_dim: int = 100
    conditional: bool = False
    loss: str = "bce"            # "bce" (thesis: D real+fake, G fake-as-real), "nonsat", "hinge"
    r1_gamma: float = 0.0         # R1 penalty weight on real images (Mescheder et al. 2018)
    g_lr: float = 1e-4
    d_lr: float = 1e-4
    beta_1: float = 0.9
    beta_2: float = 0.999
    ema_decay: float = 0.0        # 0: no moving average of the generator's weights
    batch_size: int = 64
    diffaugment: str = ""         # DiffAugment policy in front of the discriminator
    flips: bool = True            # random flips/transposes of real images (a lesion has no up)
    width: float = 1.0            # channel multiplier (tests build tiny models with width < 1)
    spectral_norm: bool = True    # spectral normalisation of the discriminator's layers


GANS: dict[str, Callable[..., tuple[keras.Model, keras.Model]]] = {}
SPECS: dict[str, GANSpec] = {}


def register(spec: GANSpec):
    """Decorator: `fn(spec) -> (generator, discriminator)` is built under `spec.name`."""
    def wrap(fn):
        GANS[spec.name], SPECS[spec.name] = fn, spec
        return fn
    return wrap


def spec_for(name: str, **overrides) -> GANSpec:
    """The registered spec of `name` with `overrides` (image_size, width, lrs ...)."""
    if name not in SPECS:
        raise ModelError(f"Unknown GAN '{name}'. Known GANs: {', '.join(sorted(SPECS))}.")
    return replace(SPECS[name], **{k: v for k, v in overrides.items() if v is not None})


def build_gan(name: str, image_size: int = 128, steps_per_execution: int = 1, **overrides) -> GAN:
    """A compiled `GAN` for `name` at `image_size` px (a power of two, at least 16).

    `overrides` replace fields of the registered `GANSpec` (width, batch_size, g_lr ...).
    """
    if image_size < 16 or image_size & (image_size - 1):
        raise ModelError(f"GAN image size must be a power of two of at least 16, not {image_size}.")
    spec = spec_for(name, image_size=image_size, **overrides)
    generator, discriminator = GANS[name](spec)
    ema = GANS[name](spec)[0] if spec.ema_decay else None
    gan = GAN(generator, discriminator, spec, ema_generator=ema)
    gan.compile(steps_per_execution=steps_per_execution)
    return gan


def _c(spec: GANSpec, n: int) -> int:
    return max(4, int(n * spec.width))


# ---- The thesis's DCGAN --------------------------------------------------------------------

@register(GANSpec("thesis_dcgan"))
def build_thesis_dcgan(spec: GANSpec) -> tuple[keras.Model, keras.Model]:
    """THESIS.md's DCGAN: G Dense 32*32*32 -> 2 transposed convs; D 2 strided convs -> logit."""
    s, c = spec.image_size // 4, _c(spec, 32)
    z = keras.Input((spec.latent_dim,), name="latent")
    x = layers.Dense(s * s * c, use_bias=False, name="g_dense")(z)
    x = layers.BatchNormalization(name="g_bn1")(x)
    x = layers.LeakyReLU(name="g_lrelu1")(x)
    x = layers.Reshape((s, s, c), name="g_reshape")(x)
    x = layers.Conv2DTranspose(_c(spec, 16), 5, strides=2, padding="same", use_bias=False, name="g_deconv1")(x)
    x = layers.BatchNormalization(name="g_bn2")(x)
    x = layers.LeakyReLU(name="g_lrelu2")(x)
    out = layers.Conv2DTranspose(3, 5, strides=2, padding="same", activation="sigmoid",
                                 dtype="float32", name="image")(x)
    generator = keras.Model(z, out, name="thesis_dcgan_generator")

    img = keras.Input((spec.image_size, spec.image_size, 3), name="image")
    x = img
    for i, filters in enumerate((64, 128), start=1):
        x = layers.Conv2D(_c(spec, filters), 5, strides=2, padding="same", name=f"d_conv{i}")(x)
        x = layers.LeakyReLU(name=f"d_lrelu{i}")(x)
        x = layers.Dropout(0.3, name=f"d_dropout{i}")(x)
    x = layers.Flatten(name="d_flatten")(x)
    logit = layers.Dense(1, name="logit", dtype="float32")(x)
    return generator, keras.Model(img, logit, name="thesis_dcgan_discriminator")


# ---- Our designs ----------------------------------------------------------------------------

def _widths(spec: GANSpec) -> list[int]:
    """Channels per resolution 4, 8, ..., image_size: wide at low resolution, narrow at high."""
    steps = int(math.log2(spec.image_size // 4))
    return [_c(spec, min(256, 512 // 2 ** k)) for k in range(steps + 1)]


def _generator(spec: GANSpec, label=None, z=None) -> keras.Model:
    """Upsample-then-conv generator (no checkerboard artefacts of transposed convolutions)."""
    widths = _widths(spec)
    inputs = [z]
    x = z
    if label is not None:  # the class enters as a learned embedding next to the latent
        inputs.append(label)
        emb = layers.Flatten(name="g_label_flat")(layers.Embedding(2, 32, name="g_label_embed")(label))
        x = layers.Concatenate(name="g_concat")([z, emb])
    x = layers.Dense(4 * 4 * widths[0], use_bias=False, name="g_dense")(x)
    x = layers.Reshape((4, 4, widths[0]), name="g_reshape")(x)
    x = layers.BatchNormalization(name="g_bn0")(x)
    x = layers.LeakyReLU(0.2, name="g_lrelu0")(x)
    for i, w in enumerate(widths[1:], start=1):
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"g_up{i}")(x)
        x = layers.Conv2D(w, 3, padding="same", use_bias=False, name=f"g_conv{i}")(x)
        x = layers.BatchNormalization(name=f"g_bn{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"g_lrelu{i}")(x)
    out = layers.Conv2D(3, 3, padding="same", activation="sigmoid", dtype="float32", name="image")(x)
    return keras.Model(inputs if label is not None else z, out, name=f"{spec.name}_generator")


def _discriminator(spec: GANSpec, conditional: bool) -> keras.Model:
    """DiffAugment, spectrally normalised strided convs, and (conditional) a projection head."""
    sn = (lambda layer: layers.SpectralNormalization(layer, name=f"sn_{layer.name}")) if spec.spectral_norm \
        else (lambda layer: layer)
    img = keras.Input((spec.image_size, spec.image_size, 3), name="image")
    x = DiffAugment(spec.diffaugment, name="diffaugment")(img) if spec.diffaugment else img
    x = layers.Rescaling(2.0, offset=-1.0, name="d_scale")(x)
    for i, w in enumerate(reversed(_widths(spec)[:-1]), start=1):  # image_size -> 4 px
        x = sn(layers.Conv2D(w, 4, strides=2, padding="same", name=f"d_conv{i}"))(x)
        x = layers.LeakyReLU(0.2, name=f"d_lrelu{i}")(x)
    h = layers.GlobalAveragePooling2D(name="d_pool")(x)
    logit = sn(layers.Dense(1, name="d_dense"))(h)
    if not conditional:
        return keras.Model(img, layers.Activation("linear", dtype="float32", name="logit")(logit),
                           name=f"{spec.name}_discriminator")
    # Projection discriminator (Miyato & Koyama 2018): logit + <embed(label), features>.
    label = keras.Input((1,), dtype="int32", name="label")
    emb = layers.Flatten(name="d_label_flat")(layers.Embedding(2, h.shape[-1], name="d_label_embed")(label))
    proj = layers.Dot(axes=1, name="d_project")([emb, h])
    logit = layers.Add(name="d_add")([logit, proj])
    return keras.Model([img, label], layers.Activation("linear", dtype="float32", name="logit")(logit),
                       name=f"{spec.name}_discriminator")


SKINML_GAN = GANSpec("skinml_gan", latent_dim=128, loss="nonsat", r1_gamma=1.0, g_lr=2e-4, d_lr=2e-4,
                     beta_1=0.0, beta_2=0.99, ema_decay=0.999, batch_size=32,
                     diffaugment="color,translation,cutout")


@register(SKINML_GAN)
def build_skinml_gan(spec: GANSpec) -> tuple[keras.Model, keras.Model]:
    z = keras.Input((spec.latent_dim,), name="latent")
    return _generator(spec, z=z), _discriminator(spec, conditional=False)


@register(replace(SKINML_GAN, name="skinml_cgan", conditional=True))
def build_skinml_cgan(spec: GANSpec) -> tuple[keras.Model, keras.Model]:
    z = keras.Input((spec.latent_dim,), name="latent")
    label = keras.Input((1,), dtype="int32", name="label")
    return _generator(spec, label=label, z=z), _discriminator(spec, conditional=True)


# ---- Generators on disk and sampling ----------------------------------------------------------

def save_generator(folder: str | Path, generator: keras.Model, spec: GANSpec, extra: dict | None = None) -> Path:
    """Write `generator.keras` and `gan.json` (spec + `extra`) to `folder`, atomically."""
    from skinml.io import save_model_atomic, write_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_model_atomic(generator, folder / "generator.keras")
    info = {**asdict(spec), "classes": list(LABELS), **(extra or {})}
    write_atomic(folder / "gan.json", json.dumps(info, indent=2))
    return folder


@dataclass
class Generator:
    """A loaded generator: `model` (Keras), `spec`, `info` (gan.json), `path`."""

    model: keras.Model
    spec: GANSpec
    info: dict
    path: Path | None = None

    def generate(self, latents: np.ndarray, labels=None, batch_size: int = 64) -> np.ndarray:
        """float32 (N, H, W, 3) in [0, 1] for float32 latents (N, latent_dim)."""
        return generate_images(self.model, latents, labels, batch_size)


def load_generator(path: str | Path | None = None, conditional: bool = False) -> Generator:
    """Read a generator folder (or a GAN run directory holding `generator/`); default: shipped."""
    folder = Path(path) if path else (SHIPPED_CGAN if conditional else SHIPPED_GAN)
    if (folder / "generator" / "generator.keras").exists():
        folder = folder / "generator"
    model_file = folder / "generator.keras"
    if not model_file.exists():
        what = "conditional GAN" if conditional else "GAN"
        raise ModelError(f"No trained {what} generator found at {folder}: expected generator.keras "
                         f"and gan.json there (train one with python -m skinml train --kind gan, or pass --model).")
    try:
        model = keras.saving.load_model(model_file, safe_mode=True, compile=False)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:  # a corrupt or foreign file
        raise ModelError(f"Could not load the generator in {model_file}: {exc}") from exc
    info = json.loads((folder / "gan.json").read_text()) if (folder / "gan.json").exists() else {}
    fields = {k: info[k] for k in GANSpec.__dataclass_fields__ if k in info}
    spec = GANSpec(**{"name": model.name, "latent_dim": model.input_shape[-1]
                      if not isinstance(model.input_shape, list) else model.input_shape[0][-1],
                      "image_size": model.output_shape[1], **fields})
    return Generator(model=model, spec=spec, info=info, path=folder)


def generate_images(generator: keras.Model, latents: np.ndarray, labels=None, batch_size: int = 64) -> np.ndarray:
    """Run `generator` on float32 latents (N, D) [and int labels (N,)]: float32 (N, H, W, 3) in [0, 1]."""
    latents = np.asarray(latents, dtype="float32")
    out = []
    for i in range(0, len(latents), batch_size):
        inputs = latents[i:i + batch_size]
        if labels is not None:
            inputs = [inputs, np.asarray(labels, dtype="int32").reshape(-1, 1)[i:i + batch_size]]
        out.append(keras.ops.convert_to_numpy(generator(inputs, training=False)))
    size = generator.output_shape[1]
    return np.concatenate(out).astype("float32") if out else np.zeros((0, size, size, 3), "float32")
