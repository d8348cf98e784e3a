"""Grad-CAM: which regions of an image raised the model's score for a class.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from PIL import Image

from skinml.cnn.models import last_conv_layer
from skinml.explain.features import _submodel, prepare_input

# ---------------------------------------------------------------- Grad-CAM

def gradient(fn, x):
    """d sum(fn(x)) / dx, computed by the backend's automatic differentiation."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = ops.sum(fn(x))
        return tape.gradient(y, x)
    if backend == "jax":
        import jax

        return jax.grad(lambda v: ops.sum(fn(v)))(x)
    if backend == "torch":
        import torch

        x = torch.as_tensor(ops.convert_to_numpy(x)).requires_grad_(True)
        ops.sum(fn(x)).backward()
        return x.grad
    raise NotImplementedError(f"Grad-CAM does not know the '{backend}' backend yet.")


def _split_at(model: keras.Model, layer: str) -> tuple[keras.Model, keras.Model, object]:
    """(image -> feature maps of `layer`, feature maps -> input of the output layer, output layer).

    Grad-CAM needs the class *score* before the sigmoid/softmax (a saturated probability
    has no gradient), so the second half stops at the output layer's input and `_logits`
    finishes it.
    """
    output_layer = model.layers[-1]

    def build():
        features = model.get_layer(layer).output
        return (keras.Model(model.inputs[0], features),
                keras.Model(features, output_layer.input))
    first, second = _submodel(model, ("gradcam", layer), build)
    return first, second, output_layer


def _logits(output_layer, x):
    """The class scores the output layer turns into probabilities: (N, units)."""
    if isinstance(output_layer, keras.layers.Dense):  # Dense(activation=...): redo it linearly
        x = ops.matmul(x, output_layer.kernel)
        return x + output_layer.bias if output_layer.use_bias else x
    return x  # an Activation layer (or anything else): its input is already the score


def grad_cam(model: keras.Model, image: np.ndarray, class_index: int | None = None,
             target: str | None = None, layer: str | None = None) -> np.ndarray:
    """Grad-CAM heatmap: float32 (H, W) in [0, 1], the size of `image`.

    `image` is uint8 or float in [0, 1], (H, W, 3). The class is `target` ("malignant" or
    "benign") or `class_index`; default: malignant. For the usual one-unit sigmoid model
    the malignant score is the logit and the benign one its negative. `layer` defaults to
    `models.last_conv_layer(model)`.

    How it works (Selvaraju et al. 2017): A = the layer's feature maps (h, w, K); the
    gradient of the class score with respect to A, averaged over h and w, weighs each
    channel; the heatmap is ReLU(sum_k weight_k * A_k), scaled to [0, 1] and upsampled.
    """
    layer = layer or last_conv_layer(model)
    first, second, output_layer = _split_at(model, layer)
    units = int(model.output_shape[-1])
    if target is not None:
        if target not in ("malignant", "benign"):
            raise ValueError(f"target must be 'malignant' or 'benign', not {target!r}")
        class_index = 1 if target == "malignant" else 0
    class_index = 1 if class_index is None else int(class_index)

    def score(feature_maps):
        logits = _logits(output_layer, second(feature_maps, training=False))
        if units == 1:  # sigmoid: one logit for malignant; benign is its opposite
            return logits[:, 0] if class_index == 1 else -logits[:, 0]
        return logits[:, class_index]

    maps = first(prepare_input(model, image), training=False)
    grads = gradient(score, maps)
    weights = ops.mean(grads, axis=(1, 2), keepdims=True)        # (1, 1, 1, K)
    cam = ops.relu(ops.sum(weights * maps, axis=-1))[0]           # (h, w)
    cam = ops.convert_to_numpy(cam).astype("float32")
    cam = cam / cam.max() if cam.max() > 0 else cam
    height, width = np.asarray(image).shape[:2]
    up = ops.image.resize(cam[None, :, :, None], (height, width), interpolation="bilinear")
    return np.clip(ops.convert_to_numpy(up)[0, :, :, 0], 0, 1).astype("float32")


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
