"""Occlusion sensitivity: cover one patch at a time, see how far the class probability falls.

Zeiler & Fergus 2014. A patch of the image's own mean colour (plain skin, for a dermoscopy
image) slides over the model input; each pixel's heat is the mean drop in the class
probability over the patches that covered it. No gradients, any model: the slowest method
(one forward pass per patch position) and the most literal one.
"""

from __future__ import annotations

import keras
import numpy as np

from skinml.explain.features import prepare_input
from skinml.explain.scores import class_probability, resolve_class, upsample


def occlusion(model: keras.Model, image: np.ndarray, class_index: int | None = None,
              target: str | None = None, patch: int | None = None, stride: int | None = None,
              batch_size: int = 64) -> np.ndarray:
    """Occlusion heatmap: float32 (H, W) in [0, 1], the size of `image` (0 = covering it did not lower
    the probability).

    `patch` (default: an eighth of the model's input side) and `stride` (default: half the
    patch) are in model-input pixels. The class is chosen as in `gradcam.grad_cam`.
    """
    index = resolve_class(model, target, class_index)
    x = prepare_input(model, image)[0]
    side = x.shape[0]
    patch = patch or max(2, side // 8)
    stride = stride or max(1, patch // 2)
    starts = list(range(0, side - patch + 1, stride))
    if starts[-1] != side - patch:  # the last row and column of patches reach the edge
        starts.append(side - patch)
    corners = [(r, c) for r in starts for c in starts]
    fill = x.mean(axis=(0, 1))
    covered = np.repeat(x[None], len(corners), axis=0)
    for k, (r, c) in enumerate(corners):
        covered[k, r:r + patch, c:c + patch] = fill
    p = class_probability(model, np.concatenate([x[None], covered]), index, batch_size)
    drops, counts = np.zeros((side, side)), np.zeros((side, side))
    for (r, c), drop in zip(corners, p[0] - p[1:]):
        drops[r:r + patch, c:c + patch] += drop
        counts[r:r + patch, c:c + patch] += 1
    return upsample(drops / np.maximum(counts, 1), np.asarray(image).shape[:2])
