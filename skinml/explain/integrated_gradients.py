"""Integrated gradients: the class score's gradient summed along a path from plain skin to the image.

Sundararajan et al. 2017. The baseline is the image's own mean colour (a black baseline, the
usual one, gives dark lesion pixels almost no attribution, since it measures each pixel's
difference from black). attribution = (x - baseline) * mean over alpha of
d score / d x at baseline + alpha (x - baseline); its attributions add up to
score(x) - score(baseline) (completeness), which `integrated_gradients(..., raw=True)` lets a
test check. The map shown is the positive part of the per-pixel sum over colour channels.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from skinml.cnn.batcher import yield_to_predictions
from skinml.explain.features import prepare_input
from skinml.explain.scores import compiled, gradient, resolve_class, score_function, upsample


def integrated_gradients(model: keras.Model, image: np.ndarray, class_index: int | None = None,
                         target: str | None = None, steps: int = 32, batch_size: int = 8,
                         raw: bool = False) -> np.ndarray:
    """Integrated-gradients heatmap: float32 (H, W) in [0, 1], the size of `image`.

    `steps` points on the path (midpoint rule), `batch_size` of them per gradient call; between
    two calls the dashboard's predictions go first (`yield_to_predictions`). With
    `raw`, the signed attributions instead: float32 (S, S, 3) at the model's input size.
    The class is chosen as in `gradcam.grad_cam`.
    """
    index = resolve_class(model, target, class_index)
    grad = compiled(model, ("input_gradient", index), lambda: lambda v: gradient(score_function(model, index), v))
    x = prepare_input(model, image)[0]
    baseline = np.broadcast_to(x.mean(axis=(0, 1)), x.shape).astype("float32")
    alphas = (np.arange(steps, dtype="float32") + 0.5) / steps
    total = np.zeros_like(x)
    for start in range(0, steps, batch_size):
        yield_to_predictions()
        a = alphas[start:start + batch_size, None, None, None]
        path = (baseline + a * (x - baseline)).astype("float32")
        total += ops.convert_to_numpy(grad(path)).sum(axis=0)
    attributions = (x - baseline) * total / steps
    if raw:
        return attributions.astype("float32")
    return upsample(attributions.sum(axis=-1), np.asarray(image).shape[:2])
