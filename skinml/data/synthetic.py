"""A built-in synthetic dataset of lesion-like images that follow the ABCD rule of dermoscopy.

Real ISIC images cannot ship with the package, so a newcomer with no data, and the tests,
get generated ones. Benign lesions are small, round, symmetric, evenly brown with a sharp
border; malignant ones are larger, asymmetric, with an irregular blurred border, several
colours (brown, black, blue-grey, red) and dots (Asymmetry, Border, Colour, Diameter).
They are clearly labelled synthetic (`attribution` = "skinml synthetic (ABCD rule)").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from skinml import settings

ATTRIBUTION = "skinml synthetic (ABCD rule)"
SKIN_TONES = [(236, 200, 180), (225, 184, 155), (198, 150, 120), (160, 112, 84)]


def make_lesion(malignant: bool, size: int = 128, seed: int = 0) -> np.ndarray:
    """One synthetic dermoscopy-like image: uint8 (size, size, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
    skin = np.array(SKIN_TONES[rng.integers(len(SKIN_TONES))], float)
    img = skin + rng.normal(0, 6, (size, size, 3))  # skin texture
    img *= (1 - 0.35 * (xx**2 + yy**2) * 2)[..., None]  # dermoscope vignette

    # Border: a radius that wobbles with angle; malignant lesions wobble more and are
    # stretched unevenly (asymmetry) and larger (diameter).
    angle = np.arctan2(yy, xx)
    radius = rng.uniform(0.22, 0.32) if malignant else rng.uniform(0.12, 0.2)
    wobble = sum(rng.uniform(0, 0.09 if malignant else 0.015) * np.cos(k * angle + rng.uniform(0, 6.3))
                 for k in range(2, 9))
    stretch = 1 + (rng.uniform(0.2, 0.5) if malignant else rng.uniform(0, 0.1)) * np.cos(angle - rng.uniform(0, 6.3))
    cx, cy = rng.uniform(-0.06, 0.06, 2)
    dist = np.hypot(xx - cx, yy - cy) / (radius * stretch * (1 + wobble))
    mask = np.clip((1 - dist) * (6 if malignant else 25), 0, 1)

    brown = np.array([120, 70, 40]) * rng.uniform(0.8, 1.1)
    lesion = np.broadcast_to(brown, img.shape).copy()
    if malignant:  # colour variegation: blotches of dark brown, black, blue-grey and red
        for colour in ([60, 35, 25], [30, 25, 30], [90, 100, 130], [160, 70, 70]):
            if rng.random() < 0.8:
                bx, by = rng.uniform(-radius, radius, 2)
                blob = np.exp(-((xx - cx - bx) ** 2 + (yy - cy - by) ** 2) / (2 * (radius / 2.5) ** 2))
                lesion = lesion * (1 - blob[..., None]) + np.array(colour) * blob[..., None]
        for _ in range(rng.integers(5, 15)):  # irregular dots and globules
            dx, dy = rng.uniform(-radius, radius, 2)
            dot = np.hypot(xx - cx - dx, yy - cy - dy) < rng.uniform(0.008, 0.02)
            lesion[dot] = [35, 25, 25]
    else:  # a faint even reticular network
        net = 0.5 + 0.5 * np.sin(xx * rng.uniform(60, 90)) * np.sin(yy * rng.uniform(60, 90))
        lesion *= (0.9 + 0.1 * net)[..., None]

    img = img * (1 - mask[..., None]) + lesion * mask[..., None]
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    return np.asarray(out.filter(ImageFilter.GaussianBlur(0.6 if malignant else 0.3)))


def write_demo_dataset(out_dir: str | Path, n: int = 200, size: int = 128, seed: int = 0) -> Path:
    """Write `n` synthetic lesions (half malignant) as an isic-cli folder; returns it.

    Layout: `out_dir/<isic_id>.jpg` plus `out_dir/metadata.csv` with isic-cli's columns
    (isic_id, attribution, copyright_license, then sorted clinical fields). Each lesion has
    one or two images (a shared lesion_id), so grouped splitting matters here too.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sites = ["anterior torso", "posterior torso", "lower extremity", "upper extremity", "head/neck"]
    rows = []
    i = lesion_no = 0
    while i < n:
        malignant = lesion_no % 2 == 1
        lesion = f"SYN_L{lesion_no:05d}"
        lesion_no += 1
        diagnosis = rng.choice(["melanoma", "basal cell carcinoma"], p=[0.8, 0.2]) if malignant \
            else rng.choice(["nevus", "seborrheic keratosis"], p=[0.85, 0.15])
        for _ in range(min(int(rng.integers(1, 3)), n - i)):
            isic_id = f"SYN_{i:07d}"
            Image.fromarray(make_lesion(malignant, size, seed=seed * 100_003 + i)).save(
                out / f"{isic_id}.jpg", quality=92)
            rows.append({
                "isic_id": isic_id, "attribution": ATTRIBUTION, "copyright_license": "CC-0",
                "age_approx": int(rng.integers(4, 17)) * 5,
                "anatom_site_general": rng.choice(sites),
                "benign_malignant": "malignant" if malignant else "benign",
                "diagnosis": diagnosis, "image_type": "dermoscopic", "lesion_id": lesion,
                "sex": rng.choice(["female", "male"]),
            })
            i += 1
    pd.DataFrame(rows).to_csv(out / "metadata.csv", index=False)
    return out


def demo_dataset_dir(n: int = 200, size: int = 128, seed: int = 0) -> Path:
    """The built-in demo dataset, written once into the cache and reused; returns its folder.

    The cache is `$SKINML_CACHE/demo` or `~/.cache/skinml/demo`. It is written to a temporary
    folder and renamed, so an interrupted first run never leaves half a dataset behind.
    """
    import shutil
    import tempfile

    cache = settings.cache_root()
    out = cache / "demo"
    if (out / "metadata.csv").is_file():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="demo-", dir=cache))
    try:
        write_demo_dataset(tmp, n=n, size=size, seed=seed)
        tmp.rename(out)
    except OSError:  # another process finished first: use its copy
        if not (out / "metadata.csv").is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
