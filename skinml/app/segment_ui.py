"""The lesion's outline and its ABCD measures on a page: one call, `lesion_outline_ui(data, name)`.

The shipped segmenter is loaded once for all sessions (`st.cache_resource`) and called under a
lock; each photo's outline and measures are cached per photo (`st.cache_data`). Nothing is
written to disk.
"""

from __future__ import annotations

import io
import threading

import numpy as np
import streamlit as st

from skinml.app import mtime_stamp, plain, show_error
from skinml.errors import SkinmlError
from skinml.segment.predict import SHIPPED

TEACHING = ("A teaching aid, not a verdict: these are the measures of the ABCD rule of dermoscopy, computed from "
            "the model's outline. They say what the rule looks at, never what the lesion is.")


@st.cache_resource(show_spinner="Loading the lesion segmenter ...", max_entries=1)
def _segmenter(path: str, stamp: int):
    from skinml.segment.predict import load_segmenter

    return load_segmenter(path), threading.Lock()


@st.cache_data(show_spinner="Outlining the lesion ...", max_entries=32)
def outline_cached(model_path: str, stamp: int, data: bytes, name: str, field_of_view_mm: float | None,
                   mask: np.ndarray | None = None) -> dict:
    """{"photo", "outlined" (uint8 (h, w, 3)), "mask" (bool (h, w)), "abcd", "warnings"} of a photo,
    by the segmenter in `model_path` (`stamp` changes when its file does); `mask`: the photo's mask
    when it was already computed (`PredictionResult.mask`): the segmenter is not run again."""
    from skinml.images.upload import read_image, to_rgb
    from skinml.segment.abcd import measure_lesion
    from skinml.segment.predict import draw_outline, mask_warnings, segment_photo

    photo = np.asarray(to_rgb(read_image(data, name)))
    if mask is None or mask.shape != photo.shape[:2]:
        model, lock = _segmenter(model_path, stamp)
        with lock:
            mask = segment_photo(model, photo)
    return {"photo": photo, "mask": mask, "outlined": draw_outline(photo, mask), "warnings": mask_warnings(mask),
            "abcd": measure_lesion(photo, mask, field_of_view_mm)}


def abcd_sentences(m: dict) -> list[str]:
    """The ABCD measures of `skinml.segment.abcd.measure_lesion` in plain words, one line each."""
    if not m.get("area_px"):
        return []
    size = (f"about {m['diameter_mm']:.1f} mm across (a disc of the same area), {m['area_mm2']:.0f} mm²"
            if "diameter_mm" in m else
            f"about {m['diameter_px']:.0f} pixels across (a disc of the same area); give the photo's width in mm "
            "to see millimetres")
    shares = ", ".join(f"{c} {m['colour_shares'][c]:.0%}" for c in m["colours"]) or "none above 5%"
    return [
        f"**A - Asymmetry**: folded over its long axis, {m['asymmetry_major']:.0%} of the lesion does not meet "
        f"itself; over its short axis, {m['asymmetry_minor']:.0%} (0% = a mirror image).",
        f"**B - Border**: compactness {m['compactness']:.2f} (1 = a smooth disc, lower = ragged or notched); "
        f"across the border the lightness changes by {m['border_gradient']:.1f} units per pixel "
        "(low = the lesion fades into the skin, high = a sharp edge).",
        f"**C - Colours**: {shares}; colour variance {m['colour_variance']:.0f} (delta E², how varied the "
        "colours are).",
        f"**D - Diameter**: {size}.",
    ]


def lesion_outline_ui(data: bytes, name: str, key: str = "outline", mask: np.ndarray | None = None) -> dict | None:
    """The photo with the lesion's outline, the warnings and the ABCD measures in plain words;
    returns `outline_cached`'s dict, or None when no segmenter is installed or the photo fails.
    `mask`: the photo's mask when the prediction already computed it (not segmented again)."""
    st.subheader("The lesion's outline and the ABCD measures")
    if not (SHIPPED / "model.keras").is_file():
        st.caption("No lesion segmenter is installed (skinml/assets/segmenter), so no outline is drawn.")
        return None
    fov = st.number_input("Photo width in millimetres (optional, 0 = unknown)", min_value=0.0, max_value=200.0,
                          value=0.0, step=1.0, key=f"{key}_fov",
                          help="The field of view of the dermoscope, to give sizes in millimetres.")
    try:
        out = outline_cached(str(SHIPPED), mtime_stamp([SHIPPED / "model.keras"]), data, name, fov or None, mask)
    except SkinmlError as exc:
        show_error(exc)
        return None
    for warning in out["warnings"]:
        st.warning(warning)
    a, b = st.columns(2)
    a.image(out["outlined"], caption=f"{plain(name)}: the model's outline of the lesion (green)", width="stretch",
            output_format="JPEG")
    with b:
        for line in abcd_sentences(out["abcd"]):
            st.markdown(line)
    st.caption(TEACHING)

    def outlined_png() -> bytes:  # encoded when clicked, not on every visit
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(out["outlined"]).save(buffer, format="PNG")
        return buffer.getvalue()

    st.download_button("Download the outlined photo (PNG)", outlined_png, file_name="skinml-outline.png",
                       mime="image/png", key=f"{key}_download")
    return out


OVERLAYS = ("none", "the dermatologists' masks", "the segmenter's outlines (predicted)")


def _given_masks(root: str) -> list:
    from skinml.data.masks import find_mask_folder
    from skinml.data.policy import folders_of

    return [m for m in (find_mask_folder(f) for f in folders_of(root)) if m is not None]


@st.cache_data(show_spinner="Outlining the lesions ...", max_entries=16)
def outlined_images(paths: tuple[str, ...], ids: tuple[str, ...], overlay: str, root: str,
                    stamp: int) -> list[tuple[np.ndarray, bool]]:
    """(photo with the outline drawn, whether an outline was found) for each image."""
    from skinml.data.masks import load_mask
    from skinml.errors import DataError
    from skinml.images.decode import read_photo
    from skinml.segment.predict import draw_outline, segment_photos

    photos = [read_photo(p) for p in paths]
    if overlay == OVERLAYS[2]:
        model, lock = _segmenter(str(SHIPPED), stamp)
        with lock:
            masks = segment_photos(model, photos)
    else:
        folders, masks = _given_masks(root), []
        for isic_id, photo in zip(ids, photos):
            mask = None
            for folder in folders:
                try:
                    mask = load_mask(folder, isic_id)
                    break
                except DataError:
                    continue
            masks.append(mask if mask is not None and mask.shape == photo.shape[:2] else None)
    return [(draw_outline(p, m) if m is not None else p, m is not None and bool(m.any()))
            for p, m in zip(photos, masks)]


def outlined_grid_ui(df, root: str, n: int = 12, columns: int = 6, seed: int = 0, key: str = "grid_outline") -> bool:
    """The image grid with lesion outlines drawn, given or predicted, when the visitor asks for them;
    False (nothing drawn) when they do not, so the page shows its plain grid."""
    import json

    options = [OVERLAYS[0]] + ([OVERLAYS[1]] if _given_masks(root) else []) \
        + ([OVERLAYS[2]] if (SHIPPED / "model.keras").is_file() else [])
    if len(options) == 1:
        return False
    overlay = st.radio("Lesion outlines", options, horizontal=True, key=key)
    readable = df[df["image_path"] != ""]
    if overlay == OVERLAYS[0] or readable.empty:
        return False
    sample = readable.sample(n=min(n, len(readable)), random_state=seed)
    try:
        images = outlined_images(tuple(sample["image_path"]), tuple(sample["isic_id"].astype(str)), overlay, root,
                                 mtime_stamp([SHIPPED / "model.keras"]))
    except SkinmlError as exc:
        show_error(exc)
        return True
    cols = st.columns(columns)
    for k, (row, (image, found)) in enumerate(zip(sample.itertuples(), images)):
        caption = f"{row.isic_id} · {row.benign_malignant}" + ("" if found else " · no outline")
        cols[k % columns].image(image, caption=plain(caption), width="stretch")
    if overlay == OVERLAYS[2]:
        metrics = json.loads((SHIPPED / "metrics.json").read_text()) if (SHIPPED / "metrics.json").is_file() else {}
        jaccard = metrics.get("test", {}).get("overall", {}).get("jaccard", {}).get("mean")
        st.caption("Green: the segmenter's predicted outline, not a dermatologist's"
                   + (f" (mean Jaccard {jaccard:.2f} against dermatologists' masks on held-out HAM10000 lesions)."
                      if jaccard is not None else "."))
    else:
        st.caption("Green: the outline a dermatologist drew (the dataset's masks).")
    return True


@st.cache_data(show_spinner=False, max_entries=8)
def _abcd_features(ids: tuple[str, ...], paths: tuple[str, ...], root: str, stamp: int):
    import pandas as pd

    from skinml.explain.abcd_rule import abcd_features

    model = _segmenter(str(SHIPPED), stamp) if (SHIPPED / "model.keras").is_file() else None
    bar = st.progress(0.0, text="Outlining and measuring every lesion ...")
    table = pd.DataFrame({"isic_id": ids, "image_path": paths})
    if model is None:
        features = abcd_features(table, _given_masks(root), None, lambda f, _: bar.progress(f))
    else:
        with model[1]:
            features = abcd_features(table, _given_masks(root), model[0], lambda f, _: bar.progress(f))
    bar.empty()
    return features


def abcd_vs_cnn_ui(table, root: str, key: str = "abcd") -> None:
    """The teaching view "The dermatologist's ABCD and the CNN" on a classifier's evaluated images
    (`table`: isic_id, image_path, y, p, and lesion_id when known)."""
    from skinml.explain.abcd_rule import compare_with_cnn
    from skinml.plots.abcd import plot_abcd_distributions, plot_abcd_vs_cnn_roc

    st.subheader("The dermatologist's ABCD and the CNN")
    st.caption("Dermatologists first learn the ABCD rule: Asymmetry, Border, Colours, Diameter. Here each lesion is "
               "outlined and measured that way, a logistic regression on those measures is scored on these images "
               "(each by a fit on the other lesions), and set beside the CNN on the very same images.")
    if not st.toggle("Compare (outlines and measures every image: a few seconds per hundred)", key=key):
        return
    rows = table[table["image_path"] != ""]
    try:
        features = _abcd_features(tuple(rows["isic_id"].astype(str)), tuple(rows["image_path"]), root,
                                  mtime_stamp([SHIPPED / "model.keras"]))
        groups = rows["lesion_id"].astype(str).where(rows["lesion_id"].astype(str) != "", rows["isic_id"]) \
            if "lesion_id" in rows else None
        out = compare_with_cnn(features, rows["y"], rows["p"], groups)
    except SkinmlError as exc:
        show_error(exc)
        return
    a, b = st.columns(2)
    for column, name, label in ((a, "abcd", "AUC of the ABCD measures"), (b, "cnn", "AUC of the CNN")):
        low, high = out[name]["interval"]
        column.metric(label, f"{out[name]['auc']:.2f}", help=f"95% bootstrap interval {low:.2f} to {high:.2f}.")
    st.plotly_chart(plot_abcd_vs_cnn_roc(out), key=f"{key}_roc")
    st.plotly_chart(plot_abcd_distributions(features, rows["y"]), key=f"{key}_box")
    masks = out["masks"]
    note = (f"Outlines: {masks.get('given', 0)} drawn by dermatologists, {masks.get('predicted', 0)} predicted by the "
            f"segmenter, {masks.get('none', 0)} without a lesion found.")
    if masks.get("predicted") and (SHIPPED / "metrics.json").is_file():
        import json

        jaccard = json.loads((SHIPPED / "metrics.json").read_text())["test"]["overall"]["jaccard"]["mean"]
        note += f" The segmenter's mean Jaccard on held-out HAM10000 lesions: {jaccard:.2f}."
    st.caption(note + " " + TEACHING)


@st.cache_data(show_spinner=False, max_entries=8)
def _outline_share(model_path: str, model_stamp: int, ids: tuple[str, ...], paths: tuple[str, ...], root: str,
                   stamp: int, n: int) -> dict:
    import pandas as pd

    from skinml.app.classifiers import load_model
    from skinml.explain.outline_share import heatmap_in_outline

    segmenter = _segmenter(str(SHIPPED), stamp) if (SHIPPED / "model.keras").is_file() else None
    bar = st.progress(0.0, text="Drawing each heatmap and outlining each lesion ...")
    table = pd.DataFrame({"isic_id": ids, "image_path": paths})
    with segmenter[1] if segmenter else threading.Lock():
        out = heatmap_in_outline(load_model(model_path), table, _given_masks(root), segmenter and segmenter[0],
                                 n=n, on_progress=lambda f, _: bar.progress(f))
    bar.empty()
    return out


def heatmap_in_outline_ui(table, root: str, model_path: str, key: str = "outline_share") -> None:
    """The teaching view "How much of the CNN's heatmap falls inside the outline" on a sample of a
    classifier's evaluated images (`table`: isic_id, image_path)."""
    from skinml.app.classifiers import files_stamp
    from skinml.explain.outline_share import outline_share_sentence
    from skinml.plots.explain import plot_outline_share
    from skinml.segment.predict import shipped_jaccard

    st.subheader("How much of the CNN's heatmap falls inside the lesion's outline")
    st.caption("The heatmap the clinician's page draws, on a sample of these images, against the lesion's outline "
               "(the dataset's mask where it has one, else the segmenter's), beside a centred blob of the same "
               "area that knows nothing of the image.")
    n = st.slider("Images in the sample", 10, 200, 40, step=10, key=f"{key}_n")
    if not st.toggle("Measure (one heatmap per image: up to 3 s each on two CPU cores)", key=key):
        return
    rows = table[table["image_path"] != ""]
    try:
        out = _outline_share(model_path, files_stamp(model_path), tuple(rows["isic_id"].astype(str)),
                             tuple(rows["image_path"]), root, mtime_stamp([SHIPPED / "model.keras"]), n)
    except SkinmlError as exc:
        show_error(exc)
        return
    if out["n"]:
        st.plotly_chart(plot_outline_share(out), key=f"{key}_chart")
    st.markdown(outline_share_sentence(out, shipped_jaccard()))
    if out["masks"]["predicted"]:
        st.caption(f"{out['masks']['predicted']} of the outlines are the segmenter's predictions, not a "
                   "dermatologist's.")
