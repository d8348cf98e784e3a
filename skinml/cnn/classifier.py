"""A trained classifier on disk (model + threshold + card) and thread-safe prediction.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skinml import ASSETS
from skinml.cnn.batcher import MicroBatcher, yielding_to
from skinml.cnn.config import TASKS
from skinml.data.readers import LABELS
from skinml.errors import ModelError
from skinml.io import save_model_atomic, write_atomic

SHIPPED_DIR = ASSETS / "classifier"
DIAGNOSIS_DIR = ASSETS / "diagnosis"  # the shipped diagnosis model, once the lead ships it
SHIPPED = {"binary": SHIPPED_DIR, "diagnosis": DIAGNOSIS_DIR}  # the shipped model of each of TASKS


@dataclass
class Classifier:
    """A loaded classifier folder: `model` (Keras), `info` (model.json), `metrics`, `card`.

    Two tasks (`task`, from model.json): a binary model gives p(malignant) and has a
    threshold; a diagnosis model gives the probabilities of its `classes` (the seven
    HAM10000 diagnoses), and p(malignant) is the sum over its `malignant_classes`. Both
    follow scikit-learn: `predict_proba` gives (N, C) class probabilities (columns `classes`),
    `predict` the labels; `p_malignant` turns probabilities into p(malignant). A model with
    `uses_metadata` also reads the patient's age, sex and site (a data table's
    `age_approx`, `sex`, `anatom_site_general` columns; unknown where not given).

    Predictions are safe to call from many threads at once (the dashboard shares one
    instance between sessions): Keras models are not guaranteed thread-safe, so calls are
    serialised with a lock, and calls that arrive together share one forward pass
    (`skinml.cnn.batcher.MicroBatcher`); every caller gets the answer it would get alone. Code
    that needs the Keras model itself (Grad-CAM, feature maps) goes through `with_model`, which
    runs it on a copy of the model (same weights) under the copy's own lock: a heatmap of several
    seconds never keeps the other visitors from their probabilities.
    """

    model: object
    info: dict
    metrics: dict = field(default_factory=dict)
    card: str = ""
    path: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    batcher: MicroBatcher = field(init=False, repr=False)
    _explainer: object = field(default=None, init=False, repr=False)  # with_model's copy of `model`
    _explain_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self):
        self.batcher = MicroBatcher(self._forward, self._lock)

    @property
    def task(self) -> str:
        """"binary" (benign/malignant) or "diagnosis" (the seven HAM10000 classes)."""
        return str(self.info.get("task", "binary"))

    @property
    def classes(self) -> tuple[str, ...]:
        """The columns of `predict_proba`: ("benign", "malignant"), or the diagnoses."""
        return tuple(self.info.get("classes") or LABELS)  # a binary model: (benign, malignant)

    @property
    def malignant_classes(self) -> tuple[str, ...]:
        """The classes whose probabilities add up to p(malignant)."""
        return tuple(self.info.get("malignant_classes") or ("malignant",))

    @property
    def uses_metadata(self) -> bool:
        """Whether the model reads the patient's metadata beside the image."""
        return "metadata" in _input_names(self.model)

    @property
    def threshold(self) -> float:
        return float(self.info.get("threshold", 0.5))

    @property
    def image_size(self) -> int:
        return int(self.info.get("image_size") or _image_input(self.model).shape[1])

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

    def decide(self, probabilities: np.ndarray):
        """The label of class probabilities (..., C): a binary model's side of its threshold
        ("malignant" when p(malignant) >= threshold, else "benign": the one decision rule, a
        side of a threshold, never a diagnosis), a diagnosis model's most probable class. A str
        for one row (C,), else an array of str (N,)."""
        probabilities = np.asarray(probabilities)
        if self.task == "diagnosis":
            labels = np.asarray(self.classes)[np.argmax(probabilities, axis=-1)]
        else:
            labels = np.where(self.p_malignant(probabilities) >= self.threshold, LABELS[1], LABELS[0])
        return str(labels) if labels.ndim == 0 else labels

    def with_model(self, fn, *args, **kwargs):
        """`fn(model, *args, **kwargs)` for code that needs the Keras model itself (Grad-CAM,
        feature maps) while other threads may be predicting: `model` is the classifier's
        explanation copy (the same layers and weights, made on the first call), and the copy's own
        lock is held, not the lock of the predictions. A long method pauses between its batches
        while predictions are waiting (`skinml.cnn.batcher.yield_to_predictions`)."""
        with self._explain_lock, yielding_to(self.batcher):
            if self._explainer is None:
                self._explainer = self._copy_model()
            return fn(self._explainer, *args, **kwargs)

    def _copy_model(self):
        """A second Keras model with the same layers and weights as `model` (weights read under the
        predictions' lock)."""
        import keras

        with self._lock:
            copy = keras.models.clone_model(self.model)
            copy.set_weights(self.model.get_weights())
        return copy

    def predict_proba(self, images: np.ndarray, tta: bool = False, metadata=None,
                      batch_size: int = 32) -> np.ndarray:
        """Class probabilities, float (N, len(classes)), rows summing to 1, for float32
        (N, H, W, 3) in [0, 1] of `image_size` px. A binary model's columns are
        (benign, malignant) = (1 - p, p). With `tta`, the mean over the eight flips and
        quarter turns. `metadata`: a data table with one row per image (ignored by a model
        without metadata; None = every value unknown)."""
        if tta:
            return predict_views(self, images, metadata, batch_size).mean(axis=1)
        return self._predict(images, metadata, batch_size)

    def predict(self, images: np.ndarray, tta: bool = False, metadata=None, batch_size: int = 32) -> np.ndarray:
        """The label of each image, str (N,) (`decide` of `predict_proba`; arguments as there)."""
        return np.asarray(self.decide(self.predict_proba(images, tta, metadata, batch_size))).reshape(-1)

    def p_malignant(self, class_probabilities: np.ndarray) -> np.ndarray:
        """p(malignant) from (..., C) class probabilities: the sum over `malignant_classes`."""
        columns = [self.classes.index(c) for c in self.malignant_classes]
        return np.asarray(class_probabilities)[..., columns].sum(axis=-1)

    def _predict(self, images: np.ndarray, metadata=None, batch_size: int = 32) -> np.ndarray:
        images = np.asarray(images, dtype="float32")
        if images.ndim != 4 or images.shape[1:] != (self.image_size, self.image_size, 3):
            raise ModelError(f"Expected images of shape (N, {self.image_size}, {self.image_size}, 3), "
                             f"got {images.shape}.")
        features = self._metadata_features(metadata, len(images))
        if not len(images):
            return np.zeros((0, len(self.classes)))
        p = self.batcher(images, features, batch_size)  # with other threads' images, under the lock
        return np.column_stack([1 - p[:, 0], p[:, 0]]) if p.shape[1] == 1 else p

    def _forward(self, images: np.ndarray, features: np.ndarray | None, batch_size: int) -> np.ndarray:
        """The model's outputs, float64 (N, K), in chunks of `batch_size`; the caller holds the lock.
        predict_on_batch per chunk: model.predict costs ~0.1 s of set-up per call."""
        out = []
        for i in range(0, len(images), batch_size):
            x = images[i:i + batch_size]
            inputs = x if features is None else {"image": x, "metadata": features[i:i + batch_size]}
            out.append(np.asarray(self.model.predict_on_batch(inputs)).reshape(len(x), -1))
        return np.concatenate(out).astype("float64")

    def _metadata_features(self, metadata, n: int) -> np.ndarray | None:
        if not self.uses_metadata:
            return None
        import pandas as pd

        from skinml.data.tabular import METADATA_COLUMNS, metadata_features

        if metadata is None:
            metadata = pd.DataFrame({c: [""] * n for c in METADATA_COLUMNS})
        if len(metadata) != n:
            raise ModelError(f"{n} images need {n} rows of patient metadata, not {len(metadata)}.")
        return metadata_features(metadata)


def _input_names(model) -> list[str]:
    return [str(t.name).split(":")[0] for t in model.inputs]


def _image_input(model):
    """The model's image input tensor (its only input, or the one named `image`)."""
    return next((t for t in model.inputs if str(t.name).startswith("image")), model.inputs[0])


def dihedral(images: np.ndarray) -> list[np.ndarray]:
    """The eight flips and quarter turns of float (N, H, W, 3) square images."""
    turns = [np.rot90(images, k, axes=(1, 2)) for k in range(4)]
    return turns + [t[:, :, ::-1] for t in turns]


def predict_views(clf: Classifier, images: np.ndarray, metadata=None, batch_size: int = 32) -> np.ndarray:
    """Class probabilities for each of the eight views of each image: float (N, 8, C)."""
    import pandas as pd

    views = dihedral(np.asarray(images, dtype="float32"))
    repeated = None if metadata is None else pd.concat([metadata] * 8, ignore_index=True)
    flat = clf._predict(np.concatenate(views), repeated, batch_size)
    return flat.reshape(8, len(images), -1).transpose(1, 0, 2)


def predict_tta(clf: Classifier, images: np.ndarray, batch_size: int = 32, metadata=None) -> np.ndarray:
    """p(malignant) for each of the eight views of each image: float (N, 8)."""
    return clf.p_malignant(predict_views(clf, images, metadata, batch_size))


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


def load_classifier(path: str | Path | None = None, task: str | None = None) -> Classifier:
    """Read a classifier folder (or a run directory holding one in `model/`).

    Without `path`, the shipped model of `task` ("binary" by default: skinml/assets/classifier;
    "diagnosis": skinml/assets/diagnosis). With `task`, a model trained for another task is
    a ModelError, as is a missing shipped model.
    """
    import zipfile

    import keras

    import skinml.images.augment  # noqa: F401  (registers our custom layers for deserialisation)

    if task is not None and task not in TASKS:
        raise ModelError(f"Unknown task '{task}': use one of {', '.join(TASKS)}.")
    if not path and task == "diagnosis" and not (DIAGNOSIS_DIR / "model.keras").exists():
        raise ModelError(f"No diagnosis model is installed yet (it belongs in {DIAGNOSIS_DIR}): pass a diagnosis "
                         "model folder or run directory (train one with python -m skinml train --task diagnosis).")
    model_file = _model_file(path or SHIPPED[task or "binary"])
    folder = model_file.parent
    if not model_file.exists():
        raise ModelError(f"No model found at {folder}: expected a folder with model.keras and model.json.")
    try:
        model = keras.saving.load_model(model_file, safe_mode=True, compile=False)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:  # a corrupt or foreign file
        raise ModelError(f"Could not load the model in {model_file}: {exc}") from exc
    info, metrics = read_info(folder)
    card = (folder / "MODEL_CARD.md").read_text(errors="replace") if (folder / "MODEL_CARD.md").exists() else ""
    info = info or {"name": model.name, "image_size": _image_input(model).shape[1]}
    classifier = Classifier(model=model, info=info, metrics=metrics, card=card, path=folder)
    if task is not None and classifier.task != task:
        raise ModelError(f"The model in {folder} was trained for the {classifier.task} task, not {task}: "
                         f"pass a {task} model.")
    return classifier


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
