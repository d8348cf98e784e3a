"""The ABCD reading of a lesion from its mask and photo: what a dermatologist measures first.

Asymmetry, Border, Colour and Diameter (Stolz's ABCD rule of dermoscopy), as numbers computed
from the mask (bool (H, W), True = lesion) and the photo (uint8 (H, W, 3)). They teach what the
rule looks at; they are not a diagnosis and no threshold here turns them into one.

Colours follow the six dermoscopic colours of the rule, each pixel of the lesion given the
nearest of six reference colours in CIELAB (references of Kasmi and Mokrani, IET Image
Processing 2016, "Classification of malignant melanoma and benign skin lesions: implementation
of automatic ABCD rule"); a colour is present when it covers at least 5% of the lesion.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import color, measure

from skinml.errors import ImageError

# RGB references of the six dermoscopic colours (Kasmi and Mokrani 2016).
DERMOSCOPIC_COLOURS = {
    "white": (197, 188, 217),
    "red": (118, 21, 17),
    "light brown": (163, 82, 16),
    "dark brown": (135, 44, 5),
    "blue-grey": (113, 108, 139),
    "black": (41, 31, 30),
}
PRESENT_SHARE = 0.05  # a colour counts as present from this share of the lesion's pixels

MEANINGS = {
    "area": "How much of the photo the lesion covers.",
    "diameter": "The diameter of a disc of the same area (the D of ABCD; more than 6 mm is the classic warning size).",
    "asymmetry_major": "Share of the lesion that does not overlap itself when folded over its long axis "
                       "(0 = mirror-symmetric).",
    "asymmetry_minor": "Share of the lesion that does not overlap itself when folded over its short axis "
                       "(0 = mirror-symmetric).",
    "compactness": "4 pi area / perimeter squared: 1 for a disc, lower for a ragged or notched border.",
    "border_gradient": "How abruptly the lightness changes across the border (mean CIELAB L* change per pixel); "
                       "low = a border that fades into the skin.",
    "colours": "The dermoscopic colours covering at least 5% of the lesion, with their shares.",
    "colour_variance": "Mean squared colour difference (CIELAB delta E squared) of the lesion's pixels from "
                       "its mean colour: how varied its colour is.",
}


def _check(photo: np.ndarray | None, mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask, bool)
    if mask.ndim != 2:
        raise ImageError("A lesion mask is one channel (height x width).")
    if photo is not None and np.asarray(photo).shape[:2] != mask.shape:
        raise ImageError("The photo and its lesion mask must be the same size.")
    return mask


def size_measures(mask: np.ndarray, field_of_view_mm: float | None = None) -> dict:
    """Area (px) and equivalent diameter (px); in mm too when `field_of_view_mm` (the photo's
    width in millimetres) is given."""
    mask = _check(None, mask)
    area = int(mask.sum())
    out = {"area_px": area, "diameter_px": float(np.sqrt(4 * area / np.pi))}
    if field_of_view_mm:
        mm = field_of_view_mm / mask.shape[1]
        out.update(area_mm2=area * mm * mm, diameter_mm=out["diameter_px"] * mm)
    return out


def principal_axes(mask: np.ndarray) -> dict:
    """The lesion's centroid (row, col), orientation (radians, scikit-image's: angle between the
    row axis and the long axis) and the lengths of its long and short axes (px)."""
    props = measure.regionprops(_check(None, mask).astype(np.uint8))[0]
    return {"centroid": props.centroid, "orientation": props.orientation,
            "major_axis_px": props.axis_major_length, "minor_axis_px": props.axis_minor_length}


def fold_asymmetry(mask: np.ndarray) -> tuple[float, float]:
    """(over the long axis, over the short axis): the share of lesion pixels whose mirror image
    across that axis (through the centroid) falls outside the lesion; 0 = symmetric."""
    mask = _check(None, mask)
    axes = principal_axes(mask)
    rows, cols = np.nonzero(mask)
    r0, c0 = axes["centroid"]
    theta = axes["orientation"]
    long_axis = np.array([np.cos(theta), np.sin(theta)])  # (row, col) direction of the long axis
    short_axis = np.array([-long_axis[1], long_axis[0]])
    points = np.stack([rows - r0, cols - c0], axis=1)
    result = []
    for axis in (long_axis, short_axis):
        along = points @ axis
        mirrored = 2 * along[:, None] * axis[None, :] - points  # reflect across the line along `axis`
        r = np.rint(mirrored[:, 0] + r0).astype(int)
        c = np.rint(mirrored[:, 1] + c0).astype(int)
        inside = (r >= 0) & (r < mask.shape[0]) & (c >= 0) & (c < mask.shape[1])
        hit = np.zeros(len(r), bool)
        hit[inside] = mask[r[inside], c[inside]]
        result.append(float(1 - hit.mean()))
    return result[0], result[1]


def compactness(mask: np.ndarray) -> float:
    """4 pi A / P^2 of the lesion (scikit-image's perimeter estimate): about 1 for a disc."""
    mask = _check(None, mask)
    perimeter = measure.perimeter(mask)
    return float(min(1.0, 4 * np.pi * mask.sum() / perimeter ** 2)) if perimeter else float("nan")


MAX_COLOUR_PIXELS = 40_000  # colour statistics use an even sample of at most this many lesion pixels


def _lesion_lab(photo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """CIELAB values of an even sample of the lesion's pixels: float (n, 3)."""
    pixels = np.asarray(photo)[mask]
    pixels = pixels[::max(1, len(pixels) // MAX_COLOUR_PIXELS)]
    return color.rgb2lab(pixels[None].astype(np.float32) / 255)[0]


def _crop(photo: np.ndarray, mask: np.ndarray, margin: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The lesion's bounding box with a margin: what the border and colour measures need."""
    rows, cols = np.nonzero(mask)
    r0, c0 = max(0, rows.min() - margin), max(0, cols.min() - margin)
    r1, c1 = rows.max() + margin + 1, cols.max() + margin + 1
    return np.asarray(photo)[r0:r1, c0:c1], mask[r0:r1, c0:c1]


def border_gradient(photo: np.ndarray, mask: np.ndarray) -> float:
    """Mean gradient magnitude of CIELAB lightness L* (0-100) on the lesion's border pixels, per pixel."""
    mask = _check(photo, mask)
    if not mask.any():
        return float("nan")
    photo, mask = _crop(photo, mask)
    lightness = color.rgb2lab(photo.astype(np.float32) / 255)[..., 0]
    gradient = np.hypot(ndimage.sobel(lightness, axis=0), ndimage.sobel(lightness, axis=1)) / 8  # Sobel sums 8x
    border = mask ^ ndimage.binary_erosion(mask)
    return float(gradient[border].mean()) if border.any() else float("nan")


def colour_shares(photo: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The share of the lesion's pixels nearest (CIELAB delta E) to each dermoscopic colour."""
    return _shares(_lesion_lab(photo, _check(photo, mask)))


def _shares(lab: np.ndarray) -> dict[str, float]:
    refs = color.rgb2lab(np.array([list(DERMOSCOPIC_COLOURS.values())], np.float32) / 255)[0]
    nearest = np.argmin(np.linalg.norm(lab[:, None, :] - refs[None], axis=2), axis=1)
    counts = np.bincount(nearest, minlength=len(refs)) / max(1, len(nearest))
    return {name: float(share) for name, share in zip(DERMOSCOPIC_COLOURS, counts)}


def colour_variance(photo: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared CIELAB distance of the lesion's pixels from their mean colour (delta E squared)."""
    return _variance(_lesion_lab(photo, _check(photo, mask)))


def _variance(lab: np.ndarray) -> float:
    return float(((lab - lab.mean(axis=0)) ** 2).sum(axis=1).mean()) if len(lab) else float("nan")


def measure_lesion(photo: np.ndarray, mask: np.ndarray, field_of_view_mm: float | None = None) -> dict:
    """All the measures of one lesion, JSON-ready: size, asymmetry, border, colours.

    Keys: area_px, diameter_px (area_mm2, diameter_mm with a field of view), major_axis_px,
    minor_axis_px, asymmetry_major, asymmetry_minor, compactness, border_gradient,
    colour_shares {colour: share}, colours (present, largest share first), colour_variance.
    An empty mask gives {"area_px": 0} only.
    """
    mask = _check(photo, mask)
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ImageError("The photo must be RGB pixels (uint8, height x width x 3).")
    if not mask.any():
        return {"area_px": 0}
    axes = principal_axes(mask)
    fold_long, fold_short = fold_asymmetry(mask)
    lab = _lesion_lab(photo, mask)
    shares = _shares(lab)
    return {**size_measures(mask, field_of_view_mm),
            "major_axis_px": float(axes["major_axis_px"]), "minor_axis_px": float(axes["minor_axis_px"]),
            "asymmetry_major": fold_long, "asymmetry_minor": fold_short,
            "compactness": compactness(mask), "border_gradient": border_gradient(photo, mask),
            "colour_shares": shares,
            "colours": sorted((c for c, s in shares.items() if s >= PRESENT_SHARE), key=lambda c: -shares[c]),
            "colour_variance": _variance(lab)}
