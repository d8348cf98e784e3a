"""Look inside a CNN: feature maps, Grad-CAM heatmaps, and convolution by hand for teaching.

Everything here is backend-agnostic Keras 3 (`keras.ops`); the one thing no Keras API
offers, a gradient with respect to an intermediate tensor, is asked of the backend in
`gradient`, a few lines per backend.
"""

from __future__ import annotations

import threading
import weakref

import keras
import numpy as np
from keras import ops
from PIL import Image

from skinml.models import conv_layer_names, last_conv_layer

_submodels: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_submodels_lock = threading.Lock()


def _submodel(model: keras.Model, key: tuple, build) -> keras.Model:
    """A model derived from `model` (feature extractor, Grad-CAM halves), built once."""
    with _submodels_lock:
        cache = _submodels.setdefault(model, {})
        if key not in cache:
            cache[key] = build()
        return cache[key]


def prepare_input(model: keras.Model, image: np.ndarray) -> np.ndarray:
    """float32 (1, S, S, 3) in [0, 1] for `model` from uint8 or float (H, W, 3) of any size."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(np.asarray(image, dtype="float32") * 255 + 0.5, 0, 255).astype(np.uint8)
    height, width = model.input_shape[1:3]
    if image.shape[:2] != (height, width):
        image = np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))
    return (image.astype("float32") / 255.0)[None]


# ---------------------------------------------------------------- feature maps

def feature_maps(model: keras.Model, image: np.ndarray,
                 layer_names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Activations of conv layers for one image: {layer name: float32 (h, w, channels)}.

    `image` is uint8 or float in [0, 1], (H, W, 3), resized to the model's input when
    needed; `layer_names` defaults to every layer with a 4-D output
    (`models.conv_layer_names`). One forward pass through a model with one output per layer.
    """
    names = tuple(layer_names or conv_layer_names(model))
    extractor = _submodel(model, ("features", names), lambda: keras.Model(
        model.inputs[0], [model.get_layer(n).output for n in names]))
    outputs = extractor(prepare_input(model, image), training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return {n: np.asarray(ops.convert_to_numpy(o))[0] for n, o in zip(names, outputs)}


def scale_channel(channel: np.ndarray) -> np.ndarray:
    """One activation map (h, w) as uint8 0..255, stretched between its own min and max."""
    low, high = float(channel.min()), float(channel.max())
    return ((channel - low) / (high - low) * 255 if high > low else np.zeros_like(channel)).astype(np.uint8)


def tile_channels(maps: np.ndarray, columns: int = 8, gap: int = 1) -> np.ndarray:
    """All channels of one layer's maps (h, w, C) as one grayscale mosaic: uint8 (rows*(h+gap), columns*(w+gap))."""
    h, w, c = maps.shape
    columns = min(columns, c)
    rows = -(-c // columns)
    mosaic = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), 255, np.uint8)
    for k in range(c):
        r, q = divmod(k, columns)
        mosaic[r * (h + gap):r * (h + gap) + h, q * (w + gap):q * (w + gap) + w] = scale_channel(maps[..., k])
    return mosaic


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


# ---------------------------------------------------------------- convolution by hand

KERNELS: dict[str, np.ndarray] = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], float),
    "edge (outline)": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], float),
    "blur (box)": np.full((3, 3), 1 / 9),
    "blur (Gaussian 5x5)": np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float),
    "emboss": np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], float),
    "Sobel (vertical edges)": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float),
    "Sobel (horizontal edges)": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], float),
}


def output_size(n: int, f: int, p: int, s: int) -> int:
    """Side of a convolution's output: (n + 2p - f) // s + 1 (input n, kernel f, padding p, stride s)."""
    return (n + 2 * p - f) // s + 1


def transposed_output_size(n: int, f: int, p: int, s: int) -> int:
    """Side of a transposed convolution's output: (n - 1) * s - 2p + f."""
    return (n - 1) * s - 2 * p + f


def convolve(image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """What a conv layer computes for one channel and one filter: float (H', W').

    `image` float (H, W); `kernel` (f, f); zero `padding` px on each side; `stride` >= 1.
    H' = output_size(H, f, padding, stride). Like every deep-learning library this is a
    cross-correlation: the kernel slides over the image unflipped.
    """
    kernel = np.asarray(kernel, float)
    padded = np.pad(np.asarray(image, float), padding)
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape)[::stride, ::stride]
    return np.einsum("ijkl,kl->ij", windows, kernel)


def transposed_convolve(image: np.ndarray, kernel: np.ndarray, stride: int = 1,
                        padding: int = 0) -> np.ndarray:
    """The "deconvolution" of a DCGAN generator for one channel: float (H', W').

    Each input pixel stamps `kernel` scaled by its value onto the output, `stride` px apart;
    overlaps add up; `padding` px are then cut from each side.
    H' = transposed_output_size(H, f, padding, stride).
    """
    x = np.asarray(image, float)
    kernel = np.asarray(kernel, float)
    f, (h, w) = kernel.shape[0], x.shape
    full = np.zeros(((h - 1) * stride + f, (w - 1) * stride + kernel.shape[1]))
    for a in range(f):
        for b in range(kernel.shape[1]):
            full[a:a + (h - 1) * stride + 1:stride, b:b + (w - 1) * stride + 1:stride] += x * kernel[a, b]
    return full[padding:full.shape[0] - padding, padding:full.shape[1] - padding]
