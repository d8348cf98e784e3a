"""Streamlit helpers of the explain pages (4, 5, 6): image pickers, cached model answers, heatmap controls.

Models come from `skinml.app.classifiers` (the dashboard's one model cache); the answers
below are cached per model path and image with `st.cache_data`.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from skinml import settings
from skinml.app import plain, server_log
from skinml.app.classifiers import load_model
from skinml.data.readers import LABELS

UPLOAD_TYPES = None  # any extension: the content decides (skinml.images), not the file name


@st.cache_data(show_spinner="Choosing example photos ...", max_entries=8)
def example_images(root: str) -> dict[str, bytes]:
    """{label: file bytes}: up to three malignant and three benign images of the dataset folder
    `root` that pass the dermoscopy check, then four synthetic lesions (drawn, never real): a
    page opens on a real image when real data is loaded."""
    from skinml.app.data_ui import has_synthetic_images, load_table
    from skinml.explain.precomputed import example_photos
    from skinml.ood.detector import check_dermoscopy

    drawn = example_photos()
    table = load_table(root)
    if has_synthetic_images(table):
        return drawn  # the built-in demo: its images are drawings like these
    examples = {}
    for label in ("malignant", "benign"):
        rows = table[(table["benign_malignant"] == label) & (table["image_path"] != "")].head(20)
        taken = 0  # the first three that the dermoscopy check accepts (a few have a blue cast)
        for row in rows.itertuples():
            if taken < 3 and not check_dermoscopy(Image.open(row.image_path)).fired:
                examples[f"{row.isic_id} ({row.diagnosis or label}) from {Path(root).name}"] = \
                    Path(row.image_path).read_bytes()
                taken += 1
    return {**examples, **drawn}


def choose_image_ui(key: str = "image", camera: bool = False, dataset: bool = True,
                    upload_first: bool = False) -> tuple[str, bytes] | None:
    """Pick an image: an upload, an example, the camera, or an image of the session's dataset.

    Returns (name, file bytes); the bytes go through `skinml.images.read_image` like any
    upload. None while nothing is chosen. `upload_first` opens on the uploader (the
    clinician's page), else on the examples (the teaching pages).
    """
    from skinml.app.session import current_dataset

    sources = ["Example", "Upload a photo"]
    sources = sources[::-1] if upload_first else sources
    sources += (["Camera"] if camera else []) + (["Dataset"] if dataset else [])
    source = st.radio("Image", sources, horizontal=True, key=f"{key}_source", label_visibility="collapsed")
    if source == "Example":
        examples = example_images(current_dataset())
        name = st.selectbox("Example", list(examples), key=f"{key}_example")
        return name, examples[name]
    if source == "Upload a photo":
        upload = st.file_uploader("A lesion photo (JPEG, PNG, WebP, TIFF, BMP or GIF)", type=UPLOAD_TYPES,
                                  key=f"{key}_upload")
        return (upload.name, upload.getvalue()) if upload else None
    if source == "Camera":
        shot = st.camera_input("Take a photo (through a dermoscope if you have one)", key=f"{key}_camera")
        return ("camera photo", shot.getvalue()) if shot else None
    from skinml.app.data_ui import load_table

    table = load_table(current_dataset())
    table = table[table["image_path"] != ""]
    if table.empty:
        st.info("The loaded dataset has no images.")
        return None
    labels = (table["isic_id"] + " · " + table["benign_malignant"] + " " + table["diagnosis"]).tolist()
    pick = st.selectbox(f"Image of the dataset ({len(table):,})", range(len(table)),
                        format_func=labels.__getitem__, key=f"{key}_dataset")
    row = table.iloc[pick]
    return row["isic_id"], Path(row["image_path"]).read_bytes()


def patient_ui(key: str):
    """Optional age, sex and anatomic site; returns the one-row table of
    `skinml.data.tabular.patient_table`, or None when nothing is given. DataError for a value
    that cannot be used."""
    from skinml.data.readers import GENERAL_SITES
    from skinml.data.tabular import SEXES, patient_table

    c1, c2, c3 = st.columns(3)
    age = c1.number_input("Age (years)", min_value=0, max_value=120, value=None, step=1, key=f"{key}_age")
    sex = c2.selectbox("Sex", ["not given", *SEXES], key=f"{key}_sex")
    site = c3.selectbox("Anatomic site", ["not given", *GENERAL_SITES], key=f"{key}_site")
    given = lambda value: None if value == "not given" else value  # noqa: E731
    if age is None and given(sex) is None and given(site) is None:
        return None
    return patient_table(age, given(sex), given(site))


def photo_id(data: bytes) -> str:
    """A short name for a photo's content: widgets keyed with it start afresh for each new photo."""
    import hashlib

    return hashlib.sha1(data).hexdigest()[:12]


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


def predict_cached(model_path: str, data: bytes, name: str, tta: bool = True, patient=None):
    """`skinml.predict.predict_upload` with the cached model, cached per photo (and per patient
    table, see `patient_ui`, and per version of the shipped segmenter, whose mask the dermoscopy
    check reads), without its heatmap: the page shows the probability first and draws
    the heatmap after it (`heatmap_cached`). The server's log gets the seconds it took and the
    model's task (what `python -m skinml bench serve` reads)."""
    from skinml.segment.predict import shipped_stamp

    return _predict_cached(model_path, shipped_stamp(), data, name, tta, patient)


_answers = threading.Condition()  # counts the photos being answered, for `after_the_answers`
_answers_running = 0
AFTER_THE_ANSWERS_AT_MOST_S = 10.0


@contextmanager
def answering():
    """Marks a visitor's photo as being answered (what `after_the_answers` waits for)."""
    global _answers_running
    with _answers:
        _answers_running += 1
    try:
        yield
    finally:
        with _answers:
            _answers_running -= 1
            _answers.notify_all()


def after_the_answers(at_most_s: float = AFTER_THE_ANSWERS_AT_MOST_S) -> None:
    """Before a slow part of a page (the diagnosis model, a heatmap, the outline): wait while any
    visitor's photo is being answered (`predict_cached`), at most `at_most_s` seconds. Eight
    visitors' heatmaps and outlines then never hold the two cores while a ninth waits for the
    number it came for."""
    with _answers:
        _answers.wait_for(lambda: _answers_running == 0, timeout=at_most_s)


@st.cache_data(show_spinner="Asking the model ...", max_entries=32)
def _predict_cached(model_path: str, segmenter: str, data: bytes, name: str, tta: bool, patient):
    from skinml.predict import predict_upload

    start = time.perf_counter()
    with answering():
        classifier = load_model(model_path)
        result = predict_upload(classifier, data, name, tta=tta, heatmap=False, patient=patient)
    server_log().info("predicted an upload of %d bytes with a %s model in %.3f s: p=%.6f", len(data),
                      classifier.task, time.perf_counter() - start, result.p_malignant)
    return result


@st.cache_data(show_spinner="Computing Grad-CAM ...", max_entries=64)
def grad_cam_cached(model_path: str, image: np.ndarray, class_index: int) -> np.ndarray:
    """Grad-CAM (float (S, S) in [0, 1]) of the cached model for the class `class_index`."""
    from skinml.explain.gradcam import grad_cam

    return load_model(model_path).with_model(grad_cam, image, class_index=class_index)


@st.cache_data(show_spinner=False, max_entries=64)
def method_map_cached(model_path: str, image: np.ndarray, class_index: int, method: str) -> np.ndarray | None:
    """One method's heatmap (float (S, S) in [0, 1]; `method` a key of `skinml.explain.trust.METHODS`)
    of the cached model for `class_index`, or None when the method does not fit this
    architecture (HiResCAM needs feature maps twice the size of the last ones)."""
    from skinml.explain.precomputed import load_example_map
    from skinml.explain.trust import method_maps

    stored = None if model_path.startswith("untrained:") else load_example_map(
        model_folder(model_path), image, class_index, method)
    if stored is not None:  # a built-in example, computed when the model was shipped
        return stored
    try:
        return next(iter(method_maps(load_model(model_path), image, class_index, [method]).values()))
    except ValueError as exc:
        server_log().info("%s does not fit %s: %s", method, model_path, exc)
        return None


PAGE_METHODS = ("gradcam", "hirescam", "occlusion", "integrated_gradients")  # Inside the CNN's comparison


def method_maps_ui(model_path: str, image: np.ndarray, class_index: int, methods: tuple[str, ...] = PAGE_METHODS,
                   ) -> dict[str, np.ndarray | None]:
    """{label: heatmap or None} of `methods` for one model input, each cached, computed behind a
    spinner that names the method (occlusion takes seconds on a CPU, the others less)."""
    from skinml.explain.trust import METHODS

    maps = {}
    for method in methods:
        with st.spinner(f"Computing {METHODS[method][0]} ..."):
            maps[METHODS[method][0]] = method_map_cached(model_path, image, class_index, method)
    return maps


@st.cache_data(show_spinner="Re-initialising the model block by block and recomputing the map (up to a minute) ...",
               max_entries=8)
def randomisation_cached(model_path: str, image: np.ndarray, class_index: int,
                         method: str = "gradcam") -> list[tuple[str, np.ndarray, float]] | None:
    """The sanity check's strip for one model input: [(block, map, rank correlation with the
    trained map)], "trained" first, then each block re-initialised with every block above it
    (`skinml.explain.trust.randomisation_maps`); None when the method does not fit the model."""
    from skinml.explain.measures import rank_correlation
    from skinml.explain.trust import randomisation_maps

    try:
        strip = randomisation_maps(load_model(model_path), image, method, class_index)
    except ValueError as exc:
        server_log().info("%s does not fit %s: %s", method, model_path, exc)
        return None
    trained = strip[0][1]
    return [(block, heat, float(rank_correlation(trained, heat))) for block, heat in strip]


@st.cache_data(show_spinner=False, max_entries=16)
def explanations_report(model_path: str, stamp: int) -> dict | None:
    """The classifier folder's measured `explanations.json` (None when it has none); `stamp`
    (see `explanations_stamp`) makes a rewritten report read again."""
    from skinml.explain.trust import load_explanations

    return load_explanations(model_folder(model_path))


def model_folder(model_path: str) -> Path:
    """The folder of a classifier (a run directory's `model/`)."""
    folder = Path(model_path)
    return folder / "model" if (folder / "model").is_dir() else folder


def explanations_stamp(model_path: str) -> int:
    from skinml.app import mtime_stamp
    from skinml.explain.trust import EXPLANATIONS_FILE

    return mtime_stamp([model_folder(model_path) / EXPLANATIONS_FILE])


def trust_for(model_path: str) -> tuple[str | None, str | None]:
    """(the best-ranked method's id by the pointing game, its trust sentence) from the model's
    `explanations.json`; (None, None) when it has none."""
    from skinml.explain.trust import best_method, trust_sentence

    if model_path.startswith("untrained:") or explanations_report(model_path, explanations_stamp(model_path)) is None:
        return None, None
    folder = model_folder(model_path)
    method = best_method(folder)
    return method, trust_sentence(folder, method)


@st.cache_data(show_spinner=False, max_entries=64)
def lesion_mask(dataset: str, name: str, size: int, resize: str) -> tuple[np.ndarray | None, str]:
    """(bool (size, size) lesion mask or None, a sentence saying where it came from or why there
    is none) for an image called `name` (an ISIC id, or a name holding one) of the dataset folder
    `dataset`, resized like the model input."""
    import re

    from skinml.data.masks import find_mask_folder, load_mask
    from skinml.errors import DataError

    ids = re.findall(r"ISIC_\d{7}", name or "")
    folder = find_mask_folder(dataset) if dataset and Path(dataset).is_dir() else None
    if not ids:
        return None, ("No lesion outline: a dermatologist's outline exists only for dataset images with an ISIC id "
                      "(HAM10000's segmentations), not for drawn examples or uploads.")
    if folder is None:
        return None, (f"No lesion outline: the loaded dataset ({plain(Path(dataset or '.').name)}) has no masks folder "
                      "(its name plus -segmentations beside it, or masks inside it).")
    try:
        settings.inside_data_roots(folder)  # a masks folder that is a link out of the data roots is not read
    except DataError:
        return None, "No lesion outline: the dataset's masks folder lies outside the data folders this server shares."
    try:
        mask = load_mask(folder, ids[0], size, resize)
        return mask, f"Green line: the lesion as a dermatologist outlined it ({ids[0]})."
    except DataError:
        return None, f"No lesion outline: the masks folder has none for {ids[0]} that can be read."


def outline(image: np.ndarray, mask: np.ndarray | None, colour: tuple[int, int, int] = (0, 255, 0)) -> np.ndarray:
    """uint8 (H, W, 3) `image` with the border of a bool (H, W) mask drawn in `colour` (unchanged
    without a mask): the lesion's edge over a heatmap, the inside left visible."""
    if mask is None:
        return image
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    out = np.array(image, copy=True)
    out[mask & ~inner] = colour
    return out


@st.cache_data(show_spinner="Computing the feature maps ...", max_entries=16)
def feature_maps_cached(model_path: str, image: np.ndarray) -> dict[str, np.ndarray]:
    """Every conv layer's activations for one model input (see `skinml.explain.features.feature_maps`)."""
    from skinml.explain.features import feature_maps

    return load_model(model_path).with_model(feature_maps, image)


@st.cache_data(show_spinner=False, max_entries=32)
def probability_cached(model_path: str, image: np.ndarray) -> float:
    """p(malignant) of the cached model for one model input uint8 (S, S, 3)."""
    classifier = load_model(model_path)
    return float(classifier.p_malignant(classifier.predict_proba(image[None].astype("float32") / 255.0))[0])


@st.cache_data(show_spinner=False, max_entries=32)
def class_probabilities_cached(model_path: str, image: np.ndarray) -> np.ndarray:
    """float (C,): the probability of each of the model's classes (`Classifier.classes`) for one
    model input uint8 (S, S, 3); the patient's metadata, if the model reads any, unknown."""
    return load_model(model_path).predict_proba(image[None].astype("float32") / 255.0)[0]


def zoomed(image: np.ndarray, width: int) -> np.ndarray:
    """Pixels (H, W) or (H, W, 3) enlarged by a whole factor to about `width` px wide, each pixel
    a square block (no blur), so that a small feature map stays readable on the page."""
    factor = max(1, width // image.shape[1])
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def grayscale(image: np.ndarray) -> np.ndarray:
    """float (H, W) in [0, 1]: the luminance of uint8 RGB pixels (H, W, 3), Pillow's "L" weights."""
    return np.asarray(Image.fromarray(image).convert("L"), dtype=float) / 255.0


# The heatmap methods the pages offer: the name shown -> the id of `skinml.explain.trust.METHODS`.
# A new method is one more entry here (and in METHODS).
HEATMAP_METHODS = {"Grad-CAM": "gradcam", "Grad-CAM, earlier layer": "gradcam_early", "HiResCAM": "hirescam",
                   "occlusion": "occlusion", "integrated gradients": "integrated_gradients"}


def heatmap_method(method_id: str | None) -> str:
    """The name shown for a method id of METHODS (Grad-CAM for None or an id the pages do not offer)."""
    return next((name for name, key in HEATMAP_METHODS.items() if key == method_id), "Grad-CAM")


@dataclass(frozen=True)
class HeatmapChoice:
    """What the heatmap controls chose: the method, the class whose score it explains (its name
    and its column in the model's output), the opacity."""

    method: str
    target: str
    alpha: float
    index: int = 0


def heatmap_ui(heatmap_class: str, key: str, photo: str = "", classes: tuple[str, ...] = tuple(LABELS),
               method: str = "Grad-CAM", names: dict[str, str] | None = None) -> HeatmapChoice:
    """Which class's score the heatmap explains (first the class the probability points to) and
    its opacity. `photo` (see `photo_id`) keys the class choice, so a new photo starts on its own
    class. Two classes are a radio, more (a diagnosis model's) a select box; `names` shows a
    class code by its name ("mel" -> "melanoma")."""
    names = names or {}
    order = [heatmap_class, *[c for c in classes if c != heatmap_class]]
    label = "Heatmap of what raised the score of"
    widget_key = f"{key}_target_{photo}" if photo else f"{key}_target"
    shown = lambda t: (f"{names.get(t, t)} (where the probability points)" if t == heatmap_class  # noqa: E731
                       else names.get(t, t))
    c1, c2 = st.columns(2)
    if len(order) == 2:
        target = c1.radio(label, order, horizontal=True, key=widget_key, format_func=shown)
    else:
        target = c1.selectbox(label, order, key=widget_key, format_func=shown)
    alpha = c2.slider("Heatmap opacity", 0.0, 1.0, 0.45, 0.05, key=f"{key}_alpha")
    return HeatmapChoice(method, target, alpha, list(classes).index(target))


def heatmap_cached(model_path: str, image: np.ndarray, choice: HeatmapChoice) -> np.ndarray | None:
    """The heatmap (float (S, S) in [0, 1]) of `choice` for one model input, cached; None when
    the method does not fit the model."""
    method = HEATMAP_METHODS[choice.method]
    if method == "gradcam":
        return grad_cam_cached(model_path, image, choice.index)
    with st.spinner(f"Computing {choice.method} ..."):
        return method_map_cached(model_path, image, choice.index, method)


def layer_groups(model, names: list[str]) -> dict[str, dict[str, list[str]]]:
    """The layers of `names` (feature-map layers, in order) grouped for people:
    {network: {block: [layer names]}}.

    Network: "network 1", "network 2", ... for the members of an ensemble (`member1_...`),
    "joined features" for the ensemble's `features`, else "the network". Block: "stem",
    "stage 1 · block 2", ... from skinml_resnet's names, else "all layers". Layers before a
    network's first convolution (rescaling, normalisation of the input) are left out: they
    show the photo, not what the network makes of it.
    """
    import re

    import keras

    groups: dict[str, dict[str, list[str]]] = {}
    started: set[str] = set()
    for name in names:
        member = re.match(r"member(\d+)_(.*)", name)
        network, short = (f"network {member.group(1)}", member.group(2)) if member else (
            ("joined features", name) if name == "features" else ("the network", name))
        if network not in started:
            if not isinstance(model.get_layer(name), keras.layers.Conv2D) and network != "joined features":
                continue
            started.add(network)
        block = re.match(r"(stem|stage(\d+)_block(\d+))_", short)
        label = "all layers" if not block else "stem" if block.group(1) == "stem" else \
            f"stage {block.group(2)} · block {block.group(3)}"
        groups.setdefault(network, {}).setdefault(label, []).append(name)
    return groups


def short_layer_name(name: str) -> str:
    """A layer's name within its block: "member1_stage2_block1_conv1" -> "conv1"."""
    import re

    return re.sub(r"^(member\d+_)?((stem|stage\d+_block\d+)_)?", "", name) or name
