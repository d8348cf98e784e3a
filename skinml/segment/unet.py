"""The U-Net (Ronneberger et al. 2015) that outlines a lesion, with its loss and measure.

Input float32 (N, S, S, 3) in [0, 1]; output float32 (N, S, S, 1), the probability that each
pixel is lesion. Every layer is named (enc1_conv1, ..., bottleneck_conv2, dec1_up, ...,
mask) so that explanations can find them; no Lambda layers, so `safe_mode=True` loads it.
"""

from __future__ import annotations

import keras
from keras import layers, ops


def _conv_block(x, filters: int, name: str):
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return x


def build_unet(image_size: int = 128, filters: tuple[int, ...] = (12, 24, 48, 96, 192),
               name: str = "unet") -> keras.Model:
    """A U-Net with len(filters) - 1 down-sampling levels; filters[-1] is the bottleneck's width."""
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inputs)  # [0, 1] -> [-1, 1]
    skips = []
    for level, width in enumerate(filters[:-1], start=1):
        x = _conv_block(x, width, f"enc{level}")
        skips.append(x)
        x = layers.MaxPooling2D(name=f"enc{level}_pool")(x)
    x = _conv_block(x, filters[-1], "bottleneck")
    for level in range(len(skips), 0, -1):
        width = filters[level - 1]
        x = layers.Conv2DTranspose(width, 2, strides=2, name=f"dec{level}_up")(x)
        x = layers.Concatenate(name=f"dec{level}_concat")([x, skips[level - 1]])
        x = _conv_block(x, width, f"dec{level}")
    outputs = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="mask")(x)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="skinml")
def dice_bce_loss(y_true, y_pred):
    """Binary cross-entropy per pixel plus (1 - soft Dice) per image: float32 (N,).

    Cross-entropy gives every pixel a gradient; Dice weighs a small lesion as much as a large
    one, which cross-entropy alone would not.
    """
    y_true = ops.cast(y_true, y_pred.dtype)
    bce = ops.mean(keras.losses.binary_crossentropy(y_true, y_pred), axis=(1, 2))
    inter = ops.sum(y_true * y_pred, axis=(1, 2, 3))
    total = ops.sum(y_true, axis=(1, 2, 3)) + ops.sum(y_pred, axis=(1, 2, 3))
    return bce + 1.0 - (2.0 * inter + 1.0) / (total + 1.0)


@keras.saving.register_keras_serializable(package="skinml")
def jaccard(y_true, y_pred):
    """Per-image Jaccard index of the mask thresholded at 0.5: float32 (N,) in [0, 1].

    Keras averages it over images, so `val_jaccard` is ISIC's mean Jaccard; an image with no
    lesion in either mask scores 1.
    """
    truth = ops.cast(y_true > 0.5, "float32")
    pred = ops.cast(y_pred > 0.5, "float32")
    inter = ops.sum(truth * pred, axis=(1, 2, 3))
    union = ops.sum(ops.maximum(truth, pred), axis=(1, 2, 3))
    return ops.where(union > 0, inter / ops.maximum(union, 1.0), 1.0)
