"""Custom GAN layers (registered serialisable): DiffAugment for the discriminator's input.

DiffAugment (Zhao et al. 2020) applies the same differentiable random colour, translation
and cutout to real and generated images before the discriminator, so that a discriminator
trained on a few thousand images cannot memorise them, while the generator still gets
gradients through the augmentation. Written in `keras.ops` only: TensorFlow and JAX alike.
"""

from __future__ import annotations

import keras
from keras import ops

POLICIES = ("color", "translation", "cutout")


@keras.saving.register_keras_serializable(package="skinml")
class DiffAugment(keras.layers.Layer):
    """Random colour/translation/cutout of float (B, H, W, 3) in [0, 1]; identity unless training.

    `policy` is a comma-separated subset of "color,translation,cutout". Translation moves
    each image by up to `translation` of its size (zero fill); cutout blanks a square of
    `cutout` of its size. The output keeps shape and dtype (colour may leave [0, 1] a little,
    as in the paper: the discriminator sees it, no clipping kills the gradient).
    """

    def __init__(self, policy: str = "color,translation,cutout", translation: float = 0.125,
                 cutout: float = 0.5, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        unknown = set(filter(None, policy.split(","))) - set(POLICIES)
        if unknown:
            raise ValueError(f"Unknown DiffAugment policy {sorted(unknown)}; use {POLICIES}.")
        self.policy, self.translation, self.cutout, self.seed = policy, translation, cutout, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if not training or not self.policy:
            return x
        parts = self.policy.split(",")
        if "color" in parts:
            x = self._color(x)
        if "translation" in parts:
            x = self._translate(x)
        if "cutout" in parts:
            x = self._cutout(x)
        return x

    def _uniform(self, shape):
        return keras.random.uniform(shape, seed=self.seed_generator, dtype=self.compute_dtype)

    def _color(self, x):
        b = ops.shape(x)[0]
        # The paper works on [-1, 1] and shifts brightness by up to +-0.5: +-0.25 here.
        x = x + (self._uniform((b, 1, 1, 1)) - 0.5) * 0.5
        mean = ops.mean(x, axis=-1, keepdims=True)
        x = (x - mean) * (self._uniform((b, 1, 1, 1)) * 2.0) + mean
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        return (x - mean) * (self._uniform((b, 1, 1, 1)) + 0.5) + mean

    def _shift_matrices(self, n: int, b):
        """(B, n, n) matrices T with T[b, i, j] = 1 where j = i - shift[b]: a zero-filled shift."""
        limit = max(1, int(n * self.translation + 0.5))
        shift = ops.cast(ops.floor(self._uniform((b,)) * (2 * limit + 1)), "int32") - limit
        i = ops.arange(n, dtype="int32")
        hit = ops.equal(i[None, None, :], i[None, :, None] - shift[:, None, None])
        return ops.cast(hit, x_dtype(self))

    def _translate(self, x):
        b, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
        x = ops.einsum("bij,bjwc->biwc", self._shift_matrices(h, b), x)
        return ops.einsum("bkj,bijc->bikc", self._shift_matrices(w, b), x)

    def _cutout(self, x):
        b, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
        cy = ops.floor(self._uniform((b, 1, 1, 1)) * h)
        cx = ops.floor(self._uniform((b, 1, 1, 1)) * w)
        rows = ops.reshape(ops.arange(h, dtype=x.dtype), (1, h, 1, 1))
        cols = ops.reshape(ops.arange(w, dtype=x.dtype), (1, 1, w, 1))
        inside = ops.logical_and(ops.abs(rows - cy) < h * self.cutout / 2,
                                 ops.abs(cols - cx) < w * self.cutout / 2)
        return x * (1.0 - ops.cast(inside, x.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "policy": self.policy, "translation": self.translation,
                "cutout": self.cutout, "seed": self.seed}


def x_dtype(layer: keras.layers.Layer) -> str:
    return layer.compute_dtype
