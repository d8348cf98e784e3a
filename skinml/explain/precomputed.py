"""Heatmaps of the built-in example photos, computed once when a model is shipped and read back by the pages.

The dashboard's examples include four drawn lesions (`example_photos`); on a first visit their
heatmaps (occlusion and integrated gradients take seconds each on a CPU) made Inside the CNN
and the clinician's page slow. `precompute_example_maps(classifier, folder)` computes every
method's map of each drawn example for each class of the model and stores them in the model's
folder (`example_maps.npz`, float16); `load_example_map` finds one by the model input's pixels,
so a page asks for a map as usual and gets the stored one when it exists.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

EXAMPLE_MAPS_FILE = "example_maps.npz"


def example_photos() -> dict[str, bytes]:
    """{label: PNG bytes}: the four drawn lesions the pages offer as examples (never real)."""
    from PIL import Image

    from skinml.data.synthetic import make_lesion

    def png(array: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(array).save(buf, "PNG")
        return buf.getvalue()

    photos = {f"synthetic benign-looking lesion {s}": png(make_lesion(False, 256, seed=s)) for s in (1, 5)}
    photos.update({f"synthetic malignant-looking lesion {s}": png(make_lesion(True, 256, seed=s)) for s in (1, 6)})
    return photos


def _key(method: str, class_index: int, image: np.ndarray) -> str:
    digest = hashlib.sha1(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).hexdigest()[:16]
    return f"{method}/{int(class_index)}/{digest}"


def precompute_example_maps(classifier, folder: str | Path, methods: list[str] | None = None) -> Path:
    """Every method's heatmap (`skinml.explain.trust.METHODS`, those that fit the model) of each
    example photo's model input, for each class, saved as `example_maps.npz` in `folder`."""
    from skinml.explain.trust import METHODS, method_maps
    from skinml.images.decode import load_image
    from skinml.images.upload import read_image

    maps = {}
    for data in example_photos().values():
        x = load_image(read_image(data), classifier.image_size, classifier.resize)
        for index in range(len(classifier.classes)):
            for method in methods or list(METHODS):
                try:
                    heat = next(iter(method_maps(classifier, x, index, [method]).values()))
                except ValueError:  # the method does not fit this architecture
                    continue
                maps[_key(method, index, x)] = np.asarray(heat, np.float16)
    path = Path(folder) / EXAMPLE_MAPS_FILE
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **maps)
    tmp.replace(path)
    return path


def load_example_map(folder: str | Path, image: np.ndarray, class_index: int, method: str) -> np.ndarray | None:
    """The stored map (float32 (S, S) in [0, 1]) of a model input uint8 (S, S, 3), or None."""
    path = Path(folder) / EXAMPLE_MAPS_FILE
    if not path.is_file():
        return None
    with np.load(path) as stored:
        key = _key(method, class_index, image)
        return stored[key].astype(np.float32) if key in stored.files else None
