"""Does this look like a dermoscopy image? A measurable out-of-distribution check.

Eleven colour and texture statistics of the photo (how much of it is skin-coloured, how
saturated and bright, how many hard edges and perfectly flat areas, whether the middle is
darker than the rim as where a lesion sits under a dermoscope ...) are compared with the
same statistics of real dermoscopy images: the Mahalanobis distance to their mean (a
Ledoit-Wolf covariance). The check fires above a threshold set at the 99th percentile of
distances on the calibration images; each statistic outside its own 0.5-99.5 percentile
range adds a sentence saying what is unusual. A photo without colour (grayscale) fires as well,
whatever its distance: its shape statistics can look right, but the model needs the colour.
Given the lesion mask of the photo (`mask`, e.g. the shipped segmenter's, which
`skinml.predict.predict_upload` computes once and reuses for the outline), the check also fires
when no lesion was found (the mask marks less than `skinml.segment.predict.NO_LESION_SHARE` of the
photo), with the reason NO_LESION: a photo of plain skin, or of anything else the segmenter
sees no lesion in, has nothing for the model to judge.

The reference statistics live in `skinml/assets/ood.json` (means and covariance of
statistics only: no image), refitted with `python -m skinml.ood.fit [ISIC_FOLDER]`, which
also measures how often the check fires and stores it there under "rates".

A photo in a dermatoscope's round black frame (black corners) is measured inside the frame:
on the largest box within its lit field (`field_of_view`), as a photo without the frame would be.

Measured on the ISIC sample (4,890 dermoscopy images; fitted on its train+val split,
threshold at the 99th percentile): fires on 1.6% of the 489 held-out test images (8; HAM10000
1.0%, ISIC 2017 5.1%, the two Kaggle sets 0% and 1.2%) and on 1.0% of the 5,287 HAM10000
images that are not in the sample (54); on 1 of the 109 photos of the sample in a black frame
(4 before the frame was measured through) and 0 of the 89 such HAM10000 photos; on 17 of the
489 test images framed by a drawn black circle of 90% of the short side (without this rule: 49 of
the first 150).
It fires on 99.5% of 222 non-dermoscopic images: drawn faces, text documents, blank images,
landscapes and screenshots 100% each (40 of each), scikit-learn's sample photos and crops of
them 95% (21 of 22). It is not a proof: a close-up clinical photo of skin can pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from skinml import ASSETS
from skinml.images.decode import load_image
from skinml.segment.predict import no_lesion

REFERENCE_PATH = ASSETS / "ood.json"
SIDE = 128  # statistics are computed on a 128x128 version of the photo

# Name, and the sentence shown when the value is unusually low / high for dermoscopy.
FEATURES = {
    "skin_fraction": ("Little of the picture has skin colour.", None),
    "saturation": ("The colours are very washed out or grey.", "The colours are much more vivid than skin."),
    "brightness": ("The picture is very dark.", "The picture is very bright, like a page or a blank screen."),
    "contrast": ("The picture is almost uniform: there is nothing to see.",
                 "The picture has unusually strong contrast."),
    "edges": (None, "It has many hard, sharp edges, like text, drawings or a screenshot."),
    "flat": (None, "Large areas are perfectly flat, as in drawings, screenshots or blank images."),
    "cool_colours": (None, "It has strong green, blue or purple areas that skin does not have."),
    "centre_contrast": ("Nothing darker stands out in the middle, where a lesion would be.", None),
    "colourfulness": ("There is almost no colour variation.", "It is more colourful than skin."),
    "red_chroma": ("The colour balance is unlike skin (too little red).", "The colour balance is unusually red."),
    "green_chroma": ("The colour balance is unlike skin.", "The colour balance is unusually green."),
}
# A corner darker than this (mean luminance, 0-1) is a dermatoscope's black frame: the darkest
# lesions' dermoscopy field stays above it, the frame's black is near 0.
FRAME_DARK = 0.12
GENERIC = "Its colours and texture are unlike the dermoscopy images the model learned from."
# A photo without colour: mean HSV saturation below this (the least saturated 0.5% of the ISIC
# sample's dermoscopy images lie above 0.08; a grayscale copy has 0). The score alone lets such
# photos through, yet colour carries much of what the model uses: on a grayscale copy of a
# melanoma the shipped model's probability fell from 99.5% to 47.3%.
GRAYSCALE_SATURATION = 0.03
NO_LESION = ("No lesion found: the lesion segmenter outlined nothing in this photo, so there is nothing for the "
             "model to judge.")
GRAYSCALE = ("The photo has no colour (it is grayscale, or nearly): the model learned from colour "
             "dermoscopy images and relies on colour, so its answer here means little.")


def measure(image) -> np.ndarray:
    """The statistics of FEATURES for one photo: float64 (11,).

    `image` is a Pillow image or uint8 (H, W, 3); it is reduced to SIDE x SIDE first. A photo
    in a dermatoscope's round black frame is measured inside the frame (`field_of_view`).
    """
    image = Image.fromarray(load_image(image, SIDE))
    box = field_of_view(np.asarray(image))
    if box is not None:
        image = image.resize((SIDE, SIDE), Image.Resampling.BILINEAR, box=box)
    rgb = np.asarray(image, dtype="float64") / 255.0
    hsv = np.asarray(image.convert("HSV"), dtype="float64") / 255.0
    hue, sat, val = hsv[..., 0] * 360, hsv[..., 1], hsv[..., 2]
    lum = rgb @ [0.299, 0.587, 0.114]

    skin = ((hue < 55) | (hue > 320)) & (sat > 0.08) & (val > 0.2)
    cool = (hue > 70) & (hue < 290) & (sat > 0.25) & (val > 0.2)
    gy, gx = np.gradient(lum)
    edges = np.hypot(gx, gy) > 0.15
    local_range = _local_range(rgb)
    flat = (local_range == 0) & (val > 0.1)  # a dermoscope's black corners are flat: not counted

    yy, xx = np.mgrid[0:SIDE, 0:SIDE] / (SIDE - 1) - 0.5
    radius = np.hypot(xx, yy)
    centre_contrast = lum[(radius > 0.3) & (radius < 0.45)].mean() - lum[radius < 0.2].mean()

    rg, yb = rgb[..., 0] - rgb[..., 1], 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    chroma = rgb.sum(-1) + 1e-6
    return np.array([skin.mean(), sat.mean(), val.mean(), lum.std(), edges.mean(), flat.mean(),
                     cool.mean(), centre_contrast, colourfulness,
                     (rgb[..., 0] / chroma).mean(), (rgb[..., 1] / chroma).mean()])


def field_of_view(pixels: np.ndarray, dark: float = FRAME_DARK) -> tuple[float, float, float, float] | None:
    """The largest box inside a dermatoscope's round field of view, or None without a frame.

    `pixels`: uint8 (H, W, 3). A frame is there when all four corners are black (mean luminance
    below `dark`, on a 0-1 scale); the lit field is then taken as an ellipse through the lit
    pixels' extents along the row and column of their centroid, and the box returned
    (left, top, right, bottom, in pixels) is the rectangle inscribed in it: what a photo without
    the frame would show.
    """
    lum = np.asarray(pixels, "float64") @ [0.299, 0.587, 0.114] / 255.0
    h, w = lum.shape
    k = max(2, min(h, w) // 16)
    if max(lum[:k, :k].mean(), lum[:k, -k:].mean(), lum[-k:, :k].mean(), lum[-k:, -k:].mean()) >= dark:
        return None
    lit = lum >= dark
    if lit.mean() < 0.2:  # mostly dark: a dark photo, not a frame around a field of view
        return None
    ys, xs = np.nonzero(lit)
    cy, cx = int(round(ys.mean())), int(round(xs.mean()))
    row, col = np.nonzero(lit[cy])[0], np.nonzero(lit[:, cx])[0]
    if not len(row) or not len(col):
        return None
    half_w, half_h = (row[-1] - row[0] + 1) / 2 / np.sqrt(2), (col[-1] - col[0] + 1) / 2 / np.sqrt(2)
    mid_x, mid_y = (row[-1] + row[0] + 1) / 2, (col[-1] + col[0] + 1) / 2
    return (max(0.0, mid_x - half_w), max(0.0, mid_y - half_h), min(float(w), mid_x + half_w),
            min(float(h), mid_y + half_h))


def _local_range(rgb: np.ndarray) -> np.ndarray:
    """Largest minus smallest value in each pixel's 3x3 neighbourhood, over channels: (H, W)."""
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(rgb, ((1, 1), (1, 1), (0, 0)), mode="edge"),
                                                       (3, 3), axis=(0, 1))
    return (windows.max(axis=(-1, -2)) - windows.min(axis=(-1, -2))).max(axis=-1)


def _transform(stats: np.ndarray) -> np.ndarray:
    """Fractions on a log-odds scale, so that 0.001 and 0.01 are as far apart as 0.1 and 0.5."""
    out = np.array(stats, dtype="float64", copy=True)
    for i in (0, 4, 5, 6):  # skin, edges, flat, cool
        p = np.clip(out[..., i], 0.002, 0.998)
        out[..., i] = np.log(p / (1 - p))
    return out


@dataclass
class OODResult:
    """`score` (Mahalanobis distance), `threshold`, `fired` (score > threshold, a photo without
    colour, or no lesion found), `warnings`, `grayscale` (no colour), `lesion_found` (None when no
    mask was given)."""

    score: float
    threshold: float
    fired: bool
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)
    grayscale: bool = False
    lesion_found: bool | None = None


def fit_reference(stats: np.ndarray, quantile: float = 0.99) -> dict:
    """Reference statistics from dermoscopy images' `measure` rows (N, 11): a JSON-able dict."""
    from sklearn.covariance import LedoitWolf

    z = _transform(stats)
    cov = LedoitWolf().fit(z)
    distances = np.sqrt(cov.mahalanobis(z))
    return {"features": list(FEATURES), "mean": cov.location_.tolist(), "precision": cov.precision_.tolist(),
            "threshold": float(np.quantile(distances, quantile)), "quantile": quantile,
            "low": np.quantile(stats, 0.005, axis=0).tolist(), "high": np.quantile(stats, 0.995, axis=0).tolist(),
            "n_images": int(len(stats))}


@lru_cache(maxsize=4)
def _load(path: str) -> dict:
    return json.loads(Path(path).read_text())


def load_reference(path: str | Path | None = None) -> dict:
    """The fitted reference (dict, as written by `fit_reference` plus measured `rates`)."""
    return _load(str(path or REFERENCE_PATH))


def score_stats(stats: np.ndarray, reference: dict) -> np.ndarray:
    """Mahalanobis distances of `measure` rows (N, 11) to the reference: float (N,)."""
    d = _transform(np.atleast_2d(stats)) - np.asarray(reference["mean"])
    return np.sqrt(np.einsum("ni,ij,nj->n", d, np.asarray(reference["precision"]), d))


def check_dermoscopy(image, reference: dict | None = None, mask: np.ndarray | None = None) -> OODResult:
    """Does `image` (Pillow or uint8 (H, W, 3)) look like a dermoscopy image? See the module doc.

    `mask`: the photo's lesion mask (bool, any size), when one was computed: an empty one (no
    lesion found) fires the check with the reason NO_LESION. None: the lesion is not checked.
    """
    reference = reference or load_reference()
    stats = measure(image)
    score = float(score_stats(stats, reference)[0])
    grayscale = bool(stats[list(FEATURES).index("saturation")] < GRAYSCALE_SATURATION)
    lesion_found = None if mask is None else not no_lesion(mask)
    fired = score > reference["threshold"] or grayscale or lesion_found is False
    warnings = [GRAYSCALE] if grayscale else []
    if lesion_found is False:
        warnings.append(NO_LESION)
    if fired:
        for (low_text, high_text), value, low, high in zip(
                FEATURES.values(), stats, reference["low"], reference["high"]):
            text = low_text if value < low else high_text if value > high else None
            if text and text not in warnings and not (grayscale and text == FEATURES["saturation"][0]):
                warnings.append(text)
        warnings = ["This does not look like a dermoscopy image: the model was trained only on "
                    "dermoscopy images, so its answer here means little."] + (warnings or [GENERIC])
    return OODResult(score, float(reference["threshold"]), fired, warnings,
                     dict(zip(FEATURES, map(float, stats))), grayscale, lesion_found)
