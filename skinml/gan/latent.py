"""The latent space: seeded samples, linear and spherical walks, vector arithmetic, GIF export.

Latents are float32 (D,) or (N, D) vectors drawn from a standard normal; one seed gives one
latent (`latent_for_seed`), so a sample can be named and found again by its seed.
"""

from __future__ import annotations

import io

import numpy as np

METHODS = ("lerp", "slerp")


def latent_for_seed(seed: int, dim: int) -> np.ndarray:
    """The float32 (dim,) latent of `seed`."""
    return np.random.default_rng(int(seed)).standard_normal(dim).astype("float32")


def sample_latents(seeds, dim: int) -> np.ndarray:
    """float32 (len(seeds), dim): one latent per seed."""
    return np.stack([latent_for_seed(s, dim) for s in seeds]) if len(seeds) else np.zeros((0, dim), "float32")


def lerp(z0: np.ndarray, z1: np.ndarray, steps: int) -> np.ndarray:
    """float32 (steps, D) on the straight line from z0 to z1; the endpoints are exactly z0, z1."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    out = (1 - t) * np.asarray(z0, "float64") + t * np.asarray(z1, "float64")
    out[0], out[-1] = z0, z1
    return out.astype("float32")


def slerp(z0: np.ndarray, z1: np.ndarray, steps: int) -> np.ndarray:
    """float32 (steps, D): spherical walk from z0 to z1.

    The direction turns along the great circle between the two and the norm changes
    linearly, so when |z0| = |z1| every point keeps that norm (a straight line would cut
    through the low-norm interior, where a Gaussian latent almost never lies).
    """
    z0, z1 = np.asarray(z0, "float64"), np.asarray(z1, "float64")
    n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
    u0, u1 = z0 / max(n0, 1e-12), z1 / max(n1, 1e-12)
    omega = np.arccos(np.clip(u0 @ u1, -1.0, 1.0))
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if omega < 1e-6:
        direction = (1 - t) * u0 + t * u1
    else:
        direction = (np.sin((1 - t) * omega) * u0 + np.sin(t * omega) * u1) / np.sin(omega)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    out = direction * ((1 - t) * n0 + t * n1)
    out[0], out[-1] = z0, z1
    return out.astype("float32")


def interpolate(z0: np.ndarray, z1: np.ndarray, steps: int = 16, method: str = "slerp") -> np.ndarray:
    """`lerp` or `slerp` (float32 (steps, D))."""
    if method not in METHODS:
        raise ValueError(f"Unknown interpolation '{method}'; use one of {METHODS}.")
    return (slerp if method == "slerp" else lerp)(z0, z1, steps)


def average_latents(latents: np.ndarray) -> np.ndarray:
    """The mean float32 (D,) of a group of latents (N, D): the group's 'concept'."""
    return np.asarray(latents, "float32").reshape(-1, np.shape(latents)[-1]).mean(axis=0)


def combine_groups(groups: list[np.ndarray], signs: list[int]) -> np.ndarray:
    """Vector arithmetic: sum of sign * mean(group), e.g. A - B + C; float32 (D,)."""
    if not groups or len(groups) != len(signs):
        raise ValueError("Give one sign (+1 or -1) per non-empty group.")
    return np.sum([s * average_latents(g) for g, s in zip(groups, signs)], axis=0).astype("float32")


def walk_labels(generator, z: np.ndarray, steps: int = 9) -> np.ndarray:
    """Conditional generator: the same latent from benign (t=0) to malignant (t=1).

    The label embedding is interpolated between the two classes' learned vectors, and the
    rest of the generator runs unchanged. float32 (steps, H, W, 3) in [0, 1].
    """
    import keras

    embed = generator.get_layer("g_label_embed").get_weights()[0]  # (2, E)
    t = np.linspace(0.0, 1.0, steps, dtype="float32")[:, None]
    mixed = (1 - t) * embed[0] + t * embed[1]
    x = np.concatenate([np.repeat(np.asarray(z, "float32").reshape(1, -1), steps, 0), mixed], axis=1)
    names = [layer.name for layer in generator.layers]
    for layer in generator.layers[names.index("g_concat") + 1:]:
        x = layer(x, training=False)
    return keras.ops.convert_to_numpy(x).astype("float32")


def to_gif(images: np.ndarray, fps: float = 8.0, boomerang: bool = True, size: int | None = None) -> bytes:
    """An animated GIF (bytes) of float (N, H, W, 3) in [0, 1]; `boomerang` plays back and forth;
    `size` enlarges (or shrinks) the frames to that many px wide, for a projector.

    Pillow with its fast colour quantiser: about 0.1 s for 12 frames of 256 px (imageio's
    encoder took 0.6 s for 128 px).
    """
    from PIL import Image

    frames = [Image.fromarray(f) for f in (np.clip(images, 0, 1) * 255).round().astype("uint8")]
    if size and frames and frames[0].width != size:
        height = round(size * frames[0].height / frames[0].width)
        frames = [f.resize((size, height), Image.Resampling.BICUBIC) for f in frames]
    if boomerang and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    frames = [f.quantize(colors=256, method=Image.Quantize.FASTOCTREE) for f in frames]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0)
    return buf.getvalue()
