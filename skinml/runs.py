"""Run directories and atomic files: the one place that writes, reads, starts and stops runs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def write_atomic(path: Path, text: str) -> None:
    """Write text so that `path` is always either the old or the new whole file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)  # mkstemp makes 0600: shipped files must be readable by every user
    os.replace(tmp, path)


def save_model_atomic(model, path: Path, compact: bool = False) -> None:
    """`model.save` to a temporary .keras file in the same folder, then rename over `path`.

    With `compact`, the weights are rounded to float16 precision (they stay float32, so the
    model computes exactly as before on the rounded values) and the archive, which Keras
    writes uncompressed, is rewritten deflated: the rounded weights compress to about 57%.
    Keras loads either archive.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".keras")
    os.close(fd)
    try:
        if compact:
            weights = model.get_weights()
            model.set_weights(half_precision(weights))
            try:
                model.save(tmp)
            finally:
                model.set_weights(weights)
            _deflate(Path(tmp))
        else:
            model.save(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def half_precision(weights: list[np.ndarray]) -> list[np.ndarray]:
    """float32 arrays rounded to the nearest float16 value (kept float32); others unchanged."""
    return [w.astype("float16").astype(w.dtype) if w.dtype == "float32" else w for w in weights]


def _deflate(archive: Path) -> None:
    """Rewrite a zip archive in place with every member deflated."""
    import zipfile

    with zipfile.ZipFile(archive) as src:
        members = [(info.filename, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for name, data in members:
            dst.writestr(name, data)
