"""Streamlit helpers of the explain pages (4, 5, 6): image pickers, cached model answers, heatmap controls.

Models come from `skinml.app.classifiers` (the dashboard's one model cache); the answers
below are cached per model path and image with `st.cache_data`.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from skinml import ISIC_SAMPLE
from skinml.app import server_log
from skinml.app.classifiers import load_model
from skinml.data.readers import LABELS

UPLOAD_TYPES = None  # any extension: the content decides (skinml.images), not the file name


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
    from skinml.predict import DISPLAY_SIDE

    photo = read_image(data, name)
    small = photo.copy()
    small.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
    return np.asarray(small), load_image(photo, size, resize)


@st.cache_data(show_spinner="Asking the model ...", max_entries=32)
def predict_cached(model_path: str, data: bytes, name: str, tta: bool = True):
    """`skinml.predict.predict_upload` with the cached model, cached per photo; the server's log
    gets the seconds it took (what `python -m skinml bench serve` reads)."""
    from skinml.predict import predict_upload

    start = time.perf_counter()
    result = predict_upload(load_model(model_path), data, name, tta=tta)
    server_log().info("predicted an upload of %d bytes in %.3f s: p=%.6f", len(data), time.perf_counter() - start,
                      result.p_malignant)
    return result


@st.cache_data(show_spinner="Computing Grad-CAM ...", max_entries=64)
def grad_cam_cached(model_path: str, image: np.ndarray, target: str) -> np.ndarray:
    """Grad-CAM (float (S, S) in [0, 1]) of the cached model for `target`."""
    from skinml.explain.gradcam import grad_cam

    return load_model(model_path).with_model(grad_cam, image, target=target)


@st.cache_data(show_spinner="Computing the feature maps ...", max_entries=16)
def feature_maps_cached(model_path: str, image: np.ndarray) -> dict[str, np.ndarray]:
    """Every conv layer's activations for one model input (see `skinml.explain.features.feature_maps`)."""
    from skinml.explain.features import feature_maps

    return load_model(model_path).with_model(feature_maps, image)


@st.cache_data(show_spinner=False, max_entries=32)
def probability_cached(model_path: str, image: np.ndarray) -> float:
    """p(malignant) of the cached model for one model input uint8 (S, S, 3)."""
    return float(load_model(model_path).predict_proba(image[None].astype("float32") / 255.0)[0])


def zoomed(image: np.ndarray, width: int) -> np.ndarray:
    """Pixels (H, W) or (H, W, 3) enlarged by a whole factor to about `width` px wide, each pixel
    a square block (no blur), so that a small feature map stays readable on the page."""
    factor = max(1, width // image.shape[1])
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def grayscale(image: np.ndarray) -> np.ndarray:
    """float (H, W) in [0, 1]: the luminance of uint8 RGB pixels (H, W, 3), Pillow's "L" weights."""
    return np.asarray(Image.fromarray(image).convert("L"), dtype=float) / 255.0


def heatmap_ui(label: str, key: str) -> tuple[str, float]:
    """Which class the Grad-CAM heatmap explains (the model's side first) and its opacity."""
    other = LABELS[1 - LABELS.index(label)]
    c1, c2 = st.columns(2)
    target = c1.radio("Heatmap for", [label, other], horizontal=True, key=f"{key}_target",
                      format_func=lambda t: f"{t} (the side the model chose)" if t == label else f"{t} (the other)")
    alpha = c2.slider("Heatmap opacity", 0.0, 1.0, 0.45, 0.05, key=f"{key}_alpha")
    return target, alpha
