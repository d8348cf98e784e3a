"""Atomic writes and forgiving reads of files: the bottom layer every other module writes through.

Every write goes to a temporary file in the same folder, is flushed to disk and renamed over
the target, so a process killed at any moment leaves each file whole, old or new. The readers
answer a default (never a traceback) for a file that is missing or not whole.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

CHECKOUT = Path(__file__).resolve().parents[1]


def shown_path(path: str | Path) -> str:
    """How a card or a record names a folder: relative to the checkout when inside it or in the
    shared data beside it (`../shared/...`), else by its name alone (a shipped file names no
    machine's folders)."""
    if not str(path):
        return ""
    resolved = Path(path).resolve()
    if resolved.is_relative_to(CHECKOUT):
        return str(resolved.relative_to(CHECKOUT))
    if resolved.is_relative_to(CHECKOUT.parent / "shared"):
        return os.path.relpath(resolved, CHECKOUT)
    return resolved.name


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write text or bytes so that `path` is always either the old or the new whole file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600: shipped files must be readable by every user
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str | Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, default=str))


def read_json(path: str | Path, default=None):
    """The JSON in `path`, or `default` when the file is missing or not whole JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return default


def save_report(report: dict, folder: str | Path, name: str) -> Path:
    """Write `report` as the JSON file `name` of a model folder (bias.json, explanations.json); its path."""
    path = Path(folder) / name
    write_atomic(path, json.dumps(report, indent=1))
    return path


def load_report(model, name: str) -> dict | None:
    """The JSON file `name` of a model folder (a loaded model with a `path`, or the folder), or None
    when it has none."""
    folder = getattr(model, "path", model)
    path = Path(folder) / name if folder else None
    return json.loads(path.read_text()) if path and path.is_file() else None


def write_csv(path: str | Path, rows: list[dict]) -> None:
    """Rows of dicts (the first row's keys are the header) as a CSV file, atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buf.getvalue())


def read_table(path: str | Path):
    """A CSV file as a pandas DataFrame; an empty one when the file is missing, empty or damaged."""
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (FileNotFoundError, NotADirectoryError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame()


def write_npy(path: str | Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array)
    write_atomic(path, buf.getvalue())


def write_png(path: str | Path, pixels: np.ndarray) -> None:
    """uint8 (H, W, 3) pixels as a PNG file, atomically."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    write_atomic(path, buf.getvalue())


def copy_atomic(source: str | Path, target: str | Path) -> None:
    """Copy `source` to `target` through a temporary file and a rename: `target` is always whole."""
    source, target = Path(source), Path(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
            dst.flush()
            os.fsync(dst.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def intact_zip(path: str | Path) -> bool:
    """Whether a zip archive (a .keras file) is whole: every member matches its CRC-32."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError):
        return False


def _save_atomic(path: Path, suffix: str, save) -> None:
    """Call `save(tmp)` for a temporary file with `suffix` next to `path`, then rename it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=suffix)
    os.close(fd)
    try:
        save(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_model_atomic(model, path: str | Path, compact: bool = False) -> None:
    """`model.save` to a temporary .keras file in the same folder, then rename over `path`.

    With `compact`, the weights are rounded to float16 precision (they stay float32, so the
    model computes exactly as before on the rounded values) and the archive, which Keras
    writes uncompressed, is rewritten deflated: the rounded weights compress to about 57%.
    Keras loads either archive.
    """
    def save(tmp: str) -> None:
        if not compact:
            model.save(tmp)
            return
        weights = model.get_weights()
        model.set_weights(half_precision(weights))
        try:
            model.save(tmp)
        finally:
            model.set_weights(weights)
        _deflate(Path(tmp))

    _save_atomic(Path(path), ".keras", save)


def save_weights_atomic(model, path: str | Path) -> None:
    """`model.save_weights` to a temporary `.weights.h5`, then rename over `path`."""
    _save_atomic(Path(path), ".weights.h5", model.save_weights)


def half_precision(weights: list[np.ndarray]) -> list[np.ndarray]:
    """float32 arrays rounded to the nearest float16 value (kept float32); others unchanged."""
    return [w.astype("float16").astype(w.dtype) if w.dtype == "float32" else w for w in weights]


def _deflate(archive: Path) -> None:
    """Rewrite a zip archive in place with every member deflated."""
    with zipfile.ZipFile(archive) as src:
        members = [(info.filename, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for name, data in members:
            dst.writestr(name, data)
