"""Data augmentation as Keras preprocessing layers: backend-agnostic (TensorFlow or JAX).

Augmenters work per batch on float32 (B, H, W, 3) in [0, 1], return the same shape clipped
to [0, 1], and are active only when called with training=True (inside `fit`), so a model
that contains one predicts on the unchanged image.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from skinml.errors import SkinmlError

STRENGTHS = ("none", "thesis", "light", "crop", "strong")


def build_augmenter(strength: str = "strong", seed: int | None = None, name: str = "augment") -> keras.Sequential:
    """Random flips, rotation, zoom and colour changes; `strength` picks how much.

    "thesis": flips, rotation and zoom of 10%, contrast 10% (the thesis's augmentation).
    "strong": a lesion has no up or down, so every flip and any rotation, zoom of 20%,
    translation, brightness, contrast, saturation and hue jitter: what works on small
    dermoscopy sets. "light": the eight flips and quarter turns and the colour jitter only,
    with no resampling, so it is cheap on any device. "crop": "light" plus one random resized
    crop with a small rotation per image, all in a single resampling (as strong as "strong",
    and fast under JAX on a GPU, where three resampling layers in a row are slow).
    "none": the identity.
    """
    if strength not in STRENGTHS:
        raise SkinmlError(f"Unknown augmentation '{strength}': use one of {', '.join(STRENGTHS)}.")
    stack: list[layers.Layer] = []
    if strength == "thesis":
        stack = [
            layers.RandomFlip("horizontal_and_vertical", seed=seed),
            layers.RandomRotation(0.1, fill_mode="reflect", seed=seed),
            layers.RandomZoom(0.1, fill_mode="reflect", seed=seed),
            layers.RandomContrast(0.1, value_range=(0, 1), seed=seed),
        ]
    elif strength == "light":
        stack = [
            RandomTranspose(seed=seed),
            layers.RandomFlip("horizontal_and_vertical", seed=seed),
            layers.RandomBrightness(0.1, value_range=(0, 1), seed=seed),
            layers.RandomContrast(0.2, value_range=(0, 1), seed=seed),
            layers.RandomSaturation((0.4, 0.6), value_range=(0, 1), seed=seed),
            layers.RandomHue(0.02, value_range=(0, 1), seed=seed),
        ]
    elif strength == "crop":
        stack = [
            RandomTranspose(seed=seed),
            layers.RandomFlip("horizontal_and_vertical", seed=seed),
            RandomResizedCrop(seed=seed),
            layers.RandomBrightness(0.1, value_range=(0, 1), seed=seed),
            layers.RandomContrast(0.2, value_range=(0, 1), seed=seed),
            layers.RandomSaturation((0.4, 0.6), value_range=(0, 1), seed=seed),
            layers.RandomHue(0.02, value_range=(0, 1), seed=seed),
        ]
    elif strength == "strong":
        stack = [
            layers.RandomFlip("horizontal_and_vertical", seed=seed),
            layers.RandomRotation(0.5, fill_mode="reflect", seed=seed),
            layers.RandomZoom((-0.2, 0.1), fill_mode="reflect", seed=seed),
            layers.RandomTranslation(0.05, 0.05, fill_mode="reflect", seed=seed),
            layers.RandomBrightness(0.1, value_range=(0, 1), seed=seed),
            layers.RandomContrast(0.2, value_range=(0, 1), seed=seed),
            layers.RandomSaturation((0.4, 0.6), value_range=(0, 1), seed=seed),
            layers.RandomHue(0.02, value_range=(0, 1), seed=seed),
        ]
    # Colour jitter may leave [0, 1] slightly: ReLU(max_value=1) is a serialisable clip
    # (no Lambda layers), and keeps "none" a valid one-layer identity.
    stack.append(layers.ReLU(max_value=1.0, name=f"{name}_clip"))
    return keras.Sequential(stack, name=name)


@keras.saving.register_keras_serializable(package="skinml")
class RandomTranspose(layers.Layer):
    """Swap height and width of a random half of the images of a square batch.

    With horizontal and vertical flips this gives all eight quarter turns and mirrorings,
    without any resampling.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=True):
        if not training:
            return x
        swap = keras.random.uniform((keras.ops.shape(x)[0], 1, 1, 1), seed=self.generator) < 0.5
        return keras.ops.where(swap, keras.ops.transpose(x, (0, 2, 1, 3)), x)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="skinml")
class RandomResizedCrop(layers.Layer):
    """Per image: a random crop of `area` of the image (aspect in `aspect`), rotated by up to
    `rotation` of a full turn, resized back to the input size, in one bilinear resampling.

    The crop lies inside the image (reflected at the border where the rotation reaches past
    it). One `keras.ops.image.affine_transform` per batch: any backend, on the device.
    """

    def __init__(self, area=(0.65, 1.0), aspect=(3 / 4, 4 / 3), rotation: float = 0.125,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.area, self.aspect, self.rotation, self.seed = tuple(area), tuple(aspect), rotation, seed
        self.generator = keras.random.SeedGenerator(seed)

    def transforms(self, batch: int, height: int, width: int):
        """(batch, 8) transforms mapping output to input pixels (`affine_transform`'s form)."""
        ops, rand = keras.ops, lambda lo, hi: keras.random.uniform((batch,), lo, hi, seed=self.generator)
        area = rand(*self.area)
        log_aspect = rand(math.log(self.aspect[0]), math.log(self.aspect[1]))
        sx = ops.minimum(1.0, ops.sqrt(area * ops.exp(log_aspect)))  # crop width / image width
        sy = ops.minimum(1.0, ops.sqrt(area / ops.exp(log_aspect)))
        tx = rand(-1.0, 1.0) * (1.0 - sx) * width / 2  # crop centre, inside the image
        ty = rand(-1.0, 1.0) * (1.0 - sy) * height / 2
        angle = rand(-1.0, 1.0) * self.rotation * 2 * math.pi
        cos, sin = ops.cos(angle), ops.sin(angle)
        a0, a1, b0, b1 = cos * sx, -sin * sy, sin * sx, cos * sy
        cx, cy = (width - 1) / 2, (height - 1) / 2
        a2 = cx + tx - a0 * cx - a1 * cy
        b2 = cy + ty - b0 * cx - b1 * cy
        zero = ops.zeros_like(a0)
        return ops.stack([a0, a1, a2, b0, b1, b2, zero, zero], axis=1)

    def call(self, x, training=True):
        if not training:
            return x
        shape = keras.ops.shape(x)
        t = self.transforms(shape[0], x.shape[1], x.shape[2])
        return keras.ops.image.affine_transform(x, keras.ops.cast(t, x.dtype), fill_mode="reflect")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "area": self.area, "aspect": self.aspect,
                "rotation": self.rotation, "seed": self.seed}
