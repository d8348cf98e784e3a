"""A trained classifier on disk (model + threshold + card) and thread-safe prediction.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skinml import ASSETS
from skinml.data.readers import LABELS
from skinml.errors import ModelError
from skinml.runs import save_model_atomic, write_atomic

SHIPPED_DIR = ASSETS / "classifier"


@dataclass
class Classifier:
    """A loaded classifier folder: `model` (Keras), `info` (model.json), `metrics`, `card`.

    `predict_proba` is safe to call from many threads at once (the dashboard shares one
    instance between sessions): Keras models are not guaranteed thread-safe, so calls are
    serialised with a lock, and every caller gets the answer it would get alone. Code that
    needs the Keras model itself (Grad-CAM, feature maps) goes through `with_model`, which
    holds the same lock.
    """

    model: object
    info: dict
    metrics: dict = field(default_factory=dict)
    card: str = ""
    path: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def threshold(self) -> float:
        return float(self.info.get("threshold", 0.5))

    @property
    def image_size(self) -> int:
        return int(self.info.get("image_size", self.model.input_shape[1]))

    @property
    def resize(self) -> str:
        return self.info.get("resize", "squash")

    @property
    def tta(self) -> bool:
        """Whether its threshold and calibration were fitted on eight-view averages."""
        return bool(self.info.get("tta", False))

    @property
    def version(self) -> str:
        return str(self.info.get("version", "unversioned"))

    def side(self, p: float) -> str:
        """The side of the threshold `p` falls on: "malignant" when p >= threshold, else "benign".

        The model's answer in words, never a diagnosis.
        """
        return LABELS[1] if p >= self.threshold else LABELS[0]

    def with_model(self, fn, *args, **kwargs):
        """`fn(model, *args, **kwargs)` holding the classifier's lock: for code that needs the
        Keras model itself (Grad-CAM, feature maps) while other threads may be predicting."""
        with self._lock:
            return fn(self.model, *args, **kwargs)

    def predict_proba(self, images: np.ndarray, tta: bool = False, batch_size: int = 32) -> np.ndarray:
        """p(malignant), float (N,), for float32 (N, H, W, 3) in [0, 1] of `image_size` px.

        With `tta`, the mean over the eight flips and quarter turns of each image.
        """
        return predict_tta(self, images, batch_size).mean(axis=1) if tta else self._predict(images, batch_size)

    def _predict(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        images = np.asarray(images, dtype="float32")
        if images.ndim != 4 or images.shape[1:] != (self.image_size, self.image_size, 3):
            raise ModelError(f"Expected images of shape (N, {self.image_size}, {self.image_size}, 3), "
                             f"got {images.shape}.")
        # predict_on_batch per chunk: model.predict costs ~0.1 s of set-up per call.
        with self._lock:
            out = [np.asarray(self.model.predict_on_batch(images[i:i + batch_size]))
                   for i in range(0, len(images), batch_size)]
        return np.concatenate(out).astype("float64").reshape(-1) if out else np.zeros(0)


def dihedral(images: np.ndarray) -> list[np.ndarray]:
    """The eight flips and quarter turns of float (N, H, W, 3) square images."""
    turns = [np.rot90(images, k, axes=(1, 2)) for k in range(4)]
    return turns + [t[:, :, ::-1] for t in turns]


def predict_tta(clf: Classifier, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """p(malignant) for each of the eight views of each image: float (N, 8)."""
    views = dihedral(np.asarray(images, dtype="float32"))
    flat = clf._predict(np.concatenate(views), batch_size)
    return flat.reshape(8, len(images)).T


def _model_file(path: str | Path | None) -> Path:
    """The model.keras of a classifier folder, a run directory (its `model/`) or a .keras file."""
    folder = Path(path) if path else SHIPPED_DIR
    if (folder / "model").is_dir():
        folder = folder / "model"
    return folder if folder.is_file() and folder.suffix == ".keras" else folder / "model.keras"


def _read_json(path: Path) -> dict:
    """A classifier folder's JSON record ({} when the file is not there), or ModelError saying
    the file is damaged (not JSON, not text, or not a record)."""
    try:
        record = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        record = None
    if not isinstance(record, dict):
        raise ModelError(f"{path} is damaged: it is not a whole JSON record. Restore it from the run that "
                         "wrote it, or copy the model folder again.")
    return record


def read_info(path: str | Path | None = None) -> tuple[dict, dict]:
    """(model.json, metrics.json) of a classifier folder, without loading the model (no Keras).

    `path` as for `load_classifier`; a file that is not there reads as {}. For pages that only
    describe a model: its name, size, threshold and held-out figures.
    """
    folder = _model_file(path).parent
    return _read_json(folder / "model.json"), _read_json(folder / "metrics.json")


def load_classifier(path: str | Path | None = None) -> Classifier:
    """Read a classifier folder (or a run directory holding one in `model/`); default: shipped."""
    import zipfile

    import keras

    import skinml.images.augment  # noqa: F401  (registers our custom layers for deserialisation)

    model_file = _model_file(path)
    folder = model_file.parent
    if not model_file.exists():
        raise ModelError(f"No model found at {folder}: expected a folder with model.keras and model.json.")
    try:
        model = keras.saving.load_model(model_file, safe_mode=True, compile=False)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:  # a corrupt or foreign file
        raise ModelError(f"Could not load the model in {model_file}: {exc}") from exc
    info, metrics = read_info(folder)
    card = (folder / "MODEL_CARD.md").read_text(errors="replace") if (folder / "MODEL_CARD.md").exists() else ""
    info = info or {"name": model.name, "image_size": model.input_shape[1]}
    return Classifier(model=model, info=info, metrics=metrics, card=card, path=folder)


def save_classifier(folder: str | Path, model, info: dict, metrics: dict | None = None,
                    card: str | None = None, compact: bool = False) -> Path:
    """Write a classifier folder; every file goes to a temporary name first, then is renamed.

    `compact` stores the weights at half precision in a compressed archive (see
    `save_model_atomic`): how the shipped model stays small.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_model_atomic(model, folder / "model.keras", compact)
    write_atomic(folder / "model.json", json.dumps(info, indent=2))
    if metrics is not None:
        write_atomic(folder / "metrics.json", json.dumps(metrics, indent=2))
    if card is not None:
        write_atomic(folder / "MODEL_CARD.md", card)
    return folder
