"""Grad-CAM: which regions of an image raised the model's score for a class.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from PIL import Image

from skinml.cnn.models import last_conv_layer
from skinml.explain.features import _submodel, prepare_input
from skinml.explain.scores import compiled, gradient, n_units, output_logits, pick_class, resolve_class, upsample

# ---------------------------------------------------------------- Grad-CAM

def _split_at(model: keras.Model, layers: tuple[str, ...]) -> tuple[keras.Model, keras.Model]:
    """(image -> feature maps of `layers`, those maps -> input of the output layer).

    Grad-CAM needs the class *score* before the sigmoid/softmax (a saturated probability
    has no gradient), so the second half stops at the output layer's input and
    `scores.output_logits` finishes it. Several layers (one per member of an ensemble) are
    split at together: the second half then takes a list of maps.
    """
    def build():
        features = [model.get_layer(name).output for name in layers]
        features = features[0] if len(features) == 1 else features
        return keras.Model(model.inputs[0], features), keras.Model(features, model.layers[-1].input)
    return _submodel(model, ("gradcam", layers), build)


def layer_gradients(model: keras.Model, image: np.ndarray, index: int,
                    layers: str | list[str] | tuple[str, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(feature maps A (h, w, K), d score / d A (h, w, K))] of one image, one pair per layer."""
    layers = (layers,) if isinstance(layers, str) else tuple(layers)
    first, second = _split_at(model, layers)
    output_layer, units = model.layers[-1], n_units(model)

    def build():
        def maps_and_gradients(x):
            maps = first(x, training=False)
            maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
            score = lambda m: pick_class(output_logits(output_layer, second(m if len(m) > 1 else m[0],
                                                                            training=False)), units, index)
            return maps, gradient(score, maps)
        return maps_and_gradients

    maps, grads = compiled(model, ("layer_gradients", layers, index), build)(prepare_input(model, image))
    return [(ops.convert_to_numpy(a)[0], ops.convert_to_numpy(g)[0]) for a, g in zip(maps, grads)]


def grad_cam(model: keras.Model, image: np.ndarray, class_index: int | None = None,
             target: str | None = None, layer: str | list[str] | None = None) -> np.ndarray:
    """Grad-CAM heatmap: float32 (H, W) in [0, 1], the size of `image`.

    `image` is uint8 or float in [0, 1], (H, W, 3). The class is `target` ("malignant" or
    "benign") or `class_index` (see `scores.resolve_class`); default: malignant. `layer`
    defaults to `models.last_conv_layer(model)`; a list of layers with maps of one size
    (an ensemble's members, see `hirescam.earlier_layers`) adds their maps up.

    How it works (Selvaraju et al. 2017): A = the layer's feature maps (h, w, K); the
    gradient of the class score with respect to A, averaged over h and w, weighs each
    channel; the heatmap is ReLU(sum_k weight_k * A_k), scaled to [0, 1] and upsampled.
    The weights are global: a channel that counts somewhere lights up everywhere it fires.
    """
    index = resolve_class(model, target, class_index)
    pairs = layer_gradients(model, image, index, layer or last_conv_layer(model))
    cam = sum((maps * grads.mean(axis=(0, 1))).sum(axis=-1) for maps, grads in pairs)
    return upsample(cam, np.asarray(image).shape[:2])


# Colour map for heatmaps: plotly's "Jet" anchors (blue = low, red = high).
_JET = np.array([[0, 0, 131], [0, 60, 170], [5, 255, 255], [255, 255, 0], [250, 0, 0], [128, 0, 0]], float)


def colorize(heatmap: np.ndarray) -> np.ndarray:
    """float (H, W) in [0, 1] -> uint8 (H, W, 3) in the Jet colour map."""
    stops = np.linspace(0, 1, len(_JET))
    h = np.clip(np.asarray(heatmap, float), 0, 1)
    return np.stack([np.interp(h, stops, _JET[:, c]) for c in range(3)], -1).astype(np.uint8)


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """Blend a heatmap over an image: uint8 (H, W, 3).

    `image` uint8 (H, W, 3) or float in [0, 1]; `heatmap` float (h, w) in [0, 1], resized to
    (H, W); `alpha` in [0, 1] is the heatmap's opacity.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    if heatmap.shape != image.shape[:2]:
        heatmap = np.asarray(Image.fromarray(np.asarray(heatmap, "float32"), "F").resize(
            image.shape[1::-1], Image.Resampling.BILINEAR))
    blend = (1 - alpha) * image.astype(float) + alpha * colorize(heatmap).astype(float)
    return np.clip(blend + 0.5, 0, 255).astype(np.uint8)
