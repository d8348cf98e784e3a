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

from skinml.cnn.models import conv_layer_names

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
    height, width = model.inputs[0].shape[1:3]  # the image input (a metadata model has a second one)
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
