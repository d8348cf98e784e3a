"""Streamlit helpers of the explain pages: cached model loading, model and image pickers.

Which models are offered: the folder in the environment variable `SKINML_MODEL` (a
classifier folder or a run directory; tests and deployments point the pages at a model
this way), the shipped model `skinml/assets/classifier/`, and every finished run in
`runs/*/model` (or `$SKINML_RUNS`). Models are cached with `st.cache_resource`, shared by
all sessions: `Classifier` serialises model calls with a lock, and nothing here fits a
cached model.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from skinml import ISIC_SAMPLE
from skinml.cnn.classifier import SHIPPED_DIR, Classifier, load_classifier
from skinml.errors import SkinmlError

MODEL_ENV = "SKINML_MODEL"
UNTRAINED = "untrained:"  # prefix of the registry's architectures with random weights (page 4)
UPLOAD_TYPES = None  # any extension: the content decides (skinml.images), not the file name


def model_options(untrained: bool = False) -> dict[str, str]:
    """{label: folder} of the models the pages offer; `untrained` adds the registry's architectures."""
    from skinml.runs import runs_root

    options = {}
    if os.environ.get(MODEL_ENV):
        options[f"{MODEL_ENV}: {os.environ[MODEL_ENV]}"] = os.environ[MODEL_ENV]
    if (SHIPPED_DIR / "model.keras").exists():
        options["shipped model"] = str(SHIPPED_DIR)
    runs = sorted(Path(runs_root()).glob("*/model/model.keras"), key=lambda p: p.stat().st_mtime, reverse=True)
    options.update({f"run: {p.parent.parent.name}": str(p.parent) for p in runs})
    if untrained:
        from skinml.cnn.models import MODELS

        options.update({f"untrained {name} (random weights)": UNTRAINED + name for name in MODELS})
    return options


@st.cache_resource(show_spinner="Loading the model ...", max_entries=4)
def load_model(path: str) -> Classifier:
    """The classifier in `path` (or an untrained registry architecture), shared by all sessions."""
    if path.startswith(UNTRAINED):
        import keras

        from skinml.cnn.models import PRETRAINED, build_model

        keras.utils.set_random_seed(0)
        name = path[len(UNTRAINED):]
        model = build_model(name, image_size=128, **({"weights": None} if name in PRETRAINED else {}))
        return Classifier(model=model, info={"name": model.name, "image_size": 128, "version": "untrained"})
    return load_classifier(path)


def choose_model_ui(key: str = "model", untrained: bool = False) -> tuple[str, Classifier] | None:
    """A model picker; returns (folder, classifier), or None after saying why there is none."""
    options = model_options(untrained)
    if not options:
        st.info("No trained model yet. Train one (`python train/train_classifier.py` or the training "
                f"page), or point `{MODEL_ENV}` at a classifier folder.")
        return None
    label = st.selectbox("Model", list(options), key=key)
    try:
        return options[label], load_model(options[label])
    except SkinmlError as exc:
        st.error(str(exc))
        return None


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


@st.cache_data(show_spinner=False)
def example_images(root: str | None = None) -> dict[str, bytes]:
    """{label: file bytes}: synthetic lesions (never real ISIC images), then a few from `root`
    (default: the ISIC sample in ../shared/data when it exists)."""
    from skinml.data.synthetic import make_lesion

    examples = {f"synthetic benign-looking lesion {s}": _png(make_lesion(False, 256, seed=s)) for s in (1, 5)}
    examples.update({f"synthetic malignant-looking lesion {s}": _png(make_lesion(True, 256, seed=s)) for s in (1, 6)})
    folder = Path(root) if root else ISIC_SAMPLE
    if (folder / "metadata.csv").exists():
        from skinml.ood.detector import check_image

        meta = pd.read_csv(folder / "metadata.csv", dtype=str).fillna("")
        for label in ("malignant", "benign"):
            taken = 0  # the first three of each label that the dermoscopy check accepts (a few have a blue cast)
            for _, row in meta[meta["benign_malignant"] == label].head(20).iterrows():
                path = folder / "images" / f"{row['isic_id']}.jpg"
                if taken < 3 and path.exists() and not check_image(Image.open(path)).fired:
                    examples[f"ISIC sample {row['isic_id']} ({row['diagnosis'] or label})"] = path.read_bytes()
                    taken += 1
    return examples


def choose_image_ui(key: str = "image", camera: bool = False, dataset: bool = True) -> tuple[str, bytes] | None:
    """Pick an image: an example, an upload, the camera, or the loaded dataset.

    Returns (name, file bytes); the bytes go through `skinml.images.read_image` like any
    upload. None while nothing is chosen.
    """
    sources = ["Example", "Upload a file"] + (["Camera"] if camera else []) + (["Dataset"] if dataset else [])
    source = st.radio("Image", sources, horizontal=True, key=f"{key}_source")
    if source == "Example":
        examples = example_images()
        name = st.selectbox("Example", list(examples), key=f"{key}_example")
        return name, examples[name]
    if source == "Upload a file":
        upload = st.file_uploader("A lesion photo (JPEG, PNG, WebP, TIFF, BMP or GIF)", type=UPLOAD_TYPES,
                                  key=f"{key}_upload")
        return (upload.name, upload.getvalue()) if upload else None
    if source == "Camera":
        shot = st.camera_input("Take a photo (through a dermoscope if you have one)", key=f"{key}_camera")
        return ("camera photo", shot.getvalue()) if shot else None
    from skinml.app.data_ui import data_dir, load_table

    table = load_table(data_dir())
    table = table[table["image_path"] != ""]
    if table.empty:
        st.info("The loaded dataset has no images.")
        return None
    labels = (table["isic_id"] + " · " + table["benign_malignant"] + " " + table["diagnosis"]).tolist()
    pick = st.selectbox(f"Image of the dataset ({len(table):,})", range(len(table)),
                        format_func=labels.__getitem__, key=f"{key}_dataset")
    row = table.iloc[pick]
    return row["isic_id"], Path(row["image_path"]).read_bytes()


@st.cache_data(show_spinner="Reading the photo ...", max_entries=32)
def read_for_model(data: bytes, name: str, size: int, resize: str) -> tuple[np.ndarray, np.ndarray]:
    """(photo uint8 (h, w, 3) reduced to 512 px, model input uint8 (size, size, 3)); ImageError if unusable."""
    from skinml.images.decode import load_image
    from skinml.images.upload import read_image

    photo = read_image(data, name)
    small = photo.copy()
    small.thumbnail((512, 512))
    return np.asarray(small), load_image(photo, size, resize)


@st.cache_data(show_spinner="Asking the model ...", max_entries=32)
def predict_cached(model_path: str, data: bytes, name: str, tta: bool = True):
    """`skinml.predict.predict_upload` with the cached model, cached per photo."""
    from skinml.predict import predict_upload

    return predict_upload(load_model(model_path), data, name, tta=tta)


@st.cache_data(show_spinner="Computing Grad-CAM ...", max_entries=64)
def grad_cam_cached(model_path: str, image: np.ndarray, target: str) -> np.ndarray:
    """Grad-CAM (float (S, S) in [0, 1]) of the cached model for `target`."""
    from skinml.predict import explain_locked

    return explain_locked(load_model(model_path), image, target)


@st.cache_data(show_spinner="Computing the feature maps ...", max_entries=16)
def feature_maps_cached(model_path: str, image: np.ndarray) -> dict[str, np.ndarray]:
    """Every conv layer's activations for one model input (see `skinml.explain.feature_maps`)."""
    from skinml.explain.features import feature_maps

    clf = load_model(model_path)
    with clf._lock:
        return feature_maps(clf.model, image)


@st.cache_data(show_spinner=False, max_entries=32)
def probability_cached(model_path: str, image: np.ndarray) -> float:
    """p(malignant) of the cached model for one model input uint8 (S, S, 3)."""
    return float(load_model(model_path).predict_proba(image[None].astype("float32") / 255.0)[0])
