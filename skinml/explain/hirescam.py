"""HiResCAM on an earlier layer: a class activation map at twice Grad-CAM's resolution.

Grad-CAM on the shipped ensemble looks at 4x4 feature maps (128 px in, 32 px per cell), so
its peak can only land on one of sixteen blocks. One stage earlier the maps are 8x8. There,
Grad-CAM's global channel weights blur what the layer knows (a channel that matters in one
place lights up wherever it fires), so this module keeps the gradient where it is:
HiResCAM (Draelos & Carin 2020) multiplies each feature map by its own gradient, position by
position, then sums over channels: ReLU(sum_k dScore/dA_k * A_k).
"""

from __future__ import annotations

import re

import keras
import numpy as np
from keras import layers as kl

from skinml.cnn.models import last_conv_layer
from skinml.explain.gradcam import layer_gradients
from skinml.explain.scores import resolve_class, upsample

_NOT_FEATURES = (kl.InputLayer, kl.MaxPooling2D, kl.AveragePooling2D, kl.Dropout)


def earlier_layers(model: keras.Model, factor: int = 2) -> list[str]:
    """The last feature layer whose maps are `factor` times the size of `last_conv_layer`'s,
    one per ensemble member (`member1_...`, `member2_...`): `stage3_block2_out` in skinml_resnet,
    `conv2` in the thesis CNNs."""
    size = model.get_layer(last_conv_layer(model)).output.shape[1] * factor
    last_of_member: dict[str, str] = {}
    for layer in model.layers:  # topological order: a later layer of a member replaces an earlier one
        shape = layer.output.shape if not isinstance(layer, (keras.Model, *_NOT_FEATURES)) else ()
        if len(shape) == 4 and shape[1] == size:
            member = re.match(r"(member\d+_)?", layer.name).group(0)
            last_of_member[member] = layer.name
    if not last_of_member:
        raise ValueError(f"{model.name} has no feature maps of {size} px, {factor} times its last ones.")
    return list(last_of_member.values())


def hires_cam(model: keras.Model, image: np.ndarray, class_index: int | None = None,
              target: str | None = None, layer: str | list[str] | None = None) -> np.ndarray:
    """HiResCAM heatmap: float32 (H, W) in [0, 1], the size of `image`.

    Same arguments as `gradcam.grad_cam`; `layer` defaults to `earlier_layers(model)`.
    """
    index = resolve_class(model, target, class_index)
    pairs = layer_gradients(model, image, index, layer or earlier_layers(model))
    cam = sum((maps * grads).sum(axis=-1) for maps, grads in pairs)
    return upsample(cam, np.asarray(image).shape[:2])
