"""Does a classifier look at the lesion? Its AUC on the photos, with the lesion removed and with only the lesion.

A model that learned the lesion loses its AUC when the lesion is gone and keeps it when only
the lesion is left; one that learned the skin around it, dark corners, rulers or ink does the
opposite (Bissoto et al. 2019 found AUC about 0.7 with the lesion hidden on ISIC models).

- Lesion removed (`remove_lesion`): the lesion's outline, widened by a few pixels so that its
  border goes too, is filled from the skin around it with OpenCV's Telea inpainting (a
  fast-marching fill that carries the surrounding colours inwards). What the model still
  knows then comes from the skin, the corners and anything else outside the lesion, and the
  size of the smooth filled area.
- Lesion only (`keep_lesion`): every pixel outside the outline takes one colour, the same for
  every image: the mean skin colour of the evaluated images (outside their outlines,
  `skin_colour`). One colour for all images, so that the fill says nothing about an image's
  own background; the colour of skin rather than grey, so that the images stay within the
  colours the model saw in training.

Both are made at the photo's own size and then resized like the model's input. Masks come
from a folder of dermatologists' outlines (`<isic_id>_segmentation.png`,
`skinml.data.masks`) or from any function image -> mask (a segmenter's predicted outlines).
Every AUC has a 95% percentile bootstrap interval resampled by lesion (the images of one
lesion stay together; malignant and benign lesions are resampled separately), and so do the
paired differences from the photos' AUC.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from skinml.data.masks import attach_masks, find_mask_folder, load_mask
from skinml.errors import DataError
from skinml.images.decode import read_photo
from skinml.io import load_report, save_report
from skinml.metrics.binary import auc

BIAS_FILE = "bias.json"
VARIANTS = ("photo", "lesion_removed", "lesion_only")
LABELS = {"photo": "photo", "lesion_removed": "lesion removed", "lesion_only": "lesion only"}
MARGIN = 0.02  # the outline is widened by this share of the photo's shorter side before the fill
MaskSource = str | Path | Callable[[np.ndarray], np.ndarray]


# ---------------------------------------------------------------- the two altered photos

def widen(mask: np.ndarray, pixels: int) -> np.ndarray:
    """bool (H, W): the mask grown by `pixels` in every direction (a disc-shaped dilation)."""
    import cv2

    mask = np.asarray(mask, bool)
    if pixels <= 0:
        return mask
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(mask.astype("uint8"), disc).astype(bool)


def margin_pixels(shape: tuple[int, ...]) -> int:
    """How far the outline is widened for a photo of this (H, W, ...) shape: MARGIN of the shorter side, >= 2."""
    return max(2, round(MARGIN * min(shape[:2])))


def remove_lesion(image: np.ndarray, mask: np.ndarray, margin: int | None = None, fill=None) -> np.ndarray:
    """uint8 (H, W, 3): the photo with the lesion (bool (H, W) mask, widened by `margin` pixels,
    default `margin_pixels`) filled from the skin around it by Telea inpainting. Pixels
    outside the widened mask are unchanged. A lesion that covers the whole photo leaves no skin
    to fill from: the photo becomes `fill` (RGB) all over, or without one, DataError."""
    import cv2

    image = np.ascontiguousarray(image, dtype="uint8")
    region = widen(mask, margin_pixels(image.shape) if margin is None else margin)
    if region.all():
        if fill is None:
            raise DataError("The lesion covers the whole photo: there is no skin left to fill it from.")
        return np.broadcast_to(np.asarray(fill, "uint8"), image.shape).copy()
    filled = cv2.inpaint(image, region.astype("uint8"), max(3, 2 * margin_pixels(image.shape)), cv2.INPAINT_TELEA)
    return np.where(region[..., None], filled, image)  # the fill never touches a pixel outside


def keep_lesion(image: np.ndarray, mask: np.ndarray, fill) -> np.ndarray:
    """uint8 (H, W, 3): the photo with every pixel outside the lesion (bool (H, W)) set to `fill` (RGB, 0..255)."""
    image = np.asarray(image, dtype="uint8")
    return np.where(np.asarray(mask, bool)[..., None], image, np.asarray(fill, "uint8")[None, None, :])


def skin_colour(pairs) -> np.ndarray:
    """uint8 (3,): the mean colour of the pixels outside the lesion over all the photos given:
    an iterable of (photo uint8 (H, W, 3), bool mask (H, W)), any sizes, read one at a time."""
    total, count = np.zeros(3), 0
    for image, mask in pairs:
        outside = np.asarray(image, "float64")[~np.asarray(mask, bool)]
        total += outside.sum(axis=0)
        count += len(outside)
    if not count:
        raise DataError("Every lesion covers its whole photo: there is no skin to take a colour from.")
    return np.round(total / count).astype("uint8")


def photo_mask(masks: MaskSource, isic_id: str, image: np.ndarray) -> np.ndarray:
    """bool (H, W) at the photo's size: a dermatologist's outline from a folder, or `masks(image)`."""
    mask = np.asarray(masks(image), bool) if callable(masks) else load_mask(masks, isic_id)
    if mask.shape != image.shape[:2]:
        resized = Image.fromarray(mask.astype("uint8") * 255).resize(image.shape[1::-1], Image.Resampling.NEAREST)
        mask = np.asarray(resized) >= 128
    return mask


def variants(image: np.ndarray, mask: np.ndarray, fill) -> dict[str, np.ndarray]:
    """{variant: uint8 (H, W, 3)} of one photo: the photo, the lesion removed, the lesion only."""
    return {"photo": np.asarray(image, "uint8"), "lesion_removed": remove_lesion(image, mask, fill=fill),
            "lesion_only": keep_lesion(image, mask, fill)}


# ---------------------------------------------------------------- intervals resampled by lesion

def lesion_groups(table: pd.DataFrame) -> np.ndarray:
    """One group name per row: its lesion id, else its own image id (an image with no lesion id is its own lesion)."""
    lesion = table["lesion_id"].fillna("").astype(str) if "lesion_id" in table else pd.Series("", index=table.index)
    return np.where(lesion.ne(""), lesion, "image:" + table["isic_id"].astype(str)).astype(str)


def rank_auc(y: np.ndarray, s: np.ndarray) -> float:
    """The AUC from ranks (the Mann-Whitney U over n_malignant x n_benign; ties count half): the same
    figure as scikit-learn's roc_auc_score, fast enough for a thousand resamples."""
    from scipy.stats import rankdata

    positive = y == 1
    n1, n0 = int(positive.sum()), int((~positive).sum())
    return float((rankdata(s)[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auc_by_lesion(y, scores: dict[str, np.ndarray], groups, n_boot: int = 1000, seed: int = 0,
                  reference: str = "photo") -> dict:
    """AUC of each score (float (N,) each) against labels y (0/1, (N,)), with 95% percentile
    bootstrap intervals from resampling lesions (`groups`, (N,)) with replacement, malignant
    and benign lesions separately; and each score's difference from `reference`, from the
    same resamples (paired). Returns {"auc": {name: {"auc", "low", "high"}},
    "minus_<reference>": {name: {"difference", "low", "high"}}} (low = high = the value when n_boot is 0)."""
    y, groups = np.asarray(y, int), np.asarray(groups)
    if len(np.unique(y)) < 2:
        raise DataError("The AUC needs both benign and malignant images.")
    names, codes = np.unique(groups, return_inverse=True)
    label = np.zeros(len(names), int)
    label[codes] = y  # a lesion has one label
    rows_of = [np.flatnonzero(codes == g) for g in range(len(names))]
    by_class = [np.flatnonzero(label == c) for c in (0, 1)]
    rng = np.random.default_rng(seed)
    values = {name: auc(y, s) for name, s in scores.items()}
    samples = {name: [] for name in scores}
    for _ in range(n_boot):
        picked = np.concatenate([rng.choice(lesions, len(lesions)) for lesions in by_class])
        rows = np.concatenate([rows_of[g] for g in picked])
        for name, s in scores.items():
            samples[name].append(rank_auc(y[rows], np.asarray(s)[rows]))
    interval = lambda draws, value: [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))] \
        if draws else [value, value]
    out = {"auc": {}, f"minus_{reference}": {}}
    for name in scores:
        low, high = interval(samples[name], values[name])
        out["auc"][name] = {"auc": round(values[name], 4), "low": round(low, 4), "high": round(high, 4)}
        if name != reference:
            draws = list(np.subtract(samples[name], samples[reference]))
            diff = values[name] - values[reference]
            low, high = interval(draws, diff)
            out[f"minus_{reference}"][name] = {"difference": round(diff, 4), "low": round(low, 4),
                                               "high": round(high, 4)}
    return out


# ---------------------------------------------------------------- the test

def find_masks(masks: MaskSource | None, data_dirs=()) -> MaskSource:
    """Where the masks come from: a function (predicted outlines), a folder, or (None) the masks
    folder found beside one of `data_dirs`; DataError with a sentence when there is none."""
    if callable(masks):
        return masks
    folders = [Path(masks)] if masks else [f for f in map(find_mask_folder, data_dirs) if f is not None]
    if not folders:
        raise DataError("No lesion masks found: expected a folder '<data>-segmentations' beside the data "
                        "folder or 'masks/' inside it; pass the folder with --masks.")
    if not folders[0].is_dir():
        raise DataError(f"The masks folder {folders[0]} does not exist.")
    return folders[0]


def mask_source(table: pd.DataFrame, masks: MaskSource | None, data_dirs=()) -> tuple[pd.DataFrame, MaskSource]:
    """The rows that have a mask (every row for a function), and where the masks come from (`find_masks`)."""
    source = find_masks(masks, data_dirs)
    if callable(source):
        return table, source
    kept, _ = attach_masks(table, source)
    if kept.empty:
        raise DataError(f"None of the {len(table)} images has a lesion mask in {source}.")
    return kept, source


def predict_variants(classifier, table: pd.DataFrame, masks: MaskSource, fill=None, tta: bool = False,
                     patient_data: bool = True, batch_size: int = 32,
                     on_progress=None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """p(malignant), float (N,), of each variant of every row of `table` (its image_path and
    isic_id; its age, sex and site for a model that reads them, unless `patient_data` is False:
    then every value is unknown), and the fill colour used (default: `skin_colour` of these photos)."""
    from skinml.images.decode import load_image

    if fill is None:
        photos = (read_photo(path) for path in table["image_path"])
        fill = skin_colour((image, photo_mask(masks, i, image)) for image, i in zip(photos, table["isic_id"]))
    out = {name: np.zeros(len(table)) for name in VARIANTS}
    for start in range(0, len(table), batch_size):
        rows = table.iloc[start:start + batch_size]
        batch = {name: [] for name in VARIANTS}
        for path, isic_id in zip(rows["image_path"], rows["isic_id"]):
            image = read_photo(path)
            for name, altered in variants(image, photo_mask(masks, isic_id, image), fill).items():
                batch[name].append(load_image(altered, classifier.image_size, classifier.resize))
        for name, images in batch.items():
            metadata = rows.reset_index(drop=True) if classifier.uses_metadata and patient_data else None
            out[name][start:start + len(rows)] = classifier.p_malignant(classifier.predict_proba(
                np.stack(images).astype("float32") / 255.0, tta=tta, metadata=metadata))
        if on_progress:
            on_progress(min(1.0, (start + len(rows)) / len(table)), {"images": start + len(rows)})
    return out, np.asarray(fill, "uint8")


def bias_test(classifier, table: pd.DataFrame, masks: MaskSource | None = None, data_dirs=(),
              tta: bool = False, patient_data: bool = True, n_boot: int = 1000, seed: int = 0,
              on_progress=None) -> dict:
    """The classifier's AUC of p(malignant) on the photos of `table` (labelled rows: isic_id,
    image_path, benign_malignant, lesion_id), with the lesion removed and with only the lesion,
    each with its interval and its paired difference from the photos (see `auc_by_lesion`).

    `masks`: a folder of outlines, a function image uint8 (H, W, 3) -> bool (H, W) (a
    segmenter), or None for the masks folder beside one of `data_dirs`. Rows without a mask
    are left out. `patient_data`: a model that reads age, sex and site gets them (else
    "unknown"). A JSON-ready dict: n, n_malignant, n_lesions, auc, minus_photo, fill, masks, ...
    """
    from skinml.data.policy import labels_of

    table, source = mask_source(table, masks, data_dirs)
    table = table.reset_index(drop=True)
    y = labels_of(table)
    scores, fill = predict_variants(classifier, table, source, tta=tta, patient_data=patient_data,
                                    on_progress=on_progress)
    groups = lesion_groups(table)
    report = auc_by_lesion(y, scores, groups, n_boot, seed)
    return {"n": int(len(table)), "n_malignant": int(y.sum()), "n_lesions": int(len(np.unique(groups))),
            **report, "fill": {"lesion_only": f"one colour for every image: the mean skin colour of these photos, "
                                              f"RGB {tuple(int(v) for v in fill)}",
                               "lesion_removed": "Telea inpainting (OpenCV) of the outline widened by "
                                                 f"{MARGIN:.0%} of the photo's shorter side"},
            "fill_rgb": [int(v) for v in fill],
            "masks": "predicted by a segmenter" if callable(source) else f"dermatologists' outlines in {source}",
            "patient_data": bool(getattr(classifier, "uses_metadata", False) and patient_data),
            "tta": bool(tta), "intervals": f"95% percentile bootstrap over lesions, {n_boot} resamples"}


def flat_figures(report: dict) -> dict:
    """The figures `evaluate --json` adds: lesion_removed_auc and lesion_only_auc, with their
    intervals in the report's `intervals` form ({name: [low, high]})."""
    figures = {f"{name}_auc": report["auc"][name]["auc"] for name in VARIANTS[1:]}
    intervals = {f"{name}_auc": [report["auc"][name]["low"], report["auc"][name]["high"]] for name in VARIANTS[1:]}
    return {**figures, "intervals": intervals}


# ---------------------------------------------------------------- held-out images with masks

def held_out_table(folder, data_dir: str | Path, lesion_dirs=(), masks: str | Path | None = None,
                   n: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Labelled images of `data_dir` with a dermatologist's mask whose photo and lesion a classifier
    folder never learned from or was tuned on (its `training_images.npz`, matched by ISIC id, by
    lesion and by pixels: `skinml.cnn.seen.unseen`): one image per lesion (a seeded draw), and
    with `n` at most n of them, the malignant first (up to half), benign lesions filling the rest.
    `lesion_dirs`: the dataset folders whose lesion ids name the indexed images (the folders the
    model was trained on). `attrs`: left_out_seen, left_out_by_pixels, without_mask, held_out_lesions."""
    from skinml.cnn.seen import unseen
    from skinml.data.policy import DataPolicy, apply_policy
    from skinml.data.readers import load_dataset, load_datasets

    df, _ = apply_policy(load_dataset(data_dir), DataPolicy())
    lesions = load_datasets([data_dir, *lesion_dirs]) if lesion_dirs else df
    kept = unseen(df, folder, lesions=lesions, by_pixels=True)
    if not kept.attrs.get("index"):
        raise DataError(f"{folder} has no training index (training_images.npz): the images it learned "
                        "from cannot be left out.")
    with_mask, source = mask_source(kept, masks, [data_dir])
    df = with_mask.sample(frac=1, random_state=seed)
    df = pd.concat([df[df["lesion_id"].eq("")], df[df["lesion_id"].ne("")].drop_duplicates("lesion_id")])
    if n and len(df) > n:
        malignant = df[df["benign_malignant"] == "malignant"].head(n // 2)
        df = pd.concat([malignant, df[df["benign_malignant"] == "benign"].head(n - len(malignant))])
    df = df.sort_values("isic_id").reset_index(drop=True)
    df.attrs.update(left_out_seen=kept.attrs["left_out_seen"], left_out_by_pixels=kept.attrs["left_out_by_pixels"],
                    without_mask=int(len(kept) - len(with_mask)), held_out_lesions=int(len(df)), masks=str(source))
    return df


# ---------------------------------------------------------------- the file in a classifier folder

def save_bias(report: dict, folder: str | Path) -> Path:
    """Write a bias test as `bias.json` in a classifier folder."""
    return save_report(report, folder, BIAS_FILE)


def load_bias(classifier) -> dict | None:
    """The saved bias test of a classifier folder (a `Classifier` or a path), or None."""
    return load_report(classifier, BIAS_FILE)
